"""Runs of a study across a learning-rate grid: one frame of metrics, and the rate chosen on validation."""

from __future__ import annotations

import pandas as pd

from fairlab import metrics
from fairlab.results import Record


def runs_frame(records: dict[float, Record], split: str = "test") -> pd.DataFrame:
    """One line per (learning rate, run) with the run's keys and scalar metrics on ``split``."""
    lines = []
    for lr, record in records.items():
        for run in record.metrics["runs"]:
            keys = {k: v for k, v in run.items() if k not in ("test", "val")}
            report = run[split]
            lines.append({"lr": lr, **keys, **{m: report[m] for m in metrics.SCALAR_METRICS}})
    return pd.DataFrame(lines)


def select_lr(records: dict[float, Record], by: list[str] | None = None) -> pd.DataFrame:
    """Mean validation error per (group ``by``, lr) and the chosen lr (lowest mean validation Err) per group.

    Without ``by`` every run belongs to one group.
    """
    by = list(by or [])
    val = runs_frame(records, "val").assign(_all=0)
    keys = by or ["_all"]
    table = val.groupby(keys + ["lr"])["err_f1"].mean().rename("val_err").reset_index()
    best = table.loc[table.groupby(keys)["val_err"].idxmin()].assign(chosen=True)
    out = table.merge(best[keys + ["lr", "chosen"]], on=keys + ["lr"], how="left").fillna({"chosen": False})
    return out.drop(columns="_all", errors="ignore")


def chosen_runs(records: dict[float, Record], by: list[str] | None = None) -> pd.DataFrame:
    """Test metrics of every run at the learning rate chosen on validation for its group."""
    by = list(by or [])
    choice = select_lr(records, by)
    chosen = choice[choice["chosen"].astype(bool)][by + ["lr"]]
    return runs_frame(records, "test").merge(chosen, on=by + ["lr"])
