"""Generation: any diffusers pipeline, one seed per image, a manifest, and resumption after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairlab import t2i
from fairlab.aimfair.generation import SamplerSettings, generate, image_seed, load_pipeline
from fairlab.data import DataError
from fairlab.data.synthetic import load_synthetic
from fairlab.faceworld import phrases

TINY = t2i.Architecture(image_size=16, latent_channels=4, vae_channels=(8, 8, 8), unet_channels=(16, 32), text_width=32,
                        text_layers=1)
PROMPTS = {"0_0": ["portrait face photo of a non-smiling female", "portrait face photo of a non-smiling female with bangs"],
           "1_1": ["portrait face photo of a smiling male", "portrait face photo of a smiling male with a hat"]}
FAST = SamplerSettings(sampler="native", steps=2, guidance=2.0, height=16, width=16, images_per_prompt=3, batch_size=1,
                       out_size=16)


@pytest.fixture(scope="module")
def tiny_pipeline_dir(tmp_path_factory):
    """A tiny random Stable Diffusion pipeline saved with save_pretrained, as a user's local model folder would be."""
    import torch

    torch.manual_seed(0)
    tokenizer = t2i.build_tokenizer(phrases.vocabulary())
    vae, text, unet = t2i.build_components(TINY, len(tokenizer))
    path = tmp_path_factory.mktemp("tiny-sd")
    t2i.assemble(vae, text, tokenizer, unet, t2i.training_scheduler()).save_pretrained(path)
    return path


def test_a_saved_pipeline_loads_with_the_papers_ddim_sampler(tiny_pipeline_dir):
    pipe = load_pipeline(tiny_pipeline_dir, sampler="ddim")
    assert type(pipe.scheduler).__name__ == "DDIMScheduler"
    assert pipe.scheduler.config.timestep_spacing == "leading" and pipe.scheduler.config.steps_offset == 1
    with pytest.raises(DataError, match="cannot load a Stable Diffusion pipeline"):
        load_pipeline(tiny_pipeline_dir / "missing")


def test_generation_writes_group_folders_and_a_manifest(tiny_pipeline_dir, tmp_path):
    pipe = load_pipeline(tiny_pipeline_dir, sampler="native")
    manifest = generate(pipe, PROMPTS, tmp_path, FAST, base_seed=7, pipeline_id="tiny", progress=False)
    assert len(manifest) == 12 and manifest["file"].is_unique
    assert set(manifest["seed"]) == {image_seed(7, g, k, i) for g in PROMPTS for k in range(2) for i in range(3)}
    frame = load_synthetic(tmp_path)
    assert len(frame) == 12 and set(frame["group"]) == {"0_0", "1_1"} and frame["prompt"].notna().all()
    assert Image.open(tmp_path / manifest["file"].iloc[0]).size == (16, 16)
    again = generate(pipe, PROMPTS, tmp_path, FAST, base_seed=7, pipeline_id="tiny", progress=False)
    assert len(again) == 12  # nothing generated twice


def test_any_image_can_be_regenerated_from_its_seed(tiny_pipeline_dir, tmp_path):
    pipe = load_pipeline(tiny_pipeline_dir, sampler="native")
    generate(pipe, PROMPTS, tmp_path / "all", FAST, base_seed=1, progress=False)
    single = {"1_1": PROMPTS["1_1"]}
    generate(pipe, single, tmp_path / "one", FAST, base_seed=1, progress=False)
    a = np.asarray(Image.open(tmp_path / "all" / "1_1" / "001_0002.png"))
    b = np.asarray(Image.open(tmp_path / "one" / "1_1" / "001_0002.png"))
    assert np.array_equal(a, b)


def test_generation_resumes_after_being_killed_without_duplicates_or_gaps(tiny_pipeline_dir, tmp_path):
    many = SamplerSettings(**{**FAST.__dict__, "images_per_prompt": 12})
    out = tmp_path / "interrupted"
    script = textwrap.dedent(f"""
        import time
        from fairlab.aimfair.generation import SamplerSettings, generate, load_pipeline
        pipe = load_pipeline({str(tiny_pipeline_dir)!r}, sampler="native")
        original = pipe.__call__
        def slow(*args, **kwargs):
            time.sleep(0.05)
            return original(*args, **kwargs)
        type(pipe).__call__ = lambda self, *a, **k: slow(*a, **k)
        generate(pipe, {PROMPTS!r}, {str(out)!r}, SamplerSettings(**{many.__dict__!r}), base_seed=3, progress=False)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("*/*.png"))) < 10:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partial = len(list(out.glob("*/*.png")))
    assert 0 < partial < 48, "the run should have been killed part-way"
    pipe = load_pipeline(tiny_pipeline_dir, sampler="native")
    manifest = generate(pipe, PROMPTS, out, many, base_seed=3, progress=False)
    assert len(manifest) == 48 and manifest["file"].is_unique
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.png")) == sorted(manifest["file"])
    assert not list(out.glob("*/.*.tmp"))
    clean = generate(pipe, PROMPTS, tmp_path / "clean", many, base_seed=3, progress=False)
    joined = manifest.merge(clean, on="file", suffixes=("", "_clean"))
    assert (joined["seed"] == joined["seed_clean"]).all()
    for file in pd.Series(manifest["file"]).sample(5, random_state=0):
        assert np.array_equal(np.asarray(Image.open(out / file)), np.asarray(Image.open(tmp_path / "clean" / file)))


def test_a_v_prediction_model_trains_on_velocity_and_samples_from_pure_noise(tmp_path):
    import torch

    torch.manual_seed(0)
    tokenizer = t2i.build_tokenizer(phrases.vocabulary())
    vae, text, unet = t2i.build_components(TINY, len(tokenizer))
    scheduler = t2i.training_scheduler("v_prediction")
    assert float(scheduler.alphas_cumprod[-1]) == 0.0  # zero terminal SNR: training sees pure noise at t = 999
    latents = torch.randn(8, TINY.latent_channels, 4, 4)
    unet, text, history = t2i.train_denoiser(unet, text, tokenizer, latents, lambda rows, g: ["a smiling male"] * len(rows),
                                             steps=2, batch_size=4, prediction="v_prediction", progress=False)
    assert all(np.isfinite(h["train_loss"]) for h in history)
    t2i.assemble(vae, text, tokenizer, unet, scheduler).save_pretrained(tmp_path / "v")
    pipe = load_pipeline(tmp_path / "v", sampler="native")
    assert pipe.scheduler.config.prediction_type == "v_prediction" and pipe.scheduler.config.timestep_spacing == "trailing"
    manifest = generate(pipe, {"1_1": ["portrait face photo of a smiling male"]}, tmp_path / "out", FAST, progress=False)
    assert len(manifest) == 3
    with pytest.raises(ValueError, match="prediction must be one of"):
        t2i.training_scheduler("x0")


def test_a_repeated_word_in_the_vocabulary_keeps_every_id_inside_the_embedding():
    tokenizer = t2i.build_tokenizer(["doctor", "nurse", "doctor", "a", "photo", "nurse"])
    ids = tokenizer("a photo of a nurse, a doctor")["input_ids"]
    assert len(tokenizer) == len(t2i.SPECIALS) + 4
    assert max(tokenizer.get_vocab().values()) == len(tokenizer) - 1 and max(ids) < len(tokenizer)
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a photo a nurse a doctor"   # "of" is unknown
