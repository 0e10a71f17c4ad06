r"""Weight importance neutralization (Zhang & Zhou, arXiv 2403.00625), and its two baselines.

The paper writes the last layer as ``z = xW + b`` with ``W`` of shape ``d × k`` (rows = input
features).  PyTorch stores ``weight`` as ``k × d``, so ``W = weight.T`` throughout.

1. **Group-wise empirical Fisher** (Eq. 1) of ``W`` at the pre-trained weights, on the new
   task's training data of each sensitive group s, with the true labels:
   ``F_s[a, j] = mean_{i in D_s} x_{ia}^2 (p_{ij} - 1[y_i = j])^2`` — the closed form of the
   squared per-sample gradient ``∂L/∂W = xᵀ(p − e_y)``.
2. **Row importance** (the FWSVD assumption): ``I_s[a] = Σ_j F_s[a, j]``,
   ``Î_s = diag(sqrt(I_s + ε_s))`` with ``ε_s = max(eps_rel · max_a I_s[a], 1e-12)`` for dead units.
3. **Neutralization** (Eq. 2, and the α variant of §4.5):
   ``Î = α Î_{s=1} + (1 − α) Î_{s=0}``; α = ½ is the paper's method; s = 1 is the privileged group.
4. **Fisher-weighted SVD** (Eq. 4): ``Î W = U S Vᵀ``; ``A = Î⁻¹ U_r S_r`` (d × r), ``B = V_rᵀ`` (r × k),
   the exact minimiser of ``‖Î W − Î A B‖_F`` over rank-r products.
5. The head becomes ``Linear(d → r, no bias; Aᵀ)`` followed by ``Linear(r → k; Bᵀ, b)``, and
   only these two layers are fine-tuned.

Baselines: **TL** fine-tunes the original ``(W, b)``; **SVD** is steps 4–5 with ``Î = I``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fairlab import device as devices
from fairlab.device import Runtime
from fairlab.evaluation import weighted_f1_scorer
from fairlab.models import FactorisedHead, ReplicaLinear
from fairlab.train import FitResult, ReplicaBatches, fit, make_optimizer

METHODS = ("tl", "svd", "win")
METHOD_LABELS = {"tl": "TL", "svd": "SVD", "win": "OURS (WIN)"}


#: how a fine-tuning run's reported epoch is chosen (:func:`finetune_heads`, and the Adult retraining runs)
SELECTION = "best_epoch_by_val_weighted_f1"


@dataclass(frozen=True)
class FineTuning:
    """How the neutralization paper's runs fine-tune (part of their configs): ``optimizer`` at ``lr``, batches of
    ``batch_size``, at most ``epochs`` and stopping after ``patience`` epochs without a better validation score,
    one run per seed of ``seeds``, each reporting the epoch :data:`SELECTION` picks."""

    optimizer: str
    lr: float
    epochs: int
    patience: int
    batch_size: int
    seeds: tuple[int, ...]
    selection: str = SELECTION

def group_fisher(features: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Empirical Fisher diagonal of the paper's ``W`` (``d × k``), averaged over the given samples.

    ``features`` ``[N, d]``, ``y`` ``[N]`` (class indices), ``weight`` ``[k, d]`` (PyTorch layout),
    ``bias`` ``[k]``.  Returns ``F`` of shape ``[d, k]``: ``F[a, j] = mean_i x_ia² (p_ij − e_{y_i j})²``.
    """
    x = features.double()
    p = torch.softmax(x @ weight.double().T + bias.double(), dim=1)
    residual = p - torch.nn.functional.one_hot(y.long(), p.shape[1]).double()
    return (x.pow(2).T @ residual.pow(2)) / x.shape[0]


def row_importance(features: torch.Tensor, y: torch.Tensor, s: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> dict[int, torch.Tensor]:
    """``I_s[a] = Σ_j F_s[a, j]`` for each sensitive group s (a ``[d]`` vector per group)."""
    out = {}
    for group in (0, 1):
        mask = s == group
        if not mask.any():
            raise ValueError(f"no samples with sensitive value {group}: the group-wise Fisher needs both groups")
        out[group] = group_fisher(features[mask], y[mask], weight, bias).sum(dim=1)
    return out


def neutralized_importance(importance: dict[int, torch.Tensor], alpha: float = 0.5, eps_rel: float = 1e-6) -> torch.Tensor:
    """``Î = α sqrt(I_1 + ε_1) + (1 − α) sqrt(I_0 + ε_0)`` (Eq. 2 for α = ½), a ``[d]`` vector."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")

    def root(i: torch.Tensor) -> torch.Tensor:
        eps = max(eps_rel * float(i.max()), 1e-12)
        return torch.sqrt(i + eps)

    return alpha * root(importance[1]) + (1.0 - alpha) * root(importance[0])


@dataclass(frozen=True)
class Factorisation:
    """``W ≈ A B`` with ``A`` ``[d, r]`` and ``B`` ``[r, k]`` (paper layout) and the kept singular values."""

    a: torch.Tensor
    b: torch.Tensor
    singular_values: torch.Tensor


def fisher_weighted_svd(weight: torch.Tensor, importance: torch.Tensor | None, rank: int) -> Factorisation:
    """Eq. 4: the rank-``rank`` ``A B`` minimising ``‖Î W − Î A B‖_F``; ``importance=None`` is plain SVD.

    ``weight`` is in PyTorch layout ``[k, d]``; the singular values stay in ``A`` as in the paper.
    """
    w = weight.double().T  # paper layout, d x k
    d, k = w.shape
    if not 1 <= rank <= min(d, k):
        raise ValueError(f"rank must lie in [1, min(d, k) = {min(d, k)}], got {rank}")
    scale = torch.ones(d, dtype=torch.float64) if importance is None else importance.double()
    if (scale <= 0).any():
        raise ValueError("importance weights must be positive (add ε for dead units)")
    u, sv, vh = torch.linalg.svd(scale[:, None] * w, full_matrices=False)
    a = (u[:, :rank] * sv[:rank]) / scale[:, None]
    return Factorisation(a=a, b=vh[:rank], singular_values=sv[:rank])


def factorised_head(factors: list[Factorisation], bias: torch.Tensor, dtype: torch.dtype = torch.float32) -> FactorisedHead:
    """A replicated two-layer head, one replica per factorisation, each with its pre-trained ``bias``.

    ``bias`` is ``[k]`` (shared) or ``[R, k]``.
    """
    first = torch.stack([f.a.T for f in factors]).to(dtype)           # [R, r, d]
    second = torch.stack([f.b.T for f in factors]).to(dtype)          # [R, k, r]
    n = len(factors)
    bias = (bias.expand(n, -1) if bias.dim() == 1 else bias).to(dtype)
    return FactorisedHead(ReplicaLinear.from_weights(first, None), ReplicaLinear.from_weights(second, bias))


def initial_heads(method: str, weights: torch.Tensor, biases: torch.Tensor, *, features: list[torch.Tensor] | None = None,
                  y: torch.Tensor | None = None, s: torch.Tensor | None = None, alphas: list[float] | None = None,
                  rank: int = 2, eps_rel: float = 1e-6, dtype: torch.dtype = torch.float32):
    """The heads that ``method`` fine-tunes, one replica per pre-trained layer ``(weights[r], biases[r])``.

    * ``tl``: the original layer ``(W, b)``;
    * ``svd``: its rank-``rank`` SVD factorisation;
    * ``win``: the Fisher-weighted factorisation with neutralized importance, computed on the
      new task's training ``features[r]`` (``[N, d]``), ``y`` and ``s``, with group weight ``alphas[r]``.

    ``weights`` is ``[R, k, d]`` (PyTorch layout), ``biases`` ``[R, k]``.
    """
    n = weights.shape[0]
    if method == "tl":
        return ReplicaLinear.from_weights(weights.to(dtype), biases.to(dtype))
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    factors = []
    for r in range(n):
        importance = None
        if method == "win":
            if features is None or y is None or s is None:
                raise ValueError("win needs the training features, labels and sensitive values for the Fisher information")
            alpha = 0.5 if alphas is None else alphas[r]
            importance = neutralized_importance(row_importance(features[r], y, s, weights[r], biases[r]), alpha, eps_rel)
        factors.append(fisher_weighted_svd(weights[r], importance, rank))
    return factorised_head(factors, biases, dtype=dtype)


def neutralized_head(linear: torch.nn.Linear, features: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor,
                     rank: int, alpha: float = 0.5, privileged=1, eps_rel: float = 1e-6) -> torch.nn.Sequential:
    """Weight importance neutralization of your own model's last layer: the head to fine-tune instead of it.

    ``linear`` maps features to class logits (``k`` classes, ``k ≥ 2``: softmax, as in the paper);
    ``features`` ``[N, d]`` are its inputs on the new task's training data, ``labels`` ``[N]`` the
    class indices, ``groups`` ``[N]`` the sensitive attribute with two values, ``privileged`` the
    value the paper calls s = 1. Steps 1–4 of this module: group-wise Fisher information of the
    layer, neutralized as ``Î = α Î_privileged + (1 − α) Î_other``, then the Fisher-weighted SVD of
    rank ``rank``. Returns ``nn.Sequential(Linear(d → rank, no bias), Linear(rank → k))`` that equals
    the rank-``rank`` approximation of ``linear``; fine-tune it (only it) with your own loop.

    >>> import torch
    >>> from fairlab.win import neutralized_head
    >>> g = torch.Generator().manual_seed(0)
    >>> layer = torch.nn.Linear(8, 3)
    >>> x, y, s = torch.randn(200, 8, generator=g), torch.randint(0, 3, (200,), generator=g), torch.arange(200) % 2
    >>> head = neutralized_head(layer, x, y, s, rank=3)
    >>> [tuple(m.weight.shape) for m in head]
    [(3, 8), (3, 3)]
    >>> bool(torch.allclose(head(x), layer(x), atol=1e-5))  # at full rank the factorisation is exact
    True
    """
    weight, bias = linear.weight.detach().cpu(), linear.bias
    k, d = weight.shape
    bias = torch.zeros(k) if bias is None else bias.detach().cpu()
    features, labels, groups = (torch.as_tensor(t).detach().cpu() for t in (features, labels, groups))
    if features.dim() != 2 or features.shape[1] != d:
        raise ValueError(f"features must be [N, {d}] (the layer's inputs), got {list(features.shape)}")
    if not len(features) == len(labels) == len(groups):
        raise ValueError(f"features, labels and groups must have one entry per sample: "
                         f"{len(features)}, {len(labels)}, {len(groups)}")
    values = set(groups.unique().tolist())
    if privileged not in values or len(values) != 2:
        raise ValueError(f"groups must take exactly two values, one of them privileged={privileged!r}; "
                         f"found {sorted(values)}")
    s = (groups == privileged).long()
    importance = neutralized_importance(row_importance(features, labels, s, weight, bias), alpha, eps_rel)
    factors = fisher_weighted_svd(weight, importance, rank)
    first = torch.nn.Linear(d, rank, bias=False)
    second = torch.nn.Linear(rank, k)
    with torch.no_grad():
        first.weight.copy_(factors.a.T)
        second.weight.copy_(factors.b.T)
        second.bias.copy_(bias)
    return torch.nn.Sequential(first, second).to(device=linear.weight.device, dtype=linear.weight.dtype)


def trainable_parameters(method: str, d: int, k: int = 2, rank: int = 2) -> int:
    """Trainable scalars of the fine-tuned head: ``d k + k`` for TL, ``d r + r k + k`` for SVD and WIN."""
    return d * k + k if method == "tl" else d * rank + rank * k + k


@dataclass(frozen=True)
class HeadData:
    """The frozen extractor's output on each split, with labels ``y`` and sensitive values ``s``.

    ``features[split]`` is ``[N, d]`` (one extractor shared by every replica) or ``[R, N, d]``
    (replica r fine-tunes the head of its own extractor).
    """

    features: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    s: dict[str, torch.Tensor]

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.features[name], self.y[name], self.s[name]


def cross_entropy_of_replicas(model: torch.nn.Module, batch) -> torch.Tensor:
    """Σ over replicas of each replica's mean cross-entropy on its own batch."""
    x, y, _ = batch
    logits = model(x)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1).sum()


def finetune_heads(data: HeadData, method: str, weights: torch.Tensor, biases: torch.Tensor, seeds: list[int], *,
                   lr: float, optimizer: str = "adam", epochs: int = 50, patience: int | None = None, batch_size: int = 64,
                   alphas: list[float] | None = None, rank: int = 2, eps_rel: float = 1e-6, desc: str | None = None,
                   progress: bool = True, runtime: Runtime | None = None) -> tuple[torch.nn.Module, FitResult]:
    """Fine-tune one head per replica (TL, SVD or WIN) on frozen features, keeping each run's best epoch.

    Replica r starts from the layer ``(weights[r], biases[r])`` (``[R, k, d]``, ``[R, k]``), sees the
    mini-batches of ``seeds[r]`` and, for WIN, uses the group weight ``alphas[r]``; the best epoch
    of each run is chosen by its validation weighted F1. The Fisher information and the SVD are
    computed on the CPU (float64 where it matters); the head trains on ``runtime``'s device.
    """
    rt = runtime or devices.default_runtime()
    train_x, train_y, train_s = data.split("train")
    per_replica = train_x.dim() == 3
    fisher_features = [train_x[r] if per_replica else train_x for r in range(len(seeds))]
    head = initial_heads(method, weights, biases, features=fisher_features, y=train_y, s=train_s,
                         alphas=alphas, rank=rank, eps_rel=eps_rel)
    head = rt.prepare(head)
    result = fit(
        head, make_optimizer(optimizer, head.parameters(), lr),
        ReplicaBatches((train_x, train_y, train_s), batch_size, seeds=seeds, per_replica=(per_replica, False, False),
                       device=rt.device),
        cross_entropy_of_replicas, epochs, evaluate=weighted_f1_scorer(data.features["val"], data.y["val"]),
        patience=patience, desc=desc or f"{method} lr={lr}", progress=progress, runtime=rt,
    )
    return head, result

