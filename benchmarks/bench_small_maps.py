"""(b) The small-map convolution path against stock ``nn.Conv2d``: ResNet-18 training steps at 32 px (batch 128)."""

import copy

import torch
import torchvision

from harness import device_argument, report, timed
from fairlab.small_maps import use_small_map_convs


def main() -> None:
    device = device_argument()
    torch.manual_seed(0)
    x, y = torch.randn(128, 3, 32, 32, device=device), torch.rand(128, device=device)
    stock = torchvision.models.resnet18(num_classes=1).to(device)
    fast = use_small_map_convs(copy.deepcopy(stock))

    def step_of(model):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y).backward()
            optimizer.step()
        return step

    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    reference = timed(step_of(stock), repeats=7, warmup=2, sync=sync)
    ours = timed(step_of(fast), repeats=7, warmup=2, sync=sync)
    report("small_map_training_step", "ResNet-18 training step at 32 px, batch 128: small-map path vs stock Conv2d",
           reference, ours, device, note="the path is CPU-only; on CUDA both run the stock kernel")


if __name__ == "__main__":
    main()
