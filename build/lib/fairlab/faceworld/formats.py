"""Write FaceWorld datasets in the real datasets' own formats, so the real loaders read them unchanged.

``make(format, domain, n, seed, out)`` draws the scenes, renders them (on every core) and writes

* ``celeba``: ``img_align_celeba/000001.jpg …``, ``list_attr_celeba.txt``, ``list_eval_partition.txt``
  (the n images split in CelebA's official train / val / test proportions, in index order, each
  partition drawn with its own attribute shares), at CelebA's 178:218 aspect;
* ``utkface``: ``UTKFace/{age}_{gender}_{race}_{datetime}.jpg.chip.jpg`` (square);
* ``lfwa``: ``lfw2/<Person>/<Person>_0001.jpg`` (grayscale, like LFW-a) and ``lfw_attributes.txt``
  with the 73 Kumar et al. scores (FaceWorld sets the scores of the attributes it knows from
  its oracle and draws the others at random; LFW+a's label statistics are not available, so the
  CelebA copula stands in for them — an assumption the book states).

Every dataset also gets ``faceworld_scenes.csv``: the oracle, one row per image with its true
attributes, age, race, skin tone, head pose and seed, from which any image can be re-rendered.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from fairlab.data.lfwa import ATTRIBUTE_FILE, KUMAR_ATTRIBUTES, image_relpath
from fairlab.faceworld import sampler, world
from fairlab.faceworld.render import DOMAINS, default_workers, render

FORMATS = ("celeba", "utkface", "lfwa")
SCENES_FILE = "faceworld_scenes.csv"
CELEBA_ASPECT = 218 / 178
CHUNK = 1024


def image_size(fmt: str, size: int) -> tuple[int, int]:
    """(height, width) of a format's images for a given width."""
    return (round(size * CELEBA_ASPECT), size) if fmt == "celeba" else (size, size)


def celeba_partition_sizes(n: int) -> dict[str, int]:
    """n split in CelebA's official train / val / test proportions (largest remainders)."""
    total = sum(sampler.CELEBA_PARTITION_SIZES.values())
    exact = {k: n * v / total for k, v in sampler.CELEBA_PARTITION_SIZES.items()}
    sizes = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - sizes[k], reverse=True)[: n - sum(sizes.values())]:
        sizes[k] += 1
    return sizes


def scenes_for(fmt: str, n: int, seed: int) -> pd.DataFrame:
    """The scenes (oracle) of a FaceWorld dataset, with the file each image is written to."""
    if fmt == "celeba":
        parts = []
        for offset, (partition, count) in enumerate(celeba_partition_sizes(n).items()):
            part = world.celeba_scenes(count, seed * 10 + offset, partition)
            parts.append(part.assign(partition=partition))
        frame = pd.concat(parts, ignore_index=True)
        frame.insert(0, "file", [f"img_align_celeba/{i + 1:06d}.jpg" for i in range(len(frame))])
    elif fmt == "utkface":
        frame = world.utkface_scenes(n, seed)
        stamps = [f"2017{(seed % 100):02d}{i:011d}" for i in range(n)]
        frame.insert(0, "file", [f"UTKFace/{a}_{g}_{r}_{s}.jpg.chip.jpg"
                                 for a, g, r, s in zip(frame["age"], frame["gender"], frame["race"], stamps)])
    elif fmt == "lfwa":
        frame = world.celeba_scenes(n, seed, "all")
        frame.insert(0, "person", [f"Faceworld Person{seed:03d}x{i:05d}" for i in range(n)])
        frame.insert(0, "file", ["lfw2/" + image_relpath(p, 1) for p in frame["person"]])
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    return frame


def _write_chunk(args) -> int:
    scenes, out, fmt, domain, size = args
    height, width = image_size(fmt, size)
    images = render(scenes, height, width, domain)
    for file, image in zip(scenes["file"], images):
        target = Path(out) / file
        target.parent.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image)
        if fmt == "lfwa":
            picture = picture.convert("L")
        picture.save(target, format="JPEG", quality=95)
    return len(scenes)


def render_files(scenes: pd.DataFrame, out: Path, fmt: str, domain: str, size: int, workers: int | None = None,
                 progress: bool = True) -> None:
    """Render and write every scene's image, in chunks over ``workers`` processes (default:
    :func:`~fairlab.faceworld.render.default_workers`)."""
    workers = workers or default_workers()
    jobs = [(scenes.iloc[i:i + CHUNK], str(out), fmt, domain, size) for i in range(0, len(scenes), CHUNK)]
    bar = tqdm(total=len(scenes), desc=f"rendering {fmt} ({domain})", unit="img", disable=not progress, leave=False)
    if workers == 1 or len(jobs) == 1:
        for job in jobs:
            bar.update(_write_chunk(job))
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for done in pool.map(_write_chunk, jobs):
                bar.update(done)
    bar.close()


def _write_celeba_labels(scenes: pd.DataFrame, out: Path) -> None:
    attributes = list(sampler.celeba_copula().attributes)
    names = [Path(f).name for f in scenes["file"]]
    values = scenes[attributes].to_numpy() * 2 - 1
    lines = [str(len(scenes)), " ".join(attributes)]
    lines += [name + " " + " ".join(f"{v:2d}" for v in row) for name, row in zip(names, values)]
    (out / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    codes = scenes["partition"].map(sampler.PARTITION_CODES)
    (out / "list_eval_partition.txt").write_text("".join(f"{n} {c}\n" for n, c in zip(names, codes)))


def kumar_scores(scenes: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Scores for Kumar et al.'s 73 attributes: positive/negative margins where the oracle knows the truth."""
    age = scenes["age"].to_numpy()
    truth = {
        "Male": scenes["Male"], "Asian": scenes["race"] == 2, "White": scenes["race"] == 0, "Black": scenes["race"] == 1,
        "Indian": scenes["race"] == 3, "Baby": age < 3, "Child": (age >= 3) & (age < 13), "Youth": (age >= 13) & (age < 30),
        "Middle Aged": (age >= 30) & (age < 60), "Senior": age >= 60, "No Eyewear": scenes["Eyeglasses"] == 0,
        "Attractive Man": (scenes["Attractive"] == 1) & (scenes["Male"] == 1),
        "Attractive Woman": (scenes["Attractive"] == 1) & (scenes["Male"] == 0),
        "Mouth Closed": (scenes["Smiling"] == 0) & (scenes["Mouth_Slightly_Open"] == 0),
        "5 o' Clock Shadow": scenes["5_o_Clock_Shadow"],
    }
    columns = {}
    for name in KUMAR_ATTRIBUTES:
        celeba = name.replace(" ", "_")
        known = truth.get(name, scenes[celeba] if celeba in scenes else None)
        magnitude = 0.3 + np.abs(rng.normal(1.0, 0.6, len(scenes)))
        if known is None:
            columns[name] = rng.normal(0.0, 1.2, len(scenes))
        else:
            columns[name] = np.where(np.asarray(known, dtype=bool), magnitude, -magnitude)
    return pd.DataFrame(columns).round(5)


def _write_lfwa_labels(scenes: pd.DataFrame, out: Path, seed: int) -> None:
    scores = kumar_scores(scenes, np.random.default_rng(seed + 17))
    header = "#\t" + "\t".join(("person", "imagenum") + KUMAR_ATTRIBUTES)
    lines = [f"# FaceWorld LFW+a attributes in the format of Kumar et al.'s lfw_attributes.txt ({len(scenes)} images)", header]
    for person, row in zip(scenes["person"], scores.itertuples(index=False)):
        lines.append("\t".join([person, "1"] + [f"{v:.5f}" for v in row]))
    (out / ATTRIBUTE_FILE).write_text("\n".join(lines) + "\n")


#: the narrowest image the renderer draws a face in (the book renders at 32 px; the papers' data at 178)
MIN_SIZE = 8


def make_folder(fmt: str, domain: str, n: int, seed: int, out: str | Path, size: int = 32, overwrite: bool = False,
                progress: bool = True) -> pd.DataFrame:
    """:func:`make` into ``out`` as a whole: rendered into a hidden sibling folder and renamed into place, so an
    interrupted run leaves no half dataset and old and new images never mix. A non-empty ``out`` is refused
    unless ``overwrite`` (then it is replaced, not added to)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: --out is a file; expected a folder for the dataset")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out}: the folder is not empty; choose another or pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        scenes = make(fmt, domain, n, seed, partial, size=size, progress=progress)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(out, old)
            os.replace(partial, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return scenes


def make(fmt: str, domain: str, n: int, seed: int, out: str | Path, size: int = 32, workers: int | None = None,
         progress: bool = True) -> pd.DataFrame:
    """Write a FaceWorld dataset of ``n`` images to ``out``; returns the scenes (the oracle)."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number of images, at least 1; got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise ValueError(f"size must be a whole number of pixels, at least {MIN_SIZE}; got {size!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scenes = scenes_for(fmt, n, seed)
    render_files(scenes, out, fmt, domain, size, workers, progress)
    if fmt == "celeba":
        _write_celeba_labels(scenes, out)
    elif fmt == "lfwa":
        _write_lfwa_labels(scenes, out, seed)
    scenes.assign(domain=domain, size=size).to_csv(out / SCENES_FILE, index=False)
    return scenes
