"""The papers' training subsets and splits.

**AIM-Fair's biased subsets** (reference ``aimfair.md`` §2.1).  For a target t and protected
attribute s, each target class is 50/50 and, inside it, the protected attribute is 90/10, with
the minority groups (0,0) and (1,1)::

    quota(t, s) = N · [m, 1/2 − m, 1/2 − m, m]  for groups 0_0, 0_1, 1_0, 1_1,  m = (minority share) / 2

(rounded, never truncated: 0.05 × 20,000 is 999.99… in floating point).  The official code fills
the quotas with the *first* images of each group in CelebA index order (``rule="first"``; the
same subset for every seed; smaller subsets are per-group prefixes of larger ones); a seeded
random draw is the option ``rule="random"``.

**UTKFace** (``aimfair.md`` §2.2, the paper gives sizes only): a balanced test set of 800 per
group is drawn first, then the 10,000-image biased training set (500 / 4,500 / 4,500 / 500) from
the rest, then a validation set of 10 % of what is left, in its natural distribution (as CelebA's
official validation split is).  All three are seeded and disjoint.

**Random splits** (the neutralization paper's CelebA and LFW+a protocols): seeded test,
validation and training parts of given sizes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from fairlab.data import GROUPS, DataError


def bias_quotas(size: int, minority_share: float = 0.1) -> dict[str, int]:
    """Images per group: each class half of ``size``, its protected minority ``minority_share`` of that half.

    ``minority_share`` 0.1 is AIM-Fair's 90/10 (bias ratio 1:9); 0.4, 0.3, 0.2 are Table 6's 4:6, 3:7, 2:8.
    """
    if not 0 <= minority_share <= 0.5:
        raise ValueError(f"minority_share must lie in [0, 0.5], got {minority_share}")
    minority = round(size * minority_share / 2)
    negatives = round(size / 2)
    return {"0_0": minority, "0_1": negatives - minority, "1_0": size - negatives - minority, "1_1": minority}


def with_groups(frame: pd.DataFrame, target: str, protected: str) -> pd.DataFrame:
    """``frame`` with ``target``, ``protected`` (0/1) and ``group`` ("t_s") columns."""
    for name in (target, protected):
        if name not in frame.columns:
            known = [c for c in frame.columns if c not in ("path", "partition") and not str(c).startswith("score:")]
            raise DataError(f"unknown attribute {name!r}; valid attributes: {', '.join(map(str, known))}")
    out = frame.copy()
    out["target"] = out[target].astype(int)
    out["protected"] = out[protected].astype(int)
    out["group"] = out["target"].astype(str) + "_" + out["protected"].astype(str)
    return out


def biased_subset(frame: pd.DataFrame, target: str, protected: str, size: int, *, minority_share: float = 0.1,
                  rule: str = "first", seed: int = 0) -> pd.DataFrame:
    """The biased training subset: the first (or a seeded random) ``quota`` images of each group.

    ``frame`` is the candidate pool in its index order (CelebA: the official train partition).
    Returns the chosen rows in pool order with ``target``, ``protected`` and ``group`` columns.
    """
    if rule not in ("first", "random"):
        raise ValueError(f"rule must be 'first' or 'random', got {rule!r}")
    pool = with_groups(frame, target, protected)
    pool["_order"] = np.arange(len(pool))
    if rule == "random":
        pool = pool.iloc[np.random.default_rng(seed).permutation(len(pool))]
    quotas = bias_quotas(size, minority_share)
    parts = []
    for group, quota in quotas.items():
        members = pool[pool["group"] == group]
        if len(members) < quota:
            raise DataError(f"group {group} ({target}={group[0]}, {protected}={group[2]}) needs {quota} images "
                            f"but the pool has only {len(members)}")
        parts.append(members.head(quota))
    chosen = pd.concat(parts).sort_values("_order").drop(columns="_order")
    return chosen


def balanced_sample(frame: pd.DataFrame, per_group: int, seed: int) -> pd.DataFrame:
    """A seeded sample of ``per_group`` images from each group (``frame`` must have a ``group`` column)."""
    rng = np.random.default_rng(seed)
    parts = []
    for group in GROUPS:
        members = frame[frame["group"] == group]
        if len(members) < per_group:
            raise DataError(f"group {group} needs {per_group} images but has only {len(members)}")
        parts.append(members.iloc[np.sort(rng.choice(len(members), per_group, replace=False))])
    return pd.concat(parts)


def utkface_splits(frame: pd.DataFrame, target: str = "Female", protected: str = "White", train_size: int = 10000,
                   test_per_group: int = 800, val_share: float = 0.1, minority_share: float = 0.1,
                   seed: int = 0) -> dict[str, pd.DataFrame]:
    """Disjoint train (biased), val (natural, ``val_share`` of the rest) and test (balanced) sets."""
    pool = with_groups(frame, target, protected)
    test = balanced_sample(pool, test_per_group, seed)
    rest = pool.drop(index=test.index)
    train = biased_subset(rest.drop(columns=["target", "protected", "group"]), target, protected, train_size,
                          minority_share=minority_share, rule="random", seed=seed + 1)
    left = rest.drop(index=train.index)
    val = left.sample(n=round(val_share * len(left)), random_state=seed + 2).sort_index()
    return {"train": train, "val": val, "test": test}


def random_split(frame: pd.DataFrame, test_size: int | float, val_size: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Seeded train / val / test parts; a float ``test_size`` is a share rounded up (as scikit-learn does)."""
    n = len(frame)
    n_test = math.ceil(test_size * n) if isinstance(test_size, float) else int(test_size)
    if n_test + val_size >= n:
        raise DataError(f"cannot take {n_test} test and {val_size} validation images from {n}")
    order = np.random.default_rng(seed).permutation(n)
    test, val, train = order[:n_test], order[n_test:n_test + val_size], order[n_test + val_size:]
    return {"train": frame.iloc[np.sort(train)], "val": frame.iloc[np.sort(val)], "test": frame.iloc[np.sort(test)]}


def group_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame["group"].value_counts()
    return {g: int(counts.get(g, 0)) for g in GROUPS}
