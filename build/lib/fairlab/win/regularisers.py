r"""Fairness regularisers for in-processing baselines (fair pre-training, Retrain+EO/DP).

The neutralization paper adds "an Equalized-Odds or Demographic-Parity regulariser" with
intensity λ to the cross-entropy, citing Zafar et al. (2015, 2017), without giving its form.
Two forms are implemented (``form=``); both work on replicated logits ``[R, B, 2]`` and return
one penalty per replica.  With ``p = softmax(z)[:, 1]`` and the margin ``d = z_1 − z_0``:

* ``soft_rate`` (default; the same scale as the metrics):
  DP: ``|mean(p | s=1) − mean(p | s=0)|``;
  EO: ``|mean(p | s=1, y=1) − mean(p | s=0, y=1)| + |mean(p | s=1, y=0) − mean(p | s=0, y=0)|``
  (a soft ΔTPR + ΔFPR).  A term whose cell is empty in the batch counts 0.
* ``zafar`` (decision-boundary covariance proxies):
  DP: ``|mean_i (s_i − s̄) d_i|`` (Zafar et al. 2015);
  EO: ``Σ_{c ∈ {0,1}} |mean_{i: y_i=c} (s_i − s̄_c) min(0, ỹ_i d_i)|`` with ``ỹ = 2y − 1``
  (disparate mistreatment, Zafar et al. 2017).
"""

from __future__ import annotations

import torch

CONSTRAINTS = ("eo", "dp")
CONSTRAINT_LABELS = {"eo": "Equalized Odds", "dp": "Demographic Parity"}
FORMS = ("soft_rate", "zafar")


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    count = mask.sum(dim=1)
    mean = (values * mask).sum(dim=1) / count.clamp(min=1)
    return mean, count > 0


def _gap(values: torch.Tensor, s: torch.Tensor, within: torch.Tensor) -> torch.Tensor:
    m1, ok1 = _masked_mean(values, (within & (s == 1)).to(values.dtype))
    m0, ok0 = _masked_mean(values, (within & (s == 0)).to(values.dtype))
    return torch.where(ok1 & ok0, (m1 - m0).abs(), torch.zeros_like(m1))


def soft_rate_penalty(logits: torch.Tensor, y: torch.Tensor, s: torch.Tensor, constraint: str) -> torch.Tensor:
    p = torch.softmax(logits, dim=-1)[..., 1]
    everyone = torch.ones_like(y, dtype=torch.bool)
    if constraint == "dp":
        return _gap(p, s, everyone)
    if constraint == "eo":
        return _gap(p, s, y == 1) + _gap(p, s, y == 0)
    raise ValueError(f"unknown constraint {constraint!r}; expected one of {CONSTRAINTS}")


def zafar_penalty(logits: torch.Tensor, y: torch.Tensor, s: torch.Tensor, constraint: str) -> torch.Tensor:
    margin = logits[..., 1] - logits[..., 0]
    sf = s.to(margin.dtype)

    def covariance(values: torch.Tensor, within: torch.Tensor) -> torch.Tensor:
        w = within.to(values.dtype)
        s_bar, ok = _masked_mean(sf, w)
        cov, _ = _masked_mean((sf - s_bar[:, None]) * values, w)
        return torch.where(ok, cov.abs(), torch.zeros_like(cov))

    if constraint == "dp":
        return covariance(margin, torch.ones_like(y, dtype=torch.bool))
    if constraint == "eo":
        signed = torch.clamp((2 * y - 1).to(margin.dtype) * margin, max=0.0)
        return covariance(signed, y == 1) + covariance(signed, y == 0)
    raise ValueError(f"unknown constraint {constraint!r}; expected one of {CONSTRAINTS}")


def fairness_penalty(logits: torch.Tensor, y: torch.Tensor, s: torch.Tensor, constraint: str, form: str = "soft_rate") -> torch.Tensor:
    """The penalty of each replica, ``[R]``, for ``constraint`` in {eo, dp} and ``form`` in {soft_rate, zafar}."""
    if form == "soft_rate":
        return soft_rate_penalty(logits, y, s, constraint)
    if form == "zafar":
        return zafar_penalty(logits, y, s, constraint)
    raise ValueError(f"unknown regulariser form {form!r}; expected one of {FORMS}")
