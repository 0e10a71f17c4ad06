"""Weight importance neutralization: the Fisher closed form, the factorisation and the SGD identity."""

from __future__ import annotations

import pytest
import torch

from fairlab.train import ReplicaBatches, fit, make_optimizer
from fairlab.win.neutralize import (
    factorised_head,
    fisher_weighted_svd,
    group_fisher,
    initial_heads,
    neutralized_importance,
    row_importance,
    trainable_parameters,
)


def toy(seed=0, n=300, d=6, k=2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64).relu()
    y = torch.randint(0, k, (n,), generator=g)
    s = torch.randint(0, 2, (n,), generator=g)
    w = torch.randn(k, d, generator=g, dtype=torch.float64)
    b = torch.randn(k, generator=g, dtype=torch.float64)
    return x, y, s, w, b


def test_closed_form_fisher_equals_the_mean_of_squared_per_sample_gradients():
    x, y, _, w, b = toy()

    def loss(weight, xi, yi):
        return torch.nn.functional.cross_entropy((xi @ weight.T + b)[None], yi[None])

    per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(w, x, y)  # [n, k, d]
    expected = per_sample.pow(2).mean(0).T  # paper layout d x k
    assert torch.allclose(group_fisher(x, y, w, b), expected, atol=1e-12)


def test_row_importance_is_computed_per_group():
    x, y, s, w, b = toy()
    imp = row_importance(x, y, s, w, b)
    assert torch.allclose(imp[1], group_fisher(x[s == 1], y[s == 1], w, b).sum(1))
    assert not torch.allclose(imp[0], imp[1])


def test_neutralization_averages_the_square_roots_and_alpha_weights_the_privileged_group():
    imp = {0: torch.tensor([4.0, 1.0]), 1: torch.tensor([0.0, 9.0])}
    half = neutralized_importance(imp, 0.5, eps_rel=0.0)
    assert torch.allclose(half, torch.tensor([1.0 + 1e-6 ** 0.5 * 0, 2.0]), atol=1e-5)
    male_only = neutralized_importance(imp, 1.0, eps_rel=1e-6)
    assert male_only[0] > 0  # ε keeps dead units invertible
    assert torch.allclose(male_only[1], torch.tensor(3.0), atol=1e-5)


@pytest.mark.parametrize("weighted", [False, True])
def test_full_rank_factorisation_reproduces_the_layer(weighted):
    x, y, s, w, b = toy()
    importance = neutralized_importance(row_importance(x, y, s, w, b)) if weighted else None
    factors = fisher_weighted_svd(w, importance, rank=2)
    assert torch.allclose(factors.a @ factors.b, w.T, atol=1e-10)
    head = factorised_head([factors], b, dtype=torch.float64)
    assert torch.allclose(head(x[None])[0], x @ w.T + b, atol=1e-10)


def test_rank_one_is_the_best_weighted_approximation():
    x, y, s, w, b = toy(d=8)
    importance = neutralized_importance(row_importance(x, y, s, w, b))
    best = fisher_weighted_svd(w, importance, rank=1)
    error = torch.linalg.norm(importance[:, None] * (w.T - best.a @ best.b))
    plain = fisher_weighted_svd(w, None, rank=1)
    assert error <= torch.linalg.norm(importance[:, None] * (w.T - plain.a @ plain.b)) + 1e-12


def _train(factor_list, b, x, y, s, optimizer, steps=150):
    head = factorised_head(factor_list, b, dtype=torch.float64)
    fit(head, make_optimizer(optimizer, head.parameters(), 0.05), ReplicaBatches((x, y, s), len(y), seeds=[0] * len(factor_list)),
        lambda m, batch: torch.nn.functional.cross_entropy(m(batch[0]).flatten(0, 1), batch[1].flatten(), reduction="sum") / len(y),
        steps, progress=False)
    return head.effective_weight().detach()


def test_at_full_rank_sgd_makes_the_weighting_irrelevant_and_adam_does_not():
    x, y, s, w, b = toy()
    importance = neutralized_importance(row_importance(x, y, s, w, b), alpha=0.9)
    factors = [fisher_weighted_svd(w, None, 2), fisher_weighted_svd(w, importance, 2)]
    sgd = _train(factors, b, x, y, s, "sgd")
    assert torch.allclose(sgd[0], sgd[1], atol=1e-12)
    adam = _train(factors, b, x, y, s, "adam")
    assert (adam[0] - adam[1]).abs().max() > 1e-3


def test_trainable_parameter_counts_match_the_paper():
    assert trainable_parameters("win", 20, rank=2) == 46
    assert trainable_parameters("svd", 20, rank=2) == 46
    assert trainable_parameters("tl", 20) == 42
    x, y, s, w, b = toy(d=20)
    head = initial_heads("win", w[None].float(), b[None].float(), features=[x.float()], y=y, s=s)
    assert sum(p.numel() for p in head.parameters()) == 46


def test_unknown_method_is_rejected():
    x, y, s, w, b = toy()
    with pytest.raises(ValueError, match="unknown method"):
        initial_heads("lora", w[None], b[None])


def test_soft_rate_penalties_are_the_hand_computed_rate_gaps():
    from fairlab.win.regularisers import fairness_penalty

    # probabilities of class 1 as softmax of (0, z): choose z = logit(p)
    p = torch.tensor([0.9, 0.7, 0.2, 0.4, 0.6, 0.1])
    y = torch.tensor([[1, 1, 0, 1, 0, 0]])  # [replicas, batch]
    s = torch.tensor([[1, 1, 1, 0, 0, 0]])
    logits = torch.stack([torch.zeros(6), torch.log(p / (1 - p))], dim=-1)[None]
    dp = fairness_penalty(logits, y, s, "dp")
    assert torch.allclose(dp, torch.tensor([abs((0.9 + 0.7 + 0.2) / 3 - (0.4 + 0.6 + 0.1) / 3)]), atol=1e-6)
    eo = fairness_penalty(logits, y, s, "eo")
    tpr_gap, fpr_gap = abs((0.9 + 0.7) / 2 - 0.4), abs(0.2 - (0.6 + 0.1) / 2)
    assert torch.allclose(eo, torch.tensor([tpr_gap + fpr_gap]), atol=1e-6)
    # a cell with no sample in the batch counts 0 instead of NaN
    assert torch.equal(fairness_penalty(logits[:, :3], y[:, :3], s[:, :3], "dp"), torch.zeros(1))


def test_zafar_penalties_are_the_covariances_of_the_sensitive_attribute_with_the_margin():
    from fairlab.win.regularisers import fairness_penalty

    margin = torch.tensor([2.0, -1.0, 0.5, -2.0])
    s = torch.tensor([1, 0, 1, 0])
    y = torch.tensor([1, 1, 0, 0])
    logits = torch.stack([torch.zeros(4), margin], dim=-1)[None]
    y2, s2 = y[None], s[None]  # [replicas, batch]
    centred = s.float() - s.float().mean()
    assert torch.allclose(fairness_penalty(logits, y2, s2, "dp", form="zafar"), (centred * margin).mean().abs()[None])
    signed = torch.clamp((2 * y - 1).float() * margin, max=0)  # only the misclassified side counts
    expected = sum(((s[y == c].float() - s[y == c].float().mean()) * signed[y == c]).mean().abs() for c in (0, 1))
    assert torch.allclose(fairness_penalty(logits, y2, s2, "eo", form="zafar"), expected[None])


def test_each_replicas_alpha_reaches_its_head():
    from fairlab.win.neutralize import initial_heads

    g = torch.Generator().manual_seed(3)
    x, y, s = torch.rand(300, 5, generator=g), torch.randint(0, 3, (300,), generator=g), torch.randint(0, 2, (300,), generator=g)
    x[s == 1, 0] *= 4  # the groups weigh feature 0 differently
    w, b = torch.randn(1, 3, 5, generator=g).expand(3, -1, -1), torch.randn(1, 3, generator=g).expand(3, -1)
    head = initial_heads("win", w, b, features=[x] * 3, y=y, s=s, alphas=[0.5, 1.0, 0.5], rank=1)
    first = head.first.weight.detach()
    assert torch.allclose(first[0], first[2]) and not torch.allclose(first[0], first[1], atol=1e-4)


def test_the_fisher_check_summary_reads_its_numbers():
    import pandas as pd

    from fairlab.pages.weight_importance_neutralization import fisher_check_summary

    index = pd.MultiIndex.from_tuples([("sgd", 2), ("sgd", 1), ("adam", 2), ("adam", 1)], names=["optimizer", "rank r"])
    check = pd.DataFrame({"neutralized (α = ½)": [1e-15, 1e-3, 2e-3, 3e-3], "α = 0.9": [2e-15, 2e-3, 1e-3, 1e-2]}, index=index)
    text = fisher_check_summary(check)
    assert "at most 2.0e-15 (floating-point round-off)" in text and "only through Adam" in text
    check.loc[("sgd", 2)] = [1e-4, 1e-4]
    text = fisher_check_summary(check)
    assert "more than round-off" in text and "only through Adam" not in text
    check.loc[("sgd", 2)] = [1e-15, 1e-15]
    check.loc[("adam", 2)] = [1e-14, 1e-13]
    text = fisher_check_summary(check)
    assert "adam at rank 2" in text and "only through Adam" not in text
