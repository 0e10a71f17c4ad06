"""Representation: how much of a group a representation carries, read by a linear probe.

Both measures are 5-fold cross-validated balanced accuracies of a logistic regression (0.5: the
group cannot be read; 1: it is read perfectly).
"""

from __future__ import annotations

import numpy as np


def decodability(features: np.ndarray, labels: np.ndarray, seed: int | None = None, standardise: bool = False,
                 C: float = 1.0) -> float:
    """Balanced accuracy, 5-fold stratified CV (in order, or shuffled with ``seed``), of a logistic regression
    reading ``labels`` (binary) from ``features`` (optionally standardised, inverse regularisation ``C``).

    balanced accuracy = ½ (TPR + TNR). NaN when either class has fewer than 5 samples.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels).astype(int)
    if min(labels.sum(), (1 - labels).sum()) < 5:
        return float("nan")
    probe = LogisticRegression(max_iter=2000, C=C)
    if standardise:
        probe = make_pipeline(StandardScaler(), probe)
    folds = StratifiedKFold(5) if seed is None else StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(probe, np.asarray(features), labels, cv=folds, scoring="balanced_accuracy")))


def decodability_within_classes(features: np.ndarray, target: np.ndarray, protected: np.ndarray, seed: int = 0) -> list[float]:
    """:func:`decodability` of the protected attribute within each target class (standardised features, C = 0.1):
    how much of the protected attribute the representation carries beyond the target."""
    target = np.asarray(target)
    return [decodability(np.asarray(features)[target == t].astype(np.float32), np.asarray(protected)[target == t],
                         seed=seed, standardise=True, C=0.1) for t in (0, 1)]
