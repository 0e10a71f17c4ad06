"""FaceWorld datasets and the attribute probe, stored in the results registry.

A generated dataset is a registry record whose artifact folder ``dataset/`` is written in a real
dataset's format (so the real loaders read it); it is rendered once and reused by every notebook.
With ``data.source: real`` (the paper profile) the same functions return the real dataset's
folder under the data root instead: the code that follows is the same.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fairlab import paths
from fairlab.faceworld import formats, oracle, world
from fairlab.faceworld.render import render
from fairlab.profiles import Profile
from fairlab.results import Record, Registry

DATASET = "faceworld/dataset"
PROBE = "faceworld/probe"
_SIZES = {"celeba": "celeba_n", "utkface": "utkface_n", "lfwa": "lfwa_n"}


def dataset(profile: Profile, registry: Registry, fmt: str, domain: str = "photo") -> Record:
    """The FaceWorld dataset of format ``fmt`` (rendered on first use)."""
    fw = profile.faceworld
    config = {"format": fmt, "domain": domain, "n": getattr(fw, _SIZES[fmt]), "seed": fw.seed, "size": fw.size}

    def compute(workdir: Path) -> dict:
        started = time.time()
        scenes = formats.make(fmt, domain, config["n"], config["seed"], workdir / "dataset", size=config["size"])
        seconds = time.time() - started
        metrics = {"images": len(scenes), "seconds": round(seconds, 2), "images_per_second": round(len(scenes) / seconds, 1)}
        if fmt == "celeba":
            metrics["partitions"] = scenes["partition"].value_counts().to_dict()
        return metrics

    return registry.get_or_compute(DATASET, config, compute)


def dataset_root(profile: Profile, registry: Registry, name: str) -> Path:
    """Folder of dataset ``name`` (celeba, utkface, lfwa): generated FaceWorld, or the real one under the data root."""
    if profile.data.source == "real":
        return paths.data_root(profile.data_root) / name
    return dataset(profile, registry, name).path / "dataset"


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


@torch.no_grad()
def _penultimate(net: oracle.AttributeNet, images: torch.Tensor, size: int) -> np.ndarray:
    from fairlab.data.images import eval_transform

    return torch.cat([net.body(eval_transform(images[i:i + 512], size)) for i in range(0, len(images), 512)]).numpy()


def attribute_probe(profile: Profile, registry: Registry) -> Record:
    """Train the attribute network on photo renders; test it on held-out photo and studio renders.

    Measures (1) how visible every attribute is at this resolution (held-out photo), (2) the domain
    gap: the same network on studio renders of the same scenes, a photo-vs-studio domain classifier,
    and the Fréchet distance between photo and studio features (beside photo vs photo).
    """
    fw = profile.faceworld
    config = {"n_train": fw.probe_train, "n_test": fw.probe_test, "epochs": fw.probe_epochs, "size": fw.size,
              "seed": fw.seed + 100, "scenes": "celeba (all partitions' statistics)"}

    def compute(workdir: Path) -> dict:
        n = config["n_train"] + config["n_test"]
        scenes = world.celeba_scenes(n, config["seed"], "all")
        height, width = formats.image_size("celeba", config["size"])
        photo = render_tensor(scenes, height, width, "photo")
        train, test = slice(0, config["n_train"]), slice(config["n_train"], n)
        held_out = scenes.iloc[test].reset_index(drop=True)
        net = oracle.train_attribute_net(photo[train], scenes.iloc[train], size=config["size"], epochs=config["epochs"],
                                         seed=config["seed"])
        torch.save(net.state_dict(), workdir / "attribute_net.pt")
        studio_test = render_tensor(held_out, height, width, "studio")
        on_photo = oracle.visibility_report(oracle.predict(net, photo[test], config["size"]), held_out)
        on_studio = oracle.visibility_report(oracle.predict(net, studio_test, config["size"]), held_out)
        features_photo = _penultimate(net, photo[test], config["size"])
        features_studio = _penultimate(net, studio_test, config["size"])
        half = len(features_photo) // 2
        second_photo = render_tensor(world.celeba_scenes(config["n_test"], config["seed"] + 1, "all"), height, width, "photo")
        return {
            "visibility_photo": on_photo.to_dict("records"),
            "visibility_studio": on_studio.to_dict("records"),
            "frechet_photo_vs_studio": frechet_distance(features_photo, features_studio),
            "frechet_photo_vs_photo": frechet_distance(features_photo, _penultimate(net, second_photo, config["size"])),
            "frechet_photo_halves": frechet_distance(features_photo[:half], features_photo[half:]),
            "domain_classifier_accuracy": _domain_classifier(photo[test], studio_test, config["size"], config["seed"]),
        }

    return registry.get_or_compute(PROBE, config, compute)


def _domain_classifier(photo: torch.Tensor, studio: torch.Tensor, size: int, seed: int) -> float:
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
    model = torch.nn.Sequential(net.body, head)
    fit(model, make_optimizer("adam", model.parameters(), 2e-3), TensorBatches((x[train], y[train]), 128, seed=seed),
        lambda m, b: torch.nn.functional.binary_cross_entropy_with_logits(m(b[0]).squeeze(1), b[1]), 3, progress=False)
    model.eval()
    with torch.no_grad():
        guess = (model(x[test]).squeeze(1) > 0).float()
    return float((guess == y[test]).float().mean())


def load_attribute_net(record: Record) -> oracle.AttributeNet:
    net = oracle.AttributeNet()
    net.load_state_dict(torch.load(record.artifact("attribute_net.pt"), weights_only=True))
    return net.eval()
