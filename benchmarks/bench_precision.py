"""(f) bf16 autocast against float32 on the current device: ResNet-18 training steps (32 px on the CPU, 224 px on CUDA)."""

import torch
import torchvision

from harness import device_argument, report, timed


def main() -> None:
    device = device_argument()
    size = 224 if device.startswith("cuda") else 32
    torch.manual_seed(0)
    x, y = torch.randn(128, 3, size, size, device=device), torch.rand(128, device=device)
    model = torchvision.models.resnet18(num_classes=1).to(device)
    if device.startswith("cuda"):
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(dtype):
        def run():
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.split(":")[0], dtype=dtype, enabled=dtype is not None):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1).float(), y)
            loss.backward()
            optimizer.step()
        return run

    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    float32 = timed(step(None), repeats=5, warmup=2, sync=sync)
    bf16 = timed(step(torch.bfloat16), repeats=3 if device == "cpu" else 5, warmup=1, sync=sync)
    report("bf16_vs_float32", f"ResNet-18 training step at {size} px, batch 128: bf16 autocast vs float32 "
           "(above 1: bf16 is faster)", float32, bf16, device, image_size=size)


if __name__ == "__main__":
    main()
