"""The engine's device handling, its exact CPU fast paths and the registry's per-record locks."""

from __future__ import annotations

import copy
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from fairlab import device as devices
from fairlab.profiles import ProfileError, load_profile
from fairlab.results import Registry
from fairlab.small_maps import SmallMapConv2d, use_small_map_convs
from fairlab.train import TensorBatches, fit

# (in channels, out channels, kernel, stride, padding, map size): ResNet-18's and DenseNet-121's shapes at 32 px
SMALL_MAP_SHAPES = [(16, 32, 3, 1, 1, 2), (16, 32, 3, 2, 1, 2), (32, 32, 3, 1, 1, 1), (8, 12, 1, 2, 0, 2),
                    (8, 12, 3, 1, 1, (1, 2)), (8, 12, 5, 1, 2, 2)]


@pytest.mark.parametrize("shape", SMALL_MAP_SHAPES)
def test_small_map_conv_equals_stock_conv_and_its_gradients_in_float64(shape):
    c, o, k, s, p, size = shape
    height, width = size if isinstance(size, tuple) else (size, size)
    torch.manual_seed(0)
    stock = nn.Conv2d(c, o, k, s, p, bias=True).double()
    fast = use_small_map_convs(copy.deepcopy(stock))
    assert isinstance(fast, SmallMapConv2d)
    x = torch.randn(5, c, height, width, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn_like(stock(x))
    results = []
    for layer in (stock, fast):
        x.grad = None
        y = layer(x)
        (y * upstream).sum().backward()
        results.append((y.detach(), layer.weight.grad.clone(), layer.bias.grad.clone(), x.grad.clone()))
    for a, b in zip(*results):
        assert a.shape == b.shape
        assert torch.allclose(a, b, rtol=0, atol=1e-12)


def test_resnet18_predictions_at_mini_resolution_are_unchanged_by_the_small_map_path():
    torch.manual_seed(1)
    stock = torchvision.models.resnet18(num_classes=1).eval()
    fast = use_small_map_convs(copy.deepcopy(stock))
    x = torch.randn(256, 3, 32, 32)
    with torch.inference_mode():
        a, b = stock(x).squeeze(1), fast(x).squeeze(1)
    assert torch.equal(a > 0, b > 0)
    assert torch.allclose(a, b, atol=1e-4)


def test_small_map_path_leaves_larger_maps_to_the_stock_kernel():
    torch.manual_seed(2)
    stock = nn.Conv2d(4, 6, 3, 1, 1)
    fast = use_small_map_convs(copy.deepcopy(stock))
    x = torch.randn(2, 4, 3, 3)  # 9 pixels: above the threshold
    assert torch.equal(stock(x), fast(x))


def test_small_map_swap_keeps_parameter_objects_and_state_dict_names():
    model = torchvision.models.resnet18(num_classes=1)
    before = {name: id(p) for name, p in model.named_parameters()}
    keys = list(model.state_dict())
    use_small_map_convs(model)
    assert {name: id(p) for name, p in model.named_parameters()} == before
    assert list(model.state_dict()) == keys


def test_cuda_on_a_machine_without_one_is_one_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    profile = load_profile("smoke", {"compute.device": "cuda"})
    with pytest.raises(devices.DeviceError, match="compute.device is 'cuda'.*no CUDA device"):
        devices.runtime(profile)


def test_an_unknown_device_is_rejected_when_the_profile_loads():
    with pytest.raises(ProfileError, match="compute.device"):
        load_profile("smoke", {"compute.device": "tpu"})


def test_auto_is_the_cpu_in_float32_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    rt = devices.runtime(load_profile("smoke"))
    assert rt.device.type == "cpu" and rt.precision == "float32" and rt.autocast_dtype is None


def test_a_prepared_model_trains_and_evaluates_channels_last_and_inference_restores_its_training_mode():
    model = devices.CPU.prepare(torchvision.models.resnet18(num_classes=1)).train()
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    with devices.inference(model):
        assert not model.training and torch.is_inference_mode_enabled()
        assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.training
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_inference_relays_a_model_that_was_not_prepared_and_restores_its_memory_format():
    model = torchvision.models.resnet18(num_classes=1).train()
    with devices.inference(model):
        assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.training and model.conv1.weight.is_contiguous()


def test_fit_sums_the_loss_on_the_device_and_reports_the_epoch_mean():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = torch.randn(40, 3), torch.randn(40, 1)
    batches = TensorBatches((x, y), 10, seed=0, shuffle=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # a zero rate: every batch sees the same weights
    expected = float(np.mean([nn.functional.mse_loss(model(x[i:i + 10]), y[i:i + 10]).item() for i in range(0, 40, 10)]))
    result = fit(model, optimizer, batches, lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]), 1, progress=False,
                 runtime=devices.CPU)
    assert result.history[0]["train_loss"] == pytest.approx(expected, rel=1e-6)


def test_a_record_names_the_device_its_networks_ran_on(tmp_path):
    profile = load_profile("smoke", {"compute.device": "cpu"})
    registry = Registry("smoke", root=tmp_path)

    def compute(workdir: Path) -> dict:
        devices.runtime(profile)
        return {"ok": True}

    record = registry.get_or_compute("engine/device", {"x": 1}, compute)
    assert record.env["computed_on"]["type"] == "cpu" and record.env["computed_on"]["networks"]
    plain = registry.get_or_compute("engine/numpy_only", {"x": 1}, lambda workdir: {"ok": True})
    assert plain.env["computed_on"] == {"type": "cpu", "name": "cpu", "networks": False}


def _compute_slowly(args):
    root, marker = args
    registry = Registry("smoke", root=Path(root))

    def compute(workdir: Path) -> dict:
        with open(marker, "a") as handle:
            handle.write("computed\n")
        time.sleep(1.0)
        return {"value": 42}

    return registry.get_or_compute("engine/locked", {"same": "config"}, compute).metrics["value"]


def test_two_processes_asking_for_one_record_compute_it_once(tmp_path):
    marker = tmp_path / "computations.txt"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        values = pool.map(_compute_slowly, [(str(tmp_path / "results"), str(marker))] * 2)
    assert values == [42, 42]
    assert marker.read_text().splitlines() == ["computed"]
    assert [c["experiment"] for c in Registry("smoke", root=tmp_path / "results").computations()] == ["engine/locked"]


def test_the_execution_log_keeps_every_run_of_a_notebook(tmp_path, monkeypatch):
    from fairlab import book, paths

    monkeypatch.setenv(paths.BUILD_ENV, str(tmp_path))
    for seconds in (1.0, 2.0):
        book._log_execution("smoke", {"notebook": "03_x", "seconds": seconds})
    entry = book.read_execution_log("smoke")["03_x"]
    assert entry["seconds"] == 2.0 and [run["seconds"] for run in entry["runs"]] == [1.0]
    assert json.loads(book.execution_log_path("smoke").read_text())["03_x"]["runs"][0]["notebook"] == "03_x"


def test_the_paper_plan_counts_every_training_of_the_aimfair_chapters_before_anything_runs():
    from typer.testing import CliRunner

    from fairlab import plans
    from fairlab.cli import app

    profile = load_profile("paper")
    rows = {row["notebook"]: row for row in plans.estimate(profile)}
    from fairlab.aimfair.comparison import COMPETITORS, GRIDS, ORACLE, TABLE1_SETTINGS, TABLE2_SETTINGS
    from fairlab.aimfair.tables import GATE_BASELINES

    # 02: per (setting, seed) the Baseline and every distinct strategy of Tables 3 and 4 on the paper's three settings;
    # Table 1 adds Young/Male (its Baseline and AIM-Fair) and the other debiasing methods on its three settings;
    # Table 2 the same on Smiling/Male at three shares of the real data, without the oracle
    stages = plans.plan("02_smg_sft", profile)
    seeds = len(profile.aimfair.seeds)
    assert {u.args[1] for u in stages[0]} == {"CelebA S/M", "CelebA S/Y", "UTK F/W", "CelebA Y/M", *TABLE2_SETTINGS}
    assert len(stages[0]) == 7 * seeds
    # the paper profile searches each method's grid on the first seed (JTT's T below the 15 epochs), then runs the
    # chosen point on the other nine
    grid_points = [u for u in stages[1] if u.function is plans._competitor]
    per_setting = {name: len(GRIDS[name]) for name in GRIDS}
    assert len(grid_points) == (len(TABLE1_SETTINGS) * sum(per_setting.values())
                                + len(TABLE2_SETTINGS) * sum(per_setting[n] for n in COMPETITORS)) == 117
    assert {u.args[2] for u in grid_points} == {profile.aimfair.seeds[0]}
    assert len(stages[2]) == len(TABLE1_SETTINGS) * (len(COMPETITORS) + len(ORACLE)) + len(TABLE2_SETTINGS) * len(COMPETITORS)
    strategies = [u for u in stages[1] if u.function is not plans._competitor]
    per_seed = (len(strategies) - 4 * seeds) // (3 * seeds)  # Young/Male and Table 2's settings run AIM-Fair alone
    assert len(strategies) == 3 * seeds * per_seed + 4 * seeds and per_seed == 22
    # the gate's Baselines are trained (and counted) in the data chapter, before any method
    gate = plans.plan("00_data", profile)[-1]
    assert len(gate) == len(GATE_BASELINES) * seeds and {u.args[1] for u in gate} == set(GATE_BASELINES)
    assert rows["02_smg_sft"]["trainings"] == 3 * seeds + len(stages[1]) + (seeds - 1) * len(stages[2]) == 1090
    assert rows["00_data"]["trainings"] == 3 + len(gate)  # the probe's networks and the gate (ImageNet backbones)
    assert all(row["device_hours"] >= 0 for row in rows.values())
    result = CliRunner().invoke(app, ["plan", "--profile", "paper"])
    assert result.exit_code == 0, result.output
    assert "02_smg_sft" in result.output and "device-hours" in result.output and "total" in result.output


def test_the_plan_scales_the_measured_training_throughput_by_pixel_count_between_measured_sizes():
    from fairlab import plans

    at32 = plans.measured_throughput(load_profile("mini", {"aimfair.image_size": 32}))
    at64 = plans.measured_throughput(load_profile("mini", {"aimfair.image_size": 64}))
    assert at64["train_images_per_s"] == pytest.approx(at32["train_images_per_s"] / 4)
    assert "scaled from 32 px" in at64["device"] and "scaled" not in at32["device"]


def test_training_goes_on_after_an_evaluation_that_relaid_the_weights_channels_last():
    from fairlab.aimfair.recipe import LabelledImages, accuracy

    torch.manual_seed(0)
    model = devices.CPU.prepare(torchvision.models.resnet18(num_classes=1))
    images, target = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8), np.arange(64) % 2
    data = LabelledImages(images, target, 1 - target)
    batches = TensorBatches((images.float() / 127.5 - 1, torch.tensor(target, dtype=torch.float32)), 32, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = fit(model, optimizer, batches,
                 lambda m, b: nn.functional.binary_cross_entropy_with_logits(m(b[0]).squeeze(1), b[1]), 3,
                 evaluate=lambda m: accuracy(m, data, 32), progress=False, runtime=devices.CPU)
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3]
    assert not any(p.is_inference() for p in model.parameters())


def test_a_single_notebooks_plan_is_its_own_line_and_a_notebook_without_one_gets_none():
    from fairlab.plans import plan_text

    profile = load_profile("paper")
    text = plan_text(profile, "05_dal_adjusted_dft")
    assert "05_dal_adjusted_dft" in text and "device_hours" in text
    assert "02_smg_sft" not in text and "total" not in text
    assert plan_text(profile, "index") == ""
