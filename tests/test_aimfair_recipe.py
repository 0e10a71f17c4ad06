"""AIM-Fair's ResNet-18 recipe on the shared engine: what it trains, what it keeps, what it reports."""

from __future__ import annotations

import numpy as np
import torch
import torchvision

from fairlab.aimfair import recipe
from fairlab.profiles import load_profile


def _data(n: int, seed: int) -> recipe.LabelledImages:
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 2, (n,), generator=g)
    images = torch.randint(0, 60, (n, 3, 39, 32), generator=g, dtype=torch.uint8)
    images[target == 1, 0] += 150  # a red channel says the class: learnable in one epoch
    protected = torch.randint(0, 2, (n,), generator=g)
    return recipe.LabelledImages(images, target.numpy(), protected.numpy())


def test_the_recipe_trains_only_unfrozen_parameters_and_reports_aimfairs_metrics():
    profile = load_profile("smoke", {"aimfair.epochs": 2, "aimfair.batch_size": 16})
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=1)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith("fc."))
    frozen = model.conv1.weight.detach().clone()
    val = _data(32, 1)
    result = recipe.train(model, _data(64, 0), val, profile, seed=100, desc="test")
    assert torch.equal(model.conv1.weight, frozen)
    # the model holds the epoch with the best validation accuracy ("ge": the later one on a tie)
    scores = {h["epoch"]: h["score"][0] for h in result.history if "score" in h}
    assert result.best_score[0] == max(scores.values())
    assert result.best_epoch[0] == max(e for e, score in scores.items() if score == max(scores.values()))
    assert recipe.accuracy(model, val, profile.aimfair.image_size) == result.best_score[0]
    report = recipe.evaluate(model, _data(48, 2), profile.aimfair.image_size)
    assert set(report["group_acc"]) == {"0_0", "0_1", "1_0", "1_1"}
    assert report["wst"] == min(report["group_acc"].values())
    assert np.isclose(report["std"], np.std(list(report["group_acc"].values())))


def test_labelled_images_name_their_groups_target_first():
    data = recipe.LabelledImages(torch.zeros(3, 3, 4, 4, dtype=torch.uint8), np.array([0, 1, 1]), np.array([1, 0, 1]))
    assert data.groups().tolist() == ["0_1", "1_0", "1_1"]
