"""The metric functions against fairlearn / scikit-learn and against AIM-Fair's own tables."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn import metrics as flm
from sklearn.metrics import f1_score

from fairlab import reported
from fairlab.metrics import GROUPS, aggregate_seeds, fairness_report, group_accuracy

# CelebA test-set group counts (0,0)/(0,1)/(1,0)/(1,1) of AIM-Fair's tasks (reference §2.1)
TEST_COUNTS = {"CelebA S/M": (5354, 4621, 6893, 3094), "CelebA S/Y": (2358, 7617, 2490, 7497)}


def random_case(seed: int, n: int = 4000):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n)
    y = (rng.random(n) < np.where(s == 1, 0.35, 0.15)).astype(int)
    flip = rng.random(n) < np.where(s == 1, 0.12, 0.25)
    return y, np.where(flip, 1 - y, y), s


@pytest.mark.parametrize("seed", range(5))
def test_gaps_agree_with_fairlearn(seed):
    y, yhat, s = random_case(seed)
    rep = fairness_report(y, yhat, s)
    tpr = flm.true_positive_rate_difference(y, yhat, sensitive_features=s)
    fpr = flm.false_positive_rate_difference(y, yhat, sensitive_features=s)
    assert rep["dp"] == pytest.approx(flm.demographic_parity_difference(y, yhat, sensitive_features=s), abs=1e-12)
    assert rep["eo_max"] == pytest.approx(100 * flm.equalized_odds_difference(y, yhat, sensitive_features=s), abs=1e-10)
    assert rep["eo_mean"] == pytest.approx(100 * flm.equalized_odds_difference(y, yhat, sensitive_features=s, agg="mean"), abs=1e-10)
    assert rep["eo_sum"] == pytest.approx(tpr + fpr, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_error_and_accuracies_agree_with_sklearn_and_metricframe(seed):
    y, yhat, s = random_case(seed)
    rep = fairness_report(y, yhat, s)
    assert rep["err_f1"] == pytest.approx(100 * (1 - f1_score(y, yhat, average="weighted")), abs=1e-10)
    frame = flm.MetricFrame(metrics=lambda a, b: float(np.mean(a == b)), y_true=y, y_pred=yhat,
                            sensitive_features={"t": y, "s": s})
    for (t, g), value in frame.by_group.items():
        assert rep["group_acc"][f"{t}_{g}"] == pytest.approx(100 * value)
    assert rep["acc"] == pytest.approx(100 * np.mean(y == yhat))


def test_std_and_wst_use_the_four_group_accuracies():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    yhat = np.array([0, 1, 0, 0, 1, 1, 0, 0])
    rep = fairness_report(y, yhat, s)
    assert rep["group_acc"] == {"0_0": 50.0, "0_1": 100.0, "1_0": 100.0, "1_1": 0.0}
    assert rep["wst"] == 0.0
    assert rep["std"] == pytest.approx(np.std([50, 100, 100, 0]))
    # ΔTPR = |0 − 100| = 100 points, ΔFPR = |0 − 50| = 50 points
    assert rep["eo_max"] == pytest.approx(100.0) and rep["eo_mean"] == pytest.approx(75.0)
    assert rep["eo_sum"] == pytest.approx(1.5)


def test_non_binary_or_mismatched_inputs_are_rejected():
    with pytest.raises(ValueError, match="only 0 and 1"):
        fairness_report([0, 2], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="differ in length"):
        fairness_report([0, 1, 1], [0, 1], [0, 1])


def test_empty_group_gives_nan_not_a_crash():
    acc = group_accuracy([0, 0, 1], [0, 1, 1], [0, 0, 0])
    assert np.isnan(acc["0_1"]) and np.isnan(acc["1_1"]) and acc["1_0"] == 100.0


def test_aggregate_takes_the_min_of_seed_averages_not_the_average_of_minima():
    seed_a = {"group_acc": {"0_0": 60.0, "0_1": 90.0, "1_0": 90.0, "1_1": 80.0}, "acc": 85.0, "eo_max": 10.0}
    seed_b = {"group_acc": {"0_0": 80.0, "0_1": 90.0, "1_0": 90.0, "1_1": 60.0}, "acc": 83.0, "eo_max": 20.0}
    agg = aggregate_seeds([seed_a, seed_b], n_boot=200)
    # seed averages: 70, 90, 90, 70 -> WST 70 (the mean of the per-seed minima would be 60)
    assert agg["paper"]["wst"] == pytest.approx(70.0)
    assert agg["paper"]["std"] == pytest.approx(np.std([70, 90, 90, 70]))
    assert agg["paper"]["acc"] == pytest.approx(84.0) and agg["paper"]["eo_max"] == pytest.approx(15.0)
    assert agg["std"]["acc"] == pytest.approx(np.std([85, 83], ddof=1))
    low, high = agg["ci95"]["acc"]
    assert 83.0 <= low <= 84.0 <= high <= 85.0
    assert agg["n_seeds"] == 2


def _group_rows(table_id):
    table = reported.table("aimfair", table_id)
    names = [c.metric for c in table.columns]
    for row in table.rows:
        if "inconsistent" in row.flags:
            continue
        values = dict(zip(names, (reported.parse_printed(v).value for v in row.printed)))
        yield table.row_key(row), values


@pytest.mark.parametrize("table_id", ["Table 3", "Table 4", "Table 5", "Table 6", "Table 7", "Table 8", "Table 9", "Table 10", "Table 11"])
def test_wst_and_std_of_aimfair_tables_follow_from_their_group_accuracies(table_id):
    for key, values in _group_rows(table_id):
        report = {"group_acc": {g: values[f"group_acc.{g}"] for g in GROUPS}}
        agg = aggregate_seeds([report], n_boot=10)["paper"]
        assert agg["wst"] == pytest.approx(values["wst"], abs=0.01), key
        assert agg["std"] == pytest.approx(values["std"], abs=0.01), key


@pytest.mark.parametrize("task", sorted(TEST_COUNTS))
def test_aimfair_table3_accuracy_is_the_count_weighted_mean_of_its_groups(task):
    """Predictions built to have Table 3's group accuracies on CelebA's test counts give its ACC."""
    for (method, row_task), values in _group_rows("Table 3"):
        if row_task != task:
            continue
        y, s, yhat = [], [], []
        for (t, g), count in zip([(0, 0), (0, 1), (1, 0), (1, 1)], TEST_COUNTS[task]):
            right = round(count * values[f"group_acc.{t}_{g}"] / 100)
            y += [t] * count
            s += [g] * count
            yhat += [t] * right + [1 - t] * (count - right)
        rep = fairness_report(y, yhat, s)
        assert rep["acc"] == pytest.approx(values["acc"], abs=0.02), method
        # a mean of per-seed maxima is at least the maximum of the means (up to rounding of the printed values)
        assert rep["eo_max"] <= values["eo_max"] + 0.03, method


def test_shortcut_agreement_is_100_for_a_model_answering_the_protected_attribute_and_matches_counting():
    from fairlab.metrics.classification import positive_share, shortcut_agreement

    # 90/10 layout aligned with the protected attribute: (0,0) and (1,1) are the large groups
    y = np.array([0] * 45 + [0] * 5 + [1] * 5 + [1] * 45)
    s = np.array([0] * 45 + [1] * 5 + [0] * 5 + [1] * 45)
    report = fairness_report(y, s.copy(), s)  # predicts the protected attribute itself
    assert shortcut_agreement(report["group_n"], report["group_acc"]) == pytest.approx(100.0)
    rng = np.random.default_rng(0)
    yhat = rng.integers(0, 2, y.size)
    report = fairness_report(y, yhat, s)
    assert shortcut_agreement(report["group_n"], report["group_acc"]) == pytest.approx(100 * np.mean(yhat == s))
    assert positive_share(report["group_n"], report["group_acc"]) == pytest.approx(100 * yhat.mean())
    # the other orientation: the large groups are (0,1) and (1,0), so the shortcut answers 1 − s
    report = fairness_report(y, 1 - y, 1 - s)
    assert shortcut_agreement(report["group_n"], report["group_acc"]) == pytest.approx(100 * np.mean((1 - y) == s))
