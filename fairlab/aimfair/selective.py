"""AIM-Fair's selective mask generation (SMG) and selective fine-tuning (SFT).

A *mask* names the parameter tensors fine-tuning may change; every other tensor is frozen through
``requires_grad`` (so it gets no gradient, no momentum and no weight decay), while every
BatchNorm layer, frozen or not, keeps updating its running statistics in train mode — as in the
reference code (``../shared/reference/aimfair.md`` §6).

SMG (§5) ranks the model's named tensors by two gradient differences, taken from the pre-trained
model on real data R, biased synthetic data S1 and balanced synthetic data S2:

* domain sensitivity  Δ1_j = mean |g_R,j − g_S1,j|   (small: the tensor hardly sees the real → synthetic shift)
* fairness sensitivity Δ2_j = mean |g_S1,j − g_S2,j|  (large: the tensor reacts to the bias shift)

and keeps K = {k smallest Δ1} ∩ {k largest Δ2}.  The means run over each tensor's elements with
no normalisation by its size; ties keep ``named_parameters()`` order (stable sorts).  The cosine
variant (Table 4) ranks 1 − cos(g, g′) of the flattened gradients instead.

The other partial fine-tuning strategies of Table 4 and Figure 2 are masks too: a random share of
the tensors, one block updated, one block frozen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

Measure = Literal["absolute", "cosine"]
RESNET_BLOCKS = ("stem", "layer1", "layer2", "layer3", "layer4", "fc")


@dataclass(frozen=True)
class Mask:
    """The named parameter tensors that fine-tuning trains, out of all of a model's (in model order)."""

    selected: tuple[str, ...]
    names: tuple[str, ...]
    sizes: tuple[int, ...]
    description: str = ""

    def __post_init__(self):
        unknown = set(self.selected) - set(self.names)
        if unknown:
            raise ValueError(f"mask selects tensors the model does not have: {sorted(unknown)}")
        if not self.selected:
            raise ValueError(f"mask {self.description!r} selects no tensor; fine-tuning would change nothing")

    @classmethod
    def of(cls, model: nn.Module, selected: Iterable[str], description: str = "") -> "Mask":
        named = list(model.named_parameters())
        chosen = set(selected)
        return cls(tuple(n for n, _ in named if n in chosen), tuple(n for n, _ in named),
                   tuple(p.numel() for _, p in named), description)

    def __len__(self) -> int:
        return len(self.selected)

    @property
    def tensor_share(self) -> float:
        """Selected tensors / all tensors (the paper's "update ratio": k / 62 for ResNet-18)."""
        return len(self.selected) / len(self.names)

    @property
    def scalar_share(self) -> float:
        """Selected scalars / all scalars."""
        chosen = set(self.selected)
        return sum(s for n, s in zip(self.names, self.sizes) if n in chosen) / sum(self.sizes)

    def frame(self) -> pd.DataFrame:
        """One row per tensor: name, block, layer kind, elements, selected."""
        chosen = set(self.selected)
        return pd.DataFrame({"tensor": self.names, "block": [block_of(n) for n in self.names],
                             "kind": [kind_of(n) for n in self.names], "elements": self.sizes,
                             "selected": [n in chosen for n in self.names]})

    def by_block(self) -> pd.DataFrame:
        """Selected and total tensors (and scalars) per block (Figure 8 counts tensors)."""
        f = self.frame()
        f["selected_elements"] = f["elements"] * f["selected"]
        out = f.groupby("block", sort=False).agg(tensors=("tensor", "size"), selected=("selected", "sum"),
                                                  elements=("elements", "sum"), selected_elements=("selected_elements", "sum"))
        return out.reset_index()

    def apply(self, model: nn.Module) -> nn.Module:
        """Freeze every tensor outside the mask (``requires_grad``); returns the model."""
        names = [n for n, _ in model.named_parameters()]
        if tuple(names) != self.names:
            raise ValueError("the mask was made for a model with different parameter tensors")
        chosen = set(self.selected)
        for name, p in model.named_parameters():
            p.requires_grad_(name in chosen)
        return model

    def to_dict(self) -> dict:
        return {"description": self.description, "selected": list(self.selected), "tensors": len(self.names),
                "tensor_share": self.tensor_share, "scalar_share": self.scalar_share}


def block_of(name: str) -> str:
    """The ResNet stage a tensor belongs to: stem (conv1, bn1), layer1 … layer4, fc; else its first name part."""
    head = name.split(".")[0]
    if head in ("conv1", "bn1"):
        return "stem"
    return head


def kind_of(name: str) -> str:
    """conv, bn, fc (linear) or other, from the tensor's module name (ResNet naming)."""
    module = name.rsplit(".", 1)[0]
    last = module.split(".")[-1]
    if last.startswith("conv") or module.endswith("downsample.0"):
        return "conv"
    if last.startswith("bn") or module.endswith("downsample.1"):
        return "bn"
    if last == "fc":
        return "fc"
    return "other"


# ---------------------------------------------------------------------------------------------
# gradients


def mean_gradients(model: nn.Module, batches: Iterable, loss_fn: Callable[[nn.Module, object], torch.Tensor]) -> dict[str, torch.Tensor]:
    """The mean over batches of each named tensor's batch-mean gradient (§5.1).

    The model is used in train mode (BatchNorm on batch statistics) as the reference code does;
    pass a copy, since its BatchNorm running statistics move.  No weight-decay term is added.
    """
    model.train()
    params = dict(model.named_parameters())
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    count = 0
    for batch in batches:
        model.zero_grad(set_to_none=True)
        loss_fn(model, batch).backward()
        for n, p in params.items():
            if p.grad is not None:
                total[n] += p.grad
        count += 1
    if count == 0:
        raise ValueError("mean_gradients: no batches")
    model.zero_grad(set_to_none=True)
    return {n: g / count for n, g in total.items()}


def difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], measure: Measure = "absolute") -> pd.Series:
    """Per tensor: ``mean |a − b|`` (absolute) or ``1 − cos(a, b)`` of the flattened gradients (cosine)."""
    if a.keys() != b.keys():
        raise ValueError("the two gradient sets name different tensors")
    if measure == "absolute":
        values = {n: float((a[n] - b[n]).abs().mean()) for n in a}
    elif measure == "cosine":
        values = {n: float(1 - nn.functional.cosine_similarity(a[n].flatten(), b[n].flatten(), dim=0, eps=1e-12)) for n in a}
    else:
        raise ValueError(f"measure must be 'absolute' or 'cosine', got {measure!r}")
    return pd.Series(values)


def sensitivities(g_real: dict, g_biased: dict, g_balanced: dict, measure: Measure = "absolute") -> pd.DataFrame:
    """Δ1 (real vs biased synthetic: domain) and Δ2 (biased vs balanced synthetic: fairness) per tensor."""
    return pd.DataFrame({"domain": difference(g_real, g_biased, measure),
                         "fairness": difference(g_biased, g_balanced, measure)})


def select(model: nn.Module, table: pd.DataFrame, k: int, description: str = "") -> Mask:
    """K = {k least domain-sensitive} ∩ {k most fairness-sensitive} tensors (stable sorts, model order on ties)."""
    if not 0 < k <= len(table):
        raise ValueError(f"top-k must be within 1 … {len(table)} (the model's tensors), got {k}")
    order = list(table.index)
    least_domain = sorted(order, key=lambda n: table.at[n, "domain"])[:k]
    most_fairness = sorted(order, key=lambda n: -table.at[n, "fairness"])[:k]
    chosen = set(least_domain) & set(most_fairness)
    if not chosen:
        raise ValueError(f"top-{k}: the two rankings share no tensor; choose a larger k")
    return Mask.of(model, chosen, description or f"selective (top-{k})")


def _default_loss(model: nn.Module, batch) -> torch.Tensor:
    """Binary cross-entropy for a one-logit model (AIM-Fair's classifiers), cross-entropy otherwise."""
    images, targets = batch[0], batch[1]
    logits = model(images)
    if logits.dim() == 2 and logits.shape[1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(logits.squeeze(1), targets.float())
    return nn.functional.cross_entropy(logits, targets.long())


def selective_mask(model: nn.Module, real: Iterable, biased_synthetic: Iterable, balanced_synthetic: Iterable, k: int,
                   loss_fn: Callable[[nn.Module, object], torch.Tensor] | None = None,
                   measure: Measure = "absolute") -> Mask:
    """AIM-Fair's selective mask generation for your own (biased, pre-trained) model.

    ``real``, ``biased_synthetic`` and ``balanced_synthetic`` are iterables of ``(images, targets)``
    batches (a ``DataLoader`` each): real training data R, synthetic data S1 with the real data's bias
    and balanced synthetic data S2. The mean gradients of each (§5.1, on a copy of ``model`` in train
    mode, so its BatchNorm statistics stay as they are) give every tensor a domain sensitivity Δ1 and a
    fairness sensitivity Δ2; the mask keeps {k smallest Δ1} ∩ {k largest Δ2} (:func:`select`).
    ``loss_fn(model, batch)`` defaults to binary cross-entropy for one logit, cross-entropy otherwise.
    ``mask.apply(model)`` then freezes the rest; fine-tune on the balanced synthetic data (selective
    fine-tuning) with an optimiser over ``[p for p in model.parameters() if p.requires_grad]``.

    >>> import torch
    >>> from fairlab.aimfair import selective_mask
    >>> g = torch.Generator().manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> def batches(shift):
    ...     return [(torch.randn(16, 4, generator=g) + shift, torch.randint(0, 2, (16,), generator=g)) for _ in range(3)]
    >>> mask = selective_mask(model, batches(0.0), batches(0.5), batches(1.0), k=3)
    >>> mask.names
    ('0.weight', '0.bias', '2.weight', '2.bias')
    >>> model = mask.apply(model)
    >>> sorted(n for n, p in model.named_parameters() if p.requires_grad) == sorted(mask.selected)
    True
    """
    import copy

    loss_fn = loss_fn or _default_loss
    gradients = [mean_gradients(copy.deepcopy(model), batches, loss_fn)
                 for batches in (real, biased_synthetic, balanced_synthetic)]
    return select(model, sensitivities(*gradients, measure=measure), k)


# ---------------------------------------------------------------------------------------------
# the other partial fine-tuning strategies


def everything(model: nn.Module) -> Mask:
    """Full fine-tuning."""
    return Mask.of(model, [n for n, _ in model.named_parameters()], "full fine-tuning")


def blocks(model: nn.Module, chosen: Iterable[str], description: str) -> Mask:
    wanted = set(chosen)
    unknown = wanted - {block_of(n) for n, _ in model.named_parameters()}
    if unknown:
        raise ValueError(f"unknown blocks {sorted(unknown)}")
    return Mask.of(model, [n for n, _ in model.named_parameters() if block_of(n) in wanted], description)


def update_block(model: nn.Module, block: str) -> Mask:
    """Sub-tuning: only ``block`` is trained."""
    return blocks(model, [block], f"update {block} only")


def freeze_block(model: nn.Module, block: str) -> Mask:
    """Sub-tuning: everything but ``block`` is trained."""
    every = [block_of(n) for n, _ in model.named_parameters()]
    return blocks(model, [b for b in dict.fromkeys(every) if b != block], f"freeze {block}")


def linear_probe(model: nn.Module) -> Mask:
    return blocks(model, ["fc"], "linear probe")


def random_share(model: nn.Module, ratio: float, seed: int) -> Mask:
    """``round(ratio × tensors)`` tensors drawn at random (seeded)."""
    names = [n for n, _ in model.named_parameters()]
    count = int(round(ratio * len(names)))
    picked = np.random.default_rng(seed).choice(len(names), size=count, replace=False)
    return Mask.of(model, [names[i] for i in picked], f"random {ratio:.0%}")


__all__ = ["Mask", "selective_mask", "mean_gradients", "difference", "sensitivities", "select", "everything", "update_block", "freeze_block",
           "linear_probe", "random_share", "block_of", "kind_of", "RESNET_BLOCKS"]
