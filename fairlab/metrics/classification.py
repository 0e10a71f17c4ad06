"""Classification fairness: metrics of a binary classifier with a binary sensitive attribute.

Notation: ``y`` the true target, ``ŷ`` the prediction, ``s`` the sensitive attribute, all in
{0, 1}.  A *group* is a pair (t, s) of target and sensitive value, written ``"t_s"`` (the
same names as the ``{t}_{s}/`` folders of synthetic data).

Units follow the papers, so that our numbers can be put beside theirs unchanged:

* AIM-Fair prints accuracies and gaps in **percent** (points): ``group_acc``, ``acc``,
  ``wst``, ``std``, ``eo_max``, ``eo_mean``.
* The neutralization paper prints the error in percent and the gaps as **fractions**:
  ``err_f1`` (percent), ``eo_sum`` and ``dp`` (fractions).
"""

from __future__ import annotations

import numpy as np

from fairlab.data import GROUPS

#: The scalar metrics of :func:`fairness_report`, in the order tables show them.
SCALAR_METRICS = ("acc", "wst", "eo_max", "eo_mean", "std", "eo_sum", "dp", "err_f1", "tpr_gap", "fpr_gap")


def _as_binary(name: str, values) -> np.ndarray:
    arr = np.asarray(values).reshape(-1)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if arr.size and not np.isin(arr, (0, 1)).all():
        bad = np.unique(arr[~np.isin(arr, (0, 1))])[:5]
        raise ValueError(f"{name} must contain only 0 and 1; found {bad.tolist()}")
    return arr.astype(np.int64)


def group_accuracy(y_true, y_pred, sensitive) -> dict[str, float]:
    """acc(t, s) = 100 · P(ŷ = t | y = t, s = s) for each group, in percent.

    A group without samples gets NaN.
    """
    y, yhat, s = _inputs(y_true, y_pred, sensitive)
    out = {}
    for t in (0, 1):
        for g in (0, 1):
            mask = (y == t) & (s == g)
            out[f"{t}_{g}"] = float(100.0 * (yhat[mask] == t).mean()) if mask.any() else float("nan")
    return out


def rate_gaps(y_true, y_pred, sensitive) -> tuple[float, float]:
    """(ΔTPR, ΔFPR) as fractions.

    ΔTPR = |P(ŷ=1 | y=1, s=1) − P(ŷ=1 | y=1, s=0)|,  ΔFPR = |P(ŷ=1 | y=0, s=1) − P(ŷ=1 | y=0, s=0)|.
    In group accuracies: ΔTPR = |acc(1,1) − acc(1,0)| and ΔFPR = |acc(0,1) − acc(0,0)| (/100).
    """
    acc = group_accuracy(y_true, y_pred, sensitive)
    return abs(acc["1_1"] - acc["1_0"]) / 100.0, abs(acc["0_1"] - acc["0_0"]) / 100.0


def demographic_parity_gap(y_pred, sensitive) -> float:
    """ΔDP = |P(ŷ = 1 | s = 0) − P(ŷ = 1 | s = 1)|, a fraction."""
    yhat = _as_binary("y_pred", y_pred)
    s = _as_binary("sensitive", sensitive)
    if yhat.shape != s.shape:
        raise ValueError(f"y_pred and sensitive differ in length: {yhat.shape[0]} vs {s.shape[0]}")
    rates = [yhat[s == g].mean() if (s == g).any() else np.nan for g in (0, 1)]
    return float(abs(rates[0] - rates[1]))


def weighted_f1(y_true, y_pred) -> float:
    """F1 of each class, averaged with weights = the class's share of the *true* labels.

    F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c); F1_weighted = Σ_c (n_c / n) · F1_c.  A class
    with no true and no predicted samples contributes 0 (as scikit-learn's ``zero_division=0``).
    """
    y = _as_binary("y_true", y_true)
    yhat = _as_binary("y_pred", y_pred)
    total = 0.0
    for c in (0, 1):
        tp = np.sum((yhat == c) & (y == c))
        fp = np.sum((yhat == c) & (y != c))
        fn = np.sum((yhat != c) & (y == c))
        denom = 2 * tp + fp + fn
        f1 = 2 * tp / denom if denom else 0.0
        total += (np.sum(y == c) / y.size) * f1
    return float(total)


def shortcut_agreement(group_n: dict[str, int], group_acc: dict[str, float]) -> float:
    """Percent of the predictions that equal the protected-attribute shortcut's answer, from a report's group counts
    and group accuracies (percent).

    The shortcut answers ŷ = s where n(0,0) + n(1,1) ≥ n(0,1) + n(1,0), else ŷ = 1 − s. In a group (t, s) whose target
    equals the shortcut's answer a prediction agrees with it exactly when it is right:
    agreement = 100 · [Σ_{t = a(s)} n(t,s) acc(t,s) + Σ_{t ≠ a(s)} n(t,s) (1 − acc(t,s))] / Σ n(t,s), with acc as a
    fraction and a(s) the shortcut's answer. 100: the model answers from the protected attribute alone.
    """
    aligned = group_n["0_0"] + group_n["1_1"] >= group_n["0_1"] + group_n["1_0"]
    total = agree = 0.0
    for t in (0, 1):
        for g in (0, 1):
            n, acc = group_n[f"{t}_{g}"], group_acc[f"{t}_{g}"] / 100.0
            answer = g if aligned else 1 - g
            agree += n * (acc if t == answer else 1.0 - acc)
            total += n
    return 100.0 * agree / total


def positive_share(group_n: dict[str, int], group_acc: dict[str, float]) -> float:
    """Percent of the predictions that are 1: 100 · [Σ_s n(1,s) acc(1,s) + Σ_s n(0,s) (1 − acc(0,s))] / Σ n(t,s)."""
    total = sum(group_n.values())
    ones = sum(group_n[f"1_{g}"] * group_acc[f"1_{g}"] / 100.0 + group_n[f"0_{g}"] * (1 - group_acc[f"0_{g}"] / 100.0)
               for g in (0, 1))
    return 100.0 * ones / total


def fairness_report(y_true, y_pred, sensitive) -> dict:
    """Every metric the three papers print, for one model on one test set.

    Returns a dict with

    * ``group_acc``: {"t_s": acc(t, s)} with acc(t, s) = 100 · P(ŷ = t | y = t, s), percent;
    * ``acc`` = 100 · P(ŷ = y), percent;
    * ``wst`` = min over groups of acc(t, s), percent (AIM-Fair "WST");
    * ``std`` = population standard deviation (ddof = 0) of the four group accuracies, percent points (AIM-Fair "STD");
    * ``eo_max`` = 100 · max(ΔTPR, ΔFPR), percent points (AIM-Fair's ResNet-18 tables);
    * ``eo_mean`` = 100 · (ΔTPR + ΔFPR) / 2, percent points (AIM-Fair Eq. 9 and its ViT Table 8);
    * ``eo_sum`` = ΔTPR + ΔFPR, a fraction (the neutralization paper's ΔEO);
    * ``dp`` = |P(ŷ=1 | s=0) − P(ŷ=1 | s=1)|, a fraction (ΔDP);
    * ``err_f1`` = 100 − 100 · weighted F1, percent (the neutralization paper's "Err");
    * ``tpr_gap``, ``fpr_gap``: ΔTPR and ΔFPR as fractions (see :func:`rate_gaps`);
    * ``n`` and ``group_n``: sample counts.
    """
    y, yhat, s = _inputs(y_true, y_pred, sensitive)
    group_acc = group_accuracy(y, yhat, s)
    accs = np.array([group_acc[g] for g in GROUPS])
    tpr_gap, fpr_gap = rate_gaps(y, yhat, s)
    return {
        "group_acc": group_acc,
        "acc": float(100.0 * (y == yhat).mean()),
        "wst": float(np.min(accs)),
        "std": float(np.std(accs)),
        "eo_max": 100.0 * max(tpr_gap, fpr_gap),
        "eo_mean": 100.0 * (tpr_gap + fpr_gap) / 2.0,
        "eo_sum": tpr_gap + fpr_gap,
        "dp": demographic_parity_gap(yhat, s),
        "err_f1": 100.0 * (1.0 - weighted_f1(y, yhat)),
        "tpr_gap": tpr_gap,
        "fpr_gap": fpr_gap,
        "n": int(y.size),
        "group_n": {f"{t}_{g}": int(np.sum((y == t) & (s == g))) for t in (0, 1) for g in (0, 1)},
    }


def _inputs(y_true, y_pred, sensitive):
    y = _as_binary("y_true", y_true)
    yhat = _as_binary("y_pred", y_pred)
    s = _as_binary("sensitive", sensitive)
    if not (y.shape == yhat.shape == s.shape):
        raise ValueError(f"y_true, y_pred and sensitive differ in length: {y.shape[0]}, {yhat.shape[0]}, {s.shape[0]}")
    if y.size == 0:
        raise ValueError("fairness metrics need at least one sample")
    return y, yhat, s
