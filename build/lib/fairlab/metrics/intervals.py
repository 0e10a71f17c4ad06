"""Aggregation over seeds and intervals: the papers' per-table aggregates, bootstrap and Welch 95 % intervals."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from fairlab.data import GROUPS
from fairlab.metrics.classification import SCALAR_METRICS


def aggregate_seeds(reports: Sequence[Mapping], n_boot: int = 2000, seed: int = 0) -> dict:
    """Combine per-seed :func:`fairness_report` dicts.

    Returns

    * ``paper``: the aggregation of AIM-Fair's tables — group accuracies, ACC and both EOs are
      means over seeds; **WST = min of the seed-averaged group accuracies** (not the mean of
      per-seed minima); **STD = population std of the seed-averaged group accuracies**; every
      other scalar metric is its mean over seeds;
    * ``mean`` and ``std``: mean and sample standard deviation (ddof = 1; 0 for one seed) of
      every scalar metric and group accuracy over seeds — the "mean ± std over runs" of the
      neutralization paper;
    * ``ci95``: a percentile bootstrap 95 % interval over seeds (``n_boot`` resamples of the
      seeds with replacement) of every ``paper`` entry — an addition the papers lack;
    * ``n_seeds``.
    """
    if not reports:
        raise ValueError("aggregate_seeds needs at least one report")
    table = _per_seed_table(reports)
    n = table.shape[0]
    names = list(table.columns)

    def paper_aggregate(rows: np.ndarray) -> dict[str, float]:
        means = dict(zip(names, np.nanmean(rows, axis=0)))
        groups = np.array([means[f"group_acc.{g}"] for g in GROUPS])
        out = dict(means)
        if not np.isnan(groups).all():
            out["wst"] = float(np.nanmin(groups))
            out["std"] = float(np.nanstd(groups))
        return {k: float(v) for k, v in out.items()}

    values = table.to_numpy(dtype=float)
    paper = paper_aggregate(values)
    rng = np.random.default_rng(seed)
    boots = np.array([list(paper_aggregate(values[rng.integers(0, n, n)]).values()) for _ in range(n_boot)])
    lo, hi = np.nanpercentile(boots, [2.5, 97.5], axis=0)
    keys = list(paper)
    std = np.nanstd(values, axis=0, ddof=1) if n > 1 else np.zeros(len(names))
    return {
        "n_seeds": n,
        "paper": _nest(paper),
        "mean": _nest(dict(zip(names, np.nanmean(values, axis=0).tolist()))),
        "std": _nest(dict(zip(names, np.asarray(std).tolist()))),
        "ci95": _nest({k: [float(a), float(b)] for k, a, b in zip(keys, lo, hi)}),
    }


def _per_seed_table(reports: Iterable[Mapping]):
    import pandas as pd

    rows = []
    for rep in reports:
        row = {f"group_acc.{g}": rep["group_acc"][g] for g in GROUPS} if "group_acc" in rep else {}
        row.update({k: rep[k] for k in SCALAR_METRICS if k in rep})
        rows.append(row)
    return pd.DataFrame(rows)


def _nest(flat: Mapping[str, float]) -> dict:
    out: dict = {}
    for key, value in flat.items():
        head, _, tail = key.partition(".")
        if tail:
            out.setdefault(head, {})[tail] = value
        else:
            out[key] = value
    return out


def mean_difference(a, b) -> tuple[float, float, float]:
    """mean(a) − mean(b) with a Welch 95 % confidence interval (runs as independent samples).

    d = ā − b̄, se = √(s²_a / n_a + s²_b / n_b), d ± t₀.₉₇₅(ν) · se with the Welch–Satterthwaite
    ν = (s²_a/n_a + s²_b/n_b)² / ((s²_a/n_a)² / (n_a − 1) + (s²_b/n_b)² / (n_b − 1)).
    The interval is NaN with fewer than two values on either side.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return diff, float("nan"), float("nan")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(np.sqrt(va + vb))
    if se == 0:
        return diff, diff, diff
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.975, dof) * se)
    return diff, diff - half, diff + half
