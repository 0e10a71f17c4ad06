"""Selective mask generation and selective fine-tuning (AIM-Fair §5–§6), and the engine's resumption."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

from fairlab.aimfair import recipe, selective
from fairlab.profiles import load_profile
from fairlab.train import TensorBatches, fit


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))


def test_the_mask_is_exactly_the_intersection_of_the_two_top_k_sets():
    model = _tiny()  # tensors: 0.weight 0.bias 1.weight 1.bias 2.weight 2.bias
    table = pd.DataFrame({"domain": [0.1, 0.5, 0.2, 0.9, 0.3, 0.05],
                          "fairness": [0.8, 0.9, 0.1, 0.7, 0.6, 0.2]},
                         index=[n for n, _ in model.named_parameters()])
    # k = 3: least domain-sensitive {2.bias, 0.weight, 1.weight}; most fairness-sensitive {0.bias, 0.weight, 1.bias}
    mask = selective.select(model, table, k=3)
    assert mask.selected == ("0.weight",)
    # k = 4 adds 2.weight to the first set and 2.weight to the second: the intersection grows by it
    assert selective.select(model, table, k=4).selected == ("0.weight", "2.weight")


def test_ties_keep_the_models_tensor_order():
    model = _tiny()
    names = [n for n, _ in model.named_parameters()]
    table = pd.DataFrame({"domain": [0.0] * 6, "fairness": [1.0] * 6}, index=names)
    assert selective.select(model, table, k=2).selected == tuple(names[:2])


def test_cosine_and_absolute_differences_follow_their_formulas():
    a = {"w": torch.tensor([1.0, 0.0]), "b": torch.tensor([2.0])}
    b = {"w": torch.tensor([0.0, 1.0]), "b": torch.tensor([-1.0])}
    absolute = selective.difference(a, b, "absolute")
    cosine = selective.difference(a, b, "cosine")
    assert absolute["w"] == pytest.approx(1.0) and absolute["b"] == pytest.approx(3.0)
    assert cosine["w"] == pytest.approx(1.0) and cosine["b"] == pytest.approx(2.0)


def test_mean_gradients_average_the_batch_mean_gradients():
    model = nn.Linear(1, 1, bias=False)
    model.weight.data.fill_(0.0)
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    y = torch.tensor([[1.0], [1.0], [2.0], [2.0]])
    batches = [(x[:2], y[:2]), (x[2:], y[2:])]
    grads = selective.mean_gradients(model, batches, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean())
    # d/dw mean (w x − y)² at w = 0 is −2 mean(x y): batch 1 → −3, batch 2 → −14
    assert grads["weight"].item() == pytest.approx((-3 - 14) / 2)


def test_frozen_tensors_stay_bit_identical_while_every_batchnorm_follows_the_data():
    profile = load_profile("smoke", {"aimfair.epochs": 2, "aimfair.batch_size": 16})
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=1)
    mask = selective.update_block(model, "layer4")
    mask.apply(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    stats_before = model.layer1[0].bn1.running_mean.clone()
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 255, (48, 3, 32, 32), generator=g, dtype=torch.uint8)
    data = recipe.LabelledImages(images, np.arange(48) % 2, np.arange(48) // 24)
    recipe.train(model, data, data, profile, seed=100, desc="test")
    for name, p in model.named_parameters():
        if name in mask.selected:
            assert not torch.equal(p, before[name]), name
        else:
            assert torch.equal(p, before[name]), name
    # layer1 is frozen, yet its BatchNorm running statistics moved towards the new data
    assert not torch.equal(model.layer1[0].bn1.running_mean, stats_before)


def test_a_resnet_mask_reports_blocks_and_shares():
    model = torchvision.models.resnet18(num_classes=1)
    assert len(list(model.named_parameters())) == 62
    assert selective.linear_probe(model).selected == ("fc.weight", "fc.bias")
    assert selective.everything(model).tensor_share == 1.0
    freeze = selective.freeze_block(model, "stem")
    assert "conv1.weight" not in freeze.selected and len(freeze) == 59
    counts = selective.everything(model).by_block().set_index("block")["tensors"].to_dict()
    assert counts == {"stem": 3, "layer1": 12, "layer2": 15, "layer3": 15, "layer4": 15, "fc": 2}
    random = selective.random_share(model, 0.55, seed=3)
    assert len(random) == round(0.55 * 62) and random == selective.random_share(model, 0.55, seed=3)


def _fit_with_scores(scores: list[float], checkpoint, stop_after: int | None = None):
    """A small seeded fit whose validation scores are ``scores`` in order; interrupted after ``stop_after`` evaluations."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = (x[:, :1] > 0).float()
    batches = TensorBatches((x, y), 16, seed=5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, [3], gamma=0.1)
    remaining = iter(scores)
    calls = {"n": 0}

    def evaluate(m):
        calls["n"] += 1
        if stop_after is not None and calls["n"] > stop_after:
            raise KeyboardInterrupt
        return next(remaining)

    loss = nn.BCEWithLogitsLoss()
    result = fit(model, optimizer, batches, lambda m, b: loss(m(b[0]), b[1]), 6, evaluate=evaluate, scheduler=schedule,
                 keep="gt", checkpoint=checkpoint, progress=False)
    return model, result


def test_an_interrupted_run_resumes_to_the_same_best_checkpoint(tmp_path):
    straight, straight_result = _fit_with_scores([0.5, 0.7, 0.6, 0.7, 0.65, 0.4], None)
    with pytest.raises(KeyboardInterrupt):
        _fit_with_scores([0.5, 0.7, 0.6, 0.7, 0.65, 0.4], tmp_path / "fit.pt", stop_after=3)
    assert (tmp_path / "fit.pt").exists()

    # the resumed run replays the scores of the epochs it still has to evaluate (4, 5, 6)
    model, result = _fit_with_scores([0.7, 0.65, 0.4], tmp_path / "fit.pt")
    # "gt": the tie at epoch 4 (0.7) does not replace epoch 2, saved before the interruption
    assert straight_result.best_epoch.tolist() == result.best_epoch.tolist() == [2]
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(straight.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    assert not (tmp_path / "fit.pt").exists()


def _labelled(groups: list[str], height: int = 6, width: int = 5) -> recipe.LabelledImages:
    target = np.array([int(g[0]) for g in groups])
    protected = np.array([int(g[2]) for g in groups])
    return recipe.LabelledImages(torch.zeros(len(groups), 3, height, width, dtype=torch.uint8), target, protected)


def test_data_repairing_tops_up_only_the_groups_smaller_than_the_largest():
    from fairlab.aimfair import smg_sft

    real = _labelled(["0_0"] * 2 + ["0_1"] * 9 + ["1_0"] * 9 + ["1_1"] * 1)
    pool = _labelled(["0_0", "0_1", "1_0", "1_1"] * 10, 4, 4)
    added = smg_sft.repairing_top_up(real, pool, seed=0)
    assert sorted(pd.Series(added.groups()).value_counts().items()) == [("0_0", 7), ("1_1", 8)]
    repaired = smg_sft.concat(real, added)
    assert repaired.images.shape[-2:] == (6, 5)  # synthetic images brought to the real decode size
    assert pd.Series(repaired.groups()).value_counts().to_dict() == {"0_0": 9, "0_1": 9, "1_0": 9, "1_1": 9}


def test_data_repairing_from_a_pool_smaller_than_the_need_takes_all_it_has_and_leaves_the_group_short():
    from fairlab.aimfair import smg_sft

    real_groups = np.array(["0_0"] * 5 + ["0_1"] * 45 + ["1_0"] * 45 + ["1_1"] * 5)
    pool_groups = np.array(["0_0", "0_1", "1_0", "1_1"] * 25)  # 25 per group against a need of 40
    picks = smg_sft.repairing_picks(real_groups, pool_groups, seed=1)
    assert len(set(picks)) == len(picks) == 50
    assert pd.Series(pool_groups[picks]).value_counts().to_dict() == {"0_0": 25, "1_1": 25}
    repaired = pd.Series(np.r_[real_groups, pool_groups[picks]]).value_counts().to_dict()
    assert repaired == {"0_0": 30, "0_1": 45, "1_0": 45, "1_1": 30}


def test_data_repairing_draws_its_top_up_from_the_contextual_pool_not_from_s2():
    """The mini layout (N_R = 1,000 at 90/10, a pool of 500 per group): S2's N_R / 4 = 250 per group could bring a
    minority group to 300 at most; the pool brings both to the majority's 450."""
    from fairlab.aimfair import smg_sft

    real_groups = np.array(["0_0"] * 50 + ["0_1"] * 450 + ["1_0"] * 450 + ["1_1"] * 50)
    pool_groups = np.repeat(["0_0", "0_1", "1_0", "1_1"], 500)
    picks = smg_sft.repairing_picks(real_groups, pool_groups, seed=0)
    repaired = pd.Series(np.r_[real_groups, pool_groups[picks]]).value_counts().to_dict()
    assert repaired == {"0_0": 450, "0_1": 450, "1_0": 450, "1_1": 450}
    assert np.array_equal(picks, smg_sft.repairing_picks(real_groups, pool_groups, seed=0))  # one draw per seed


def test_ltgc_mixup_blends_every_image_with_the_other_source_and_mixes_its_label_alike():
    from fairlab.aimfair import smg_sft

    real = _labelled(["0_0"] * 3 + ["1_1"] * 3)
    real.images[:] = 0
    synthetic = _labelled(["1_0"] * 4)
    synthetic.images[:] = 200
    mixed = smg_sft.ltgc_mix(real, synthetic, seed=3)
    again = smg_sft.ltgc_mix(real, synthetic, seed=3)
    assert torch.equal(mixed.images, again.images) and np.array_equal(mixed.target, again.target)
    # a real image (0) blended with a synthetic one (200, target 1) at weight λ on the real image:
    # pixel = (1 − λ) 200 and target = λ t_real + (1 − λ) 1
    share_synthetic = mixed.images[:, 0, 0, 0].float().numpy() / 200
    expected = np.r_[(1 - share_synthetic[:6]) * real.target + share_synthetic[:6],
                     share_synthetic[6:] * 1 + (1 - share_synthetic[6:]) * 0]
    assert np.allclose(mixed.target[:6], expected[:6], atol=0.01)
    assert np.all((mixed.target[6:] >= 0) & (mixed.target[6:] <= 1))
    assert len(mixed) == 10 and mixed.target.dtype == np.float32
    assert 0 < share_synthetic[:6].mean() < 1  # the blend is not all-or-nothing


def test_smg_k_keeps_resnet18s_share_on_another_architecture():
    from fairlab.aimfair import smg_sft

    assert smg_sft.scaled_k(55, torchvision.models.resnet18(num_classes=1)) == 55
    vit = nn.Module()
    vit.weights = nn.ParameterList([nn.Parameter(torch.zeros(1)) for _ in range(152)])
    assert smg_sft.scaled_k(55, vit) == 135


def test_lora_trains_only_its_adapters_and_the_head():
    from fairlab.aimfair import vit

    model = vit.with_lora(vit.build(32, 1))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or ".head." in n for n in trainable)
    assert any(".head." in n for n in trainable) and any("qkv.lora_A" in n for n in trainable)
    assert not any(n.endswith("qkv.base_layer.weight") for n in trainable)


def test_penultimate_features_are_what_the_head_reads():
    from fairlab.aimfair import smg_sft

    model = torchvision.models.resnet18(num_classes=1).eval()
    images = torch.randint(0, 255, (6, 3, 32, 32), dtype=torch.uint8)
    features = smg_sft.penultimate(model, images, 32)
    assert features.shape == (6, 512)
    logits = recipe.predict_logits(model, images, 32)
    assert torch.allclose(model.fc(features).squeeze(1), logits, atol=1e-5)


def test_every_strategy_of_tables_3_and_4_runs_and_lines_up_with_the_printed_rows(smoke_book, monkeypatch):
    from fairlab import paths
    from fairlab.pages import smg_sft as page
    from fairlab.reports import compare
    from fairlab.results import Registry
    from fairlab.study import Study

    monkeypatch.setenv(paths.RESULTS_ENV, str(smoke_book["results"]))  # FaceWorld, the miniature model and its pools
    profile = load_profile("smoke")
    study = Study(profile, Registry("smoke"))
    rows3 = page.table3(study, ["CelebA S/M"])
    rows4, chosen = page.table4(study, ["CelebA S/M"])
    for table, rows in (("Table 3", rows3), ("Table 4", rows4)):
        comparison = compare("aimfair", table, rows, profile)
        assert comparison.long["ours"].notna().any()
    assert set(chosen["row"]) == set(page.table4_candidates(profile))
    masks = page.mask_summary(study, "CelebA S/M")
    assert (masks["tensors selected"] >= 2 * profile.aimfair.top_k - 62).all()
    frame = page.sensitivity_frame(study, "CelebA S/M", profile.aimfair.seeds[0])
    assert len(frame) == 62 and frame["selected"].sum() == masks["tensors selected"].iloc[0]


def test_every_ablation_runs_and_lines_up_with_the_printed_rows(smoke_book, monkeypatch):
    from fairlab import paths
    from fairlab.pages import ablations as page
    from fairlab.reports import compare
    from fairlab.results import Registry
    from fairlab.study import Study

    monkeypatch.setenv(paths.RESULTS_ENV, str(smoke_book["results"]))  # the records the smoke book's 03 page made
    profile = load_profile("smoke")
    study = Study(profile, Registry("smoke"))
    rows = {"Table 6": page.table6(study), "Table 7": page.table7(study),
            "Table 8": page.table8(study), "Table 10": page.table10(study),
            "Table 9": page.rows_of(study, page.TABLE9, ["CelebA S/M"]),
            "Table 11": page.rows_of(study, page.TABLE11, ["CelebA M/Y"])}
    for table, reproduced in rows.items():
        comparison = compare("aimfair", table, reproduced, profile)
        printed_rows = comparison.long.drop_duplicates(subset=comparison.row_keys)
        assert len(printed_rows) == len(reproduced) and comparison.long["ours"].notna().all(), table
    sweep = page.k_sweep(study, "CelebA S/M")
    assert list(sweep["k"]) == list(page.TOP_KS) and sweep["tensors"].is_monotonic_increasing
    freezing = page.freezing_frame(study, "CelebA S/M")
    assert list(freezing["frozen"]) == ["none", *page.BLOCKS] and len(page.freezing_claims(freezing)) == 3
    blocks = page.selected_by_block(study)
    assert set(blocks["block"]) == set(page.BLOCKS) and set(blocks["setting"]) == set(page.FIGURE8_SETTINGS)
    features = page.representations(study, "CelebA S/M", {"Baseline": page.Baseline()}, profile.aimfair.seeds[0])
    assert features["Baseline"]["features"].shape[1] == 512


def test_reference_accuracies_are_the_majority_class_and_the_protected_attribute_alone():
    from fairlab.pages.smg_sft import reference_accuracies

    # 10 + 30 with T = 0, 40 + 20 with T = 1: the majority answers 1 (60 %); answering T = 1 − P gets
    # n(0,1) + n(1,0) = 30 + 40 = 70 %, better than T = P (10 + 20 = 30 %)
    ref = reference_accuracies({"group_n": {"0_0": 10, "0_1": 30, "1_0": 40, "1_1": 20}})
    assert ref == {"majority": 60.0, "shortcut": 70.0}
