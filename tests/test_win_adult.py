"""The Adult experiments of notebook 03, at smoke scale: records, determinism, table rows."""

from __future__ import annotations

import pytest

from fairlab.studies import win_adult as W
from fairlab.profiles import load_profile
from fairlab.results import Registry


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    profile = load_profile("smoke", {"win_adult.n_runs": 2, "win_adult.lr_grid": [0.01]})
    return W.open_task(profile, Registry("smoke", root=tmp_path_factory.mktemp("results")))


def test_the_pretrained_mlp_has_the_papers_742_parameters(task):
    record = W.pretrain(task)
    assert record.metrics["parameters"] == 742
    assert set(record.metrics["replicas"][0]["test"]) >= {"err_f1", "eo_sum", "dp"}


def test_same_seed_same_numbers(task, tmp_path):
    first = W.finetune_head(task, W.pretrain(task), "win", 0.01)
    again_task = W.open_task(task.profile, Registry("smoke", root=tmp_path))
    second = W.finetune_head(again_task, W.pretrain(again_task), "win", 0.01)
    assert first.config_hash == second.config_hash
    assert first.metrics == second.metrics


def test_runs_differ_by_seed_and_carry_their_keys(task):
    runs = W.runs_frame({0.01: W.finetune_head(task, W.pretrain(task), "tl", 0.01)})
    assert sorted(runs["seed"]) == [0, 1]
    assert {"pretrain_replica", "alpha", "best_epoch", "err_f1", "eo_sum", "dp"} <= set(runs.columns)


def test_table2_rows_pair_each_fair_model_with_its_fine_tuning(task):
    fair = W.fair_pretraining(task)
    rows = W.table2_reproduced(fair, W.table2_runs(task, fair, "tl"))
    assert set(rows) == {(c, f"{lam:g}") for c in ("Equalized Odds", "Demographic Parity") for lam in task.cfg.lambdas}
    row = rows[("Equalized Odds", f"{task.cfg.lambdas[0]:g}")]
    assert row["err_finetune"].n == 2 and isinstance(row["bias_pretrain"], float)


def test_the_learning_rate_is_chosen_on_validation_per_group(task):
    records = {lr: W.finetune_head(task, W.pretrain(task), "win", lr) for lr in (0.001, 0.01)}
    choice = W.select_lr(records, ["pretrain_replica", "alpha"])
    assert choice["chosen"].sum() == 1
    best = choice.loc[choice["chosen"].astype(bool), "val_err"].item()
    assert best == choice["val_err"].min()
