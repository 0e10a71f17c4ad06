"""The biased model to debias in `mini` and `smoke`: the AIM-Fair chapter's miniature text-to-image model, fine-tuned
on the occupation world (the stand-in for Stable Diffusion's learned occupation stereotypes).

The miniature model (:func:`fairlab.aimfair.csdg.mini_t2i`) learned FaceWorld's captions; here it also learns the
paper's prompt, "a photo of the face of a {occupation}, a person", for all sixty occupations — as Stable Diffusion saw
every occupation in pre-training — from studio renders of each occupation's designed skews
(:func:`fairlab.dal.occupations.occupation_scenes`). Renders with their original attribute captions are mixed in, so
attribute words keep working. Its VAE is kept; the tokenizer gains one word per occupation (the existing words keep
their ids, the new rows of the text encoder's embedding start at random); the U-Net and the text encoder train on,
from the miniature model's weights, with its denoising recipe (:func:`fairlab.t2i.train_denoiser`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from fairlab import device as devices
from fairlab import t2i
from fairlab.aimfair import csdg
from fairlab.aimfair.generation import load_pipeline
from fairlab.dal.occupations import NAMES_FILE, DESIGN_SEED, occupation_scenes, occupations
from fairlab.faceworld import formats, phrases
from fairlab.faceworld.datasets import render_tensor
from fairlab.profiles import DalBaseSection
from fairlab.results import Record
from fairlab.study import Study

BASE_MODEL = "dal/base_model"


@dataclass(frozen=True)
class BaseModelConfig:
    """The occupation fine-tune of the miniature model ``t2i`` (its record's hash) under ``base``, on the occupations
    of ``occupations`` (the names file's digest) with the skews of ``design_seed``."""

    base: DalBaseSection
    t2i: str
    occupations: str
    design_seed: int = DESIGN_SEED


def occupation_renders(images_per_occupation: int, size: int, seed: int,
                       progress: bool = True) -> tuple[pd.DataFrame, torch.Tensor]:
    """Studio renders of every occupation (``images_per_occupation`` each) in CelebA's aspect, squashed to ``size``
    square as the miniature model's training renders are; the scenes carry their ``occupation``."""
    scenes, tensors = [], []
    shape = formats.image_size("celeba", size)
    for occupation in tqdm(occupations(), desc="rendering occupation faces", disable=not progress, leave=False):
        frame = occupation_scenes(occupation, images_per_occupation, seed).assign(occupation=occupation.name)
        scenes.append(frame)
        tensors.append(square(render_tensor(frame, *shape, "studio"), size))
    return pd.concat(scenes, ignore_index=True), torch.cat(tensors)


def square(images: torch.Tensor, size: int) -> torch.Tensor:
    """``uint8 [N, 3, H, W]`` resized to ``size`` square (antialiased), as the miniature model's renders are."""
    if images.shape[-2:] == (size, size):
        return images
    x = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True,
                                        align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def mixed_captions(prompts: list[str], original, caption_dropout: float):
    """``captions(indices, generator)`` over two sets laid end to end: index i < len(prompts) is an occupation render
    captioned with its prompt (empty with probability ``caption_dropout``, for guidance), a later index is an original
    render captioned by ``original`` (:func:`fairlab.aimfair.csdg.caption_writer`) at i − len(prompts)."""
    n = len(prompts)

    def captions(indices, generator: torch.Generator) -> list[str]:
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        indices = [int(i) for i in indices]
        written = iter(original([i - n for i in indices if i >= n], generator))
        return [("" if rng.random() < caption_dropout else prompts[i]) if i < n else next(written) for i in indices]

    return captions


def extended_tokenizer(pipe):
    """The miniature model's word-level tokenizer with one new word per occupation; every existing word keeps its id."""
    tokenizer = t2i.build_tokenizer(phrases.vocabulary() + [o.name for o in occupations()])
    old, new = pipe.tokenizer.get_vocab(), tokenizer.get_vocab()
    moved = [word for word, i in old.items() if new.get(word) != i]
    if moved:
        raise ValueError(f"the miniature model's tokenizer does not match FaceWorld's caption vocabulary ({moved[:5]} "
                         "moved): was the model trained from another vocabulary?")
    return tokenizer


def grow_embedding(text_encoder, size: int) -> None:
    """The text encoder's token embedding grown to ``size`` rows, the new ones drawn from a normal distribution with
    the existing rows' mean and covariance (transformers' ``mean_resizing``, whose notice about it is silenced)."""
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        text_encoder.resize_token_embeddings(size, mean_resizing=True)
    finally:
        transformers_logging.set_verbosity(verbosity)


def base_model(study: Study) -> Record:
    """Train (or load) the occupation-biased miniature model of this profile."""
    section = study.profile.dal.base
    source = csdg.mini_t2i(study)
    digest = hashlib.sha256(Path(NAMES_FILE).read_bytes()).hexdigest()[:16]
    config = BaseModelConfig(base=section, t2i=source.config_hash, occupations=digest)
    cfg = study.profile.csdg.t2i
    size = study.profile.csdg.generation.size

    def compute(workdir: Path) -> dict:
        torch.manual_seed(section.seed)
        started = time.time()
        pipe = load_pipeline(source.artifact("pipeline"), sampler="native")
        tokenizer = extended_tokenizer(pipe)
        text_encoder = pipe.text_encoder
        grow_embedding(text_encoder, len(tokenizer))
        scenes, images = occupation_renders(section.images_per_occupation, size, section.seed)
        prompts = [o.prompt for o in occupations() for _ in range(section.images_per_occupation)]
        originals_cfg = cfg.model_copy(update={"images": section.original_images, "seed": section.seed + 100})
        original_scenes, original_images = csdg.training_renders(originals_cfg, size)
        rendered = time.time()
        rt = devices.runtime(study.profile)
        latents = t2i.encode(pipe.vae, torch.cat([images, original_images])) * pipe.vae.config.scaling_factor
        captions = mixed_captions(prompts, csdg.caption_writer(original_scenes, cfg.detail_dropout, cfg.caption_dropout),
                                  cfg.caption_dropout)
        unet, text_encoder, history = t2i.train_denoiser(pipe.unet, text_encoder, tokenizer, latents, captions,
                                                         section.steps, section.batch_size, section.lr,
                                                         seed=section.seed, prediction=cfg.prediction, runtime=rt)
        trained = time.time()
        out = t2i.assemble(pipe.vae, text_encoder, tokenizer, unet, t2i.training_scheduler(cfg.prediction))
        out.to("cpu").save_pretrained(workdir / "pipeline")
        return {"seconds": {"render": rendered - started, "train": trained - rendered, "total": time.time() - started},
                "images": {"occupation": len(images), "original": len(original_images)},
                "final_loss": history[-1]["train_loss"], "vocabulary": len(tokenizer)}

    return study.registry.get_or_compute(BASE_MODEL, config, compute)
