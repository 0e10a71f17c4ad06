"""The command line's messages: errors and tracebacks printed verbatim, profile values checked before anything runs."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from fairlab import cli
from fairlab.cli import app


def test_an_error_message_is_printed_verbatim_whatever_square_brackets_it_holds(capsys):
    message = "found [np.float64(0.0), 1.0] in x[0][1], [bold]not bold[/bold] and [/oops]"
    with pytest.raises(typer.Exit):
        cli._fail(message)
    assert f"error: {message}" in capsys.readouterr().err


def test_a_profile_path_with_markup_in_its_name_is_named_in_the_error(tmp_path):
    path = tmp_path / "mine[/odd][bold].yml"
    result = CliRunner().invoke(app, ["profile", str(path)])
    assert result.exit_code == 2
    assert f"{path}: profile file not found" in result.output


def test_a_bad_override_value_names_the_key_and_the_valid_range_before_anything_runs():
    result = CliRunner().invoke(app, ["profile", "smoke", "-p", "aimfair.top_k=1000"])
    assert result.exit_code == 2
    assert "aimfair.top_k: Input should be less than or equal to 62 (got 1000)" in result.output


def test_results_of_an_unknown_profile_is_an_error_not_an_empty_table():
    result = CliRunner().invoke(app, ["results", "--profile", "nosuch"])
    assert result.exit_code == 2 and "profile file not found" in result.output


def test_one_unreadable_record_is_named_and_hides_none_of_the_others():
    from fairlab.results import Registry

    registry = Registry("smoke")
    good = registry.get_or_compute("demo/good", {"a": 1}, lambda w: {"x": 1})
    bad = registry.get_or_compute("demo/bad", {"a": 2}, lambda w: {"x": 2})
    (bad.path / "metrics.json").write_text("{not json")
    result = CliRunner().invoke(app, ["results", "--profile", "smoke", "--json"])
    assert result.exit_code == 1
    assert f"{bad.path / 'metrics.json'}: unreadable record file" in result.output
    assert good.config_hash in result.output and "demo/good" in result.output


def test_the_preflight_check_says_the_data_root_is_missing_and_exits_non_zero(tmp_path):
    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(app, ["data", "check", "--profile", "paper", "--data-root", str(missing)])
    assert result.exit_code == 1
    assert f"FAIL data root: {missing} does not exist" in result.output
    assert "FAIL backbone weights: backbones.weights is 'imagenet' but backbones.weights_dir is not set" in result.output
    assert "cannot run here yet" in result.output


def test_the_preflight_check_finds_each_dataset_weight_file_and_pipeline_it_needs(tmp_path, monkeypatch):
    from fairlab import backbones
    from fairlab.aimfair import vit
    from fairlab.preflight import check
    from fairlab.profiles import load_profile

    weights, pipeline = tmp_path / "weights", tmp_path / "sd21"
    weights.mkdir()
    for name in backbones.IMAGENET_FILES.values():
        (weights / name).write_bytes(b"")
    pipeline.mkdir()
    (pipeline / "model_index.json").write_text("{}")
    monkeypatch.setenv("FAIRLAB_LLM_BASE_URL", "http://localhost:8000/v1")
    monkeypatch.setenv("FAIRLAB_LLM_MODEL", "local-model")
    profile = load_profile("paper", {"backbones.weights_dir": str(weights), "csdg.generation.pipeline": str(pipeline),
                                     "compute.device": "cpu"})
    checks = {c.name: c for c in check(profile, tmp_path / "data")}
    assert not checks["data root"].ok
    assert all(checks[f"weights {arch}"].ok for arch in backbones.IMAGENET_FILES)
    assert not checks[f"weights {vit.ARCH}"].ok and vit.WEIGHT_FILES[0] in checks[f"weights {vit.ARCH}"].detail
    assert checks["diffusion pipeline"].ok and checks["device"].ok
    assert checks["prompt backend"].ok and "local-model" in checks["prompt backend"].detail
