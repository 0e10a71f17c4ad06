"""Networks.

Small models (the Adult MLPs and every linear head) are *replicated*: one module holds R
independent copies of the network with stacked parameters (weight ``[R, out, in]``), and an
input ``[R, B, in]`` gives an output ``[R, B, out]``.  Training R replicas with the sum of
their losses is R independent trainings (every optimiser used here is element-wise), run as
one batched computation — ten seeds for the price of about one on a CPU.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ReplicaLinear(nn.Module):
    """R independent ``nn.Linear`` layers: ``y[r] = x[r] @ weight[r].T + bias[r]``.

    ``weight[r]`` has PyTorch's layout ``[out, in]``; initialisation is ``nn.Linear``'s.
    """

    def __init__(self, n_replicas: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.n_replicas, self.in_features, self.out_features = n_replicas, in_features, out_features
        self.weight = nn.Parameter(torch.empty(n_replicas, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n_replicas, out_features)) if bias else None
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)  # = kaiming_uniform(a=sqrt(5)), nn.Linear's default
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[0] != self.n_replicas:
            raise ValueError(f"expected input [R={self.n_replicas}, batch, {self.in_features}], got {tuple(x.shape)}")
        out = torch.bmm(x, self.weight.transpose(1, 2))
        return out + self.bias[:, None, :] if self.bias is not None else out

    @classmethod
    def from_weights(cls, weight: torch.Tensor, bias: torch.Tensor | None) -> "ReplicaLinear":
        """Build from stacked ``weight [R, out, in]`` and ``bias [R, out]`` (copied)."""
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.n_replicas, layer.out_features, layer.in_features = weight.shape
        layer.weight = nn.Parameter(weight.detach().clone())
        layer.bias = nn.Parameter(bias.detach().clone()) if bias is not None else None
        return layer

    def extra_repr(self) -> str:
        return f"replicas={self.n_replicas}, in={self.in_features}, out={self.out_features}, bias={self.bias is not None}"


class ReplicaMLP(nn.Module):
    """``depth`` linear layers of width ``hidden`` with ReLU between them, replicated R times.

    ``depth = 2`` is the neutralization paper's "two-layer MLP with ReLU" (34 → 20 → 2, 742
    parameters).  :meth:`features` is the input of the last layer, :attr:`head` the last layer.
    """

    def __init__(self, n_replicas: int, in_features: int, hidden: int = 20, depth: int = 2, n_classes: int = 2):
        super().__init__()
        if depth < 2:
            raise ValueError(f"an MLP needs at least 2 linear layers, got depth={depth}")
        widths = [in_features] + [hidden] * (depth - 1)
        self.body = nn.ModuleList(ReplicaLinear(n_replicas, a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.head = ReplicaLinear(n_replicas, hidden, n_classes)
        self.depth = depth

    @property
    def n_replicas(self) -> int:
        return self.head.n_replicas

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.body:
            x = torch.relu(layer(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def replica(self, index: int) -> "ReplicaMLP":
        """A one-replica copy of replica ``index``."""
        return replicate(self, [index])


class FactorisedHead(nn.Module):
    """The last layer split in two, ``x -> (x A) B + b``: ``Linear(d→r, no bias)`` then ``Linear(r→k)``.

    This is the head of the SVD baseline and of weight importance neutralization (Algorithm 1,
    line 9 of the paper), in replicated form.
    """

    def __init__(self, first: ReplicaLinear, second: ReplicaLinear):
        super().__init__()
        if first.bias is not None:
            raise ValueError("the first factor has no bias")
        self.first, self.second = first, second

    @property
    def n_replicas(self) -> int:
        return self.second.n_replicas

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))

    def effective_weight(self) -> torch.Tensor:
        """The product, in PyTorch layout ``[R, k, d]``."""
        return torch.bmm(self.second.weight, self.first.weight)


def replicate(module: nn.Module, indices: list[int]) -> nn.Module:
    """A copy of a replicated module keeping the replicas at ``indices`` (repeats allowed)."""
    import copy

    clone = copy.deepcopy(module)
    index = torch.as_tensor(indices, dtype=torch.long)
    with torch.no_grad():
        for sub in clone.modules():
            if isinstance(sub, ReplicaLinear):
                sub.weight = nn.Parameter(sub.weight[index].clone())
                if sub.bias is not None:
                    sub.bias = nn.Parameter(sub.bias[index].clone())
                sub.n_replicas = len(indices)
    return clone


def count_parameters(module: nn.Module, per_replica: bool = True) -> int:
    """Trainable scalars; for a replicated module, those of one replica."""
    total = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total // getattr(module, "n_replicas", 1) if per_replica else total
