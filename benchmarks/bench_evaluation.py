"""(c) The evaluation path (inference_mode, channels-last, small maps) against ``no_grad`` on NCHW: ResNet-18 at 32 px."""

import copy

import torch
import torchvision
from harness import device_argument, report, timed

from fairlab import device as devices
from fairlab.aimfair.recipe import predict_logits
from fairlab.data.images import eval_transform


def main() -> None:
    device = device_argument()
    torch.manual_seed(0)
    images = torch.randint(0, 256, (2048, 3, 39, 32), dtype=torch.uint8)
    stock = torchvision.models.resnet18(num_classes=1).to(device).eval()
    rt = devices.Runtime(torch.device(device), "bf16" if device.startswith("cuda") else "float32")
    ours = rt.prepare(copy.deepcopy(stock))

    def reference():
        with torch.no_grad():
            return torch.cat([stock(eval_transform(images[i:i + 512].to(device), 32)).squeeze(1).cpu()
                              for i in range(0, len(images), 512)])

    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    a = timed(reference, repeats=5, sync=sync)
    b = timed(lambda: predict_logits(ours, images, 32), repeats=5, sync=sync)
    same = float(((reference() > 0) == (predict_logits(ours, images, 32) > 0)).float().mean())
    report("evaluation", "ResNet-18 predictions on 2,048 images at 32 px: fairlab's evaluation vs no_grad NCHW",
           a, b, device, same_predictions=same)


if __name__ == "__main__":
    main()
