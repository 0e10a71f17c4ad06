"""Generation: how faithful, how noisy and how diverse a set of generated images is, from an attribute judge's readings.

The judge (here FaceWorld's oracle) reads binary attributes from each image; a prompt states some
of them. Every function is pure: arrays and mappings in, numbers out.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def fidelity(stated: Sequence[Mapping[str, int]], read: Sequence[Mapping[str, int]]) -> dict[str, dict]:
    """Per attribute a prompt states: the share of its images in which the judge reads the stated value.

    fidelity(a) = |{i : a ∈ stated_i, read_i[a] = stated_i[a]}| / |{i : a ∈ stated_i}|, with the
    number of images that state ``a``; ``stated[i]`` and ``read[i]`` belong to image i.
    """
    hits: dict[str, list[bool]] = {}
    for asked, seen in zip(stated, read):
        for name, value in asked.items():
            hits.setdefault(name, []).append(int(seen[name]) == value)
    return {name: {"fidelity": float(np.mean(v)), "images": len(v)} for name, v in sorted(hits.items())}


def label_noise(target, protected, read_target, read_protected, groups, group_names: Sequence[str]) -> dict:
    """Share of images whose judged target, protected attribute or either contradicts its label, overall and per group.

    noise_t = mean(read_t ≠ t), noise_s = mean(read_s ≠ s), noise = mean(read_t ≠ t ∨ read_s ≠ s).
    """
    wrong_t = np.asarray(read_target) != np.asarray(target)
    wrong_s = np.asarray(read_protected) != np.asarray(protected)
    either = wrong_t | wrong_s
    groups = np.asarray(groups)
    per_group = {g: float(np.mean(either[groups == g])) for g in group_names if (groups == g).any()}
    return {"target": float(wrong_t.mean()), "protected": float(wrong_s.mean()), "either": float(either.mean()),
            "per_group": per_group}


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """H(p) = −p log₂ p − (1 − p) log₂(1 − p), in bits (p clipped to (0, 1))."""
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def attribute_entropy(values: np.ndarray, groups: np.ndarray) -> float:
    """Mean over groups and binary attributes (columns of ``values``) of H(share of the group's images showing it).

    0 bits when every image of a group agrees on every attribute, 1 bit at a 50/50 split.
    """
    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    return float(np.mean([binary_entropy(values[groups == g].mean(0)).mean() for g in np.unique(groups)]))


def vendi_score(features: np.ndarray) -> float:
    """The Vendi score exp(−Σ λᵢ log λᵢ) of the eigenvalues λ of K / n, K the cosine-similarity matrix.

    It is the effective number of distinct images: 1 when all are alike, n when all are orthogonal.
    """
    x = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    eigenvalues = np.clip(np.linalg.eigvalsh(x @ x.T / len(x)), 0, None)
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-np.sum(eigenvalues * np.log(eigenvalues))))
