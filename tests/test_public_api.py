"""The methods on one's own model: fairlab.selective_mask and fairlab.neutralized_head."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn


def test_the_docstring_examples_of_the_public_methods_run_as_written():
    from fairlab.aimfair import selective
    from fairlab.win import neutralize

    for module in (selective, neutralize):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_the_public_methods_are_reachable_from_the_package_without_importing_torch_on_import():
    import subprocess
    import sys

    code = ("import sys, fairlab; assert 'torch' not in sys.modules; "
            "from fairlab.win.neutralize import neutralized_head; from fairlab.aimfair.selective import selective_mask; "
            "assert fairlab.neutralized_head is neutralized_head and fairlab.selective_mask is selective_mask")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def _adult_like(n: int = 400, d: int = 6, k: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    features = torch.rand(n, d, generator=g)
    labels = torch.randint(0, k, (n,), generator=g)
    groups = torch.randint(0, 2, (n,), generator=g) * 5 + 3  # a sensitive attribute coded 3 and 8
    layer = nn.Linear(d, k)
    return layer, features, labels, groups


def test_neutralized_head_is_the_chapters_win_head_for_the_same_layer_data_and_rank():
    from fairlab.win.neutralize import initial_heads, neutralized_head

    layer, x, y, groups = _adult_like(k=3)
    head = neutralized_head(layer, x, y, groups, rank=2, alpha=0.3, privileged=8)
    chapter = initial_heads("win", layer.weight.detach()[None], layer.bias.detach()[None], features=[x], y=y,
                            s=(groups == 8).long(), alphas=[0.3], rank=2)
    assert isinstance(head, nn.Sequential) and head[0].bias is None
    assert torch.allclose(head(x), chapter(x[None])[0], atol=1e-6)
    assert not torch.allclose(head(x), layer(x), atol=1e-3)  # rank 2 of 3: an approximation


def test_neutralized_head_naming_the_other_group_privileged_mirrors_alpha():
    from fairlab.win.neutralize import neutralized_head

    layer, x, y, groups = _adult_like(k=3, seed=1)
    one = neutralized_head(layer, x, y, groups, rank=1, alpha=0.8, privileged=8)
    other = neutralized_head(layer, x, y, groups, rank=1, alpha=0.2, privileged=3)
    assert torch.allclose(one(x), other(x), atol=1e-6)
    skewed = neutralized_head(layer, x, y, groups, rank=1, alpha=0.2, privileged=8)
    assert not torch.allclose(one(x), skewed(x), atol=1e-4)  # α weighs the groups differently


def test_neutralized_head_at_full_rank_computes_the_original_layer():
    from fairlab.win.neutralize import neutralized_head

    layer, x, y, groups = _adult_like()
    head = neutralized_head(layer, x, y, groups, rank=2, privileged=8)
    assert torch.allclose(head(x), layer(x), atol=1e-5)


def test_neutralized_head_refuses_data_it_cannot_use_and_says_what_it_expected():
    from fairlab.win.neutralize import neutralized_head

    layer, x, y, groups = _adult_like()
    with pytest.raises(ValueError, match=r"exactly two values, one of them privileged=1; found \[3, 8\]"):
        neutralized_head(layer, x, y, groups, rank=1)
    with pytest.raises(ValueError, match=r"features must be \[N, 6\]"):
        neutralized_head(layer, x[:, :4], y, groups, rank=1, privileged=8)
    with pytest.raises(ValueError, match="one entry per sample"):
        neutralized_head(layer, x, y[:10], groups, rank=1, privileged=8)


def _small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 1))


def _batches(shift: float, seed: int):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 3, 6, 6, generator=g) + shift, torch.randint(0, 2, (8,), generator=g)) for _ in range(3)]


def test_selective_mask_is_smg_on_the_three_sets_and_leaves_the_model_as_it_was():
    from fairlab.aimfair import selective

    model = _small_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    real, biased, balanced = _batches(0.0, 1), _batches(0.3, 2), _batches(1.0, 3)
    mask = selective.selective_mask(model, real, biased, balanced, k=4)

    def bce(m, batch):
        return nn.functional.binary_cross_entropy_with_logits(m(batch[0]).squeeze(1), batch[1].float())

    import copy

    grads = [selective.mean_gradients(copy.deepcopy(model), b, bce) for b in (real, biased, balanced)]
    expected = selective.select(model, selective.sensitivities(*grads), k=4)
    assert mask.selected == expected.selected and 0 < len(mask) <= 4
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm statistics included
    assert all(p.requires_grad for p in model.parameters())  # nothing frozen until mask.apply
    mask.apply(model)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == set(mask.selected)
