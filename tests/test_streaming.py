"""The paper profile's data path at 224 px streams its images: bounded memory, no image caches on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from fairlab.aimfair import recipe, smg_sft
from fairlab.data.images import ImageFiles
from fairlab.faceworld import formats

UNIQUE, COPIES = 256, 12  # 3,072 CelebA-format files at 178 x 218 (rendering is the slow part, so renders repeat)


def write_celeba(root: Path) -> None:
    """A CelebA folder in the official layout: FaceWorld renders at the real size, each written under 12 names."""
    source = root / "unique"
    formats.make("celeba", "photo", UNIQUE, seed=0, out=source, size=178, progress=False)
    lines = (source / "list_attr_celeba.txt").read_text().splitlines()
    header, rows = lines[1], lines[2:]
    partition = dict(line.split() for line in (source / "list_eval_partition.txt").read_text().splitlines())
    images = root / "celeba" / "img_align_celeba"
    images.mkdir(parents=True)
    attr, parts = [], []
    for copy in range(COPIES):
        for row in rows:
            name, values = row.split(maxsplit=1)
            new = f"{copy * UNIQUE + int(name.split('.')[0]):06d}.jpg"
            os.link(source / "img_align_celeba" / name, images / new)
            attr.append(f"{new} {values}")
            parts.append(f"{new} {0 if copy < COPIES - 2 else partition[name]}")
    (root / "celeba" / "list_attr_celeba.txt").write_text("\n".join([str(len(attr)), header, *attr]) + "\n")
    (root / "celeba" / "list_eval_partition.txt").write_text("\n".join(parts) + "\n")


SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from fairlab.aimfair import recipe
    from fairlab.aimfair import smg_sft
    from fairlab.profiles import load_profile
    from fairlab.study import Study

    def peak_mb():
        # VmHWM: this process's own peak (getrusage's maxrss would carry the parent's over exec)
        line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    profile = load_profile("paper", {"data_root": sys.argv[1], "compute.device": "cpu", "compute.threads": 2,
                                     "data.aimfair_subset_size": 1000, "aimfair.batch_size": 64})
    task = recipe.open_task("CelebA S/M", Study.of(profile))
    real = task.split("train")
    baseline = peak_mb()
    # supplementation, repairing and LTGC on the stream store: the "synthetic" part is real files here
    top_up = smg_sft.subset(real, np.arange(0, len(real), 2))
    for name, data in {"real": real, "supplementation": smg_sft.concat(real, top_up),
                       "ltgc": smg_sft.ltgc_mix(real, top_up, seed=0)}.items():
        images = 0
        for x, y in recipe.training_batches(data, profile, seed=100):
            assert x.shape[1:] == (3, 224, 224) and x.dtype.is_floating_point
            images += len(x)
        assert images >= len(data) - profile.aimfair.batch_size
    print(json.dumps({"baseline_mb": baseline, "peak_mb": peak_mb(), "train_images": len(real),
                      "type": type(real.images).__name__}))
""")


@pytest.mark.book
def test_the_paper_data_path_at_224px_streams_within_a_memory_bound_and_writes_no_cache(tmp_path):
    write_celeba(tmp_path / "data")
    results = tmp_path / "results"
    env = {**os.environ, "FAIRLAB_RESULTS": str(results)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "data")], capture_output=True, text=True,
                         env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    assert measured["type"] == "ImageFiles" and measured["train_images"] == 1000
    # measured: the stream store peaks 213 MB above the loaded index, the memory store 2,276 MB (the three
    # sets decoded whole, LTGC's blend as float); streaming holds a few batches of 64 at 224 px (38 MB as float)
    assert measured["peak_mb"] - measured["baseline_mb"] < 400, measured
    cached = [p for p in results.rglob("*") if p.is_file()] if results.exists() else []
    assert cached == [], f"the stream store wrote {cached[:3]}"


def test_image_files_decode_subsets_concatenations_and_mixes_like_the_memory_store(tmp_path):
    formats.make("celeba", "photo", 12, seed=1, out=tmp_path, size=16, progress=False)
    files = sorted(str(p) for p in (tmp_path / "img_align_celeba").glob("*.jpg"))
    frame_size = formats.image_size("celeba", 16)
    lazy = ImageFiles(files, frame_size)
    decoded = lazy[:]
    assert decoded.shape == (12, 3, *frame_size) and decoded.dtype == torch.uint8
    assert torch.equal(lazy[np.array([3, 1])], decoded[[3, 1]])
    assert torch.equal(lazy.take([5, 2])[:], decoded[[5, 2]])
    target = np.arange(12) % 2
    data = recipe.LabelledImages(lazy, target, 1 - target)
    both = smg_sft.concat(data, smg_sft.subset(data, [0, 1]))
    assert isinstance(both.images, ImageFiles) and torch.equal(both.images[[12, 13]], decoded[[0, 1]])
    mixed = smg_sft.ltgc_mix(data, smg_sft.subset(data, [0, 1, 2]), seed=0)
    memory = smg_sft.ltgc_mix(recipe.LabelledImages(decoded, target, 1 - target),
                              recipe.LabelledImages(decoded[[0, 1, 2]], target[[0, 1, 2]], 1 - target[[0, 1, 2]]), seed=0)
    assert np.array_equal(mixed.target, memory.target)
    assert (mixed.images[:].int() - memory.images.int()).abs().max() <= 1  # the same blend, rounded
