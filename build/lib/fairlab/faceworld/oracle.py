"""The FaceWorld oracle network: reads every rendered attribute back from pixels.

Rendered images come with their true attributes (the scenes), so a network trained on renders
and tested on held-out renders says (a) whether each attribute is visible at a resolution —
the data page's check that every attribute is learnable well above chance — and (b), applied
to images FaceWorld did *not* render (a text-to-image model's samples), what they show: the
fidelity and label-noise measurements of the CSDG chapter.

One small CNN predicts every binary attribute of :data:`fairlab.faceworld.render.RENDERED`,
the race (five classes, UTKFace's) and, by regression, the age, the head yaw and tilt.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from fairlab import device as devices
from fairlab.data.images import eval_transform
from fairlab.device import Runtime
from fairlab.faceworld.render import RENDERED
from fairlab.train import TensorBatches, fit, make_optimizer, seed_everything

BINARY = RENDERED
REGRESSED = ("age", "yaw", "tilt")
_REGRESSION_SCALE = {"age": 100.0, "yaw": 1.0, "tilt": 20.0}
N_RACES = 5


class AttributeNet(nn.Module):
    """Four conv blocks (32 → 64 → 128 → 128 channels) over a square input, then one head per output kind."""

    def __init__(self, width: int = 32):
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 4 * width]
        layers = []
        for i, (a, b) in enumerate(zip(chans[:-1], chans[1:])):
            layers += [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.binary = nn.Linear(chans[-1], len(BINARY))
        self.race = nn.Linear(chans[-1], N_RACES)
        self.regress = nn.Linear(chans[-1], len(REGRESSED))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.body(x)
        return {"binary": self.binary(h), "race": self.race(h), "regress": self.regress(h)}


def scene_targets(scenes: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    binary = torch.tensor(scenes[list(BINARY)].to_numpy(dtype=np.float32))
    race = torch.tensor(scenes["race"].to_numpy(dtype=np.int64))
    regress = torch.tensor(np.stack([scenes[k].to_numpy(dtype=np.float32) / _REGRESSION_SCALE[k] for k in REGRESSED], 1))
    return binary, race, regress


def _loss_with(pos_weight: torch.Tensor):
    """Cross-entropy per binary attribute with positives weighted by neg/pos (rare attributes still count)."""

    def loss(model, batch):
        x, binary, race, regress = batch
        out = model(x)
        return (nn.functional.binary_cross_entropy_with_logits(out["binary"], binary, pos_weight=pos_weight)
                + 0.2 * nn.functional.cross_entropy(out["race"], race)
                + nn.functional.mse_loss(out["regress"], regress))

    return loss


def train_attribute_net(images: torch.Tensor, scenes: pd.DataFrame, *, size: int = 32, epochs: int = 8,
                        batch_size: int = 128, lr: float = 2e-3, seed: int = 0, progress: bool = True,
                        runtime: Runtime | None = None) -> AttributeNet:
    """Train on ``uint8 [N, 3, H, W]`` renders and their scenes (resized to ``size`` square), on ``runtime``'s device."""
    rt = runtime or devices.default_runtime()
    seed_everything(seed)
    model = rt.prepare(AttributeNet())
    inputs = eval_transform(images, size)
    targets = scene_targets(scenes)
    share = targets[0].mean(0).clamp(0.01, 0.99)
    batches = TensorBatches((inputs, *targets), batch_size, seed=seed, device=rt.device)
    optimizer = make_optimizer("adam", model.parameters(), lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    loss = _loss_with(rt.put((1 - share) / share))
    fit(model, optimizer, batches, loss, epochs, scheduler=schedule, desc="attribute network", progress=progress, runtime=rt)
    return model.eval()


def predict(model: AttributeNet, images: torch.Tensor, size: int = 32, batch_size: int = 512) -> pd.DataFrame:
    """What the network reads from each image: the binary attributes (0/1), race, age, yaw and tilt."""
    parts = []
    with devices.inference(model) as rt:
        for start in range(0, len(images), batch_size):
            out = {k: v.float().cpu() for k, v in
                   model(devices.images_in(rt, eval_transform(rt.put(images[start:start + batch_size]), size))).items()}
            frame = pd.DataFrame((out["binary"] > 0).int().numpy(), columns=list(BINARY))
            frame["race"] = out["race"].argmax(1).numpy()
            for i, name in enumerate(REGRESSED):
                frame[name] = out["regress"][:, i].numpy() * _REGRESSION_SCALE[name]
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def visibility_report(predicted: pd.DataFrame, scenes: pd.DataFrame) -> pd.DataFrame:
    """Per attribute: how well the network reads it on held-out renders.

    Binary attributes: balanced accuracy (chance 0.5) and the share of positives; race: accuracy
    (chance = the largest class share); age, yaw, tilt: R² (chance 0).
    """
    lines = []
    for name in BINARY:
        truth, guess = scenes[name].to_numpy(), predicted[name].to_numpy()
        rates = [np.mean(guess[truth == v] == v) for v in (0, 1) if (truth == v).any()]
        lines.append({"attribute": name, "measure": "balanced accuracy", "score": float(np.mean(rates)), "chance": 0.5,
                      "positives": float(truth.mean())})
    race = scenes["race"].to_numpy()
    lines.append({"attribute": "race (skin tone)", "measure": "accuracy", "score": float(np.mean(predicted["race"] == race)),
                  "chance": float(np.bincount(race).max() / len(race)), "positives": np.nan})
    for name in REGRESSED:
        truth, guess = scenes[name].to_numpy(float), predicted[name].to_numpy(float)
        r2 = 1 - np.sum((truth - guess) ** 2) / np.sum((truth - truth.mean()) ** 2)
        lines.append({"attribute": name, "measure": "R²", "score": float(r2), "chance": 0.0, "positives": np.nan})
    return pd.DataFrame(lines)
