"""The per-step gradient coefficients of adjusted direct fine-tuning (the official code's; reference §3.2).

Sampling is a linear recurrence z_{t−1} = a_t z_t + b_t ε⁽ᵗ⁾. Adjusted direct fine-tuning feeds each U-Net call a
detached z_t (no indirect paths) and scales the gradient reaching ε⁽ᵗ⁾ by

    coef_t = √ᾱ_t · √(1 − ᾱ_t) / (1 − α_t),   divided by the geometric mean over the sampler's steps,

so that the coefficients multiply to 1. It approximates 1 / A_t (A_t: the product of the direct-path coefficients
from step t to 0) for DDPM-spaced steps; under DPM-Solver++ the effective weight A_t · coef_t is a constant of
about 0.40 at 20 steps, not 1 (reference §3.2), which is why :mod:`fairlab.dal` can also probe A_t exactly.
"""

from __future__ import annotations

import numpy as np


def scaled_linear_alphas_cumprod(train_steps: int = 1000, beta_start: float = 0.00085,
                                 beta_end: float = 0.012) -> np.ndarray:
    """ᾱ_t of Stable Diffusion 1.5's schedule: β linear in √β from ``beta_start`` to ``beta_end``, t = 0 … T − 1."""
    betas = np.linspace(beta_start**0.5, beta_end**0.5, train_steps, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def linspace_timesteps(steps: int, train_steps: int = 1000) -> np.ndarray:
    """diffusers' ``timestep_spacing="linspace"``: 20 steps of a 1000-step schedule are 999, 949, …, 50."""
    return np.linspace(0, train_steps - 1, steps + 1).round()[::-1][:-1].astype(np.int64)


def official_coefficients(alphas_cumprod: np.ndarray, timesteps: np.ndarray) -> np.ndarray:
    """coef_t = √ᾱ_t √(1 − ᾱ_t) / (1 − α_t) at each sampler timestep (α_t = ᾱ_t / ᾱ_{t−1}), over their geometric
    mean: for Stable Diffusion 1.5 at 20 steps 0.092, 0.132, 0.187, …, with product 1."""
    alphas_cumprod = np.asarray(alphas_cumprod, dtype=np.float64)
    t = np.asarray(timesteps, dtype=np.int64)
    if t.size == 0 or t.min() < 0 or t.max() >= alphas_cumprod.size:
        raise ValueError(f"timesteps must lie in 0..{alphas_cumprod.size - 1}, got {t.tolist()}")
    previous = np.where(t > 0, alphas_cumprod[np.maximum(t - 1, 0)], 1.0)
    alpha = alphas_cumprod[t] / previous
    raw = np.sqrt(alphas_cumprod[t]) * np.sqrt(1.0 - alphas_cumprod[t]) / (1.0 - alpha)
    return raw / np.exp(np.log(raw).mean())
