"""(d) N independent small trainings on fairlab's parallel path (Dask workers, threads pinned) against one after another.

Each unit trains a ResNet-18 for one epoch on 1,024 random 32-px images (an AIM-Fair unit in miniature).
The parallel time includes starting the local Dask cluster.
"""

import time

import torch
import torchvision

from harness import report
from fairlab import device as devices
from fairlab.parallel import Unit, default_jobs, run

UNITS = 4


def small_training(seed: int) -> None:
    torch.manual_seed(seed)
    x, y = torch.randn(1024, 3, 32, 32), torch.rand(1024)
    model = devices.CPU.prepare(torchvision.models.resnet18(num_classes=1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for i in range(0, 1024, 128):
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.binary_cross_entropy_with_logits(model(x[i:i + 128]).squeeze(1), y[i:i + 128]).backward()
        optimizer.step()


def main() -> None:
    units = [Unit(f"training {i}", small_training, (i,)) for i in range(UNITS)]
    jobs = default_jobs()
    small_training(99)  # warm the process
    started = time.perf_counter()
    run(units, jobs=1)
    sequential = time.perf_counter() - started
    started = time.perf_counter()
    run(units, jobs=jobs)
    parallel = time.perf_counter() - started
    report("parallel_trainings", f"{UNITS} independent ResNet-18 trainings: {jobs} Dask workers vs one after another",
           sequential, parallel, "cpu", units=UNITS, jobs=jobs)


if __name__ == "__main__":
    main()
