"""The real data's bias ratio estimated from an error set, as AIM-Fair sets its S1 (§4.4, after JTT).

AIM-Fair's biased synthetic set S1 copies the real training data's bias ratio, which the paper
says is "referenced by the error set of real training examples, as suggested in JTT"; the
official code sets it by hand (``../shared/reference/aimfair.md`` §2.3). JTT's observation: the
examples an ERM model gets wrong are mostly those of the minority groups, where the spurious cue
points the wrong way. So, without protected labels:

* error set E = {i : ŷ_i ≠ y_i} of the biased (ERM) model on the real training data;
* minority share of target class t, estimated as |E ∩ {y = t}| / |{y = t}|;
* the estimate m̂ = the mean of the two classes' shares, clipped to [0, ½] (the bias ratio m̂ : 1 − m̂).

Which groups are the minority (the orientation) is not estimated: as in the official code it is a
fact about the bias direction, supplied with the setting.
"""

from __future__ import annotations

import numpy as np


def error_set(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """JTT's error set as a mask: ``predicted != target`` (0/1 arrays of equal length)."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape:
        raise ValueError(f"predicted and target differ in shape: {predicted.shape} vs {target.shape}")
    return predicted != target


def estimated_minority_share(errors: np.ndarray, target: np.ndarray) -> float:
    """m̂ = mean over target classes t of |E ∩ {y = t}| / |{y = t}|, clipped to [0, ½]."""
    errors, target = np.asarray(errors, dtype=bool), np.asarray(target)
    shares = [errors[target == t].mean() for t in (0, 1) if np.any(target == t)]
    if not shares:
        raise ValueError("no examples to estimate the bias ratio from")
    return float(min(max(np.mean(shares), 0.0), 0.5))


def true_minority_share(target: np.ndarray, protected: np.ndarray) -> float:
    """The share the estimate stands for, from the protected labels (for comparison only): the mean over target
    classes of the smaller protected group's share within the class."""
    target, protected = np.asarray(target), np.asarray(protected)
    shares = []
    for t in (0, 1):
        within = protected[target == t]
        if within.size:
            shares.append(min(within.mean(), 1 - within.mean()))
    return float(np.mean(shares))


def as_ratio(share: float) -> str:
    """A minority share as the paper prints bias ratios: 0.1 → "1 : 9"."""
    minority = 10 * share
    return f"{minority:.2g} : {10 - minority:.2g}"


__all__ = ["error_set", "estimated_minority_share", "true_minority_share", "as_ratio"]
