"""Images for training: decoded once into a uint8 tensor cache, augmented on whole batches.

:func:`load_images` decodes a list of image files at one resolution into ``uint8 [N, 3, H, W]``
and keeps the tensor on disk, keyed by the file list (names, sizes and modification times) and
the resolution, so a second run (or another notebook) skips decoding.

:class:`BatchAugment` is the papers' training augmentation — ``RandomResizedCrop`` with
torchvision's default scale (0.08, 1) and ratio (3/4, 4/3), a horizontal flip with p = ½ and
normalisation by mean ½ and std ½ — applied to a batch of cached tensors at once.  Its crop
boxes follow torchvision's ``RandomResizedCrop.get_params`` exactly (ten attempts, then the
central crop with the ratio clamped); the crop and resize of all images happen in one
``roi_align`` call (bilinear).  :func:`eval_transform` is the papers' test transform:
``Resize((S, S))`` (no crop) and the same normalisation.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.ops import roi_align
from tqdm import tqdm

from fairlab.atomic import write_atomic
from fairlab import paths
from fairlab.data import DataError


def cache_dir() -> Path:
    return paths.results_root() / "_cache" / "images"


def _decode(path: str, size: tuple[int, int]) -> np.ndarray:
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"{path}: corrupt or unreadable image ({exc}); expected a JPEG or PNG") from None


def verify_images(files: Sequence[str], progress: bool = True) -> None:
    """Decode every image in full (without keeping it): the first missing, truncated or corrupt file is a
    :class:`~fairlab.data.DataError` naming it."""

    def check(path: str) -> None:
        try:
            with Image.open(path) as image:
                image.load()  # the whole file: a truncated JPEG fails here, not at open
        except FileNotFoundError:
            raise DataError(f"{path}: image file not found") from None
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise DataError(f"{path}: corrupt or unreadable image ({exc}); expected a JPEG or PNG") from None

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for _ in tqdm(pool.map(check, [str(f) for f in files], chunksize=64), total=len(files), desc="verifying images",
                      disable=not progress, leave=False):
            pass


def cache_key(files: Sequence[str], size: tuple[int, int]) -> str:
    digest = hashlib.sha256(json.dumps(list(size)).encode())
    for name in files:
        try:
            stat = os.stat(name)
        except FileNotFoundError:
            raise DataError(f"{name}: image file not found") from None
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def load_images(files: Sequence[str], size: tuple[int, int], *, use_cache: bool = True, progress: bool = True) -> torch.Tensor:
    """``uint8 [N, 3, H, W]`` of the images at ``size = (H, W)`` (resized when needed), from the cache if present."""
    files = [str(f) for f in files]
    key = cache_key(files, size)
    path = cache_dir() / f"{key}.pt"
    if use_cache and path.is_file():
        return torch.load(path, weights_only=True)
    out = np.empty((len(files), size[0], size[1], 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        decoded = pool.map(lambda f: _decode(f, size), files, chunksize=64)
        for i, image in enumerate(tqdm(decoded, total=len(files), desc="decoding images", disable=not progress, leave=False)):
            out[i] = image
    tensor = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
    if use_cache:
        write_atomic(path, lambda tmp: torch.save(tensor, tmp))
    return tensor


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """uint8 (or 0–255 float) -> float in [-1, 1]: ``(x / 255 − 0.5) / 0.5``."""
    return batch.float().div(255.0).sub(0.5).div(0.5)


def eval_transform(batch: torch.Tensor, size: int) -> torch.Tensor:
    """The papers' test transform: ``Resize((size, size))`` (aspect ratio squashed) and normalisation."""
    x = batch.float()
    if x.shape[-2:] != (size, size):
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return normalize(x)


class BatchAugment:
    """RandomResizedCrop(size, scale, ratio) + RandomHorizontalFlip + Normalize(½, ½) on a batch."""

    def __init__(self, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip: bool = True):
        self.size, self.scale, self.ratio, self.flip = size, scale, ratio, flip

    def crop_boxes(self, n: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
        """``[n, 4]`` boxes ``(top, left, h, w)`` drawn as ``RandomResizedCrop.get_params`` draws them."""
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        target_area = area * torch.empty(n, 10).uniform_(self.scale[0], self.scale[1], generator=generator)
        aspect = torch.exp(torch.empty(n, 10).uniform_(log_ratio[0], log_ratio[1], generator=generator))
        w = torch.round(torch.sqrt(target_area * aspect))
        h = torch.round(torch.sqrt(target_area / aspect))
        ok = (w > 0) & (h > 0) & (w <= width) & (h <= height)
        first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((n,), -1))
        rows = torch.arange(n)
        pick = first.clamp(min=0)
        h, w = h[rows, pick], w[rows, pick]
        # torchvision draws top and left only for the successful attempt: i ~ U{0..H-h}, j ~ U{0..W-w}
        top = torch.floor(torch.rand(n, generator=generator) * (height - h + 1))
        left = torch.floor(torch.rand(n, generator=generator) * (width - w + 1))
        # fallback: the whole image cropped to the nearest allowed ratio, centred
        in_ratio = width / height
        if in_ratio < min(self.ratio):
            fw, fh = width, round(width / min(self.ratio))
        elif in_ratio > max(self.ratio):
            fh, fw = height, round(height * max(self.ratio))
        else:
            fw, fh = width, height
        failed = first < 0
        h = torch.where(failed, torch.tensor(float(fh)), h)
        w = torch.where(failed, torch.tensor(float(fw)), w)
        top = torch.where(failed, torch.tensor(float((height - fh) // 2)), top)
        left = torch.where(failed, torch.tensor(float((width - fw) // 2)), left)
        return torch.stack([top, left, h, w], dim=1)

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, height, width = batch.shape
        # the draws come from the CPU generator whatever the batch's device: a seed crops alike on the CPU and a GPU
        boxes = self.crop_boxes(n, height, width, generator)
        top, left, h, w = boxes.unbind(1)
        rois = torch.stack([torch.arange(n, dtype=torch.float32), left, top, left + w, top + h], dim=1)
        out = roi_align(batch.float(), rois.to(batch.device, non_blocking=True), output_size=(self.size, self.size),
                        spatial_scale=1.0, sampling_ratio=2, aligned=True)
        if self.flip:
            flip = (torch.rand(n, generator=generator) < 0.5).to(batch.device, non_blocking=True)
            out[flip] = out[flip].flip(-1)  # in place: a 224-px batch of 128 is 77 MB per copy
        return out.div_(255.0).sub_(0.5).div_(0.5)  # normalize(), in place on the fresh crop


class ImageFiles:
    """Images read from their files only when a batch asks for them: the ``stream`` image store.

    The ``paper`` profile's sets (20,000 real images per split, 10,500 generated per group, each
    seed's synthetic draws) are never decoded into whole-set tensors: an ``ImageFiles`` is a list
    of files at one decode size, and indexing it (``images[idx]``, a slice, an index array)
    decodes those images into ``uint8 [B, 3, H, W]`` on a thread pool. Taking a subset,
    concatenating sets and LTGC's mix-up (each item blended with a partner file by a weight λ,
    ``round(λ a + (1 − λ) b)``) stay lists of files, so no whole-set copy is ever made.
    """

    def __init__(self, files: Sequence[str], size: tuple[int, int], partners: Sequence[str] | None = None,
                 weights: np.ndarray | None = None, workers: int | None = None):
        self.files = [str(f) for f in files]
        self.size = (int(size[0]), int(size[1]))
        self.partners = list(partners) if partners is not None else None
        self.weights = np.asarray(weights, dtype=np.float64) if weights is not None else None
        self.workers = workers or min(8, os.cpu_count() or 1)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), 3, *self.size)

    def _indices(self, index) -> np.ndarray:
        if isinstance(index, slice):
            return np.arange(len(self.files))[index]
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        return np.atleast_1d(np.asarray(index, dtype=np.int64))

    def take(self, index) -> "ImageFiles":
        """The items at ``index``, still as files."""
        rows = self._indices(index)
        return ImageFiles([self.files[i] for i in rows], self.size,
                          [self.partners[i] for i in rows] if self.partners is not None else None,
                          self.weights[rows] if self.weights is not None else None, self.workers)

    def at_size(self, size: tuple[int, int]) -> "ImageFiles":
        return ImageFiles(self.files, size, self.partners, self.weights, self.workers)

    @staticmethod
    def concat(parts: Sequence["ImageFiles"]) -> "ImageFiles":
        """One set of files, every part decoded at the first part's size."""
        mixed = any(p.partners is not None for p in parts)
        files, partners, weights = [], [], []
        for part in parts:
            files += part.files
            partners += part.partners if part.partners is not None else [None] * len(part)
            weights.append(part.weights if part.weights is not None else np.ones(len(part)))
        return ImageFiles(files, parts[0].size, partners if mixed else None,
                          np.concatenate(weights) if mixed else None, parts[0].workers)

    def mixed_with(self, partner_index: np.ndarray, weights: np.ndarray) -> "ImageFiles":
        """Item i blended with item ``partner_index[i]`` of the same set by ``weights[i]`` (mix-up)."""
        if self.partners is not None:
            raise ValueError("these images are mixed already")
        return ImageFiles(self.files, self.size, [self.files[j] for j in partner_index], weights, self.workers)

    def _item(self, i: int) -> np.ndarray:
        image = _decode(self.files[i], self.size)
        if self.partners is None or self.partners[i] is None:
            return image
        lam = self.weights[i]
        other = _decode(self.partners[i], self.size)
        return np.clip(np.round(lam * image.astype(np.float32) + (1 - lam) * other.astype(np.float32)), 0, 255).astype(np.uint8)

    def __getitem__(self, index) -> torch.Tensor:
        rows = self._indices(index)
        out = np.empty((len(rows), *self.size, 3), dtype=np.uint8)
        if len(rows) > 1 and self.workers > 1:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                for k, image in enumerate(pool.map(self._item, rows.tolist())):
                    out[k] = image
        else:
            for k, i in enumerate(rows.tolist()):
                out[k] = self._item(i)
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
