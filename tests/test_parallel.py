"""Records computed in parallel, and records never computed twice: checked on the smoke book's results."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from fairlab import parallel, paths, plans
from fairlab.book import precompute
from fairlab.profiles import load_profile
from fairlab.results import Registry

pytestmark = pytest.mark.book


def test_every_record_of_the_smoke_book_names_the_cpu_it_was_computed_on(smoke_book):
    envs = [json.loads(p.read_text()) for p in (smoke_book["results"] / "smoke").rglob("env.json")]
    assert envs
    assert all(env["computed_on"]["type"] == "cpu" for env in envs)
    assert any(env["computed_on"]["networks"] for env in envs)


def test_no_record_is_computed_twice_and_05_computes_none_of_02s_records(smoke_book):
    log = Registry("smoke", root=smoke_book["results"]).computations()
    keys = Counter((c["experiment"], c["config_hash"]) for c in log)
    assert keys and max(keys.values()) == 1
    by_02 = {(c["experiment"], c["config_hash"]) for c in log if c["notebook"] == "02_smg_sft"}
    by_05 = {(c["experiment"], c["config_hash"]) for c in log if c["notebook"] == "05_ablations"}
    assert by_02 and by_05 and not by_02 & by_05
    # 05 trains on the settings 02 covers: it reuses 02's Baselines instead of training them again
    assert not any(experiment == "aimfair/pretrained" and key in by_02 for experiment, key in by_05)


def _strategy_metrics(root) -> dict:
    folder = root / "smoke" / "aimfair" / "strategy"
    return {p.parent.name: {k: v for k, v in json.loads(p.read_text()).items()}
            for p in folder.glob("*/metrics.json")}


def test_a_plan_on_two_workers_gives_exactly_the_numbers_of_one_after_another(smoke_book, tmp_path, monkeypatch):
    overrides = {"compute.device": "cpu", "compute.threads": 1}
    profile = load_profile("smoke", overrides)
    baselines, strategies = plans.plan("02_smg_sft", profile)
    # from the backbone, fine-tuned under a mask, SMG's selection: one unit of each kind, then a few more
    kinds = {}
    for unit in strategies:
        kinds.setdefault(unit.args[3].kind, unit)
    chosen = [baselines, list(kinds.values())[:8]]
    computed = {}
    for jobs in (1, 2):
        root = tmp_path / f"results-{jobs}"
        shutil.copytree(smoke_book["results"], root, ignore=shutil.ignore_patterns("strategy", "_computations.jsonl"))
        monkeypatch.setenv(paths.RESULTS_ENV, str(root))
        for stage in chosen:
            parallel.run(stage, jobs=jobs, threads=1)
        computed[jobs] = _strategy_metrics(root)
    assert len(computed[1]) >= 6
    assert computed[1] == computed[2]


def test_precompute_runs_a_notebooks_plan_on_workers_and_the_notebook_then_finds_every_record(smoke_book, tmp_path,
                                                                                                 monkeypatch):
    root = tmp_path / "results"
    shutil.copytree(smoke_book["results"], root, ignore=shutil.ignore_patterns("_computations.jsonl"))
    monkeypatch.setenv(paths.RESULTS_ENV, str(root))
    done = precompute("02_smg_sft", "smoke", {"compute.device": "cpu"}, jobs=2, announce=lambda message: None)
    assert len(done) == sum(len(stage) for stage in plans.plan("02_smg_sft", load_profile("smoke")))
    assert Registry("smoke", root=root).computations() == []  # the smoke book had computed every record already
