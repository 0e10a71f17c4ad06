"""The image rows of notebook 03: CelebA (Wavy_Hair / Male) and LFW+a (Male / Heavy_Makeup).

Figure 4's image panels (TL, SVD, OURS on a ResNet-18), Table 4's image rows (OURS on ResNet-50
and DenseNet-121) and Table 1's CelebA and LFW+a columns.  Learning rates are chosen on
validation per method, dataset and backbone, as on Adult.
"""

from __future__ import annotations

import pandas as pd

from fairlab.experiments import backbones
from fairlab.experiments.win_images import DATASET_LABELS, ImageTask, features, finetune, open_task
from fairlab.profiles import Profile
from fairlab.reports import Estimate, describe_difference, mean_difference
from fairlab.results import Registry
from fairlab.studies.runs import chosen_runs, select_lr

METHODS = ("tl", "svd", "win")
TABLE4_MODELS = {"resnet50": "ResNet-50", "densenet121": "DenseNet-121"}


def open_tasks(profile: Profile, registry: Registry | None = None) -> dict[str, ImageTask]:
    registry = registry or Registry(profile.name)
    return {name: open_task(name, profile, registry) for name in ("celeba", "lfwa")}


def table1_columns(tasks: dict[str, ImageTask]) -> dict:
    """Table 1's CelebA and LFW+a columns: the split sizes."""
    sizes = {name: task.sizes() for name, task in tasks.items()}
    return {row: {name: sizes[name][split] for name in tasks}
            for row, split in (("# Training", "train"), ("# Validation", "val"), ("# Test", "test"))}


def _records(task: ImageTask, arch: str, method: str) -> dict:
    feats = features(task, backbones.backbone(task.profile, task.registry, arch))
    return {lr: finetune(task, feats, method, lr) for lr in task.cfg.lr_grid}


def head_comparison(tasks: dict[str, ImageTask], arch: str = "resnet18") -> pd.DataFrame:
    """TL, SVD and OURS on each dataset: test metrics of every run at the lr chosen on validation."""
    frames = []
    for name, task in tasks.items():
        for method in METHODS:
            frames.append(chosen_runs(_records(task, arch, method)).assign(method=method, dataset=DATASET_LABELS[name]))
    return pd.concat(frames, ignore_index=True)


def head_selection(tasks: dict[str, ImageTask], arch: str = "resnet18") -> pd.DataFrame:
    frames = []
    for name, task in tasks.items():
        for method in METHODS:
            frames.append(select_lr(_records(task, arch, method)).assign(method=method, dataset=DATASET_LABELS[name]))
    return pd.concat(frames, ignore_index=True)[["dataset", "method", "lr", "val_err", "chosen"]]


def table4_runs(tasks: dict[str, ImageTask]) -> pd.DataFrame:
    """OURS on the ResNet-50 and DenseNet-121 backbones, per dataset, at the lr chosen on validation."""
    frames = []
    for name, task in tasks.items():
        for arch, label in TABLE4_MODELS.items():
            frames.append(chosen_runs(_records(task, arch, "win")).assign(dataset=DATASET_LABELS[name], model=label))
    return pd.concat(frames, ignore_index=True)


def table4_reproduced(runs: pd.DataFrame) -> dict:
    return {(dataset, model): {c: Estimate.of(part[c]) for c in ("err_f1", "eo_sum", "dp")}
            for (dataset, model), part in runs.groupby(["dataset", "model"])}


def figure4_claims(heads: pd.DataFrame) -> list[tuple[str, bool, str]]:
    """§4.2's claims about Figure 4 on every dataset, and that OURS's advantage is larger on images than on Adult."""
    claims = []
    advantage = {}
    for dataset, part in heads.groupby("dataset", sort=False):
        by = {m: part.loc[part["method"] == m] for m in METHODS}
        for column, name in (("err_f1", "error"), ("dp", "ΔDP"), ("eo_sum", "ΔEO")):
            ours = by["win"][column]
            holds = all(mean_difference(ours, by[m][column])[2] < 0 for m in ("tl", "svd"))
            claims.append((f"{dataset}: OURS has a lower {name} than TL and SVD, beyond seed noise", holds,
                           f"OURS − TL {describe_difference(ours, by['tl'][column])}; "
                           f"OURS − SVD {describe_difference(ours, by['svd'][column])}"))
        better = min(("tl", "svd"), key=lambda m: by[m]["err_f1"].mean())
        advantage[dataset] = mean_difference(by[better]["err_f1"], by["win"]["err_f1"])  # (difference, low, high)
    if "Adult" in advantage:
        adult = advantage.pop("Adult")
        holds = all(low > 0 and diff > adult[0] for diff, low, _ in advantage.values())
        claims.append(("OURS's error advantage over the better baseline is larger on the image datasets than on Adult "
                       "(and beyond seed noise there)", holds,
                       "; ".join(f"{d} {v[0]:+.3f} [95% CI {v[1]:+.3f}, {v[2]:+.3f}]"
                                 for d, v in {"Adult": adult, **advantage}.items())))
    return claims
