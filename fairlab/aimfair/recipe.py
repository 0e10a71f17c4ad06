"""AIM-Fair's tasks and its ResNet-18 recipe, shared by every AIM-Fair experiment of the book.

A *task* is a setting (dataset, target, protected attribute) with its real splits
(``../shared/reference/aimfair.md`` §2):

* CelebA: the biased training subset of the official train partition (each class 50/50, the
  protected attribute 90/10 inside it, the first-N rule), the official val and test partitions;
* UTKFace: a biased training set, a natural validation split and a balanced test set (800 per group),
  disjoint (:func:`fairlab.data.subsets.utkface_splits`).

The classifier is torchvision's ResNet-18 with a one-logit head, from the profile's backbone
weights (ImageNet in ``paper``; the FaceWorld-pretrained stand-in in ``mini`` and ``smoke``),
trained with BCE, SGD (lr 0.01, momentum 0.9, weight decay 1e-4), ×0.1 after epoch 10, batch
128, RandomResizedCrop + flip, and the checkpoint of the best real validation accuracy (ties to
the later epoch) — on the shared engine, :func:`fairlab.train.fit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from fairlab import backbones
from fairlab import device as devices
from fairlab.aimfair.settings import Setting, setting as setting_named
from fairlab.data.images import BatchAugment, ImageFiles, eval_transform, load_images
from fairlab.data.sources import load_dataset
from fairlab.data.subsets import biased_subset, utkface_splits, with_groups
from fairlab.faceworld import formats
from fairlab.faceworld.datasets import dataset_root
from fairlab.metrics import fairness_report
from fairlab.profiles import BackboneSection, DataSection, FaceWorldSection, Profile
from fairlab.study import Study
from fairlab.train import FitResult, TensorBatches, fit, seed_everything

REAL_SIZES = {"celeba": (218, 178), "utkface": (200, 200)}
#: the fields of the profile's ``aimfair`` section a classifier trained from the backbone uses
PRETRAINING_RECIPE = {"image_size", "epochs", "decay_epoch", "lr", "batch_size"}


@dataclass(frozen=True)
class ClassifierInputs:
    """What every AIM-Fair classifier depends on, part of each of their configs: the pre-training recipe
    (:data:`PRETRAINING_RECIPE`) and the data, world and backbone sections it is trained from."""

    recipe: dict
    data: DataSection
    faceworld: FaceWorldSection
    backbones: BackboneSection

    @classmethod
    def of(cls, profile: Profile) -> "ClassifierInputs":
        return cls(profile.aimfair.model_dump(include=PRETRAINING_RECIPE), profile.data, profile.faceworld,
                   profile.backbones)


@dataclass
class LabelledImages:
    """``uint8 [N, 3, H, W]`` images (a tensor, or :class:`~fairlab.data.images.ImageFiles` read batch by batch)
    with their target and protected labels (0/1)."""

    images: torch.Tensor | ImageFiles
    target: np.ndarray
    protected: np.ndarray

    def __len__(self) -> int:
        return len(self.target)

    def groups(self) -> np.ndarray:
        return np.char.add(np.char.add(self.target.astype(str), "_"), self.protected.astype(str))


@dataclass
class Task:
    """A setting with its real train (biased), val and test splits."""

    setting: Setting
    frames: dict[str, pd.DataFrame]
    decode_size: tuple[int, int]
    image_store: str = "memory"

    def split(self, name: str, progress: bool = False) -> LabelledImages:
        return labelled(self.frames[name], self.decode_size, progress, self.image_store)

    def sizes(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.frames.items()}


def decode_size(profile: Profile, dataset: str) -> tuple[int, int]:
    """FaceWorld images at their rendered size; real ones at the datasets' own (CelebA 218 × 178)."""
    if profile.data.source == "faceworld":
        return formats.image_size(dataset, profile.faceworld.size)
    return REAL_SIZES[dataset]


def open_task(label: str, study: Study) -> Task:
    """The real splits of setting ``label`` (e.g. ``"CelebA S/M"``), FaceWorld or real by the profile; a Table 2
    setting trains on its share of the biased subset (the prefix per group, by the same first-N rule)."""
    setting = setting_named(label)
    frame = load_dataset(setting.dataset, dataset_root(study, setting.dataset))
    data = study.profile.data
    if setting.dataset == "celeba":
        train = biased_subset(frame[frame["partition"] == "train"], setting.target, setting.protected,
                              round(setting.real_share * data.aimfair_subset_size))
        frames = {"train": train,
                  "val": with_groups(frame[frame["partition"] == "val"], setting.target, setting.protected),
                  "test": with_groups(frame[frame["partition"] == "test"], setting.target, setting.protected)}
    else:
        frames = utkface_splits(frame, setting.target, setting.protected, round(setting.real_share * data.utk_train_size),
                                data.utk_test_per_group,
                                data.utk_val_share)
    return Task(setting, frames, decode_size(study.profile, setting.dataset), study.profile.data.image_store)


def classifier(study: Study, seed: int) -> nn.Module:
    """ResNet-18 with the profile's backbone weights and a fresh ``Linear(512, 1)`` head (seeded), on the profile's device."""
    record = backbones.backbone(study, "resnet18")
    seed_everything(seed)
    model = backbones.build("resnet18", 1)
    state = torch.load(record.artifact("backbone.pt"), weights_only=True, map_location="cpu")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) != {"fc.weight", "fc.bias"}:
        raise RuntimeError(f"backbone {record.path}: unexpected weights (missing {missing}, unexpected {unexpected})")
    return devices.runtime(study.profile).prepare(model)


def predict_logits(model: nn.Module, images: torch.Tensor, size: int, batch_size: int = 512) -> torch.Tensor:
    """One logit per image (on the CPU), computed on the model's device under :func:`fairlab.device.inference`."""
    with devices.inference(model) as rt:
        out = [model(devices.images_in(rt, eval_transform(rt.put(images[i:i + batch_size]), size))).squeeze(1).float()
               for i in range(0, len(images), batch_size)]
    return torch.cat(out).cpu()


def accuracy(model: nn.Module, data: LabelledImages, size: int) -> float:
    predicted = (predict_logits(model, data.images, size) > 0).numpy()
    return float(np.mean(predicted == data.target))


def evaluate(model: nn.Module, data: LabelledImages, size: int) -> dict:
    """AIM-Fair's metrics (group accuracies, ACC, WST, EO, STD) of the model on ``data``."""
    predicted = (predict_logits(model, data.images, size) > 0).numpy().astype(int)
    return fairness_report(data.target, predicted, data.protected)


def train(model: nn.Module, data: LabelledImages, val: LabelledImages, profile: Profile, seed: int, *,
          epochs: int | None = None, lr: float | None = None, decay_epoch: int | None = None, keep: str = "ge",
          desc: str = "training ResNet-18", checkpoint=None, loss_fn=None) -> FitResult:
    """AIM-Fair's supervised recipe on ``data``, keeping the epoch with the best real validation accuracy.

    Every parameter with ``requires_grad`` is trained (selective fine-tuning freezes the rest).
    ``decay_epoch=None`` takes the profile's; pass ``epochs + 1`` for a constant rate.
    ``loss_fn(model, (images, targets, index))`` replaces the recipe's :func:`loss` (the debiasing methods of
    :mod:`fairlab.aimfair.competitors`); its batches then carry each image's index in ``data``.
    """
    cfg = profile.aimfair
    epochs = epochs or cfg.epochs
    rt = devices.runtime(profile)
    model = rt.prepare(model)
    batches = training_batches(data, profile, seed, with_index=loss_fn is not None)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr or cfg.lr, momentum=0.9,
                                weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, [decay_epoch or cfg.decay_epoch], gamma=0.1)
    seed_everything(seed)
    return fit(model, optimizer, batches, loss_fn or loss, epochs,
               evaluate=lambda m: accuracy(m, val, cfg.image_size), scheduler=schedule, keep=keep, desc=desc,
               checkpoint=checkpoint, runtime=rt)


def loss(model: nn.Module, batch) -> torch.Tensor:
    """The recipe's loss on a batch of (images, targets): binary cross-entropy on the model's one logit
    (the loss SMG's gradient passes differentiate too)."""
    return nn.functional.binary_cross_entropy_with_logits(model(batch[0]).squeeze(1), batch[1])


def training_batches(data: LabelledImages, profile: Profile, seed: int, with_index: bool = False) -> TensorBatches:
    """The recipe's training loader: shuffled, augmented (RandomResizedCrop + flip), last partial batch dropped.

    The images sit on the profile's device (the uint8 cache on the GPU when there is one); the
    shuffling and the crop and flip draws come from the seed's CPU generator. ``with_index``: each
    batch also carries its images' indices in ``data`` (the same shuffle and crops either way).
    """
    cfg = profile.aimfair
    rt = devices.runtime(profile)
    augment = BatchAugment(cfg.image_size)
    tensors = (data.images, torch.tensor(data.target, dtype=torch.float32))
    if with_index:
        tensors += (torch.arange(len(data)),)
    return TensorBatches(tensors, cfg.batch_size, seed=seed, drop_last=len(data) > cfg.batch_size,
                         transform=lambda batch, g: (augment(batch[0], g), *batch[1:]), device=rt.device)


def labelled(frame: pd.DataFrame, size: tuple[int, int], progress: bool = False, store: str = "memory") -> LabelledImages:
    """The images of a frame with ``path``, ``target`` and ``protected`` columns at ``size = (H, W)``: decoded
    into a tensor (``store="memory"``, cached on disk) or left as files read batch by batch (``"stream"``)."""
    if store == "stream":
        images = ImageFiles(frame["path"].tolist(), size)
    else:
        images = load_images(frame["path"].tolist(), size, progress=progress)
    return LabelledImages(images, frame["target"].to_numpy(np.int64), frame["protected"].to_numpy(np.int64))


def load_synthetic_set(frame: pd.DataFrame, size: int, store: str = "memory") -> LabelledImages:
    """Images of a synthetic manifest at ``size`` px square."""
    return labelled(frame, (size, size), store=store)


def group_table(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Images per group of each split."""
    return pd.DataFrame({name: frame["group"].value_counts().reindex(["0_0", "0_1", "1_0", "1_1"], fill_value=0)
                         for name, frame in frames.items()}).T


__all__ = ["Task", "LabelledImages", "open_task", "classifier", "train", "training_batches", "evaluate", "accuracy", "load_synthetic_set",
           "group_table", "decode_size"]
