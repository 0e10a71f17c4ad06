"""(a) The training input path: fairlab's uint8 cache + batched augmentation against a torchvision JPEG-decoding
DataLoader (as the official AIM-Fair code trains), ResNet-18 forward and backward included, one epoch each.

At the mini resolution (CelebA-format renders 39 × 32, trained at 32 px) and at the paper's 224 px (renders
218 × 178). fairlab decodes once into the cache (its cost is reported apart: later epochs and runs reuse it).
"""

import tempfile
import time
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torchvision import transforms

from harness import device_argument, report, timed
from fairlab import device as devices
from fairlab.data.images import BatchAugment, load_images
from fairlab.faceworld import formats
from fairlab.train import TensorBatches


class JpegFolder(torch.utils.data.Dataset):
    def __init__(self, files, transform):
        self.files, self.transform = files, transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with Image.open(self.files[i]) as image:
            return self.transform(image.convert("RGB")), torch.tensor(float(i % 2))


def one_epoch(model, optimizer, batches, device):
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y).backward()
        optimizer.step()


def compare(width: int, size: int, n: int, batch: int, device: str, workers: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        formats.make("celeba", "photo", n, seed=0, out=Path(folder), size=width, progress=False)
        files = sorted(str(p) for p in (Path(folder) / "img_align_celeba").glob("*.jpg"))[:n]
        height = formats.image_size("celeba", width)[0]
        rt = devices.Runtime(torch.device(device), "float32")
        model = rt.prepare(torchvision.models.resnet18(num_classes=1))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        official = transforms.Compose([transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(),
                                       transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])
        loader = torch.utils.data.DataLoader(JpegFolder(files, official), batch_size=batch, shuffle=True,
                                             num_workers=workers, drop_last=True, persistent_workers=workers > 0,
                                             pin_memory=device.startswith("cuda"))
        started = time.perf_counter()
        images = load_images(files, (height, width), use_cache=False, progress=False)
        decode = time.perf_counter() - started
        augment = BatchAugment(size)
        ours = TensorBatches((images, torch.tensor([float(i % 2) for i in range(n)])), batch, seed=0, drop_last=True,
                             transform=lambda b, g: (augment(b[0], g), b[1]), device=rt.device)
        sync = torch.cuda.synchronize if device.startswith("cuda") else None
        reference = timed(lambda: one_epoch(model, optimizer, loader, device), repeats=2, warmup=1, sync=sync)
        fairlab = timed(lambda: one_epoch(model, optimizer, ours, device), repeats=2, warmup=1, sync=sync)
        report(f"input_path_{size}px", f"one training epoch of ResNet-18 on {n} renders at {size} px (batch {batch}): "
               f"uint8 cache + batched augmentation vs a JPEG-decoding DataLoader ({workers} workers)",
               reference, fairlab, device, images=n, cache_build_seconds=round(decode, 3), loader_workers=workers)


def main() -> None:
    device = device_argument()
    cuda = device.startswith("cuda")
    compare(32, 32, 2048, 128, device, workers=2)
    compare(178, 224, 4096 if cuda else 128, 128 if cuda else 32, device, workers=8 if cuda else 2)


if __name__ == "__main__":
    main()
