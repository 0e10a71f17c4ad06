"""Records computed in parallel, and records never computed twice: checked on the smoke book's results."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest
from conftest import SMOKE_BOOK_OVERRIDES

from fairlab import paths, plans
from fairlab.book import precompute
from fairlab.profiles import load_profile
from fairlab.results import Registry

pytestmark = pytest.mark.book


def test_every_record_of_the_smoke_book_names_the_cpu_it_was_computed_on(smoke_book):
    envs = [json.loads(p.read_text()) for p in (smoke_book["results"] / "smoke").rglob("env.json")]
    assert envs
    assert all(env["computed_on"]["type"] == "cpu" for env in envs)
    assert any(env["computed_on"]["networks"] for env in envs)


def test_no_record_is_computed_twice_and_03_computes_none_of_02s_records(smoke_book):
    log = Registry("smoke", root=smoke_book["results"]).computations()
    keys = Counter((c["experiment"], c["config_hash"]) for c in log)
    assert keys and max(keys.values()) == 1
    by_02 = {(c["experiment"], c["config_hash"]) for c in log if c["notebook"] == "02_smg_sft"}
    by_03 = {(c["experiment"], c["config_hash"]) for c in log if c["notebook"] == "03_ablations"}
    assert by_02 and by_03 and not by_02 & by_03
    # 03 trains on the settings 02 covers: it reuses 02's Baselines instead of training them again
    assert not any(experiment == "aimfair/pretrained" and key in by_02 for experiment, key in by_03)


def _without_timings(metrics):
    """A record's metrics without how long it took (``seconds``, ``*_per_second``: the only numbers a process
    layout may change)."""
    if isinstance(metrics, dict):
        return {k: _without_timings(v) for k, v in metrics.items() if k != "seconds" and not k.endswith("per_second")}
    return metrics


def _every_metric(root) -> dict:
    """(experiment, config hash) → metrics.json of every record under ``root``, timings left out."""
    return {(p.parent.parent.relative_to(root).as_posix(), p.parent.name): _without_timings(json.loads(p.read_text()))
            for p in root.rglob("metrics.json")}


@pytest.mark.parallel_book
def test_the_smoke_book_on_two_jobs_gives_every_metric_of_the_sequential_build(smoke_book, tmp_path):
    from fairlab.book import build_book

    # cold, into its own folders: 2 plan workers, the neutralization chapter beside AIM-Fair's,
    # at the fixture's one thread per process
    root, build = tmp_path / "results", tmp_path / "_build"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(paths.RESULTS_ENV, str(root))
        mp.setenv(paths.BUILD_ENV, str(build))
        build_book("smoke", SMOKE_BOOK_OVERRIDES, jobs=2, progress=False, announce=lambda message: None)
    sequential, parallel_ = _every_metric(smoke_book["results"]), _every_metric(root)
    assert len(sequential) > 50
    assert parallel_.keys() == sequential.keys()
    assert parallel_ == sequential
    pids = {c["pid"] for c in Registry("smoke", root=root).computations()}
    assert len(pids) > 2  # computed in several processes: chapters and plan workers


def test_precompute_runs_a_notebooks_plan_on_workers_and_the_notebook_then_finds_every_record(smoke_book, tmp_path,
                                                                                                 monkeypatch):
    root = tmp_path / "results"
    shutil.copytree(smoke_book["results"], root, ignore=shutil.ignore_patterns("_computations.jsonl"))
    monkeypatch.setenv(paths.RESULTS_ENV, str(root))
    done = precompute("02_smg_sft", "smoke", {"compute.device": "cpu"}, jobs=2, announce=lambda message: None)
    assert len(done) == sum(len(stage) for stage in plans.plan("02_smg_sft", load_profile("smoke")))
    assert Registry("smoke", root=root).computations() == []  # the smoke book had computed every record already


def test_two_fairlab_run_04_at_once_on_one_results_folder_compute_each_record_once(smoke_book, tmp_path):
    import os
    import subprocess
    import sys

    # the smoke book's results without the records 04 computed: both commands then want the same ones
    log = Registry("smoke", root=smoke_book["results"]).computations()
    own = {(c["experiment"], c["config_hash"]) for c in log if c["notebook"] == "04_weight_importance_neutralization"}
    assert own
    root, build = tmp_path / "results", tmp_path / "_build"
    shutil.copytree(smoke_book["results"], root, ignore=shutil.ignore_patterns("_computations.jsonl"))
    for experiment, key in own:
        shutil.rmtree(root / "smoke" / experiment / key)
    env = os.environ | {paths.RESULTS_ENV: str(root), paths.BUILD_ENV: str(build)}
    command = [sys.executable, "-m", "fairlab.cli", "run", "04", "--profile", "smoke", "-p", "compute.device=cpu",
               "-p", "compute.threads=1", "--jobs", "1"]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=900)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs

    computed = Registry("smoke", root=root).computations()
    keys = Counter((c["experiment"], c["config_hash"]) for c in computed)
    assert set(keys) == own and max(keys.values()) == 1
    assert len({c["pid"] for c in computed}) >= 1
    # the executed-notebook log keeps both runs: the latest as the entry, the other in its runs
    entry = json.loads((build / "smoke" / "executions.json").read_text())["04_weight_importance_neutralization"]
    assert entry["status"] == "ok" and [run["status"] for run in entry["runs"]] == ["ok"]
