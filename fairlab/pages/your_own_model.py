"""The page "Using the methods on your own model" (``notebooks/06_your_own_model.py``).

The public functions, :func:`fairlab.selective_mask` and :func:`fairlab.neutralized_head`, take a
plain PyTorch model and plain batches or tensors. This page feeds them what the chapters computed
with (chapter 02's pre-trained classifier and its R, S1 and S2; chapter 04's pre-trained Adult
network and its new task's training data) and checks that they give what the chapters give.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from fairlab.aimfair import recipe, smg_sft
from fairlab.aimfair.selective import Mask
from fairlab.aimfair.tables import settings_for
from fairlab.reports import Sentence
from fairlab.study import Study
from fairlab.win import adult
from fairlab.win.neutralize import initial_heads


def first_setting(study: Study) -> tuple[str, int]:
    """The setting and seed this page works on: the profile's first AIM-Fair setting and first seed."""
    return settings_for(study.profile)[0], study.profile.aimfair.seeds[0]


def pretrained_classifier(study: Study, label: str, seed: int) -> nn.Module:
    """Chapter 02's Baseline for ``label`` and ``seed`` (ResNet-18, one logit), as a plain ``nn.Module``."""
    return smg_sft.load_pretrained(study, label, seed)


def smg_batches(study: Study, label: str, seed: int) -> tuple:
    """Real R, biased synthetic S1 and balanced synthetic S2, each as an iterable of ``(images, targets)`` batches
    (what a ``DataLoader`` gives): the recipe's augmented training batches of each set at the seed, built lazily,
    as chapter 02 took its mean gradients over. S1 is the profile's (``aimfair.s1_ratio``)."""
    s1 = f"S1_{smg_sft.aim_s1(study.profile).replace(':', '-')}"
    sets = (recipe.open_task(label, study).split("train"), smg_sft.synthetic(study, label, seed, s1),
            smg_sft.synthetic(study, label, seed, "S2_x1"))
    return tuple(recipe.training_batches(data, study.profile, seed) for data in sets)


def mask_agreement(study: Study, mask: Mask, label: str, seed: int) -> pd.DataFrame:
    """The tensors the public function selected beside those of chapter 02's AIM-Fair run, per block."""
    chapter = smg_sft.run(study, label, seed, smg_sft.AimFair().strategy(study.profile)).metrics["mask"]["selected"]
    frame = mask.frame()
    frame["chapter 02"] = frame["tensor"].isin(chapter)
    return (frame.groupby("block", sort=False)
            .agg(tensors=("tensor", "size"), **{"selected here": ("selected", "sum")},
                 **{"selected in chapter 02": ("chapter 02", "sum")},
                 **{"same tensors": ("selected", lambda s: bool((s == frame.loc[s.index, "chapter 02"]).all()))})
            .reset_index())


def mask_sentence(agreement: pd.DataFrame) -> Sentence:
    """Whether the public function's mask is chapter 02's, read from :func:`mask_agreement`."""
    here, there = int(agreement["selected here"].sum()), int(agreement["selected in chapter 02"].sum())
    if agreement["same tensors"].all():
        return Sentence(f"`selective_mask` selects the same {here} tensors as chapter 02's AIM-Fair run.")
    differing = ", ".join(agreement.loc[~agreement["same tensors"], "block"])
    return Sentence(f"`selective_mask` selects {here} tensors and chapter 02's run {there}; they differ in {differing}.")


def adult_last_layer(study: Study) -> tuple[nn.Linear, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Chapter 04's unfair pre-trained Adult network (its first replica) reduced to what
    :func:`fairlab.neutralized_head` takes: its last layer as an ``nn.Linear``, and that layer's inputs on the new
    task's training data with the labels and the sensitive attribute (sex, 1 = male, the privileged group)."""
    task = adult.open_task(study)
    network = adult.load_pretrained(adult.pretrain(task)).replica(0)
    x, y, s = task.tensors["train"]
    with torch.no_grad():
        features = network.features(x.float().unsqueeze(0))[0]
    head = nn.Linear(network.head.in_features, network.head.out_features)
    with torch.no_grad():
        head.weight.copy_(network.head.weight[0])
        head.bias.copy_(network.head.bias[0])
    return head, features, y, s


def head_agreement(study: Study, head: nn.Sequential, layer: nn.Linear, features: torch.Tensor, labels: torch.Tensor,
                   sex: torch.Tensor, alpha: float = 0.5) -> pd.DataFrame:
    """The public head against the head chapter 04 starts fine-tuning from (:func:`fairlab.win.neutralize.initial_heads`
    with the same data, rank and α): the largest difference of their logits on the training features, and of each
    against the original layer."""
    cfg = study.profile.win_adult
    chapter = initial_heads("win", layer.weight.detach()[None], layer.bias.detach()[None], features=[features],
                            y=labels, s=sex, alphas=[alpha], rank=cfg.rank, eps_rel=cfg.fisher_eps_rel)
    with torch.no_grad():
        ours, theirs, original = head(features), chapter(features[None])[0], layer(features)
    rows = {"neutralized_head vs chapter 04's initial WIN head": (ours - theirs).abs().max(),
            "neutralized_head vs the original layer": (ours - original).abs().max()}
    return pd.DataFrame({"largest |logit difference|": {k: float(v) for k, v in rows.items()}})


def head_sentence(agreement: pd.DataFrame, tolerance: float = 1e-5) -> Sentence:
    """Whether the public head is chapter 04's, read from :func:`head_agreement` (float32 logits, ``tolerance``)."""
    gap, to_layer = (float(v) for v in agreement.iloc[:, 0])
    same = (f"`neutralized_head` gives chapter 04's initial WIN head: their logits differ by at most {gap:.1e} "
            f"(float32)." if gap <= tolerance else
            f"`neutralized_head` and chapter 04's initial WIN head differ by up to {gap:.3g} in a logit, more than "
            f"{tolerance:g}.")
    exact = (f" Before fine-tuning the head computes what the original layer computes (at most {to_layer:.1e} apart): "
             f"at a rank equal to the number of classes the factorisation is exact, and the Fisher weighting only "
             f"changes how fine-tuning moves the two factors." if to_layer <= tolerance else
             f" Before fine-tuning the head differs from the original layer by up to {to_layer:.3g} in a logit: the "
             f"rank is below the layer's, so the factorisation keeps the directions the neutralized Fisher "
             f"information weighs most.")
    return Sentence(same + exact)


__all__ = ["first_setting", "pretrained_classifier", "smg_batches", "mask_agreement", "mask_sentence",
           "adult_last_layer", "head_agreement", "head_sentence"]
