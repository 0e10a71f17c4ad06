"""Text-to-image generation into AIM-Fair's synthetic folders, with a manifest and resumption.

One function, :func:`generate`, drives any diffusers text-to-image pipeline — Stable Diffusion
2.1-base with the paper's settings, or the miniature model — and writes::

    <out>/<t>_<s>/<prompt index>_<image index>.png      one folder per group
    <out>/manifest.csv                                   one row per image

Every image has its own seed, a stable hash of (base seed, group, prompt index, image index),
so any image can be regenerated alone.  Images are written atomically and their manifest rows
appended as they are written; after an interruption, a new call skips what is on disk and in the
manifest and generates only the rest — no duplicates, no gaps.
"""

from __future__ import annotations

import csv
import os
import time
import uuid
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from fairlab.data import DataError
from fairlab.data.synthetic import MANIFEST

MANIFEST_COLUMNS = ("file", "group", "target", "protected", "prompt_id", "prompt", "image_index", "seed", "sampler",
                    "steps", "guidance", "eta", "height", "width", "out_size", "pipeline")


@dataclass(frozen=True)
class SamplerSettings:
    """How images are drawn: the paper's are DDIM, 50 steps, η = 0, guidance 9, 512 px, empty negative prompt,
    210 images per prompt in batches of 15, resized to 224 px."""

    sampler: str = "ddim"
    steps: int = 50
    guidance: float = 9.0
    eta: float = 0.0
    height: int = 512
    width: int = 512
    images_per_prompt: int = 210
    batch_size: int = 15
    out_size: int = 224
    negative_prompt: str = ""


PAPER_SETTINGS = SamplerSettings()


def image_seed(base_seed: int, group: str, prompt_index: int, image_index: int) -> int:
    """A stable 31-bit seed per image (CRC32; Python's salted ``hash`` would change between processes)."""
    return zlib.crc32(f"{base_seed}/{group}/{prompt_index}/{image_index}".encode()) & 0x7FFFFFFF


def load_pipeline(source: str | os.PathLike, sampler: str = "ddim", local_only: bool = True, torch_dtype=None):
    """A ``StableDiffusionPipeline`` from a local folder (or a hub id in the local cache) with the chosen sampler.

    ``sampler="ddim"`` swaps in a ``DDIMScheduler`` built from the pipeline's own scheduler config
    (for SD 2.1-base: leading spacing, offset 1), as the paper's LDM sampler; ``"native"`` keeps
    the pipeline's scheduler.  Nothing is downloaded unless ``local_only`` is false.
    """
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    source = os.fspath(source)
    # loading bars would repeat for every pool in a notebook; the generation bar is the one that matters
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        pipe = StableDiffusionPipeline.from_pretrained(source, local_files_only=local_only, safety_checker=None,
                                                       requires_safety_checker=False, torch_dtype=torch_dtype)
    except Exception as exc:  # diffusers raises OSError, ValueError or worse for a missing or partial folder
        raise DataError(f"{source}: cannot load a Stable Diffusion pipeline ({exc}); expected a folder written by "
                        f"save_pretrained (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/)") from None
    if sampler == "ddim":
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    elif sampler != "native":
        raise ValueError(f"sampler must be 'ddim' or 'native', got {sampler!r}")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def read_manifest(out: Path) -> pd.DataFrame:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return pd.DataFrame(columns=MANIFEST_COLUMNS)
    return pd.read_csv(path, keep_default_na=False)


def _done(out: Path) -> set[tuple[str, int, int]]:
    """(group, prompt, image) already generated: written to disk *and* listed in the manifest."""
    frame = read_manifest(out)
    return {(g, int(p), int(i)) for f, g, p, i in zip(frame["file"], frame["group"], frame["prompt_id"], frame["image_index"])
            if (Path(out) / f).is_file()}


def _save_png(image: np.ndarray, path: Path, size: int | None) -> None:
    picture = Image.fromarray(image)
    if size and picture.size != (size, size):
        picture = picture.resize((size, size), Image.LANCZOS)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    picture.save(tmp, format="PNG")
    os.replace(tmp, path)


def jobs_for(prompts: dict[str, list[str]], images_per_group: int) -> list[tuple[str, int, str, int]]:
    """(group, prompt index, prompt, image index) of every image: image j of a group uses prompt j mod P.

    With the paper's 50 prompts and 10,500 images per group this is 210 images per prompt; a
    single plain prompt gets all of them.
    """
    jobs = []
    for group, group_prompts in prompts.items():
        if not group_prompts:
            raise ValueError(f"group {group} has no prompts")
        for j in range(images_per_group):
            k = j % len(group_prompts)
            jobs.append((group, k, group_prompts[k], j // len(group_prompts)))
    return jobs


def generate(pipe, prompts: dict[str, list[str]], out: str | os.PathLike, settings: SamplerSettings,
             images_per_group: int | None = None, base_seed: int = 0, pipeline_id: str = "",
             progress: bool = True) -> pd.DataFrame:
    """Generate ``images_per_group`` images for every group (``"t_s"`` -> prompts), cycling over its prompts.

    Without ``images_per_group``, every prompt gets ``settings.images_per_prompt`` images.
    Returns the manifest.  A second call with the same arguments generates only what is missing.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = _done(out)
    manifest_path = out / MANIFEST
    if manifest_path.is_file():  # keep only rows whose image exists (a crash may leave a row without its image)
        existing = read_manifest(out)
        existing[[(g, int(p), int(i)) in done for g, p, i in zip(existing["group"], existing["prompt_id"], existing["image_index"])]] \
            .drop_duplicates("file").to_csv(manifest_path, index=False)
    if images_per_group is None:
        images_per_group = settings.images_per_prompt * max(len(p) for p in prompts.values())
    jobs = [job for job in jobs_for(prompts, images_per_group) if (job[0], job[1], job[3]) not in done]
    bar = tqdm(total=len(jobs), desc="generating images", unit="img", disable=not progress, leave=False)
    started, written = time.time(), 0
    with open(manifest_path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
        if handle.tell() == 0:
            writer.writeheader()
        for start in range(0, len(jobs), settings.batch_size):
            chunk = jobs[start:start + settings.batch_size]
            # a batch shares one prompt in the paper's generator; mixing prompts is equivalent and fills batches
            seeds = [image_seed(base_seed, g, k, i) for g, k, _, i in chunk]
            result = pipe(prompt=[p for _, _, p, _ in chunk], negative_prompt=[settings.negative_prompt] * len(chunk),
                          num_inference_steps=settings.steps, guidance_scale=settings.guidance, eta=settings.eta,
                          height=settings.height, width=settings.width, output_type="np",
                          generator=[torch.Generator().manual_seed(s) for s in seeds])
            images = (np.clip(result.images, 0, 1) * 255).round().astype(np.uint8)
            for (group, k, prompt, i), seed, image in zip(chunk, seeds, images):
                (out / group).mkdir(exist_ok=True)
                file = f"{group}/{k:03d}_{i:04d}.png"
                _save_png(image, out / file, settings.out_size)
                t, s = group.split("_")
                writer.writerow({"file": file, "group": group, "target": t, "protected": s, "prompt_id": k, "prompt": prompt,
                                 "image_index": i, "seed": seed, **{k_: v for k_, v in asdict(settings).items() if k_ in MANIFEST_COLUMNS},
                                 "pipeline": pipeline_id})
            handle.flush()
            written += len(chunk)
            bar.update(len(chunk))
            bar.set_postfix(img_per_s=f"{written / max(time.time() - started, 1e-9):.1f}")
    bar.close()
    return read_manifest(out)
