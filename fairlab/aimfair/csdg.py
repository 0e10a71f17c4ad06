"""CSDG experiments: the miniature text-to-image model, prompt sets, synthetic pools, S1/S2 and Table 5.

Records (``results/<profile>/csdg/...``):

* ``mini_t2i`` — the miniature latent diffusion model trained on FaceWorld studio renders, saved
  as a ``StableDiffusionPipeline`` (``pipeline/``), with its reconstruction fidelity;
* ``pool`` — the images of one prompt family for one setting (``images/<t>_<s>/*.png`` and the
  manifest), generated resumably, with fidelity, label noise and diversity measured by the
  FaceWorld oracle;
* ``synthetic_sets`` — S2 (balanced) and S1 (biased, Table 6's ratios) and Table 7's S2 sizes drawn
  from a setting's contextual pool, as manifests for the selective fine-tuning chapter;
* ``table5`` — ResNet-18 trained on balanced synthetic data only, tested on real data.

Prompts are cached outside the records (``prompt_cache/``), keyed by the instruction and the
backend but not by the code version, so a code change never calls an LLM again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from fairlab import device as devices
from fairlab import t2i
from fairlab.aimfair import generation, recipe
from fairlab.aimfair.prompts import (
    ChatCompletionsBackend,
    ComposerBackend,
    PromptSet,
    TransformersBackend,
    collect,
    instruction,
    instruction_hash,
    plain_set,
)
from fairlab.aimfair.settings import SETTINGS, Setting, setting as setting_named
from fairlab.data.images import load_images
from fairlab.data.subsets import GROUPS, bias_quotas
from fairlab.faceworld import formats, oracle, phrases, render, world
from fairlab.faceworld.datasets import attribute_probe, load_attribute_net, penultimate
from fairlab.metrics import generation as generation_metrics
from fairlab.profiles import MiniT2ISection, Profile
from fairlab.results import Record, Registry, canonical_json, write_json_atomic
from fairlab.study import Study

T2I = "csdg/mini_t2i"
POOL = "csdg/pool"
SETS = "csdg/synthetic_sets"
TABLE5 = "csdg/table5"
REFERENCE_DIVERSITY = "csdg/reference_diversity"
TABLE5_SETTINGS = ("CelebA S/M", "CelebA S/Y")
#: Table 6's S1 bias ratios (minority : majority) and Table 7's S2 sizes relative to N_R / G.
S1_RATIOS = {"1:9": 0.1, "2:8": 0.2, "3:7": 0.3, "4:6": 0.4}
S2_SCALES = (0.5, 1.0, 1.5, 2.0)


@dataclass(frozen=True)
class Family:
    """A prompt family of Table 5: its printed name, prompts per group (``None``: the plain prompt), head poses."""

    key: str
    label: str
    n: int | None
    head_poses: bool


FAMILIES = {
    "plain": Family("plain", "Plain Prompt (1)", None, False),
    "ctx25": Family("ctx25", "Contextual Prompts (25)", 25, False),
    "ctx50": Family("ctx50", "Contextual Prompts (50)", 50, False),
    "ctx50_pose": Family("ctx50_pose", "Contextual + Head Poses (50)", 50, True),
}


@dataclass(frozen=True)
class MiniT2IConfig:
    """The miniature text-to-image model: its training section, its architecture, the render domain it learns
    and the digest of the caption vocabulary its tokenizer is built from."""

    t2i: MiniT2ISection
    architecture: t2i.Architecture
    vocabulary: str
    domain: str = "studio"


@dataclass(frozen=True)
class PoolConfig:
    """``per_group`` images per group of ``setting`` from the prompts of ``family`` (their digest and where they
    came from), sampled by ``pipeline`` with ``sampler``; image j of a group has its own seed from ``seed``."""

    setting: str
    family: str
    per_group: int
    prompts: str
    prompt_provenance: dict
    pipeline: str
    sampler: generation.SamplerSettings
    seed: int


@dataclass(frozen=True)
class ReferenceDiversityConfig:
    """FaceWorld's own studio renders, ``per_group`` per group of ``setting`` at ``size``, drawn with ``seed``."""

    setting: str
    per_group: int
    size: int
    seed: int = 11


@dataclass(frozen=True)
class SyntheticSetsConfig:
    """S2 at every scale and S1 at every bias ratio drawn from the contextual ``pool`` (a record's hash) with
    ``seed`` (one draw per set, ``seed + k``)."""

    setting: str
    pool: str
    n_real: int
    s1_size: int
    s1_ratios: dict
    s2_scales: tuple
    seed: int


@dataclass(frozen=True)
class Table5Config:
    """A classifier trained on ``per_group`` images per group of ``family``'s ``pool``, drawn with ``seed``."""

    setting: str
    family: str
    pool: str
    per_group: int
    seed: int
    classifier: recipe.ClassifierInputs


def contextual_family(setting: Setting) -> str:
    """The family of a setting's S1/S2 pool: the paper's shipped lists (CelebA: with head poses; UTKFace: ages)."""
    return "ctx50_pose" if setting.dataset == "celeba" else "ctx50"


# ---------------------------------------------------------------------------------------------
# prompts


def backend_for(profile: Profile):
    cfg = profile.csdg
    if cfg.backend == "composer":
        return ComposerBackend()
    if cfg.backend == "chat-completions":
        return ChatCompletionsBackend.from_environment()
    return TransformersBackend(cfg.llm_model, device=str(devices.runtime(profile).device))


def prompt_set(study: Study, label: str, family: str) -> PromptSet:
    """The prompts of ``family`` for setting ``label``: from the prompt cache, or asked of the backend once."""
    setting, fam = SETTINGS[label], FAMILIES[family]
    if fam.n is None:
        return plain_set(setting)
    backend = backend_for(study.profile)
    provenance = backend.provenance()
    texts = [instruction(setting, t, s, fam.n, fam.head_poses) for t, s in setting.groups()]
    key = hashlib.sha256(canonical_json({"backend": provenance, "instructions": [instruction_hash(x) for x in texts],
                                         "seed": study.profile.csdg.prompt_seed}).encode()).hexdigest()[:16]
    path = study.registry.root / "prompt_cache" / f"{label.replace(' ', '_').replace('/', '-')}-{family}-{key}.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return PromptSet(data["setting"], data["prompts"], data["provenance"], data.get("rejected", {}))
    prompts = collect(backend, setting, fam.n, head_poses=fam.head_poses, seed=study.profile.csdg.prompt_seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, prompts.as_json())
    return prompts


def prompts_digest(prompts: PromptSet) -> str:
    return hashlib.sha256(canonical_json(prompts.prompts).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# the miniature text-to-image model


def training_renders(cfg, size: int, progress: bool = True) -> tuple[pd.DataFrame, torch.Tensor]:
    """Studio renders with the attributes their captions describe: CelebA-like faces (rendered in CelebA's
    aspect, squashed to ``size`` square as a classifier sees them) and UTKFace-like faces (square)."""
    n_celeba = round(cfg.images * cfg.celeba_share)
    parts = [(world.celeba_scenes(n_celeba, cfg.seed + 1, "all").assign(style="celeba"), formats.image_size("celeba", size)),
             (world.utkface_scenes(cfg.images - n_celeba, cfg.seed + 2).assign(style="utk"), (size, size))]
    parts = [(scenes, shape) for scenes, shape in parts if len(scenes)]
    tensors = []
    for scenes, shape in parts:
        starts = tqdm(range(0, len(scenes), 2000), desc=f"rendering {scenes['style'].iloc[0]} training faces",
                      disable=not progress, leave=False)
        tensors.append(_square(np.concatenate([render.render(scenes.iloc[s:s + 2000], *shape, "studio") for s in starts]), size))
    return pd.concat([scenes for scenes, _ in parts], ignore_index=True), torch.cat(tensors)


def caption_writer(scenes: pd.DataFrame, detail_dropout: float, caption_dropout: float):
    """``captions(indices, generator)`` for :func:`fairlab.t2i.train_denoiser`: a fresh caption per draw."""
    rows = scenes.to_dict("records")

    def captions(indices, generator: torch.Generator) -> list[str]:
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        out = []
        for i in indices:
            row = rows[int(i)]
            out.append("" if rng.random() < caption_dropout else
                       phrases.caption(row, rng, attribute_dropout=detail_dropout, style=row["style"]))
        return out

    return captions


def _oracle(study: Study) -> tuple[oracle.AttributeNet, int]:
    probe = attribute_probe(study)
    return load_attribute_net(probe, "studio", devices.runtime(study.profile)), probe.config["size"]


def mini_t2i(study: Study) -> Record:
    """Train (or load) the miniature text-to-image model of this profile."""
    cfg = study.profile.csdg.t2i  # the profile's validation requires it where the pipeline is 'mini'
    size = study.profile.csdg.generation.size
    arch = t2i.Architecture(image_size=size)
    config = MiniT2IConfig(t2i=cfg, architecture=arch,
                           vocabulary=hashlib.sha256(" ".join(phrases.vocabulary()).encode()).hexdigest()[:16])

    def compute(workdir: Path) -> dict:
        torch.manual_seed(cfg.seed)
        started = time.time()
        scenes, images = training_renders(cfg, size)
        rendered = time.time()
        tokenizer = t2i.build_tokenizer(phrases.vocabulary())
        vae, text_encoder, unet = t2i.build_components(arch, len(tokenizer))
        rt = devices.runtime(study.profile)
        vae_history = t2i.train_vae(vae, images, cfg.vae_steps, cfg.vae_batch_size, cfg.lr, seed=cfg.seed, runtime=rt)
        vae_done = time.time()
        latents = t2i.encode(vae, images)
        scale = t2i.latent_scale(latents)
        vae.register_to_config(scaling_factor=scale)
        captions = caption_writer(scenes, cfg.detail_dropout, cfg.caption_dropout)
        unet, text_encoder, unet_history = t2i.train_denoiser(unet, text_encoder, tokenizer, latents * scale, captions,
                                                              cfg.unet_steps, cfg.unet_batch_size, cfg.lr, seed=cfg.seed,
                                                              prediction=cfg.prediction, runtime=rt)
        unet_done = time.time()
        pipe = t2i.assemble(vae, text_encoder, tokenizer, unet, t2i.training_scheduler(cfg.prediction))
        pipe.to("cpu").save_pretrained(workdir / "pipeline")  # stored on the CPU whatever it trained on
        pipe.to(rt.device)
        net, oracle_size = _oracle(study)
        held_out = world.celeba_scenes(1000, cfg.seed + 3, "all")
        originals = _square(render.render(held_out, *formats.image_size("celeba", size), "studio"), size)
        with devices.inference(vae):
            decoded = vae.decode(t2i.encode(vae, originals)).sample.float().cpu()
        reconstructions = ((decoded.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        read = {name: oracle.predict(net, x, oracle_size) for name, x in (("original", originals), ("reconstruction", reconstructions))}
        checked = ("Male", "Smiling", "Young", "Eyeglasses", "Wearing_Hat", "Bangs", "Blond_Hair")
        return {
            "parameters": {name: sum(p.numel() for p in m.parameters()) for name, m in
                           (("vae", vae), ("text_encoder", text_encoder), ("unet", unet))},
            "seconds": {"render": rendered - started, "vae": vae_done - rendered, "unet": unet_done - vae_done,
                        "total": time.time() - started},
            "latent_scale": scale,
            "final_loss": {"vae": vae_history[-1]["train_loss"], "unet": unet_history[-1]["train_loss"]},
            "oracle_on_renders": {kind: {a: float(np.mean(read[kind][a].to_numpy() == held_out[a].to_numpy())) for a in checked}
                                  for kind in read},
        }

    return study.registry.get_or_compute(T2I, config, compute)


def _square(images: np.ndarray, size: int) -> torch.Tensor:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (size, size):
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------------------------
# generation


def sampler_settings(profile: Profile) -> generation.SamplerSettings:
    g = profile.csdg.generation
    return generation.SamplerSettings(sampler=g.sampler, steps=g.steps, guidance=g.guidance, eta=g.eta, height=g.size,
                                      width=g.size, images_per_prompt=0, batch_size=g.batch_size, out_size=g.out_size)


def pipeline_source(study: Study) -> tuple[str, Path | str]:
    """(an id recorded with every image, what :func:`fairlab.aimfair.generation.load_pipeline` loads)."""
    source = study.profile.csdg.generation.pipeline
    if source == "mini":
        record = mini_t2i(study)
        return f"fairlab-mini-t2i/{record.path.name}", record.artifact("pipeline")
    local = Path(source).expanduser()
    return source, (local if local.exists() else source)


_PIPELINES: dict[tuple[str, str], object] = {}


def _loaded_pipeline(source, sampler: str, rt: devices.Runtime):
    """One loaded pipeline per source, sampler and device in a process (a notebook generates several pools).

    On CUDA the weights are half precision, as the paper samples (fp16 on one GPU), unless the
    profile asks for float32; the initial noise still comes from each image's CPU generator.
    """
    key = (str(source), sampler, str(rt.device), rt.precision)
    if key not in _PIPELINES:
        _PIPELINES.clear()  # keep at most one model in memory (Stable Diffusion is several GB)
        dtype = torch.float16 if rt.is_cuda and rt.precision != "float32" else None
        _PIPELINES[key] = generation.load_pipeline(source, sampler=sampler, torch_dtype=dtype).to(rt.device)
    return _PIPELINES[key]


def pool(study: Study, label: str, family: str, per_group: int) -> Record:
    """``per_group`` generated images per group of setting ``label`` from the prompts of ``family``."""
    setting = SETTINGS[label]
    prompts = prompt_set(study, label, family)
    pipeline_id, source = pipeline_source(study)
    settings = sampler_settings(study.profile)
    g = study.profile.csdg.generation
    config = PoolConfig(setting=label, family=family, per_group=per_group, prompts=prompts_digest(prompts),
                        prompt_provenance={k: v for k, v in prompts.provenance.items() if k != "date"},
                        pipeline=pipeline_id, sampler=settings, seed=g.seed)

    def compute(workdir: Path) -> dict:
        stage = study.registry.staging_dir(POOL, config, __name__)  # survives an interruption: generation resumes from it
        _start_from_smaller_pool(study.registry, config, stage)
        pipe = _loaded_pipeline(source, g.sampler, devices.runtime(study.profile))
        started = time.time()
        manifest = generation.generate(pipe, prompts.prompts, stage, settings, images_per_group=per_group, base_seed=g.seed,
                                       pipeline_id=pipeline_id)
        seconds = time.time() - started
        write_json_atomic(stage / "prompts.json", prompts.as_json())
        os.replace(stage, workdir / "images")
        frame = manifest_frame(workdir / "images", manifest)
        return {"images": len(frame), "seconds": seconds, "images_per_second": len(frame) / max(seconds, 1e-9),
                **measure(study, setting, frame)}

    return study.registry.get_or_compute(POOL, config, compute)


def _start_from_smaller_pool(registry: Registry, config: PoolConfig, stage: Path) -> None:
    """Seed an empty staging folder with the largest finished pool that differs only in ``per_group``.

    Image j of a group is (prompt j mod P, index j div P) with its own seed, so a smaller pool is
    exactly the first images of a larger one: they are linked in, and generation adds the rest.
    """
    if any(stage.iterdir()):
        return
    same = json.loads(canonical_json(config))
    same.pop("per_group")
    best = None
    for record in registry.records():
        if record.experiment != POOL:
            continue
        other = dict(record.config)
        if other.pop("per_group", None) is None or other != same:
            continue
        if record.config["per_group"] < config.per_group and (best is None or record.config["per_group"] > best.config["per_group"]):
            best = record
    if best is None:
        return
    images = best.artifact("images")
    for path in images.rglob("*.png"):
        target = stage / path.relative_to(images)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
    shutil.copy2(images / generation.MANIFEST, stage / generation.MANIFEST)


def manifest_frame(root: Path, manifest: pd.DataFrame | None = None) -> pd.DataFrame:
    """A pool's manifest with absolute ``path`` and integer ``target``/``protected`` columns."""
    frame = generation.read_manifest(root) if manifest is None else manifest.copy()
    frame["path"] = [str(root / f) for f in frame["file"]]
    frame["target"] = frame["target"].astype(int)
    frame["protected"] = frame["protected"].astype(int)
    return frame.sort_values(["group", "prompt_id", "image_index"]).reset_index(drop=True)


def contextual_pool(study: Study, label: str) -> Record:
    """The contextual pool (the profile's ``pool_per_group``) that setting ``label``'s synthetic sets are drawn from:
    its own, or for a Table 2 setting its full setting's."""
    setting = SETTINGS[setting_named(label).synthetic_label]
    return pool(study, setting.label, contextual_family(setting), study.profile.csdg.pool_per_group)


def pool_frame(record: Record) -> pd.DataFrame:
    return manifest_frame(record.artifact("images"))


# ---------------------------------------------------------------------------------------------
# what the oracle reads from generated images


def oracle_values(predicted: pd.DataFrame) -> pd.DataFrame:
    """The oracle's reading with the UTKFace-style attributes added: Female = 1 − Male, White = (race = white)."""
    out = predicted.copy()
    out["Female"] = 1 - out["Male"]
    out["White"] = (out["race"] == 0).astype(int)
    return out


def stated(prompt: str, setting: Setting) -> dict[str, int]:
    """The attribute values a prompt asks for: the group words and every detail phrase it names."""
    heads = ("Female", "White") if setting.dataset == "utkface" else ("Smiling", "Male", "Young")
    out = {}
    for name in heads + (("Smiling",) if setting.dataset == "utkface" else ()):
        for value in (0, 1):
            if (name, value) in phrases.VALUE_PATTERNS and phrases.states(prompt, name, value):
                out[name] = value
    text = prompt.lower()
    for name, phrase in phrases.DETAILS.items():
        if f" {phrase}" in f" {text.replace(',', ' ').replace('.', ' ')} ":
            out[name] = 1
    if phrases.BEARD in text:
        out["No_Beard"] = 0
    return out


def fidelity(frame: pd.DataFrame, read: pd.DataFrame, setting: Setting) -> dict[str, dict]:
    """:func:`fairlab.metrics.generation.fidelity` of a pool: each image's prompt states what :func:`stated` finds."""
    asked = {prompt: stated(prompt, setting) for prompt in frame["prompt"].unique()}  # a pool repeats its prompts
    return generation_metrics.fidelity([asked[p] for p in frame["prompt"]], read.to_dict("records"))


def label_noise(frame: pd.DataFrame, read: pd.DataFrame, setting: Setting) -> dict:
    """:func:`fairlab.metrics.generation.label_noise` of a pool: its folder labels against the oracle's reading."""
    return generation_metrics.label_noise(frame["target"], frame["protected"], read[setting.target],
                                          read[setting.protected], frame["group"], GROUPS)


def attribute_entropy(read: pd.DataFrame, groups: np.ndarray, exclude: tuple[str, ...]) -> float:
    """:func:`fairlab.metrics.generation.attribute_entropy` over the oracle's binary attributes bar ``exclude``."""
    names = [a for a in oracle.BINARY if a not in exclude]
    return generation_metrics.attribute_entropy(read[names].to_numpy(), groups)


def diversity(net, size: int, images: torch.Tensor, read: pd.DataFrame, groups: np.ndarray, setting: Setting,
              max_per_group: int = 500) -> dict:
    """Attribute entropy (bits) and the mean per-group Vendi score of the oracle's features."""
    exclude = (setting.target, setting.protected, "Male") if setting.dataset == "utkface" else (setting.target, setting.protected)
    features = penultimate(net.eval(), images, size)
    vendi = [generation_metrics.vendi_score(features[groups == g][:max_per_group]) for g in np.unique(groups)]
    return {"attribute_entropy": attribute_entropy(read, groups, exclude), "vendi": float(np.mean(vendi)),
            "vendi_images_per_group": int(min(max_per_group, min(np.sum(groups == g) for g in np.unique(groups))))}


def has_judge(profile: Profile) -> bool:
    """Whether generated images can be read back: the FaceWorld oracle knows the miniature model's faces;
    for Stable Diffusion's faces no attribute judge is built yet, so those measures are left out."""
    return profile.csdg.generation.pipeline == "mini"


def measure(study: Study, setting: Setting, frame: pd.DataFrame) -> dict:
    """Fidelity, label noise and diversity of generated images (a pool's manifest frame), read by the oracle."""
    if not has_judge(study.profile):
        return {}
    net, size = _oracle(study)
    out = study.profile.csdg.generation.out_size
    images = load_images(frame["path"].tolist(), (out, out), use_cache=False, progress=False)
    read = oracle_values(oracle.predict(net, images, size))
    groups = frame["group"].to_numpy()
    shares = {g: read.loc[groups == g, list(oracle.BINARY)].mean().to_dict() for g in np.unique(groups)}
    return {"fidelity": fidelity(frame, read, setting), "label_noise": label_noise(frame, read, setting),
            "diversity": diversity(net, size, images, read, groups, setting), "attribute_share": shares}


def reference_diversity(study: Study, label: str, per_group: int = 500) -> Record:
    """The same diversity measures on FaceWorld's own studio renders of each group (its prior, not generated)."""
    setting = SETTINGS[label]
    size = study.profile.csdg.generation.size
    config = ReferenceDiversityConfig(setting=label, per_group=per_group, size=size)

    def compute(workdir: Path) -> dict:
        if setting.dataset == "utkface":
            scenes = world.utkface_scenes(per_group * 40, config.seed)
            scenes["Female"], scenes["White"] = scenes["gender"], (scenes["race"] == 0).astype(int)
            shape = (size, size)
        else:
            scenes = world.celeba_scenes(per_group * 60, config.seed, "all")
            shape = formats.image_size("celeba", size)
        scenes["group"] = scenes[setting.target].astype(str) + "_" + scenes[setting.protected].astype(str)
        picked = pd.concat([scenes[scenes["group"] == g].head(per_group) for g in GROUPS], ignore_index=True)
        images = _square(render.render(picked, *shape, "studio"), size)
        net, oracle_size = _oracle(study)
        read = oracle_values(oracle.predict(net, images, oracle_size))
        return {"images": len(picked), "diversity": diversity(net, oracle_size, images, read, picked["group"].to_numpy(), setting)}

    return study.registry.get_or_compute(REFERENCE_DIVERSITY, config, compute)


# ---------------------------------------------------------------------------------------------
# S1 / S2 for the selective fine-tuning chapter


def real_size(profile: Profile, setting: Setting) -> int:
    """N_R: the size of the real biased training set."""
    return profile.data.aimfair_subset_size if setting.dataset == "celeba" else profile.data.utk_train_size


def synthetic_sets(study: Study, label: str, seed: int = 0) -> Record:
    """S2 (N_R / 4 per group), Table 7's S2 sizes, and S1 at Table 6's ratios (``csdg.s1_size`` images, default
    N_R, in the real subset's orientation), drawn from the contextual pool.

    As in the reference code, S1 and S2 are independent seeded draws from the same pool (they overlap);
    the selective fine-tuning chapter draws them again for every training seed.
    """
    label = setting_named(label).synthetic_label  # a Table 2 setting fine-tunes on its full setting's sets
    setting = SETTINGS[label]
    n_real = real_size(study.profile, setting)
    source = contextual_pool(study, label)
    n_s1 = study.profile.csdg.s1_size or n_real
    config = SyntheticSetsConfig(setting=label, pool=source.path.name, n_real=n_real, s1_size=n_s1, s1_ratios=S1_RATIOS,
                                 s2_scales=S2_SCALES, seed=seed)

    def compute(workdir: Path) -> dict:
        frame = pool_frame(source)
        wanted = {f"S2_x{scale:g}": {g: round(scale * n_real / 4) for g in GROUPS} for scale in S2_SCALES}
        wanted.update({f"S1_{name.replace(':', '-')}": bias_quotas(n_s1, share) for name, share in S1_RATIOS.items()})
        counts, shortfall = {}, {}
        for k, (name, quota) in enumerate(wanted.items()):
            got = draw_set(frame, quota, config.seed + k, workdir / f"{name}.csv")
            counts[name] = got
            if got != quota:  # the pool is smaller than the protocol asks (smoke): say so, never pad
                shortfall[name] = {"wanted": quota, "got": got}
        return {"counts": counts, "shortfall": shortfall, "pool": f"{POOL}/{source.path.name}"}

    return study.registry.get_or_compute(SETS, config, compute)


#: the columns of a synthetic set's manifest
SET_COLUMNS = ["file", "group", "target", "protected", "prompt_id", "prompt", "seed"]


def draw_set(pool: pd.DataFrame, quota: dict[str, int], seed: int, out: Path) -> dict[str, int]:
    """Draw ``quota[g]`` images of each group ``g`` from a pool's manifest (without replacement, in pool order) with
    ``seed``, write the set's manifest to ``out`` and return the counts drawn: a group the pool holds too few of gets
    all it has, never padded."""
    available = pool["group"].value_counts().to_dict()
    got = {g: min(n, available.get(g, 0)) for g, n in quota.items()}
    rng = np.random.default_rng(seed)
    parts = [pool[pool["group"] == g].iloc[np.sort(rng.choice(available.get(g, 0), n, replace=False))]
             for g, n in got.items() if n > 0]
    pd.concat(parts)[SET_COLUMNS].to_csv(out, index=False)
    return got


def read_set(record: Record, name: str) -> pd.DataFrame:
    """The set ``name`` that a record drew from a pool (:func:`draw_set`; the record's metrics name the pool), with
    absolute image paths."""
    frame = pd.read_csv(record.artifact(f"{name}.csv"), keep_default_na=False)
    root = record.path.parents[len(record.experiment.split("/"))]  # the profile's results folder
    frame["path"] = [str(root / record.metrics["pool"] / "images" / f) for f in frame["file"]]
    return frame


def load_set(record: Record, name: str) -> pd.DataFrame:
    """One synthetic set (``"S2_x1"``, ``"S1_1-9"``, ...) of a :func:`synthetic_sets` record, with absolute image paths."""
    return read_set(record, name)


# ---------------------------------------------------------------------------------------------
# Table 5


def table5_pool(study: Study, label: str, family: str) -> Record:
    """The pool a Table 5 row trains on: the contextual pool for "+ head poses", a pool of its own otherwise."""
    if family == contextual_family(SETTINGS[label]):
        return contextual_pool(study, label)
    return pool(study, label, family, study.profile.csdg.table5_per_group)


def table5_run(study: Study, label: str, family: str, seed: int) -> Record:
    """ResNet-18 trained on ``table5_per_group`` synthetic images per group of ``family``, tested on real data."""
    source = table5_pool(study, label, family)
    per_group = study.profile.csdg.table5_per_group
    config = Table5Config(setting=label, family=family, pool=source.path.name, per_group=per_group, seed=seed,
                          classifier=recipe.ClassifierInputs.of(study.profile))

    def compute(workdir: Path) -> dict:
        task = recipe.open_task(label, study)
        frame = pool_frame(source)
        rng = np.random.default_rng(seed)
        chosen = pd.concat([frame[frame["group"] == g].iloc[np.sort(rng.choice((frame["group"] == g).sum(), per_group, replace=False))]
                            for g in GROUPS])
        train = recipe.load_synthetic_set(chosen, study.profile.csdg.generation.out_size, study.profile.data.image_store)
        val, test = task.split("val"), task.split("test")
        model = recipe.classifier(study, seed)
        result = recipe.train(model, train, val, study.profile, seed, desc=f"{label} {FAMILIES[family].label}")
        report = recipe.evaluate(model, test, study.profile.aimfair.image_size)
        return {"report": report, "best_epoch": int(result.best_epoch[0]), "val_acc": float(result.best_score[0]),
                "train_images": len(chosen), "test_images": len(test)}

    return study.registry.get_or_compute(TABLE5, config, compute)
