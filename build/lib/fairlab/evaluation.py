"""Evaluating replicated classifiers: predictions, the validation score, fairness reports per replica."""

from __future__ import annotations

import numpy as np
import torch

from fairlab import device as devices
from fairlab import metrics


def predictions(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """ŷ = argmax of the logits, ``[R, N]``; ``x`` is ``[N, d]`` (shared) or ``[R, N, d]``; computed on the model's device."""
    with devices.inference(model) as rt:
        x = rt.put(x)
        if x.dim() == 2:
            x = x.expand(model.n_replicas, -1, -1)
        return model(x).argmax(dim=-1).cpu().numpy()


def weighted_f1_scorer(x: torch.Tensor, y: torch.Tensor):
    """A validation score for :func:`fairlab.train.fit`: the weighted F1 of each replica on (x, y)."""
    y_np = y.numpy()
    return lambda model: np.array([metrics.weighted_f1(y_np, pred) for pred in predictions(model, x)])


def reports(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor) -> list[dict]:
    """:func:`fairlab.metrics.fairness_report` of each replica."""
    return [metrics.fairness_report(y.numpy(), pred, s.numpy()) for pred in predictions(model, x)]
