"""The batched augmentation draws the same crops as torchvision's RandomResizedCrop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torchvision import transforms
from torchvision.transforms import functional as TF

from fairlab.data.images import BatchAugment, eval_transform


def torchvision_boxes(n, height, width, seed=0):
    torch.manual_seed(seed)
    image = torch.zeros(3, height, width)
    return np.array([transforms.RandomResizedCrop.get_params(image, (0.08, 1.0), (3 / 4, 4 / 3)) for _ in range(n)], float)


def summaries(boxes, height, width):
    top, left, h, w = boxes.T
    return {"area": h * w / (height * width), "log ratio": np.log(w / h),
            "centre x": (left + w / 2) / width, "centre y": (top + h / 2) / height}


@pytest.mark.parametrize("height,width", [(218, 178), (39, 32), (32, 32)])
def test_crop_boxes_follow_torchvision_in_distribution(height, width):
    ours = BatchAugment(32).crop_boxes(20000, height, width, torch.Generator().manual_seed(1)).numpy().astype(float)
    theirs = torchvision_boxes(20000, height, width)
    for name, (a, b) in {k: (summaries(ours, height, width)[k], summaries(theirs, height, width)[k])
                         for k in ("area", "log ratio", "centre x", "centre y")}.items():
        assert stats.ks_2samp(a, b).pvalue > 1e-3, name
    assert (ours[:, 0] >= 0).all() and (ours[:, 0] + ours[:, 2] <= height).all()
    assert (ours[:, 1] >= 0).all() and (ours[:, 1] + ours[:, 3] <= width).all()


def test_a_very_narrow_image_falls_back_to_the_central_crop_like_torchvision():
    ours = BatchAugment(8).crop_boxes(500, 100, 4, torch.Generator().manual_seed(0)).numpy()
    theirs = torchvision_boxes(500, 100, 4)
    fallback = theirs[np.all(theirs == theirs[0], axis=1)]
    assert len(fallback) and tuple(fallback[0]) in {tuple(b) for b in ours}


def test_a_crop_is_resized_like_torchvision_resized_crop():
    yy, xx = torch.meshgrid(torch.arange(39.0), torch.arange(32.0), indexing="ij")
    image = torch.stack([127 + 100 * torch.sin(xx / 5), 127 + 100 * torch.cos(yy / 6), 60 + 2 * xx + yy])[None]
    augment = BatchAugment(16, flip=False)
    box = torch.tensor([[5.0, 3.0, 24.0, 20.0]])
    augment.crop_boxes = lambda n, h, w, g: box
    ours = augment(image, torch.Generator().manual_seed(0))
    theirs = TF.resized_crop(image[0], 5, 3, 24, 20, [16, 16], antialias=True)
    assert (ours[0] - (theirs / 255 - 0.5) / 0.5).abs().mean() < 0.03


def test_flips_are_random_per_image_and_normalisation_maps_to_minus_one_one():
    image = torch.arange(32, dtype=torch.float32).repeat(64, 3, 32, 1)
    out = BatchAugment(32, scale=(1.0, 1.0), ratio=(1.0, 1.0))(image, torch.Generator().manual_seed(0))
    flipped = (out[:, 0, 0, 0] > out[:, 0, 0, -1]).float().mean()
    assert 0.3 < flipped < 0.7
    assert eval_transform(torch.full((1, 3, 4, 4), 255, dtype=torch.uint8), 4).eq(1).all()
