"""Each batch's targets for the distributional alignment loss (the paper's §3; reference §1.2).

All N images of a batch come from one prompt, and p⁽ⁱ⁾ is the training classifier's class probabilities for image i.
Draw N one-hot labels u⁽¹⁾ … u⁽ᴺ⁾ i.i.d. from the target distribution 𝒟, assign them to the images by optimal
transport, σ* = argmin_σ Σᵢ ‖p⁽ⁱ⁾ − u⁽σᵢ⁾‖₂, and average over the draws: qᵢ = E[u⁽σ*ᵢ⁾], the probability that image
i "should be" each class. Its target is argmax qᵢ, kept only where the confidence max qᵢ reaches :data:`CONFIDENCE`
— per attribute, so an image can keep a race target and lose its gender target. Images without a face take no part
in the transport and get no target (:data:`NO_TARGET`).

Three ways to the same expectation, each exact or unbiased:

- :func:`two_class_targets` — two classes in closed form (the sorted assignment is optimal);
- :func:`joint_targets` — several attributes, the target their product, by Monte-Carlo transport (POT's exact
  solver on each draw, 200 draws: the paper's two GPUs drew 100 each);
- :func:`composition_targets` — one many-class attribute (race), averaging the transport over the most probable
  class counts until they cover 95 % of the probability, as the official race run does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import product

import numpy as np
import ot
from scipy.special import gammaln
from scipy.stats import binom

#: a target is kept where its confidence reaches this (the official code drops it when 1 − c > 0.2)
CONFIDENCE = 0.8
#: the label of an image without a target (no face, or not confident enough)
NO_TARGET = -1
#: Monte-Carlo draws for joint attributes: the official run drew 100 on each of its two GPUs
DRAWS = 200
#: the official age run charges pushing a young-looking face to "old" twice: cost scale of p(young) for class old
AGE_OLD_COST_SCALE = 2.0


@dataclass(frozen=True)
class Targets:
    """One attribute's targets for a batch: ``share`` qᵢ (N × K, NaN rows for images without a face) and ``labels``
    (argmax qᵢ where max qᵢ ≥ the threshold, else :data:`NO_TARGET`)."""

    share: np.ndarray
    labels: np.ndarray

    @property
    def confidence(self) -> np.ndarray:
        """max_k qᵢₖ per image (NaN without a face)."""
        out = np.full(len(self.share), np.nan)
        face = ~np.isnan(self.share).any(axis=1)
        out[face] = self.share[face].max(axis=1)
        return out

    @property
    def kept(self) -> np.ndarray:
        return self.labels != NO_TARGET


def _face_mask(n: int, faces: np.ndarray | None) -> np.ndarray:
    if faces is None:
        return np.ones(n, dtype=bool)
    faces = np.asarray(faces, dtype=bool)
    if faces.shape != (n,):
        raise ValueError(f"faces must be one flag per image ({n}), got shape {faces.shape}")
    return faces


def _targets(share_of_faces: np.ndarray, faces: np.ndarray, threshold: float) -> Targets:
    share = np.full((faces.size, share_of_faces.shape[1]), np.nan)
    share[faces] = share_of_faces
    labels = np.full(faces.size, NO_TARGET, dtype=np.int64)
    confident = share_of_faces.max(axis=1) >= threshold - 1e-12
    labels[np.flatnonzero(faces)[confident]] = share_of_faces[confident].argmax(axis=1)
    return Targets(share=share, labels=labels)


def _check_distribution(name: str, target: np.ndarray) -> np.ndarray:
    target = np.asarray(target, dtype=float)
    if target.ndim != 1 or target.size < 2 or (target < 0).any() or abs(target.sum() - 1) > 1e-6:
        raise ValueError(f"the target distribution of {name!r} must be K ≥ 2 non-negative shares summing to 1, "
                         f"got {target.tolist()}")
    return target


def two_class_targets(p_positive: np.ndarray, target_positive: float = 0.5, faces: np.ndarray | None = None,
                      threshold: float = CONFIDENCE, rule: str = "exact") -> Targets:
    """Two classes (0, 1) toward P(class 1) = π, in closed form.

    Rank the n images with a face by p(class 1), ascending, r = 0 … n − 1. Assigning class 1 costs √2·(1 − p₁) and
    class 0 √2·p₁, so the optimal assignment of any draw gives its F class-0 labels to the F lowest ranks; F is
    Binomial(n, 1 − π), hence P(rank r → class 1) = P(F ≤ r) = BinomCDF(r; n, 1 − π).

    ``rule="official"`` is the published code's: class 1 iff r ≥ n·π, with the confidence BinomCDF(r; n, π). It
    equals the exact rule only at π = ½; at π = 0.75 it gives 6 of 24 images class 1 where transport gives 18.
    """
    p_positive = np.asarray(p_positive, dtype=float)
    faces = _face_mask(p_positive.size, faces)
    if not 0.0 < target_positive < 1.0:
        raise ValueError(f"the target share of class 1 must lie strictly between 0 and 1, got {target_positive}")
    n = int(faces.sum())
    share = np.zeros((n, 2))
    if n:
        rank = np.empty(n, dtype=np.int64)
        rank[np.argsort(p_positive[faces], kind="stable")] = np.arange(n)
        if rule == "exact":
            positive = binom.cdf(rank, n, 1.0 - target_positive)
        elif rule == "official":
            cdf = binom.cdf(rank, n, target_positive)
            confidence = np.maximum(cdf, 1.0 - cdf)
            positive = np.where(rank >= n * target_positive, confidence, 1.0 - confidence)
        else:
            raise ValueError(f"rule must be 'exact' or 'official', got {rule!r}")
        share = np.column_stack([1.0 - positive, positive])
    return _targets(share, faces, threshold)


def _squared_distance(p: np.ndarray, k: int, scale: float = 1.0) -> np.ndarray:
    """‖p − e_k‖² with every other class's probability scaled: (p_k − 1)² + Σ_{l≠k} (scale·p_l)²."""
    others = np.delete(p, k, axis=1)
    return (p[:, k] - 1.0) ** 2 + ((scale * others) ** 2).sum(axis=1)


def _averaged_plan(cost: np.ndarray, counts: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Σ_d w_d · the exact transport plan from one unit per image to the class counts of draw d (POT's ``emd``)."""
    n = cost.shape[0]
    plan = np.zeros_like(cost)
    unit = np.ones(n)
    for weight, count in zip(weights, counts):
        plan += weight * ot.emd(unit, count.astype(float), cost)
    return plan


def joint_targets(probabilities: Mapping[str, np.ndarray], target: Mapping[str, np.ndarray],
                  rng: np.random.Generator, faces: np.ndarray | None = None, draws: int = DRAWS,
                  threshold: float = CONFIDENCE,
                  cost_scale: Mapping[str, Mapping[int, float]] | None = None) -> dict[str, Targets]:
    """Several attributes at once (gender × race, × age), toward the product of their target marginals.

    Each joint class j costs cost(i, j) = √(Σ_a ‖p_a⁽ⁱ⁾ − e_{j_a}‖²); ``cost_scale[a][k]`` scales the other classes'
    probabilities of attribute a when class k is assigned — the official age run's {"age": {1: 2.0}} makes pushing a
    young-looking face to "old" cost √((2·p_young)² + (p_old − 1)²). Each of ``draws`` draws takes n joint labels
    from the target, the exact transport assigns them, and the plans are averaged, then marginalised per attribute.
    """
    names = list(probabilities)
    if set(names) != set(target):
        raise ValueError(f"probabilities and target must name the same attributes, got {sorted(names)} and "
                         f"{sorted(target)}")
    marginals = {a: _check_distribution(a, target[a]) for a in names}
    probs = {a: np.asarray(probabilities[a], dtype=float) for a in names}
    n_images = len(next(iter(probs.values())))
    for a in names:
        if probs[a].shape != (n_images, marginals[a].size):
            raise ValueError(f"probabilities of {a!r} must be {n_images} × {marginals[a].size}, got {probs[a].shape}")
    faces = _face_mask(n_images, faces)
    scale = cost_scale or {}
    classes = list(product(*(range(marginals[a].size) for a in names)))
    joint = np.array([np.prod([marginals[a][c[i]] for i, a in enumerate(names)]) for c in classes])
    cost = np.sqrt(sum(np.column_stack([_squared_distance(probs[a][faces], c[i], scale.get(a, {}).get(c[i], 1.0))
                                        for c in classes]) for i, a in enumerate(names)))
    n = int(faces.sum())
    if n == 0:
        share = np.zeros((0, len(classes)))
    else:
        counts = [np.bincount(rng.choice(len(classes), size=n, p=joint), minlength=len(classes)) for _ in range(draws)]
        share = _averaged_plan(cost, counts, np.full(draws, 1.0 / draws))
    out = {}
    for i, a in enumerate(names):
        member = np.array([[c[i] == k for k in range(marginals[a].size)] for c in classes], dtype=float)
        out[a] = _targets(share @ member, faces, threshold)
    return out


def compositions(n: int, k: int):
    """Every (n₁, …, n_k) of non-negative integers summing to n."""
    if k == 1:
        yield (n,)
        return
    for first in range(n + 1):
        for rest in compositions(n - first, k - 1):
            yield (first, *rest)


def composition_targets(probabilities: np.ndarray, target: np.ndarray, faces: np.ndarray | None = None,
                        threshold: float = CONFIDENCE, coverage: float = 0.95) -> Targets:
    """One many-class attribute (race, 4 classes): the class counts (n₁ … n_K) of a draw are multinomial; the most
    probable counts are kept until they cover ``coverage`` of the probability, each solved exactly with the
    Euclidean cost ‖p⁽ⁱ⁾ − e_k‖, and the plans averaged with their probabilities (renormalised over the kept mass)."""
    marginal = _check_distribution("the attribute", target)
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim != 2 or probabilities.shape[1] != marginal.size:
        raise ValueError(f"probabilities must be N × {marginal.size}, got {probabilities.shape}")
    faces = _face_mask(len(probabilities), faces)
    n = int(faces.sum())
    if n == 0:
        return _targets(np.zeros((0, marginal.size)), faces, threshold)
    counts = np.array(list(compositions(n, marginal.size)))
    with np.errstate(divide="ignore"):
        log_p = gammaln(n + 1) - gammaln(counts + 1).sum(axis=1) + (counts * np.log(marginal)).sum(axis=1)
    p = np.exp(log_p)
    order = np.argsort(-p, kind="stable")
    keep = order[: int(np.searchsorted(np.cumsum(p[order]), coverage) + 1)]
    cost = np.sqrt(np.column_stack([_squared_distance(probabilities[faces], k) for k in range(marginal.size)]))
    share = _averaged_plan(cost, list(counts[keep]), p[keep] / p[keep].sum())
    return _targets(share, faces, threshold)
