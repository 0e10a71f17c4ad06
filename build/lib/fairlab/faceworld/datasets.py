"""FaceWorld datasets and the attribute probe, stored in the results registry.

A generated dataset is a registry record whose artifact folder ``dataset/`` is written in a real
dataset's format (so the real loaders read it); it is rendered once and reused by every notebook.
With ``data.source: real`` (the paper profile) the same functions return the real dataset's
folder under the data root instead: the code that follows is the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fairlab import device as devices
from fairlab import paths
from fairlab.faceworld import formats, oracle, world
from fairlab.faceworld.render import render
from fairlab.results import Record
from fairlab.study import Study

DATASET = "faceworld/dataset"
PROBE = "faceworld/probe"
_SIZES = {"celeba": "celeba_n", "utkface": "utkface_n", "lfwa": "lfwa_n"}


@dataclass(frozen=True)
class DatasetConfig:
    """A FaceWorld dataset in the layout of ``format``: ``n`` scenes drawn with ``seed``, rendered in ``domain``."""

    format: str
    domain: str
    n: int
    seed: int
    size: int


@dataclass(frozen=True)
class ProbeConfig:
    """The attribute probe: networks trained on ``n_train`` scenes of CelebA's statistics (over ``partitions``),
    tested on ``n_test`` more."""

    n_train: int
    n_test: int
    epochs: int
    size: int
    seed: int
    partitions: str = "all"


def dataset(study: Study, fmt: str, domain: str = "photo") -> Record:
    """The FaceWorld dataset of format ``fmt`` (rendered on first use)."""
    fw = study.profile.faceworld
    config = DatasetConfig(format=fmt, domain=domain, n=getattr(fw, _SIZES[fmt]), seed=fw.seed, size=fw.size)

    def compute(workdir: Path) -> dict:
        started = time.time()
        scenes = formats.make(config.format, config.domain, config.n, config.seed, workdir / "dataset", size=config.size)
        seconds = time.time() - started
        metrics = {"images": len(scenes), "seconds": round(seconds, 2), "images_per_second": round(len(scenes) / seconds, 1)}
        if fmt == "celeba":
            metrics["partitions"] = scenes["partition"].value_counts().to_dict()
        return metrics

    return study.registry.get_or_compute(DATASET, config, compute)


def dataset_root(study: Study, name: str) -> Path:
    """Folder of dataset ``name`` (celeba, utkface, lfwa): generated FaceWorld, or the real one under the data root."""
    if study.profile.data.source == "real":
        return paths.data_root(study.profile.data_root) / name
    return dataset(study, name).path / "dataset"


def scenes_of(root: Path) -> pd.DataFrame | None:
    """The oracle file of a FaceWorld dataset (None for a real dataset)."""
    path = Path(root) / formats.SCENES_FILE
    return pd.read_csv(path) if path.is_file() else None


def render_tensor(scenes: pd.DataFrame, height: int, width: int, domain: str) -> torch.Tensor:
    return torch.from_numpy(render(scenes, height, width, domain)).permute(0, 3, 1, 2).contiguous()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2 (Σa Σb)^½): the FID formula on any features."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(root)))


def penultimate(net: oracle.AttributeNet, images: torch.Tensor, size: int) -> np.ndarray:
    """The network's pooled features (before its heads) of ``uint8`` images."""
    from fairlab.data.images import eval_transform

    with devices.inference(net) as rt:
        parts = [net.body(devices.images_in(rt, eval_transform(rt.put(images[i:i + 512]), size))).float().cpu()
                 for i in range(0, len(images), 512)]
    return torch.cat(parts).numpy()


def attribute_probe(study: Study) -> Record:
    """How visible every attribute is, and how far apart the two domains are.

    Two attribute networks learn from ``probe_train`` renders each, one from the photo domain and
    one from the studio domain (the latter is also the oracle that reads generated images), and
    both are tested on the same held-out scenes rendered in both domains.  Beside them: a
    photo-vs-studio domain classifier, and the Fréchet distance between the photo network's
    features of photo and studio renders (beside photo vs other photo).
    """
    fw = study.profile.faceworld
    config = ProbeConfig(n_train=fw.probe_train, n_test=fw.probe_test, epochs=fw.probe_epochs, size=fw.size, seed=fw.seed + 100)

    def compute(workdir: Path) -> dict:
        n = config.n_train + config.n_test
        scenes = world.celeba_scenes(n, config.seed, config.partitions)
        height, width = formats.image_size("celeba", config.size)
        train, test = slice(0, config.n_train), slice(config.n_train, n)
        held_out = scenes.iloc[test].reset_index(drop=True)
        images = {domain: render_tensor(scenes, height, width, domain) for domain in ("photo", "studio")}
        metrics = {}
        nets = {}
        rt = devices.runtime(study.profile)
        for domain in ("photo", "studio"):
            nets[domain] = oracle.train_attribute_net(images[domain][train], scenes.iloc[train], size=config.size,
                                                      epochs=config.epochs, seed=config.seed, runtime=rt)
            torch.save(devices.cpu_state(nets[domain]), workdir / f"attribute_net_{domain}.pt")
            for tested in ("photo", "studio"):
                report = oracle.visibility_report(oracle.predict(nets[domain], images[tested][test], config.size), held_out)
                metrics[f"trained_{domain}_tested_{tested}"] = report.to_dict("records")
        features_photo = penultimate(nets["photo"], images["photo"][test], config.size)
        features_studio = penultimate(nets["photo"], images["studio"][test], config.size)
        other = render_tensor(world.celeba_scenes(config.n_test, config.seed + 1, config.partitions), height, width, "photo")
        metrics.update({
            "frechet_photo_vs_studio": frechet_distance(features_photo, features_studio),
            "frechet_photo_vs_photo": frechet_distance(features_photo, penultimate(nets["photo"], other, config.size)),
            "domain_classifier_accuracy": _domain_classifier(images["photo"][test], images["studio"][test], config.size,
                                                             config.seed, rt),
        })
        return metrics

    return study.registry.get_or_compute(PROBE, config, compute)


def _domain_classifier(photo: torch.Tensor, studio: torch.Tensor, size: int, seed: int, rt: devices.Runtime) -> float:
    """Held-out accuracy of a small CNN telling photo from studio renders (of the same scenes): 0.5 = no gap."""
    from fairlab.data.images import eval_transform
    from fairlab.train import TensorBatches, fit, make_optimizer, seed_everything

    seed_everything(seed)
    x = torch.cat([eval_transform(photo, size), eval_transform(studio, size)])
    y = torch.cat([torch.ones(len(photo)), torch.zeros(len(studio))])
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = len(x) // 2  # train on one half of the images, test on the other
    train, test = order[:cut], order[cut:]
    net = oracle.AttributeNet(width=16)
    head = torch.nn.Linear(64, 1)
    model = rt.prepare(torch.nn.Sequential(net.body, head))
    fit(model, make_optimizer("adam", model.parameters(), 2e-3),
        TensorBatches((x[train], y[train]), 128, seed=seed, device=rt.device),
        lambda m, b: torch.nn.functional.binary_cross_entropy_with_logits(m(b[0]).squeeze(1), b[1]), 3, progress=False,
        runtime=rt)
    with devices.inference(model):
        guess = torch.cat([(model(devices.images_in(rt, x[test][i:i + 512])).squeeze(1) > 0).float().cpu()
                           for i in range(0, len(test), 512)])
    return float((guess == y[test]).float().mean())


def load_attribute_net(record: Record, domain: str = "studio", runtime: devices.Runtime | None = None) -> oracle.AttributeNet:
    """The attribute network trained on ``domain`` renders (the studio one is the oracle for generated images)."""
    net = oracle.AttributeNet()
    net.load_state_dict(torch.load(record.artifact(f"attribute_net_{domain}.pt"), weights_only=True, map_location="cpu"))
    return (runtime or devices.default_runtime()).prepare(net).eval()
