"""The command line's messages: errors and tracebacks printed verbatim, profile values checked before anything runs."""

from __future__ import annotations

from pathlib import Path

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


def test_the_gate_of_a_setting_it_does_not_know_names_the_settings_it_knows_before_training_anything():
    result = CliRunner().invoke(app, ["gate", "--profile", "smoke", "--setting", "CelebA S/X"])
    assert result.exit_code == 2
    assert "--setting 'CelebA S/X': not a setting of the gate; expected one of CelebA S/M, CelebA S/Y" in result.output


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
    perception = tmp_path / "dal"
    (perception / "clip").mkdir(parents=True)
    profile = load_profile("paper", {"backbones.weights_dir": str(weights), "csdg.generation.pipeline": str(pipeline),
                                     "dal.pipeline": str(pipeline), "dal.perception_dir": str(perception),
                                     "compute.device": "cpu"})
    checks = {c.name: c for c in check(profile, tmp_path / "data")}
    assert checks["pipeline to debias"].ok
    assert not checks["dal perception"].ok and "8 of 9 entries missing" in checks["dal perception"].detail
    assert "training_classifier.pt" in checks["dal perception"].detail and "clip/" not in checks["dal perception"].detail
    assert not checks["data root"].ok
    assert all(checks[f"weights {arch}"].ok for arch in backbones.IMAGENET_FILES)
    assert not checks[f"weights {vit.ARCH}"].ok and vit.WEIGHT_FILES[0] in checks[f"weights {vit.ARCH}"].detail
    assert checks["diffusion pipeline"].ok and checks["device"].ok
    assert checks["prompt backend"].ok and "local-model" in checks["prompt backend"].detail


def _celeba(root, n_per_group=6):
    """A CelebA folder in the official format: ``n_per_group`` images of each (Smiling, Male) group."""
    import numpy as np
    from PIL import Image

    attrs = ["Male", "Smiling"]
    names, rows = [], []
    for i, (smiling, male) in enumerate([(s, m) for s in (0, 1) for m in (0, 1) for _ in range(n_per_group)]):
        name = f"{i + 1:06d}.jpg"
        (root / "img_align_celeba").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((12, 10, 3), 100, np.uint8)).save(root / "img_align_celeba" / name, format="JPEG")
        names.append(name)
        rows.append(f"{name} {2 * male - 1:2d} {2 * smiling - 1:2d}")
    (root / "list_attr_celeba.txt").write_text("\n".join([str(len(names)), " ".join(attrs), *rows]) + "\n")
    (root / "list_eval_partition.txt").write_text("".join(f"{n} 0\n" for n in names))
    return names


def _subset(root, out, *extra):
    return CliRunner().invoke(app, ["data", "subset", "--dataset", "celeba", "--root", str(root), "--target", "Smiling",
                                    "--protected", "Male", "--size", "8", "--out", str(out), *extra])


@pytest.mark.parametrize("size", ["-10", "0"])
def test_a_subset_size_below_one_is_refused_and_writes_nothing(tmp_path, size):
    _celeba(tmp_path / "celeba")
    out = tmp_path / "subset.csv"
    result = CliRunner().invoke(app, ["data", "subset", "--dataset", "celeba", "--root", str(tmp_path / "celeba"),
                                      "--target", "Smiling", "--protected", "Male", "--size", size, "--out", str(out)])
    assert result.exit_code == 2 and "--size" in result.output and not out.exists()


def test_a_subset_out_that_is_a_folder_is_refused(tmp_path):
    _celeba(tmp_path / "celeba")
    result = _subset(tmp_path / "celeba", tmp_path)
    assert result.exit_code == 2 and f"{tmp_path}: --out is a folder" in result.output


def test_a_full_disk_while_writing_a_subset_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    import errno

    import pandas as pd

    _celeba(tmp_path / "celeba")
    out = tmp_path / "subset.csv"
    out.write_text("the previous subset\n")

    def full_disk(self, path, *args, **kwargs):
        open(path, "w").write("image_id,pa")  # part of a file, as a disk filling up leaves it
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    result = _subset(tmp_path / "celeba", out)
    assert result.exit_code == 1 and "No space left on device" in result.output and "nothing was written" in result.output
    assert out.read_text() == "the previous subset\n" and sorted(p.name for p in tmp_path.iterdir()) == ["celeba", "subset.csv"]


def test_verify_names_a_corrupt_image_of_the_subset_before_writing_it(tmp_path):
    import pandas as pd

    _celeba(tmp_path / "celeba")
    out = tmp_path / "subset.csv"
    assert _subset(tmp_path / "celeba", out).exit_code == 0
    broken = Path(pd.read_csv(out)["path"].iloc[0])
    out.unlink()
    broken.write_bytes(broken.read_bytes()[:40])  # a truncated download
    result = _subset(tmp_path / "celeba", out, "--verify")
    assert result.exit_code == 2 and f"{broken}: corrupt or unreadable image" in result.output and not out.exists()
