"""Weight importance neutralization on images: CelebA (Wavy_Hair / Male) and LFW+a (Male / Heavy_Makeup).

Protocol (``../shared/reference/win.md`` §3.2–3.4; the paper states only the splits):

* CelebA: a seeded random split into test (8,000), validation (4,000) and training (the rest);
  LFW+a: test = 40 % rounded up (5,258), validation 1,000, training the rest (6,885);
* a frozen backbone (ImageNet weights in the paper; in ``mini`` a FaceWorld-pretrained stand-in,
  see :mod:`fairlab.backbones`) gives the features, computed once per dataset;
* the head before fine-tuning is a seeded random ``Linear(d, 2)`` per run (the paper does not say
  how its head was obtained), identical for TL, SVD and WIN within a run, so the Fisher
  information is taken at that head;
* every run keeps its best epoch by validation weighted F1, as on Adult.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from fairlab import backbones
from fairlab import device as devices
from fairlab.data.images import load_images
from fairlab.data.sources import load_dataset
from fairlab.data.subsets import random_split, with_groups
from fairlab.evaluation import reports
from fairlab.faceworld.datasets import dataset_root
from fairlab.results import Record
from fairlab.study import InStudy, Study
from fairlab.train import seed_everything
from fairlab.win.neutralize import FineTuning, HeadData, finetune_heads, trainable_parameters

FEATURES = "win/image_features"
HEADS = "win/image_heads"
TASKS = {"celeba": ("Wavy_Hair", "Male"), "lfwa": ("Male", "Heavy_Makeup")}
DATASET_LABELS = {"celeba": "CelebA", "lfwa": "LFW+a"}


@dataclass(frozen=True)
class FeaturesConfig:
    """The frozen ``backbone``'s (a record's config) features of every image of ``dataset`` (FaceWorld's record config
    or the real folder: ``root``) in the three splits of ``split``, at ``image_size``."""

    dataset: str
    root: dict
    split: dict
    backbone: dict
    image_size: int


@dataclass(frozen=True)
class ImageHeadsConfig:
    """TL, SVD or WIN on the stored ``features``: one seeded random ``Linear(d, 2)`` head per seed, fine-tuned as
    ``training`` says; SVD and WIN keep ``rank`` and WIN neutralizes with ``alpha``."""

    features: dict
    method: str
    eps_rel: float
    training: FineTuning
    rank: int = 2
    alpha: float = 0.5
    head_init: str = "seeded_random_linear_per_run"


@dataclass
class ImageTask(InStudy):
    """One dataset's target, sensitive attribute and split, in a study (the profile and the registry)."""

    name: str
    study: Study
    root: Path
    splits: dict

    @property
    def cfg(self):
        return self.profile.win_images

    @property
    def target(self) -> str:
        return TASKS[self.name][0]

    @property
    def sensitive(self) -> str:
        return TASKS[self.name][1]

    def split_config(self) -> dict:
        cfg = self.cfg
        if self.name == "celeba":
            return {"test": cfg.celeba_test, "val": cfg.celeba_val, "seed": 0}
        return {"test_share": cfg.lfwa_test_share, "val": cfg.lfwa_val, "seed": 0}

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}


def open_task(name: str, study: Study) -> ImageTask:
    """Load the dataset (FaceWorld or real) and split it as the paper does."""
    root = dataset_root(study, name)
    target, sensitive = TASKS[name]
    frame = with_groups(load_dataset(name, root), target, sensitive)
    cfg = study.profile.win_images
    if name == "celeba":
        splits = random_split(frame, cfg.celeba_test, cfg.celeba_val, seed=0)
    else:
        splits = random_split(frame, float(cfg.lfwa_test_share), cfg.lfwa_val, seed=0)
    return ImageTask(name, study, root, splits)


def features(task: ImageTask, backbone: Record) -> Record:
    """The frozen backbone's features of every image of the three splits (stored as float16)."""
    size = task.profile.backbones.image_size
    config = FeaturesConfig(dataset=task.name, root=_root_config(task), split=task.split_config(), backbone=backbone.config,
                            image_size=size)

    def compute(workdir: Path) -> dict:
        model = backbones.load(backbone, devices.runtime(task.profile))
        out = {}
        for split, frame in task.splits.items():
            images = load_images(frame["path"].tolist(), (size, size))
            out[split] = backbones.extract(model, images, size, backbone.config["normalization"]).half()
            out[f"{split}_y"] = torch.tensor(frame["target"].to_numpy())
            out[f"{split}_s"] = torch.tensor(frame["protected"].to_numpy())
        torch.save(out, workdir / "features.pt")
        return {"dimension": int(out["train"].shape[1]), "sizes": task.sizes()}

    return task.registry.get_or_compute(FEATURES, config, compute)


def _root_config(task: ImageTask):
    """What identifies the data in a config: the FaceWorld record's config, or the real dataset's folder."""
    if task.profile.data.source == "real":
        return {"real": str(task.root)}
    return {"faceworld": _faceworld_config(task.root)}


def _faceworld_config(root: Path) -> dict:
    import json

    return json.loads((root.parent / "config.json").read_text())


def head_data(record: Record) -> HeadData:
    stored = torch.load(record.artifact("features.pt"), weights_only=True, map_location="cpu")
    splits = ("train", "val", "test")
    return HeadData({k: stored[k].float() for k in splits}, {k: stored[f"{k}_y"] for k in splits},
                    {k: stored[f"{k}_s"] for k in splits})


def random_heads(dimension: int, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``Linear(d, 2)`` per seed, initialised by PyTorch's default after ``torch.manual_seed(seed)``."""
    layers = []
    for seed in seeds:
        torch.manual_seed(seed)
        layers.append(torch.nn.Linear(dimension, 2))
    return torch.stack([layer.weight.detach() for layer in layers]), torch.stack([layer.bias.detach() for layer in layers])


def finetune(task: ImageTask, features_record: Record, method: str, lr: float) -> Record:
    """TL, SVD or WIN on the frozen features, one run per seed (0 … n_runs − 1)."""
    cfg = task.cfg
    seeds = list(range(cfg.n_runs))
    training = FineTuning(optimizer=cfg.finetune_optimizer, lr=float(lr), epochs=cfg.finetune_epochs,
                          patience=cfg.finetune_patience, batch_size=cfg.finetune_batch_size, seeds=tuple(seeds))
    config = ImageHeadsConfig(features=features_record.config, method=method, eps_rel=task.profile.win_adult.fisher_eps_rel,
                              training=training, rank=cfg.rank, alpha=cfg.alpha)

    def compute(workdir: Path) -> dict:
        data = head_data(features_record)
        dimension = data.features["train"].shape[1]
        weights, biases = random_heads(dimension, seeds)
        seed_everything(0)
        head, result = finetune_heads(data, method, weights, biases, seeds, lr=training.lr, optimizer=training.optimizer,
                                      epochs=training.epochs, patience=training.patience, batch_size=training.batch_size,
                                      alphas=[config.alpha] * len(seeds), rank=config.rank, eps_rel=config.eps_rel,
                                      desc=f"{task.name} {method} lr={lr}", runtime=devices.runtime(task.profile))
        test, val = reports(head, *data.split("test")), reports(head, *data.split("val"))
        runs = [{"seed": sd, "best_epoch": int(e), "test": t, "val": v}
                for sd, e, t, v in zip(seeds, result.best_epoch, test, val)]
        return {"runs": runs, "trainable_parameters": trainable_parameters(method, dimension, rank=config.rank)}

    return task.registry.get_or_compute(HEADS, config, compute)
