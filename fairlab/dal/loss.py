"""The distributional alignment loss and the weights of the semantic-preservation terms (reference §1.3 and §2).

Per image i of a batch of N, with targets yᵢ per debiased attribute (:mod:`fairlab.dal.targets`):

    L_align = (1/N) Σᵢ Σ_attr 1[yᵢ ≠ −1] · CE(h_attr(faceᵢ), yᵢ)

averaged over **all** N images: an image without a face or a confident target adds nothing, and the mean is not
renormalised by the valid ones (the official code). The preservation terms (CLIP / DINO against the original model's
image from the same noise) are weighted per image by :func:`preservation_weight` — 1 where every target equals what
the original image already shows, less where the target asks for a change — and their pixel gradient inside the face
is attenuated by :func:`region_factor` through :func:`attenuate_inside`, so the face can change while the rest of the
image is held to the original.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from fairlab.dal.targets import NO_TARGET

#: the official weights of the preservation terms where an attribute's target changes the image (factor1) ...
CHANGE_WEIGHT = {"gender": 0.2, "race": 0.6, "age": 0.6}
#: ... and the factor on their pixel gradient inside the face (factor2)
FACE_GRADIENT_FACTOR = {"gender": 0.2, "race": 0.3, "age": 0.3}


def alignment_loss(logits: Mapping[str, torch.Tensor], labels: Mapping[str, torch.Tensor | np.ndarray]) -> torch.Tensor:
    """L_align: the cross-entropy of each attribute's logits (N × K) against its targets (N; :data:`NO_TARGET` where
    none), summed over attributes and images, divided by N."""
    if set(logits) != set(labels):
        raise ValueError(f"logits and labels must name the same attributes, got {sorted(logits)} and {sorted(labels)}")
    total, n = None, None
    for name, attribute_logits in logits.items():
        target = torch.as_tensor(np.asarray(labels[name]), device=attribute_logits.device, dtype=torch.long)
        n = attribute_logits.shape[0]
        valid = target != NO_TARGET
        term = (F.cross_entropy(attribute_logits[valid], target[valid], reduction="sum") if valid.any()
                else attribute_logits.sum() * 0.0)
        total = term if total is None else total + term
    return total / n


def changed_attributes(labels: Mapping[str, np.ndarray], original: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per attribute, which images' targets ask for a change: the target differs from the original image's predicted
    class, or there is no confident target (an uncertain target counts as a change)."""
    return {name: (np.asarray(labels[name]) == NO_TARGET) | (np.asarray(labels[name]) != np.asarray(original[name]))
            for name in labels}


def _smallest_factor(changed: Mapping[str, np.ndarray], factors: Mapping[str, float]) -> np.ndarray:
    n = len(next(iter(changed.values())))
    out = np.ones(n)
    for name, flags in changed.items():
        out = np.where(flags, np.minimum(out, factors[name]), out)
    return out


def preservation_weight(changed: Mapping[str, np.ndarray], faces: np.ndarray, no_face_weight: float = 1.0,
                        factors: Mapping[str, float] = CHANGE_WEIGHT) -> np.ndarray:
    """w_dyn per image: 1 if no debiased attribute changes, else the smallest :data:`CHANGE_WEIGHT` of those that do;
    ``no_face_weight`` for images without a face (the official gender and race runs: 1; the multi-attribute runs:
    the smallest factor, 0.2)."""
    return np.where(np.asarray(faces, dtype=bool), _smallest_factor(changed, factors), no_face_weight)


def region_factor(changed: Mapping[str, np.ndarray], factors: Mapping[str, float] = FACE_GRADIENT_FACTOR) -> np.ndarray:
    """factor2 per image: the smallest :data:`FACE_GRADIENT_FACTOR` of the attributes that change, 1 if none does."""
    return _smallest_factor(changed, factors)


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per image, the intersection of two boxes (x0, y0, x1, y1; an empty one has x1 ≤ x0 or y1 ≤ y0)."""
    a, b = np.asarray(a), np.asarray(b)
    return np.concatenate([np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])], axis=1)


def attenuate_inside(images: torch.Tensor, boxes: np.ndarray, factor: np.ndarray) -> torch.Tensor:
    """The same images, whose pixel gradient inside each image's box (x0, y0, x1, y1, pixels, end exclusive) is
    multiplied by its ``factor`` and left as it is outside: x̄ + (x − x̄)·M with x̄ = x detached, M the factor in the
    box and 1 elsewhere — bit for bit x in the forward pass, gradient M."""
    n, _, height, width = images.shape
    mask = torch.ones(n, 1, height, width, dtype=images.dtype, device=images.device)
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, dtype=np.int64)):
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 > x0 and y1 > y0:
            mask[i, :, y0:y1, x0:x1] = float(factor[i])
    frozen = images.detach()
    return frozen + (images - frozen) * mask
