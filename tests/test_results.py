"""The results registry: compute once, reuse, write atomically, never overwrite on failure."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from typer.testing import CliRunner

from fairlab import paths
from fairlab.cli import app
from fairlab.results import Registry, config_hash


def test_a_record_is_computed_once_and_then_loaded():
    registry = Registry("smoke")
    calls = []

    def compute(workdir):
        calls.append(1)
        (workdir / "weights.txt").write_text("42")
        return {"score": 0.5}

    first = registry.get_or_compute("demo/exp", {"a": 1}, compute)
    second = registry.get_or_compute("demo/exp", {"a": 1}, compute)
    assert calls == [1]
    assert first.path == second.path and second.metrics == {"score": 0.5}
    assert second.artifact("weights.txt").read_text() == "42"
    assert {p.name for p in first.path.iterdir()} == {"config.json", "metrics.json", "env.json", "weights.txt"}
    env = json.loads((first.path / "env.json").read_text())
    assert {"git", "packages", "device", "code_version", "python"} <= set(env)


def test_the_hash_depends_on_the_config_and_the_code_version():
    assert config_hash({"a": 1}, "v1") != config_hash({"a": 2}, "v1")
    assert config_hash({"a": 1}, "v1") != config_hash({"a": 1}, "v2")
    assert config_hash({"a": 1, "b": 2}, "v1") == config_hash({"b": 2, "a": 1}, "v1")


def test_a_failed_computation_leaves_the_previous_record_untouched():
    registry = Registry("smoke")
    good = registry.get_or_compute("demo/exp", {"a": 1}, lambda w: {"score": 1.0})

    def broken(workdir):
        (workdir / "half.txt").write_text("partial")
        raise RuntimeError("interrupted")

    fresh = Registry("smoke", fresh_since=time.time() + 1)
    with pytest.raises(RuntimeError, match="interrupted"):
        fresh.get_or_compute("demo/exp", {"a": 1}, broken)
    assert json.loads((good.path / "metrics.json").read_text()) == {"score": 1.0}
    assert not (good.path / "half.txt").exists()
    assert [p.name for p in good.path.parent.iterdir()] == [good.path.name]  # no temporary folders left


def test_a_failed_first_computation_leaves_no_record():
    registry = Registry("smoke")
    with pytest.raises(ValueError):
        registry.get_or_compute("demo/exp", {"a": 1}, lambda w: (_ for _ in ()).throw(ValueError("bad")))
    assert registry.load("demo/exp", {"a": 1}) is None
    assert registry.records() == []


def test_fresh_recomputes_records_written_before_the_build_started():
    registry = Registry("smoke")
    registry.get_or_compute("demo/exp", {"a": 1}, lambda w: {"n": 1})
    fresh = Registry("smoke", fresh_since=time.time() + 1)
    assert fresh.get_or_compute("demo/exp", {"a": 1}, lambda w: {"n": 2}).metrics == {"n": 2}
    assert Registry("smoke").load("demo/exp", {"a": 1}).metrics == {"n": 2}


def test_compute_must_return_metrics():
    with pytest.raises(TypeError, match="must return a dict"):
        Registry("smoke").get_or_compute("demo/exp", {"a": 1}, lambda w: 3)


def test_cli_lists_records_as_json():
    registry = Registry("smoke")
    registry.get_or_compute("demo/one", {"a": 1}, lambda w: {"x": 1})
    registry.get_or_compute("demo/two", {"a": 2}, lambda w: {"x": 2})
    result = CliRunner().invoke(app, ["results", "--profile", "smoke", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert sorted(r["experiment"] for r in listed) == ["demo/one", "demo/two"]
    assert all({"config_hash", "metrics", "path"} <= set(r) for r in listed)


def test_experiment_names_cannot_escape_the_registry():
    with pytest.raises(ValueError, match="invalid experiment name"):
        Registry("smoke").record_dir("../outside", {})


def test_the_code_version_ignores_presentation_modules_only():
    from fairlab import environment, paths

    hashed = {p.name for p in paths.PACKAGE_DIR.glob("*.py")} - environment.PRESENTATION_MODULES
    assert "pages" in environment.PRESENTATION_MODULES
    assert {"train.py", "backbones.py", "models.py", "results.py"} <= hashed and "metrics" not in environment.PRESENTATION_MODULES
    assert environment.PRESENTATION_MODULES <= {p.name for p in paths.PACKAGE_DIR.iterdir()}


def test_a_records_code_version_covers_its_module_and_what_that_imports_only():
    from fairlab import environment

    files = {p.relative_to(p.parents[1]).as_posix() if p.parent.name != "fairlab" else p.name
             for p in environment.module_files("fairlab.win.adult")}
    assert {"win/neutralize.py", "train.py", "metrics/classification.py", "win/adult.py", "win/__init__.py"} <= files
    assert not {"t2i.py", "aimfair/selective.py", "aimfair/csdg.py"} & files
    assert environment.code_version("fairlab.win.adult") != environment.code_version("fairlab.aimfair.csdg")
    with pytest.raises(ValueError, match="not a fairlab module"):
        environment.module_files("fairlab.nowhere")


def test_a_record_computed_in_a_fairlab_module_is_keyed_by_that_modules_code():
    from fairlab.results import config_hash

    def compute(workdir):
        return {"n": 1}

    compute.__module__ = "fairlab.win.adult"
    config = DemoConfig(a=1)
    record = Registry("smoke").get_or_compute("demo/scoped", config, compute)
    assert record.env["computed_by"] == "fairlab.win.adult"
    assert record.path.name == config_hash({"a": 1, "name": "demo"}, module="fairlab.win.adult")
    assert record.config == {"a": 1, "name": "demo"}
    assert Registry("smoke").load("demo/scoped", config, module="fairlab.win.adult") is not None


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    a: int
    name: str = "demo"


@dataclasses.dataclass
class MutableDemoConfig:
    a: int


@pytest.mark.parametrize("config", [{"a": 1}, MutableDemoConfig(1)], ids=["dict", "mutable dataclass"])
def test_a_fairlab_experiment_refuses_a_config_that_is_not_a_frozen_dataclass(config):
    def compute(workdir):
        return {"n": 1}

    compute.__module__ = "fairlab.win.adult"
    with pytest.raises(TypeError, match="demo/typed.*frozen dataclass"):
        Registry("smoke").get_or_compute("demo/typed", config, compute)
    assert not (paths.results_root() / "smoke" / "demo" / "typed").exists()


def test_every_fairlab_experiment_config_hashes_as_its_fields():
    from fairlab.results import config_hash

    assert config_hash(DemoConfig(a=1), code_version="x") == config_hash({"name": "demo", "a": 1}, code_version="x")
    assert config_hash(DemoConfig(a=1), code_version="x") != config_hash(DemoConfig(a=2), code_version="x")


def _presentation_files():
    from fairlab import environment

    for path in sorted(paths.PACKAGE_DIR.rglob("*.py")):
        if path.relative_to(paths.PACKAGE_DIR).parts[0] in environment.PRESENTATION_MODULES:
            yield path


def test_no_presentation_module_defines_a_stored_computation():
    import ast

    files = list(_presentation_files())
    assert any(p.parent.name == "pages" for p in files)
    offenders = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get_or_compute":
                offenders.append(f"{path.relative_to(paths.PACKAGE_DIR)}:{node.lineno}")
    assert not offenders, f"stored computations in presentation modules (keyed without their code): {offenders}"


def test_the_registry_refuses_a_computation_defined_in_a_presentation_module():
    from fairlab.results import PresentationComputeError

    def compute(workdir):
        return {"a": 1}

    compute.__module__ = "fairlab.pages.smg_sft"
    with pytest.raises(PresentationComputeError, match="fairlab.pages.smg_sft.*presentation module"):
        Registry("smoke").get_or_compute("demo/page", {"a": 1}, compute)
    assert not (paths.results_root() / "smoke" / "demo").exists()


def test_a_resumable_computation_keeps_its_staging_folder_through_a_failure_and_drops_it_once_stored():
    registry = Registry("smoke")
    folders = []

    def failing(workdir, staging):
        folders.append(staging)
        (staging / "fit.pt").write_text("epoch 3")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        registry.get_or_compute_resumable("demo/resume", {"a": 1}, failing)
    assert (folders[0] / "fit.pt").read_text() == "epoch 3"  # what the next run resumes from

    def resuming(workdir, staging):
        folders.append(staging)
        return {"resumed_from": (staging / "fit.pt").read_text()}

    record = registry.get_or_compute_resumable("demo/resume", {"a": 1}, resuming)
    assert folders[0] == folders[1] and record.metrics == {"resumed_from": "epoch 3"}
    assert not folders[0].exists()


UNGUARDED_SCRIPT = """
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from fairlab.results import Registry


def square(x):
    return x * x


def compute(workdir):
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return {"value": pool.submit(square, 3).result()}


# no `if __name__ == "__main__":`: a spawned worker re-runs this line while the parent holds the record's lock
Registry("smoke").get_or_compute("demo/unguarded", {"a": 1}, compute)
"""


def test_a_script_without_a_main_guard_fails_with_a_clear_error_instead_of_hanging(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode != 0
    assert 'if __name__ == "__main__":' in done.stderr and "demo/unguarded" in done.stderr
