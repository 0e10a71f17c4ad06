"""The Adult experiments of notebook 04, at smoke scale: records, determinism, table rows."""

from __future__ import annotations

import pytest

from fairlab.pages import weight_importance_neutralization as page
from fairlab.profiles import load_profile
from fairlab.results import Registry
from fairlab.study import Study


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    profile = load_profile("smoke", {"win_adult.n_runs": 2, "win_adult.lr_grid": [0.01]})
    return page.open_task(Study(profile, Registry("smoke", root=tmp_path_factory.mktemp("results"))))


def test_the_pretrained_mlp_has_the_papers_742_parameters(task):
    record = page.pretrain(task)
    assert record.metrics["parameters"] == 742
    assert set(record.metrics["replicas"][0]["test"]) >= {"err_f1", "eo_sum", "dp"}


def test_same_seed_same_numbers(task, tmp_path):
    first = page.finetune_head(task, page.pretrain(task), "win", 0.01)
    again_task = page.open_task(Study(task.profile, Registry("smoke", root=tmp_path)))
    second = page.finetune_head(again_task, page.pretrain(again_task), "win", 0.01)
    assert first.config_hash == second.config_hash
    assert first.metrics == second.metrics


def test_runs_differ_by_seed_and_carry_their_keys(task):
    runs = page.runs_frame({0.01: page.finetune_head(task, page.pretrain(task), "tl", 0.01)})
    assert sorted(runs["seed"]) == [0, 1]
    assert {"pretrain_replica", "alpha", "best_epoch", "err_f1", "eo_sum", "dp"} <= set(runs.columns)


def test_table2_rows_pair_each_fair_model_with_its_fine_tuning(task):
    fair = page.fair_pretraining(task)
    rows = page.table2_reproduced(fair, page.table2_runs(task, fair, "tl"))
    assert set(rows) == {(c, f"{lam:g}") for c in ("Equalized Odds", "Demographic Parity") for lam in task.cfg.lambdas}
    row = rows[("Equalized Odds", f"{task.cfg.lambdas[0]:g}")]
    assert row["err_finetune"].n == 2 and isinstance(row["bias_pretrain"], float)


def test_the_learning_rate_is_chosen_on_validation_per_group(task):
    records = {lr: page.finetune_head(task, page.pretrain(task), "win", lr) for lr in (0.001, 0.01)}
    choice = page.select_lr(records, ["pretrain_replica", "alpha"])
    assert choice["chosen"].sum() == 1
    best = choice.loc[choice["chosen"].astype(bool), "val_err"].item()
    assert best == choice["val_err"].min()


def test_the_pretraining_sensitivity_puts_the_papers_unfair_model_beside_each_length_and_names_the_closest():
    import pandas as pd

    from fairlab.pages.weight_importance_neutralization import pretrain_sentence

    table = pd.DataFrame({"Err (%)": [16.165, 17.9, 16.4, 15.4], "ΔEO": [0.223, 0.10, 0.21, 0.186], "ΔDP": [0.19, 0.1, 0.18, 0.17]},
                         index=["the paper (recipe not stated)", "1 epochs", "3 epochs", "50 epochs (this profile's)"])
    text = pretrain_sentence(table)
    assert "Err ranges 15.40–17.90" in text and "ΔEO 0.100–0.210" in text and "is 3 epochs" in text
