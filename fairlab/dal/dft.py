"""Direct fine-tuning through the sampler (the paper's §3.2; reference §3).

A loss on the generated images is back-propagated through every sampling step. Write the deterministic sampler as
the linear recurrence z_{t−1} = a_t z_t + b_t ε⁽ᵗ⁾ with ε⁽ᵗ⁾ = ε_θ(z_t, t, c) and R = ∂L/∂z_0:

- ``"exact"`` (naive DFT): the whole graph; every step's gradient also flows through the later steps' U-Net
  Jacobians ∂ε⁽ˢ⁾/∂z_s, and its scale spans orders of magnitude (the paper's Figure 1);
- ``"adjusted_no_coefficient"``: each U-Net call gets a detached z_t, so only the direct paths remain:
  dL/dθ = −Σ_t A_t · J_tᵀ R, with J_t = ∂ε⁽ᵗ⁾/∂θ and A_t = −∂z_0/∂ε⁽ᵗ⁾ (the paper's sign: dL/dε⁽ᵗ⁾ = −A_t R), the
  product of the direct-path coefficients from step t to 0;
- ``"adjusted"``: the same, each step's ε gradient also scaled: dL/dθ = −Σ_t coef_t · A_t · J_tᵀ R.
  The published code's coefficient (:func:`fairlab.dal.schedule.official_coefficients`) makes the effective weight
  A_t · coef_t a constant of about 0.40 at 20 DPM-Solver++ steps, not the paper's "A_t = 1"; ``coefficients="exact"``
  uses 1 / A_t probed by autograd (:func:`direct_path_weights`) wherever |A_t| ≥ 0.1.

The sampler is diffusers' DPM-Solver++ (2M) as the official code configures it (:func:`dft_scheduler`).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint as activation_checkpoint

from fairlab.dal.schedule import official_coefficients

GRADIENTS = ("exact", "adjusted_no_coefficient", "adjusted")
COEFFICIENTS = ("official", "exact")
#: below this |A_t| the exact coefficient 1 / A_t would explode (DPM-Solver++'s last steps): the official one is kept
SMALL_DIRECT_WEIGHT = 0.1


#: the official code's timestep spacing
SPACING = "linspace"


def dft_scheduler(config=None, timestep_spacing: str = SPACING):
    """DPM-Solver++ (2M) as the official code samples with: Stable Diffusion 1.5's schedule (or ``config``'s), linspace
    timesteps (20 steps: 999, 949, …, 50), the last step to σ_min (diffusers' default since 0.20 goes to zero).

    ``timestep_spacing``: another spacing for a model that cannot start at t = 999 — the miniature model's cosine
    schedule leaves no signal there, so it samples with "leading" spacing and its offset of 1 (:mod:`fairlab.t2i`)."""
    from diffusers import DPMSolverMultistepScheduler

    sd15 = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                prediction_type="epsilon")
    return DPMSolverMultistepScheduler.from_config(config or sd15, algorithm_type="dpmsolver++", solver_order=2,
                                                   timestep_spacing=timestep_spacing, final_sigmas_type="sigma_min",
                                                   lower_order_final=True)


def direct_path_weights(scheduler, steps: int) -> np.ndarray:
    """A_t = −∂z_0/∂ε⁽ᵗ⁾ for each of the sampler's steps (in sampling order), read by autograd with every ε⁽ᵗ⁾ a free
    scalar leaf: the recurrence is linear with scalar coefficients, so one scalar per step is the whole Jacobian. At
    20 steps of :func:`dft_scheduler`: from 2.99 down to −0.08, the last steps non-monotone (the 2M history term)."""
    scheduler.set_timesteps(steps)
    z = torch.zeros(1, dtype=torch.float64)
    leaves = [torch.zeros(1, dtype=torch.float64, requires_grad=True) for _ in scheduler.timesteps]
    for leaf, t in zip(leaves, scheduler.timesteps):
        z = scheduler.step(leaf, t, z).prev_sample
    return -np.array([g.item() for g in torch.autograd.grad(z.sum(), leaves)])


def step_coefficients(scheduler, steps: int, mode: str = "official") -> np.ndarray:
    """coef_t per step: the published code's (``"official"``), or 1 / A_t where |A_t| ≥ :data:`SMALL_DIRECT_WEIGHT`
    and the official one elsewhere (``"exact"``)."""
    scheduler.set_timesteps(steps)
    official = official_coefficients(scheduler.alphas_cumprod.double().numpy(), scheduler.timesteps.numpy())
    if mode == "official":
        return official
    if mode != "exact":
        raise ValueError(f"coefficients must be one of {COEFFICIENTS}, got {mode!r}")
    weights = direct_path_weights(scheduler, steps)
    large = np.abs(weights) >= SMALL_DIRECT_WEIGHT
    return np.where(large, 1.0 / np.where(large, weights, 1.0), official)


def guided_noise(unet, z: torch.Tensor, t, cond: torch.Tensor, uncond: torch.Tensor, guidance: float,
                 checkpoint: bool = False) -> torch.Tensor:
    """ε = ε_u + w · (ε_c − ε_u), both branches in one U-Net call; ``checkpoint`` recomputes the U-Net's activations
    in the backward pass (non-reentrant, so trained weights get gradients although the input is detached)."""
    def call(latents):
        both = unet(torch.cat([latents, latents]), t, encoder_hidden_states=torch.cat([uncond, cond])).sample
        return both.chunk(2)

    eps_u, eps_c = activation_checkpoint(call, z, use_reentrant=False) if checkpoint else call(z)
    return eps_u + guidance * (eps_c - eps_u)


def _scaled(coefficient: float, grad: torch.Tensor) -> torch.Tensor:
    return grad * coefficient


def _record_norm(norms: dict, step: int, grad: torch.Tensor) -> None:
    norms[step] = float(grad.detach().float().norm())


def sample(unet, scheduler, latents: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor, steps: int,
           guidance: float = 7.5, gradient: str = "adjusted", coefficients: np.ndarray | str = "official",
           checkpoint: bool = False, gradient_norms: dict | None = None) -> torch.Tensor:
    """z_0 from z_T = ``latents`` by ``steps`` sampler steps, differentiable in the U-Net's trained weights (and in
    ``cond`` / ``uncond``, e.g. a text encoder's LoRA) under the chosen ``gradient`` (:data:`GRADIENTS`).
    ``coefficients``: per-step values, or ``"official"`` / ``"exact"`` (:func:`step_coefficients`).
    ``gradient_norms``: filled in the backward pass with step index → the norm of the gradient reaching that step's
    ε⁽ᵗ⁾ on its way to the U-Net (after the coefficient): −A_t·B_t·R exact, −A_t·R without the coefficient,
    −coef_t·A_t·R adjusted (the scale Figure 1 plots, before the U-Net's own Jacobian)."""
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
    if isinstance(coefficients, str):
        coefficients = step_coefficients(scheduler, steps, coefficients)
    scheduler.set_timesteps(steps)
    if gradient == "adjusted" and len(coefficients) != len(scheduler.timesteps):
        raise ValueError(f"{len(coefficients)} coefficients for {len(scheduler.timesteps)} sampler steps")
    z = latents
    for i, t in enumerate(scheduler.timesteps):
        unet_input = z if gradient == "exact" else z.detach()
        eps = guided_noise(unet, scheduler.scale_model_input(unet_input, t), t, cond, uncond, guidance, checkpoint)
        if gradient == "adjusted" and eps.requires_grad:
            eps.register_hook(partial(_scaled, float(coefficients[i])))
        if gradient_norms is not None and eps.requires_grad:
            eps.register_hook(partial(_record_norm, gradient_norms, i))   # runs after the coefficient's hook
        z = scheduler.step(eps, t, z).prev_sample
    return z
