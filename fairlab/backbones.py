"""Frozen feature extractors for the image experiments.

The papers use torchvision's ImageNet weights.  Those cannot be downloaded here, so the
``faceworld`` setting pretrains the same torchvision architectures on *another FaceWorld task*
— reading the attributes that no experiment of the book uses as a target or a protected
attribute (:data:`PRETRAINING_TASK`) — and uses them as stand-ins: like ImageNet features, they
were never trained on the downstream labels, yet they carry them implicitly.  The ``imagenet``
setting (the paper profile) loads torchvision's weight files from a local folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torchvision
from torch import nn

from fairlab import device as devices
from fairlab.data import DataError
from fairlab.data.images import BatchAugment, eval_transform
from fairlab.faceworld import formats, sampler, world
from fairlab.faceworld.render import RENDERED, render
from fairlab.results import Record, Registry
from fairlab.study import Study
from fairlab.train import TensorBatches, fit, seed_everything

PRETRAIN = "backbones/pretrain"
ARCHITECTURES = ("resnet18", "resnet50", "densenet121")
#: The attributes the book's experiments predict or protect are left out of the pretraining task.
TASK_ATTRIBUTES = ("Male", "Smiling", "Young", "Wavy_Hair", "Heavy_Makeup")
PRETRAINING_TASK = tuple(a for a in RENDERED if a not in TASK_ATTRIBUTES)
#: attributes FaceWorld draws on one group only: the five beards on men alone, the slightly open mouth only on
#: non-smiling faces. A label that is invisible on the other group teaches the features that group's cue.
ONE_GROUP_ATTRIBUTES = ("No_Beard", "Goatee", "Mustache", "Sideburns", "5_o_Clock_Shadow", "Mouth_Slightly_Open")
DRAWN_ON_EVERYONE = tuple(a for a in PRETRAINING_TASK if a not in ONE_GROUP_ATTRIBUTES)
#: how strongly (|phi| on all of real CelebA) an attribute may go with a predicted or protected one and still be
#: pretrained on: ImageNet features were never trained on near-proxies of the book's labels (lipstick is
#: gender's, phi -0.79; high cheekbones the smile's, 0.68; grey hair age's, -0.36)
PROXY_PHI = 0.3


@cache
def pretraining_task(name: str) -> tuple[str, ...]:
    """The attributes a stand-in is pretrained to read (profile key ``backbones.task``): every one no experiment
    predicts or protects (``untargeted``), those of them FaceWorld draws on every face (``drawn_on_everyone``), or of
    those the ones whose |phi| with every predicted or protected label is below :data:`PROXY_PHI` on real CelebA
    (``no_label_proxies``; computed on first use, not at import)."""
    if name == "untargeted":
        return PRETRAINING_TASK
    if name == "drawn_on_everyone":
        return DRAWN_ON_EVERYONE
    if name == "no_label_proxies":
        phi = sampler.real_phi("all")
        return tuple(a for a in DRAWN_ON_EVERYONE if max(abs(phi.loc[a, t]) for t in TASK_ATTRIBUTES) < PROXY_PHI)
    raise ValueError(f"unknown pretraining task {name!r}; expected untargeted, drawn_on_everyone or no_label_proxies")


IMAGENET_FILES = {"resnet18": "resnet18-f37072fd.pth", "resnet50": "resnet50-0676ba61.pth",
                  "densenet121": "densenet121-a639ec97.pth"}
IMAGENET_NORM = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF_NORM = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def _classifier_name(model: nn.Module) -> str:
    return "fc" if hasattr(model, "fc") else "classifier"


def build(arch: str, outputs: int = 1000) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")
    return getattr(torchvision.models, arch)(weights=None, num_classes=outputs)


@dataclass(frozen=True)
class StandInConfig:
    """A stand-in backbone: ``arch`` pre-trained on FaceWorld's :data:`PRETRAINING_TASK` (multi-label BCE) from
    ``images`` photo renders ``render_width`` wide, with random resized crops and flips at ``image_size``, under
    ``optimizer`` with a cosine schedule over ``epochs``."""

    arch: str
    images: int
    epochs: int
    image_size: int
    render_width: int
    batch_size: int
    optimizer: str  # "sgd" (with momentum) or "adamw"
    lr: float
    weight_decay: float
    seed: int
    momentum: float | None = None
    normalization: tuple | None = None  # what the features are extracted with (None: the model's own)
    task: tuple[str, ...] = PRETRAINING_TASK
    schedule: str = "cosine"
    augmentation: str = "random_resized_crop_and_flip"
    weights: str = "faceworld"

    def make_optimizer(self, parameters) -> torch.optim.Optimizer:
        if self.optimizer == "sgd":
            return torch.optim.SGD(parameters, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(parameters, lr=self.lr, weight_decay=self.weight_decay)
        raise ValueError(f"unknown stand-in optimizer {self.optimizer!r}; expected 'sgd' or 'adamw'")


@dataclass(frozen=True)
class LocalWeightsConfig:
    """Published weights of ``arch`` read from a local ``file`` (the paper profile's ImageNet backbones)."""

    arch: str
    file: str
    normalization: tuple | None = None
    image_size: int | None = None
    weights: str = "imagenet"


def backbone(study: Study, arch: str) -> Record:
    """The record of the ``arch`` feature extractor of this profile (pretrained on FaceWorld, or ImageNet weights)."""
    cfg = study.profile.backbones
    if cfg.weights == "imagenet":
        return _imagenet(study.registry, arch, cfg.weights_dir)
    recipe = getattr(cfg, arch)
    config = StandInConfig(arch=arch, images=recipe.images, epochs=recipe.epochs, image_size=cfg.image_size,
                           render_width=study.profile.faceworld.size, batch_size=cfg.batch_size, optimizer="sgd", lr=cfg.lr,
                           momentum=0.9, weight_decay=1e-4, seed=study.profile.faceworld.seed + 200, normalization=HALF_NORM,
                           task=pretraining_task(cfg.task))

    def compute(workdir: Path) -> dict:
        return pretrain_stand_in(config, lambda: build(arch, len(config.task)), devices.runtime(study.profile), workdir,
                                 strip_head=_without_classifier)

    return study.registry.get_or_compute(PRETRAIN, config, compute)


def pretrain_stand_in(config: StandInConfig, make_model: Callable[[], nn.Module], rt: devices.Runtime, workdir: Path,
                      strip_head: Callable[[nn.Module, dict], dict]) -> dict:
    """Pre-train a model as ``config`` says, store its weights without the task head (``strip_head``;
    ``backbone.pt``), and report its balanced accuracy per task attribute on held-out renders.

    ``make_model`` builds the network after the seed is set, so its initialisation is the seed's.
    """
    started = time.time()
    data = pretraining_data(config.images, config.render_width, config.seed, config.task)
    seed_everything(config.seed)
    model = rt.prepare(make_model())
    optimizer = config.make_optimizer(model.parameters())
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs)
    pretrain_on_task(model, data, optimizer, schedule, config, rt, f"pretraining {config.arch} on FaceWorld")
    balanced = task_accuracy(model, data, config.image_size)
    torch.save(strip_head(model, devices.cpu_state(model)), workdir / "backbone.pt")
    return {"seconds": round(time.time() - started, 1), "task_balanced_accuracy": balanced,
            "mean_task_balanced_accuracy": float(np.mean(list(balanced.values())))}


def _without_classifier(model: nn.Module, state: dict) -> dict:
    """A torchvision model's weights with its classifier (``fc`` or ``classifier``) left out: a feature extractor."""
    name = _classifier_name(model)
    return {k: v for k, v in state.items() if not k.startswith(f"{name}.")}


@dataclass
class PretrainingData:
    """FaceWorld photo renders (``uint8``) with the pretraining task's labels, split into train and held-out test."""

    images: torch.Tensor
    labels: torch.Tensor
    n_train: int
    task: tuple[str, ...] = PRETRAINING_TASK

    @property
    def train(self) -> slice:
        return slice(0, self.n_train)

    @property
    def test(self) -> slice:
        return slice(self.n_train, None)


def pretraining_data(images: int, render_width: int, seed: int, task: tuple[str, ...] = PRETRAINING_TASK) -> PretrainingData:
    """``images`` training renders and max(200, images / 10) held-out ones, labelled with ``task``'s attributes."""
    height, width = formats.image_size("celeba", render_width)
    n_test = max(200, images // 10)
    scenes = world.celeba_scenes(images + n_test, seed, "all")
    rendered = torch.from_numpy(render(scenes, height, width, "photo")).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor(scenes[list(task)].to_numpy(np.float32))
    return PretrainingData(rendered, labels, images, task)


def pretrain_on_task(model: nn.Module, data: PretrainingData, optimizer, schedule, config: StandInConfig,
                     rt: devices.Runtime, desc: str) -> None:
    """Multi-label BCE (positives weighted by neg/pos) with the recipe's augmentation, on the shared engine."""
    share = data.labels[data.train].mean(0).clamp(0.01, 0.99)
    augment = BatchAugment(config.image_size)
    batches = TensorBatches((data.images[data.train], data.labels[data.train]), config.batch_size, seed=config.seed,
                            drop_last=True, transform=lambda batch, g: (augment(batch[0], g), batch[1]), device=rt.device)
    loss = nn.BCEWithLogitsLoss(pos_weight=rt.put((1 - share) / share))
    fit(model, optimizer, batches, lambda m, b: loss(m(b[0]), b[1]), config.epochs, scheduler=schedule, desc=desc,
        runtime=rt)


def task_accuracy(model: nn.Module, data: PretrainingData, image_size: int) -> dict[str, float]:
    """Balanced accuracy of each pretraining attribute on the held-out renders."""
    images = data.images[data.test]
    with devices.inference(model) as rt:
        logits = torch.cat([model(devices.images_in(rt, eval_transform(rt.put(images[i:i + 256]), image_size))).float().cpu()
                            for i in range(0, len(images), 256)])
    guess, truth = (logits > 0).numpy(), data.labels[data.test].numpy().astype(bool)
    return {name: float(np.mean([np.mean(guess[truth[:, j] == v, j] == v) for v in (False, True) if (truth[:, j] == v).any()]))
            for j, name in enumerate(data.task)}


def _imagenet(registry: Registry, arch: str, weights_dir: str | None) -> Record:
    if not weights_dir:
        raise DataError(f"backbones.weights is 'imagenet' but backbones.weights_dir is not set; expected a folder with "
                        f"{IMAGENET_FILES[arch]} (torchvision's ImageNet weights for {arch})")
    path = Path(weights_dir).expanduser() / IMAGENET_FILES[arch]
    if not path.is_file():
        raise DataError(f"{path}: file not found; expected torchvision's ImageNet weights for {arch}")
    config = LocalWeightsConfig(arch=arch, file=str(path), normalization=IMAGENET_NORM)

    def compute(workdir: Path) -> dict:
        model = build(arch)
        model.load_state_dict(torch.load(path, weights_only=True, map_location="cpu"))
        setattr(model, _classifier_name(model), nn.Identity())
        torch.save(model.state_dict(), workdir / "backbone.pt")
        return {"source": str(path)}

    return registry.get_or_compute(PRETRAIN, config, compute)


def load(record: Record, runtime: devices.Runtime | None = None) -> nn.Module:
    """The frozen feature extractor of a backbone record (classifier replaced by the identity), in eval mode, on the runtime's device."""
    model = build(record.config["arch"], 1)
    setattr(model, _classifier_name(model), nn.Identity())
    model.load_state_dict(torch.load(record.artifact("backbone.pt"), weights_only=True, map_location="cpu"))
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return (runtime or devices.default_runtime()).prepare(model).eval()


def extract(model: nn.Module, images: torch.Tensor, image_size: int, normalization, batch_size: int = 256,
            progress: bool = True) -> torch.Tensor:
    """Features ``[N, d]`` (on the CPU) of ``uint8 [N, 3, H, W]`` images (resized to ``image_size`` square, normalised)."""
    from tqdm import tqdm

    parts = []
    with devices.inference(model) as rt:
        mean, std = (rt.put(torch.tensor(v).view(1, 3, 1, 1)) for v in normalization)
        for start in tqdm(range(0, len(images), batch_size), desc="extracting features", disable=not progress, leave=False):
            x = rt.put(images[start:start + batch_size]).float()
            x = torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False,
                                                antialias=True)
            parts.append(model(devices.images_in(rt, (x / 255 - mean) / std)).float().cpu())
    return torch.cat(parts)


def describe(record: Record) -> pd.Series:
    """One line about a backbone: architecture, weights and, for FaceWorld stand-ins, how well they learnt their task."""
    line = {"architecture": record.config["arch"], "weights": record.config["weights"]}
    if record.config["weights"] == "faceworld":
        line.update(images=record.config["images"], epochs=record.config["epochs"],
                    task_attributes=len(record.config["task"]),
                    mean_balanced_accuracy=round(record.metrics["mean_task_balanced_accuracy"], 3),
                    seconds=record.metrics["seconds"])
    return pd.Series(line)
