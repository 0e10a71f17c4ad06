"""Metrics: small pure functions whose docstrings state their formulas, as fairlearn writes them.

- :mod:`~fairlab.metrics.classification`: a binary classifier's accuracy and fairness per group
  (accuracy, worst group, equalized-odds and demographic-parity gaps, weighted F1);
- :mod:`~fairlab.metrics.intervals`: aggregation over seeds as the papers' tables do, bootstrap and
  Welch 95 % intervals;
- :mod:`~fairlab.metrics.generation`: fidelity, label noise, attribute entropy and Vendi score of
  generated images;
- :mod:`~fairlab.metrics.representation`: how much of a group a representation carries.

The classification metrics and the seed aggregation are importable from here directly.
"""

from fairlab.data import GROUPS
from fairlab.metrics.classification import (
    SCALAR_METRICS,
    demographic_parity_gap,
    fairness_report,
    group_accuracy,
    rate_gaps,
    weighted_f1,
)
from fairlab.metrics.intervals import aggregate_seeds, mean_difference

__all__ = ["GROUPS", "SCALAR_METRICS", "aggregate_seeds", "demographic_parity_gap", "fairness_report", "group_accuracy",
           "mean_difference", "rate_gaps", "weighted_f1"]
