"""The attribute classifiers of the distributional alignment loss (reference §1.3).

Two networks, as in the paper: the **training** classifier, whose logits the loss reads and through which its gradient
reaches the pixels, and a separate **evaluation** classifier that grades the generated images and is never trained
with — else a generator could learn to fool the very network that judges it. In `mini` both learn from balanced
renders of the occupation world (every gender × race class × age group equally often, :func:`balanced_scenes`): the
training classifier is :class:`AttributeClassifier` (gender 2, race 4, age 2), the evaluation classifier FaceWorld's
oracle network (:class:`fairlab.faceworld.oracle.AttributeNet`, trained on other renders: Male, Young, and race read
through the FaceWorld race each class is drawn with). The evaluation classifier on held-out balanced renders is the
**floor**: the bias a perfectly fair generator would still be measured with.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from fairlab import device as devices
from fairlab.dal.occupations import FACEWORLD_RACE, RACES, Occupation, occupation_scenes
from fairlab.data.images import eval_transform
from fairlab.device import Runtime
from fairlab.faceworld.oracle import AttributeNet
from fairlab.train import TensorBatches, fit, make_optimizer, seed_everything

#: the debiased attributes and their classes: gender (0 female, 1 male), race (:data:`RACES`), age (0 young, 1 old)
HEADS = {"gender": 2, "race": len(RACES), "age": 2}
#: a neutral occupation: every gender, race class and age group equally likely, no signature cue
BALANCED = Occupation("person", "train", 0.5, (0.25,) * len(RACES), 0.5, ())


def balanced_scenes(n: int, seed: int) -> pd.DataFrame:
    """``n`` occupation-world faces with every gender × race class × age group equally likely."""
    return occupation_scenes(BALANCED, n, seed)


def attribute_labels(scenes: pd.DataFrame) -> dict[str, np.ndarray]:
    """The classes each head should read from a scene: gender (Male), race class, age (1 = not Young)."""
    return {"gender": np.array(scenes["Male"], dtype=np.int64), "race": np.array(scenes["race_class"], dtype=np.int64),
            "age": 1 - np.array(scenes["Young"], dtype=np.int64)}   # copies: pandas' arrays may be read-only


class AttributeClassifier(nn.Module):
    """The training classifier: the oracle network's convolutional body at its own width (:class:`AttributeNet`, four
    conv blocks) and one linear head per attribute, on normalised images — differentiable in the pixels, so the loss's
    gradient reaches the generator. It shares no weights or training images with the evaluation classifier."""

    def __init__(self, width: int = 24):
        super().__init__()
        self.body = AttributeNet(width).body
        self.heads = nn.ModuleDict({name: nn.Linear(4 * width, k) for name, k in HEADS.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.body(x)
        return {name: head(h) for name, head in self.heads.items()}


def train_classifier(images: torch.Tensor, scenes: pd.DataFrame, *, size: int = 32, epochs: int = 6,
                     batch_size: int = 128, lr: float = 2e-3, seed: int = 0, progress: bool = True,
                     runtime: Runtime | None = None) -> AttributeClassifier:
    """The training classifier on ``uint8 [N, 3, H, W]`` renders of ``scenes`` (resized to ``size`` square): the sum
    of the three heads' cross-entropies, Adam with a cosine schedule."""
    rt = runtime or devices.default_runtime()
    seed_everything(seed)
    model = rt.prepare(AttributeClassifier())
    labels = attribute_labels(scenes)
    batches = TensorBatches((eval_transform(images, size), *(torch.from_numpy(labels[h]) for h in HEADS)), batch_size,
                            seed=seed, device=rt.device)
    optimizer = make_optimizer("adam", model.parameters(), lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)

    def loss(m, batch):
        logits = m(devices.images_in(rt, batch[0]))
        return sum(nn.functional.cross_entropy(logits[h], y) for h, y in zip(HEADS, batch[1:]))

    fit(model, optimizer, batches, loss, epochs, scheduler=schedule, desc="attribute classifier", progress=progress,
        runtime=rt)
    return model.eval()


def classify(model: AttributeClassifier, images: torch.Tensor, size: int = 32,
             batch_size: int = 512) -> dict[str, np.ndarray]:
    """Each head's class per image (the training classifier's argmax)."""
    with devices.inference(model) as rt:
        parts = [model(devices.images_in(rt, eval_transform(rt.put(images[i:i + batch_size]), size)))
                 for i in range(0, len(images), batch_size)]
    return {h: torch.cat([p[h].argmax(1).cpu() for p in parts]).numpy() for h in HEADS}


def evaluation_reading(oracle_predictions: pd.DataFrame) -> dict[str, np.ndarray]:
    """The evaluation classifier's classes from the FaceWorld oracle's predictions
    (:func:`fairlab.faceworld.oracle.predict`): gender from Male, age from Young, race class from the FaceWorld race (a
    race no class is drawn with reads as −1)."""
    to_class = {race: k for k, race in enumerate(FACEWORLD_RACE[name] for name in RACES)}
    race = oracle_predictions["race"].map(lambda r: to_class.get(int(r), -1)).to_numpy(np.int64)
    return {"gender": oracle_predictions["Male"].to_numpy(np.int64), "race": race,
            "age": 1 - oracle_predictions["Young"].to_numpy(np.int64)}


def agreement(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> dict[str, float]:
    """Per attribute, the share of images two classifiers read alike."""
    return {h: float((np.asarray(first[h]) == np.asarray(second[h])).mean()) for h in HEADS}
