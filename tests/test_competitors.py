"""Each re-run debiasing method of AIM-Fair's Tables 1 and 2, pinned by its defining step on a tiny case."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fairlab.aimfair import competitors, recipe


def test_cvar_averages_exactly_the_worst_fraction_of_the_losses():
    losses = torch.tensor([0.1, 2.0, 0.5, 3.0, 1.0, 0.2, 0.3, 0.4, 0.6, 0.7])
    assert competitors.cvar_loss(losses, 0.2) == pytest.approx((3.0 + 2.0) / 2)
    assert competitors.cvar_loss(losses, 0.25) == pytest.approx((3.0 + 2.0 + 1.0) / 3)  # ⌈2.5⌉ = 3 examples
    assert competitors.cvar_loss(losses, 1.0) == pytest.approx(losses.mean())
    with pytest.raises(ValueError, match="alpha"):
        competitors.cvar_loss(losses, 0.0)


def test_jtt_counts_every_error_example_upweight_times_and_everything_else_once():
    images = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1).expand(6, 3, 2, 2).contiguous()
    data = recipe.LabelledImages(images, np.array([0, 1, 0, 1, 0, 1]), np.array([0, 0, 1, 1, 0, 0]))
    errors = np.array([False, True, False, False, True, False])
    upweighted = competitors.jtt_upweighted(data, errors, upweight=4)
    ids = upweighted.images[:, 0, 0, 0].tolist()
    assert sorted(ids) == [0, 1, 1, 1, 1, 2, 3, 4, 4, 4, 4, 5]
    assert np.array_equal(upweighted.target, data.target[np.array(ids)])
    assert competitors.jtt_upweighted(data, errors, upweight=1) is data


def test_gce_is_one_minus_p_to_the_q_over_q_and_down_weights_hard_examples_in_its_gradient():
    logits, targets = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0])
    p = torch.sigmoid(logits)
    assert torch.allclose(competitors.generalised_cross_entropy(logits, targets, 0.7), (1 - p ** 0.7) / 0.7)
    # ∂GCE/∂z = p_y^q ∂CE/∂z: the harder example (p = 0.27) gets a smaller share of the CE gradient than the easy one
    z = logits.clone().requires_grad_()
    competitors.generalised_cross_entropy(z, targets, 0.7).sum().backward()
    ce_grad = p - 1
    assert torch.allclose(z.grad, p ** 0.7 * ce_grad, atol=1e-6)


def test_lff_weights_examples_by_how_much_harder_they_are_for_the_biased_model():
    model = competitors.LearningFromFailure(nn.Linear(2, 1), nn.Linear(2, 1), targets=np.array([1, 1, 1, 0]), ema=0.5)
    index = torch.tensor([0, 1, 2, 3])
    w = model.relative_difficulty(index, torch.tensor([0.1, 2.0, 1.0, 0.5]), torch.tensor([1.0, 1.0, 1.0, 0.5]))
    # each average divided by its class maximum: class 1 biased /2.0, debiased /1.0; class 0 by itself
    expected = torch.tensor([0.05 / 1.05, 1.0 / 2.0, 0.5 / 1.5, 0.5])
    assert torch.allclose(w, expected, atol=1e-6)
    # the averages move by β: a second look at example 0 with biased loss 2.0 gives 0.5·0.1 + 0.5·2.0
    model.relative_difficulty(torch.tensor([0]), torch.tensor([2.0]), torch.tensor([1.0]))
    assert model.average_biased[0] == pytest.approx(1.05)
    assert "average_biased" in model.state_dict()  # a resumed run continues the averages


def test_group_dro_moves_weight_to_the_group_with_the_larger_loss():
    class Fixed(nn.Module):
        def forward(self, x):
            return x[:, :1]

    groups = np.array([0, 0, 1, 1])
    dro = competitors.GroupDRO(Fixed(), groups, eta=1.0)
    x = torch.tensor([[5.0], [5.0], [-5.0], [-5.0]])  # right on group 0, wrong on group 1 (targets all 1)
    loss = dro.loss((x, torch.ones(4), torch.arange(4)))
    assert dro.weights[1] > 0.5 > dro.weights[0]
    losses = competitors.per_example_bce(x, torch.ones(4))
    assert loss == pytest.approx(float(dro.weights[0] * losses[:2].mean() + dro.weights[1] * losses[2:].mean()))


def test_eiil_separates_the_examples_where_a_planted_spurious_cue_disagrees_with_the_label():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    agrees = rng.random(n) < 0.85  # the spurious cue equals the label on 85 % of the examples
    cue = np.where(agrees, y, 1 - y)
    # a reference model that reads only the cue: confident, right exactly where the cue agrees
    logits = torch.tensor(np.where(cue == 1, 2.5, -2.5) + 0.1 * rng.standard_normal(n))
    envs = competitors.infer_environments(logits, torch.tensor(y), steps=1500, lr=0.01)
    # one environment holds the cue-conflicting examples, the other the agreeing ones
    match = max(np.mean(envs == agrees), np.mean(envs != agrees))
    assert match > 0.9


def test_eiils_closed_form_penalty_infers_the_environments_of_the_irm_penalty_differentiated_twice():
    def by_double_backward(logits, targets, steps, lr, seed):  # the penalty as EIIL writes it: ∂R_e/∂w at w = 1
        z, y = logits.double(), targets.double()
        u = (0.01 * torch.randn(z.numel(), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)).requires_grad_()
        optimizer = torch.optim.Adam([u], lr=lr)
        for _ in range(steps):
            w = torch.ones((), dtype=torch.float64, requires_grad=True)
            losses = torch.nn.functional.binary_cross_entropy_with_logits(w * z, y, reduction="none")
            q = torch.sigmoid(u)
            penalty = sum(torch.autograd.grad((share * losses).sum() / share.sum(), w, create_graph=True)[0].pow(2)
                          for share in (q, 1 - q))
            optimizer.zero_grad()
            (-penalty).backward()
            optimizer.step()
        return (torch.sigmoid(u) > 0.5).long().numpy()

    rng = np.random.default_rng(1)
    logits, y = torch.tensor(3 * rng.standard_normal(200)), torch.tensor(rng.integers(0, 2, 200))
    ours = competitors.infer_environments(logits, y, steps=300, lr=0.01, seed=3)
    assert np.array_equal(ours, by_double_backward(logits, y, 300, 0.01, 3)) and 0 < ours.sum() < 200


def test_the_recipe_trains_a_method_with_its_own_loss_and_indexed_batches():
    from fairlab.profiles import load_profile

    profile = load_profile("smoke", {"aimfair.epochs": 1, "aimfair.batch_size": 8})
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 2, (32,), generator=g)
    images = torch.randint(0, 60, (32, 3, 39, 32), generator=g, dtype=torch.uint8)
    data = recipe.LabelledImages(images, target.numpy(), np.zeros(32, dtype=np.int64))
    torch.manual_seed(0)
    seen = []

    def watching(model, batch):
        seen.append(batch[2].clone())
        return competitors.method_loss(model, batch)

    base = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1))
    dro = competitors.GroupDRO(base, 2 * target.numpy(), eta=0.1)
    recipe.train(dro, data, data, profile, seed=1, desc="test", loss_fn=watching)
    assert sorted(torch.cat(seen).tolist()) == list(range(32))  # every image once per epoch, by its index
    assert not torch.allclose(dro.weights, torch.full_like(dro.weights, dro.weights.mean()))


def test_a_grid_point_is_chosen_on_validation_accuracy_alone_and_the_published_profile_has_one_point_per_method():
    from fairlab.aimfair import comparison
    from fairlab.profiles import load_profile

    assert comparison.best_on_validation([[0.80, 0.82], [0.83, 0.80], [0.79, 0.90]]) == 2
    assert comparison.best_on_validation([[0.8], [0.8]]) == 0
    mini, paper = load_profile("mini"), load_profile("paper")
    for name, published in {**comparison.COMPETITORS, **comparison.ORACLE}.items():
        assert comparison.candidates(mini, name) == [published]
        assert published in comparison.candidates(paper, name)
    jtt = comparison.candidates(load_profile("paper", {"aimfair.epochs": 6, "aimfair.decay_epoch": 4}), "JTT")
    assert {c.identification_epochs for c in jtt} == {1, 5}
