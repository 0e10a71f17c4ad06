r"""The debiasing methods AIM-Fair's Tables 1 and 2 compare with, on the shared engine.

The paper copies these rows from the DiGA paper (``../shared/reference/aimfair.md`` §10); here
they are methods that run on the same data and recipe (:func:`fairlab.aimfair.recipe.train`).
None uses protected labels in training or model selection, except the oracle:

* **ERM**: the recipe itself (the Baseline).
* **CVaR DRO** (Levy et al., 2020): minimise the mean of the worst α-fraction of the per-example
  losses of each batch, :func:`cvar_loss`.
* **JTT** (Liu et al., 2021): ERM for a few epochs (the identification model), its error set on
  the training data (:func:`fairlab.aimfair.bias_estimate.error_set`), then ERM again with every
  error example counted λ_up times, :func:`jtt_upweighted`.
* **LfF** (Nam et al., 2020): a biased model trained with the generalised cross-entropy
  GCE(p, y) = (1 − p_y^q) / q, which amplifies its reliance on easy (spurious) cues, beside the
  debiased model, whose per-example losses are weighted by the relative difficulty
  W(x) = ℓ_B(x) / (ℓ_B(x) + ℓ_D(x)) of exponential moving averages of both losses,
  :class:`LearningFromFailure`.
* **EIIL** (Creager et al., 2021): environments inferred from a reference (ERM) model by
  maximising the IRM penalty Σ_e ‖∇_w R_e(w · f)|_{w=1}‖² over soft assignments of the examples to
  two environments, :func:`infer_environments`; then group DRO over the inferred environments.
* **group DRO** (Sagawa et al., 2020) with the true (target, protected) groups — the **oracle**,
  the one row that reads protected labels: online weights q_g ∝ q_g exp(η ℓ_g) and the loss
  Σ_g q_g ℓ_g, :class:`GroupDRO`.

Each model-side method is a small ``nn.Module`` around the classifier (its state — LfF's averages,
group DRO's weights — is a buffer, so a resumed run continues exactly); its ``loss(batch)`` takes
the recipe's batches with their indices, ``(images, targets, index)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from fairlab.aimfair import recipe


def per_example_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """ℓ_i = BCE(z_i, y_i) on one logit per example (the recipe's loss, unreduced)."""
    return nn.functional.binary_cross_entropy_with_logits(logits.reshape(-1), targets.float(), reduction="none")


# ---------------------------------------------------------------------------------------------
# CVaR DRO


def cvar_loss(losses: torch.Tensor, alpha: float) -> torch.Tensor:
    """CVaR_α of the per-example losses: the mean of the ⌈α n⌉ largest (α = 1 is the plain mean)."""
    if not 0 < alpha <= 1:
        raise ValueError(f"CVaR's alpha must lie in (0, 1], got {alpha}")
    k = max(1, math.ceil(alpha * losses.numel()))
    return losses.reshape(-1).topk(k).values.mean()


def cvar_objective(alpha: float):
    """A ``loss_fn`` for :func:`fairlab.aimfair.recipe.train`: CVaR DRO at level ``alpha`` on each batch."""
    def loss_fn(model: nn.Module, batch) -> torch.Tensor:
        return cvar_loss(per_example_bce(model(batch[0]), batch[1]), alpha)
    return loss_fn


# ---------------------------------------------------------------------------------------------
# JTT


def jtt_upweighted(data: recipe.LabelledImages, errors: np.ndarray, upweight: int) -> recipe.LabelledImages:
    """JTT's second-stage training set: ``data`` with every example of the error set present ``upweight`` times
    (upsampling, as JTT's code does), in the order: all of ``data``, then the extra copies."""
    from fairlab.aimfair.smg_sft import concat, subset

    errors = np.asarray(errors, dtype=bool)
    if errors.shape != (len(data),):
        raise ValueError(f"the error set must mark each of the {len(data)} examples, got shape {errors.shape}")
    if upweight < 1:
        raise ValueError(f"JTT's upweight λ_up must be at least 1, got {upweight}")
    extra = np.tile(np.flatnonzero(errors), upweight - 1)
    return concat(data, subset(data, extra)) if extra.size else data


# ---------------------------------------------------------------------------------------------
# LfF


def generalised_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, q: float) -> torch.Tensor:
    """GCE(p, y) = (1 − p_y^q) / q per example, p_y the probability of the true class under one logit."""
    p1 = torch.sigmoid(logits.reshape(-1))
    p_y = torch.where(targets.reshape(-1) > 0.5, p1, 1 - p1)
    return (1 - p_y.clamp_min(1e-8) ** q) / q


class LearningFromFailure(nn.Module):
    """LfF's two classifiers trained together; the module answers with the debiased one.

    ``loss(batch)``: per example, the moving averages ℓ̄ ← β ℓ̄ + (1 − β) ℓ of both models' cross-entropies, each
    divided by its maximum within the example's class (as LfF's code does), give W = ℓ̄_B / (ℓ̄_B + ℓ̄_D); the
    loss is mean(W · CE_D) + mean(GCE_B). W carries no gradient.
    """

    def __init__(self, biased: nn.Module, debiased: nn.Module, targets: np.ndarray, q: float = 0.7, ema: float = 0.7):
        super().__init__()
        self.biased, self.debiased, self.q, self.ema = biased, debiased, float(q), float(ema)
        self.register_buffer("targets", torch.as_tensor(np.asarray(targets), dtype=torch.long))
        self.register_buffer("average_biased", torch.zeros(len(targets)))
        self.register_buffer("average_debiased", torch.zeros(len(targets)))
        self.register_buffer("seen", torch.zeros(len(targets), dtype=torch.bool))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.debiased(images)

    def _update(self, average: torch.Tensor, index: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        old = average[index]
        new = torch.where(self.seen[index], self.ema * old + (1 - self.ema) * loss, loss)
        average[index] = new
        return new

    def relative_difficulty(self, index: torch.Tensor, loss_biased: torch.Tensor, loss_debiased: torch.Tensor) -> torch.Tensor:
        """W for the examples ``index`` after folding in their current losses (updates the averages)."""
        b = self._update(self.average_biased, index, loss_biased.detach().float())
        d = self._update(self.average_debiased, index, loss_debiased.detach().float())
        self.seen[index] = True
        classes = self.targets[index]
        scale_b, scale_d = torch.ones_like(b), torch.ones_like(d)
        for c in (0, 1):
            in_class = self.seen & (self.targets == c)
            if in_class.any():
                scale_b[classes == c] = self.average_biased[in_class].max().clamp_min(1e-8)
                scale_d[classes == c] = self.average_debiased[in_class].max().clamp_min(1e-8)
        b, d = b / scale_b, d / scale_d
        return b / (b + d + 1e-8)

    def loss(self, batch) -> torch.Tensor:
        images, targets, index = batch[0], batch[1], batch[2]
        logits_b, logits_d = self.biased(images).reshape(-1), self.debiased(images).reshape(-1)
        ce_b, ce_d = per_example_bce(logits_b, targets), per_example_bce(logits_d, targets)
        weight = self.relative_difficulty(index, ce_b, ce_d)
        return (weight * ce_d).mean() + generalised_cross_entropy(logits_b, targets, self.q).mean()


# ---------------------------------------------------------------------------------------------
# group DRO (the oracle) and EIIL's inferred environments


class GroupDRO(nn.Module):
    """Online group DRO around a classifier: q_g ← q_g exp(η ℓ_g) / Σ, loss Σ_g q_g ℓ_g over the groups present in
    the batch (ℓ_g their mean losses). ``groups`` gives each training example's group (0 … n − 1)."""

    def __init__(self, model: nn.Module, groups: np.ndarray, eta: float = 0.01):
        super().__init__()
        groups = torch.as_tensor(np.asarray(groups), dtype=torch.long)
        self.model, self.eta, self.n_groups = model, float(eta), int(groups.max()) + 1
        self.register_buffer("groups", groups)
        self.register_buffer("weights", torch.full((self.n_groups,), 1.0 / self.n_groups))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def loss(self, batch) -> torch.Tensor:
        images, targets, index = batch[0], batch[1], batch[2]
        losses = per_example_bce(self.model(images), targets)
        groups = self.groups[index]
        sums = torch.zeros(self.n_groups, device=losses.device, dtype=losses.dtype).index_add(0, groups, losses)
        counts = torch.bincount(groups, minlength=self.n_groups).to(losses.dtype)
        present = counts > 0
        means = torch.where(present, sums / counts.clamp_min(1), torch.zeros_like(sums))
        with torch.no_grad():
            weights = self.weights * torch.exp(self.eta * means.detach() * present)
            self.weights.copy_(weights / weights.sum())
        return (self.weights * means).sum()


def method_loss(model: nn.Module, batch) -> torch.Tensor:
    """The ``loss_fn`` for :func:`fairlab.aimfair.recipe.train` of a model-side method (LfF, group DRO)."""
    return model.loss(batch)


def infer_environments(logits: torch.Tensor, targets: torch.Tensor, steps: int = 10_000, lr: float = 0.001,
                       seed: int = 0) -> np.ndarray:
    """EIIL's environment inference: two environments that maximise the reference model's IRM penalty.

    ``logits`` are the reference (ERM) model's on the training examples. Soft assignments q_i = σ(u_i) to the
    first environment (1 − q_i to the second) are found by gradient ascent (Adam, ``lr``, ``steps``) on
    Σ_e (∂/∂w R_e(w))², R_e(w) = Σ_i q_i^e ℓ(w z_i, y_i) / Σ_i q_i^e at w = 1; returns 0/1 environments q > ½.
    With the logistic loss, ∂ℓ(w z, y)/∂w at w = 1 is g_i = (σ(z_i) − y_i) z_i, so the penalty is
    Σ_e (Σ_i q_i^e g_i / Σ_i q_i^e)²: computed in closed form, without differentiating twice.
    """
    z = logits.detach().double().reshape(-1)
    y = targets.detach().double().reshape(-1)
    g = (torch.sigmoid(z) - y) * z  # each example's ∂ℓ/∂w at the reference model's w = 1
    generator = torch.Generator().manual_seed(seed)
    u = (0.01 * torch.randn(z.numel(), generator=generator, dtype=torch.float64)).requires_grad_()
    optimizer = torch.optim.Adam([u], lr=lr)
    for _ in range(steps):
        q = torch.sigmoid(u)
        penalty = sum(((share * g).sum() / share.sum()).pow(2) for share in (q, 1 - q))
        optimizer.zero_grad()
        (-penalty).backward()
        optimizer.step()
    return (torch.sigmoid(u) > 0.5).long().numpy()


__all__ = ["per_example_bce", "cvar_loss", "cvar_objective", "jtt_upweighted", "generalised_cross_entropy",
           "LearningFromFailure", "GroupDRO", "method_loss", "infer_environments"]
