"""The neutralization paper's image rows and the backbones behind them, at smoke scale."""

from __future__ import annotations

import math

import pytest
import torch

from fairlab import backbones
from fairlab.data import DataError
from fairlab.faceworld import sampler
from fairlab.profiles import load_profile
from fairlab.results import Registry
from fairlab.study import Study
from fairlab.win import images as win_images


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    profile = load_profile("smoke", {"win_images.n_runs": 2})
    return Study(profile, Registry("smoke", root=tmp_path_factory.mktemp("results")))


def test_lfwa_is_split_like_the_paper(setting):
    study = setting
    profile = study.profile
    task = win_images.open_task("lfwa", study)
    n = profile.faceworld.lfwa_n
    assert task.sizes()["test"] == math.ceil(0.4 * n)
    assert task.sizes()["val"] == profile.win_images.lfwa_val
    assert sum(task.sizes().values()) == n
    assert set(task.splits["train"]["group"]) <= {"0_0", "0_1", "1_0", "1_1"}


def test_random_heads_depend_only_on_the_seed():
    first_w, first_b = win_images.random_heads(8, [0, 1])
    again_w, _ = win_images.random_heads(8, [1, 0])
    assert torch.equal(first_w[1], again_w[0]) and not torch.equal(first_w[0], first_w[1])
    assert first_b.shape == (2, 2)


def test_image_heads_run_every_method_from_the_same_initial_head(setting):
    study = setting
    task = win_images.open_task("celeba", study)
    feats = win_images.features(task, backbones.backbone(study, "resnet18"))
    assert feats.metrics["dimension"] == 512
    records = {m: win_images.finetune(task, feats, m, 0.01) for m in ("tl", "svd", "win")}
    for method, record in records.items():
        assert [r["seed"] for r in record.metrics["runs"]] == [0, 1], method
    assert records["win"].metrics["trainable_parameters"] == 512 * 2 + 2 * 2 + 2


@pytest.mark.parametrize("arch,dimension", [("resnet50", 2048), ("densenet121", 1024)])
def test_faceworld_backbones_are_frozen_feature_extractors(setting, arch, dimension):
    study = setting
    model = backbones.load(backbones.backbone(study, arch))
    assert not any(p.requires_grad for p in model.parameters())
    out = backbones.extract(model, torch.zeros(3, 3, 20, 16, dtype=torch.uint8), 32, backbones.HALF_NORM, progress=False)
    assert out.shape == (3, dimension)


def test_imagenet_weights_come_from_a_local_file(tmp_path):
    registry = Registry("paper", root=tmp_path / "results")
    study = Study(load_profile("paper"), registry)
    with pytest.raises(DataError, match="weights_dir is not set"):
        backbones.backbone(study, "resnet18")
    study = Study(load_profile("paper", {"backbones.weights_dir": str(tmp_path)}), registry)
    with pytest.raises(DataError, match=r"resnet18-f37072fd\.pth: file not found"):
        backbones.backbone(study, "resnet18")
    torch.save(backbones.build("resnet18").state_dict(), tmp_path / backbones.IMAGENET_FILES["resnet18"])
    model = backbones.load(backbones.backbone(study, "resnet18"))
    assert backbones.extract(model, torch.zeros(2, 3, 32, 32, dtype=torch.uint8), 32, backbones.IMAGENET_NORM,
                             progress=False).shape == (2, 512)


def test_the_no_label_proxies_task_keeps_only_attributes_weakly_tied_to_every_label_on_real_celeba():
    task = backbones.pretraining_task("no_label_proxies")
    phi = sampler.real_phi("all")
    tie = {a: max(abs(phi.loc[a, t]) for t in backbones.TASK_ATTRIBUTES) for a in backbones.DRAWN_ON_EVERYONE}
    assert set(task) == {a for a, v in tie.items() if v < backbones.PROXY_PHI}
    # lipstick stands for gender, high cheekbones for the smile, grey hair for age: none is pretrained on
    assert not {"Wearing_Lipstick", "High_Cheekbones", "Gray_Hair"} & set(task)
    assert {"Eyeglasses", "Bangs", "Wearing_Hat"} <= set(task)


def test_the_drawn_on_everyone_task_leaves_out_every_attribute_faceworld_draws_on_one_group_only():
    task = backbones.pretraining_task("drawn_on_everyone")
    assert set(backbones.PRETRAINING_TASK) - set(task) == set(backbones.ONE_GROUP_ATTRIBUTES)
    assert not set(task) & set(backbones.TASK_ATTRIBUTES)
    data = backbones.pretraining_data(8, 16, seed=0, task=task)
    assert data.labels.shape == (8 + 200, len(task)) and data.task == task
