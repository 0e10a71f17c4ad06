"""The third paper's experiments as stored records (the chapter's tables and figures read only these).

- :func:`classifier` — the training classifier on balanced occupation-world renders, and how the evaluation
  classifier reads the same held-out renders (the floor: the bias a perfectly fair generator is measured with);
- :func:`original` — the biased model's images of every occupation read by the evaluation classifier: learned
  against designed frequencies, and the "Original" rows of Tables 1 and 5;
- :func:`run` — one debiasing run of :data:`EXPERIMENTS` (fine-tuned, resumable), and its debiased model's test
  images read the same way, beside the original model's images from the same noise (the preservation columns);
- :func:`gradient_study` — Figure 1: the three gradients on the toy objective, and the gradient scale per step.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fairlab import backbones
from fairlab import device as devices
from fairlab.dal import finetune as ft
from fairlab.dal.base_model import base_model, occupation_renders, square
from fairlab.dal.bias import NO_FACE
from fairlab.dal.classifiers import (HEADS, AttributeClassifier, agreement, attribute_labels, balanced_scenes,
                                     classify, evaluation_reading, train_classifier)
from fairlab.dal.generator import Generator, load_generator
from fairlab.dal.occupations import CUES, RACES, occupations
from fairlab.dal.perception import FaceEmbedder, FixedFaceBox, ImageEncoder
from fairlab.faceworld import formats, oracle
from fairlab.faceworld.datasets import attribute_probe, load_attribute_net, render_tensor
from fairlab.results import Record
from fairlab.study import Study

CLASSIFIER = "dal/classifier"
ORIGINAL = "dal/original"
RUN = "dal/run"
#: images kept per test prompt for Figure 3's same-noise grids
GRID_IMAGES = 8

#: the chapter's runs, each with the official settings of the experiment it stands for (reference §2's table)
EXPERIMENTS = {
    "gender": ft.RunSpec(("gender",)),                                                   # exp-1
    "race": ft.RunSpec(("race",), image_weight=6.0, face_weight=0.1),                     # exp-6
    "gender × race": ft.RunSpec(("gender", "race"), face_weight=0.1, face_confidence=0.8,  # exp-3
                                no_face_weight=0.2),
    "gender × race & age": ft.RunSpec(("gender", "race", "age"), face_weight=0.1,          # exp-4
                                      face_confidence=0.75, no_face_weight=0.2),
    "gender, soft prefix": ft.RunSpec(("gender",), trained="prefix"),                     # exp-2
    "gender, U-Net LoRA": ft.RunSpec(("gender",), trained="unet_lora"),                    # exp-1, U-Net
}


def _renders(scenes: pd.DataFrame, size: int) -> torch.Tensor:
    return square(render_tensor(scenes, *formats.image_size("celeba", size), "studio"), size)


@dataclass(frozen=True)
class ClassifierConfig:
    images: int
    test_images: int
    epochs: int
    size: int
    seed: int


def classifier(study: Study) -> Record:
    """The training classifier (gender, race class, age) on balanced renders; on held-out balanced renders, its
    accuracy, the evaluation classifier's, their agreement, and the floor bias."""
    section = study.profile.dal.classifier
    size = study.profile.csdg.generation.size
    config = ClassifierConfig(section.images, section.test_images, section.epochs, size, section.seed)
    probe = attribute_probe(study)

    def compute(workdir: Path) -> dict:
        rt = devices.runtime(study.profile)
        scenes = balanced_scenes(config.images + config.test_images, config.seed)
        images = _renders(scenes, size)
        train, test = slice(0, config.images), slice(config.images, None)
        model = train_classifier(images[train], scenes.iloc[train], size=size, epochs=config.epochs, seed=config.seed,
                                 runtime=rt)
        torch.save(model.cpu().state_dict(), workdir / "classifier.pt")
        truth = attribute_labels(scenes.iloc[test])
        trained = classify(model, images[test], size)
        net = load_attribute_net(probe, "studio", rt)
        evaluated = evaluation_reading(oracle.predict(net, images[test], probe.config["size"]))
        return {"training_accuracy": agreement(trained, truth), "evaluation_accuracy": agreement(evaluated, truth),
                "agreement": agreement(trained, evaluated),
                "evaluation_reading": {h: evaluated[h].tolist() for h in HEADS}}

    return study.registry.get_or_compute(CLASSIFIER, config, compute)


def load_classifier(record: Record, runtime: devices.Runtime) -> AttributeClassifier:
    model = AttributeClassifier()
    model.load_state_dict(torch.load(record.artifact("classifier.pt"), weights_only=True, map_location="cpu"))
    return runtime.prepare(model).eval().requires_grad_(False)


def _encoder(study: Study, arch: str, rt: devices.Runtime) -> ImageEncoder:
    record = backbones.backbone(study, arch)
    return ImageEncoder(backbones.load(record, rt), study.profile.backbones.image_size,
                        record.config["normalization"]).to(rt.device)


def perception(study: Study, rt: devices.Runtime) -> ft.Perception:
    """The networks the loss reads. With Stable Diffusion, the paper's (:mod:`fairlab.dal.paper_perception`, from
    ``dal.perception_dir``). In `mini`, all FaceWorld-pretrained by the data chapter and frozen: the training
    classifier; ResNet-18 and DenseNet-121 (at the backbones' 64 px) standing in for CLIP and DINO; the photo-domain
    attribute network of the attribute probe on the face box for the face embedding, with a bank of balanced renders
    standing in for the real faces. (ResNet-50 is kept out of the loss: it is the held-out encoder of
    :func:`preservation_similarity`.)"""
    if study.profile.dal.pipeline != "mini":
        return _paper_perception(study.profile.dal.perception_dir, str(rt.device))[0]
    section = study.profile.dal.classifier
    size = study.profile.csdg.generation.size
    probe = attribute_probe(study)
    face = FaceEmbedder(ImageEncoder(load_attribute_net(probe, "photo", rt).body, probe.config["size"],
                                     backbones.HALF_NORM))
    bank_images = _renders(balanced_scenes(section.bank, section.seed + 1), size)
    with torch.no_grad():
        bank = torch.cat([face(x, FixedFaceBox()(x)) for x in (rt.put(bank_images[i:i + 256]).float()
                                                               for i in range(0, len(bank_images), 256))])
    return ft.Perception(load_classifier(classifier(study), rt), size, _encoder(study, "resnet18", rt),
                         _encoder(study, "densenet121", rt), face, bank)


@functools.lru_cache(maxsize=1)
def _paper_perception(folder: str | None, device: str):
    """The loss's and the evaluation's networks from the perception folder, loaded once per process."""
    from fairlab.dal import paper_perception

    return paper_perception.load(folder, device)


def generator(study: Study, rt: devices.Runtime) -> Generator:
    """The model to debias, on the runtime's device: the occupation-biased miniature model, or Stable Diffusion."""
    d = study.profile.dal
    source = base_model(study).artifact("pipeline") if d.pipeline == "mini" else d.pipeline
    g = load_generator(source, d.steps, d.guidance, d.timestep_spacing, d.prompt_padding)
    for module in (g.vae, g.text_encoder, g.unet):
        module.to(rt.device)
    return g


def _model_key(study: Study) -> str:
    """What the model to debias is, in a record's config: the base model record's hash, or the pipeline's name."""
    d = study.profile.dal
    return base_model(study).config_hash if d.pipeline == "mini" else d.pipeline


def _perception_key(study: Study) -> str:
    """What the loss reads, in a run's config: the training classifier record's hash, or the perception folder."""
    d = study.profile.dal
    return classifier(study).config_hash if d.pipeline == "mini" else str(Path(d.perception_dir or "").expanduser())


def prompts(split: str) -> list[str]:
    return [o.prompt for o in occupations() if o.split == split]


@dataclass
class OracleReader:
    """The `mini` evaluation classifier, FaceWorld's studio oracle, read at ``size``: every render shows a face."""

    net: oracle.AttributeNet
    size: int
    runtime: devices.Runtime

    def read(self, images: torch.Tensor, prompt: str) -> pd.DataFrame:
        return read_images(self.net, self.size, images)

    def confidences(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        return confidences(self.net, self.size, images, self.runtime)


def reader(study: Study, rt: devices.Runtime):
    """The evaluation: FaceWorld's oracle in `mini`, the paper's evaluation classifiers and CLIP-T with Stable
    Diffusion (:class:`fairlab.dal.paper_perception.FaceReader`). Its ``read(images, prompt)`` gives gender, race and
    age per image (:data:`fairlab.dal.bias.NO_FACE` without a face) and the cues or CLIP-T."""
    if study.profile.dal.pipeline != "mini":
        return _paper_perception(study.profile.dal.perception_dir, str(rt.device))[1]
    probe = attribute_probe(study)
    return OracleReader(load_attribute_net(probe, "studio", rt), probe.config["size"], rt)


def read_images(net: oracle.AttributeNet, size: int, images: torch.Tensor) -> pd.DataFrame:
    """What the evaluation classifier reads in ``uint8`` images: gender, race class (−1: no class), age, and each cue."""
    predicted = oracle.predict(net, images, size)
    read = pd.DataFrame(evaluation_reading(predicted))
    for cue in CUES:
        read[cue] = predicted[cue].to_numpy()
    return read


def confidences(net: oracle.AttributeNet, size: int, images: torch.Tensor,
                rt: devices.Runtime) -> dict[str, np.ndarray]:
    """The evaluation classifier's confidence in its reading, for Figure 3's bars: P(male) and the four race classes'
    probabilities (the oracle's five FaceWorld races, renormalised over the four that draw a class)."""
    from fairlab.data.images import eval_transform
    from fairlab.dal.occupations import FACEWORLD_RACE

    with devices.inference(net):
        out = net(devices.images_in(rt, eval_transform(rt.put(images), size)))
    p_male = torch.sigmoid(out["binary"][:, oracle.BINARY.index("Male")].float()).cpu().numpy()
    race = out["race"].float().softmax(1)[:, [FACEWORLD_RACE[r] for r in RACES]].cpu().numpy()
    return {"p_male": p_male, "race": race / race.sum(1, keepdims=True)}


def grid(study: Study, images: dict[str, torch.Tensor], rt: devices.Runtime) -> dict:
    """What Figure 3 shows of a model: the first :data:`GRID_IMAGES` images of each test prompt and their readings."""
    evaluation = reader(study, rt)
    kept = {p: images[p][:GRID_IMAGES] for p in prompts("test")}
    return {"images": kept, "confidence": {p: {k: torch.from_numpy(v) for k, v in evaluation.confidences(x).items()}
                                           for p, x in kept.items()}}


def sample_prompts(study: Study, g: Generator, prompt_list: list[str], n: int, rt: devices.Runtime,
                   progress: bool = True) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """``n`` images of each prompt (image i from the prompt's i-th noise) and their evaluation reading."""
    from tqdm import tqdm

    evaluation = reader(study, rt)   # loaded once, not once per prompt
    frames, images = [], {}
    for prompt in tqdm(prompt_list, desc="sampling test prompts", disable=not progress, leave=False):
        images[prompt] = g.images(prompt, range(n))
        frames.append(evaluation.read(images[prompt], prompt).assign(prompt=prompt, image=np.arange(n)))
    return pd.concat(frames, ignore_index=True), images


def joint_label(read: pd.DataFrame) -> np.ndarray:
    """Gender × race class (8 classes, gender-major), :data:`fairlab.dal.bias.NO_FACE` where the race has no class."""
    race = read["race"].to_numpy()
    return np.where(race == NO_FACE, NO_FACE, read["gender"].to_numpy() * len(RACES) + race)


@dataclass(frozen=True)
class OriginalConfig:
    model: str
    images: int


def original(study: Study) -> Record:
    """The biased model's images of every occupation, read by the evaluation classifier (``readings.csv``); in `mini`
    also the renders it was fine-tuned on, read the same way (``render_readings.csv``: what the evaluation classifier
    makes of the design itself)."""
    d = study.profile.dal
    config = OriginalConfig(_model_key(study), d.evaluation.images_per_prompt)

    def compute(workdir: Path) -> dict:
        rt = devices.runtime(study.profile)
        started = time.time()
        g = generator(study, rt)
        read, images = sample_prompts(study, g, [o.prompt for o in occupations()], config.images, rt)
        read.to_csv(workdir / "readings.csv", index=False)
        if d.pipeline == "mini":
            scenes, renders = occupation_renders(d.base.images_per_occupation, study.profile.csdg.generation.size,
                                                 d.base.seed, progress=False)
            evaluation = reader(study, rt)
            evaluation.read(renders, "").assign(occupation=scenes["occupation"].to_numpy(),
                                                drawn_old=1 - scenes["Young"].to_numpy()).to_csv(
                workdir / "render_readings.csv", index=False)
        torch.save(grid(study, images, rt), workdir / "grid.pt")
        # the test images, for every run's same-noise similarities (a run draws image i from the same noise)
        torch.save({p: images[p] for p in prompts("test")}, workdir / "test_images.pt")
        return {"seconds": time.time() - started}

    return study.registry.get_or_compute(ORIGINAL, config, compute)


@dataclass(frozen=True)
class RunConfig:
    """A run of ``experiment`` on ``model``, its loss reading ``perception``; its test images are as many as the
    ``original`` record's (whose images from the same noise it is compared with)."""

    experiment: str
    spec: dict
    model: str
    settings: dict
    perception: str
    original: str


def run(study: Study, experiment: str) -> Record:
    """One debiasing run of :data:`EXPERIMENTS` and its debiased model's test images (``readings.csv``), with the
    preservation stand-ins against the original model's images from the same noise (``similarity.csv``) and the
    per-iteration log (``log.json``)."""
    if experiment not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {experiment!r}; expected one of {list(EXPERIMENTS)}")
    spec = EXPERIMENTS[experiment]
    d = study.profile.dal
    settings = ft.TrainingSettings(iterations=d.runs.iterations, images=d.runs.images_per_prompt, lr=d.runs.lr,
                                   weight_decay=d.runs.weight_decay, ema_decay=d.runs.ema_decay, rank=d.runs.rank,
                                   seed=d.runs.seed)
    config = RunConfig(experiment, asdict(spec), _model_key(study), asdict(settings), _perception_key(study),
                       original(study).config_hash)

    def compute(workdir: Path, staging: Path) -> dict:
        import json

        rt = devices.runtime(study.profile)
        started = time.time()
        g = generator(study, rt)
        seen = perception(study, rt)
        trained = ft.finetune(g, seen, spec, prompts("train"), settings, checkpoint=staging / "checkpoint.pt",
                              runtime=rt)
        tuned = time.time()
        torch.save({name: p.detach().cpu() for name, p in trained.named_parameters() if p.requires_grad},
                   workdir / "trained.pt")
        (workdir / "log.json").write_text(json.dumps(trained.log))
        test = prompts("test")
        read, after = sample_prompts(study, g, test, d.evaluation.images_per_prompt, rt)
        trained_reading = [seen.classify(after[p]) for p in test]
        for head in HEADS:   # what the training classifier reads, beside the evaluation classifier
            read[f"train_{head}"] = np.concatenate([r[head] for r in trained_reading])
        read.to_csv(workdir / "readings.csv", index=False)
        torch.save(grid(study, after, rt), workdir / "grid.pt")
        before = torch.load(original(study).artifact("test_images.pt"), weights_only=True)
        similarity = preservation_similarity(study, seen, before, after, rt)
        similarity.to_csv(workdir / "similarity.csv", index=False)
        return {"seconds": {"finetune": tuned - started, "total": time.time() - started},
                "iterations": len(trained.log)}

    return study.registry.get_or_compute_resumable(RUN, config, compute)


def preservation_similarity(study: Study, seen: ft.Perception, before: dict, after: dict,
                            rt: devices.Runtime) -> pd.DataFrame:
    """Per test image, the cosine between the debiased and the original image from the same noise under the CLIP and
    DINO stand-ins, and under a held-out encoder the loss never read (the FaceWorld-pretrained ResNet-50) — a run that
    games its regularisers keeps the first two high and lets the third fall."""
    encoders = {"clip": seen.clip, "dino": seen.dino}
    if study.profile.dal.pipeline == "mini":
        encoders["held_out"] = _encoder(study, "resnet50", rt)
    order = list(after)
    a, b = (torch.cat([images[p] for p in order]) for images in (after, before))
    columns = {}
    with torch.no_grad():
        for name, encoder in encoders.items():
            # one pass over every test image in large batches: per-prompt calls cost more than the convolutions
            columns[name] = torch.cat([(encoder(rt.put(a[i:i + 256]).float()) * encoder(rt.put(b[i:i + 256]).float()))
                                       .sum(1).cpu() for i in range(0, len(a), 256)]).numpy()
    return pd.DataFrame({"prompt": np.repeat(order, [len(after[p]) for p in order]),
                         "image": np.concatenate([np.arange(len(after[p])) for p in order]), **columns})


# ---------------------------------------------------------------------------------------------
# Figure 1: the three gradients

TOY = "dal/gradient_toy"
SCALE = "dal/gradient_scale"


@dataclass(frozen=True)
class ToyConfig:
    model: str
    gradient: str
    run: int
    settings: dict


def gradient_toy(study: Study, gradient: str, run_index: int) -> Record:
    """Figure 1 (left): a text-encoder LoRA trained on the toy objective
    (:func:`fairlab.dal.finetune.dissimilarity_objective`) under ``gradient``; its per-iteration loss (``log.json``)."""
    d, f = study.profile.dal, study.profile.dal.figure1
    spec = ft.RunSpec(("gender",), gradient=gradient, objective="dissimilarity")
    settings = ft.TrainingSettings(iterations=f.iterations, images=f.images_per_prompt, lr=d.runs.lr,
                                   weight_decay=d.runs.weight_decay, ema_decay=d.runs.ema_decay, rank=d.runs.rank,
                                   seed=d.runs.seed + 100 * run_index)
    config = ToyConfig(_model_key(study), gradient, run_index, asdict(settings))

    def compute(workdir: Path) -> dict:
        import json

        rt = devices.runtime(study.profile)
        started = time.time()
        trained = ft.finetune(generator(study, rt), perception(study, rt), spec, prompts("train"), settings,
                              runtime=rt)
        (workdir / "log.json").write_text(json.dumps(trained.log))
        return {"seconds": time.time() - started, "first_loss": trained.log[0]["loss"],
                "last_loss": trained.log[-1]["loss"]}

    return study.registry.get_or_compute(TOY, config, compute)


@dataclass(frozen=True)
class ScaleConfig:
    model: str
    draws: int
    images: int
    rank: int
    seed: int


def gradient_scale(study: Study) -> Record:
    """Figure 1 (right): the scale of the gradient reaching each sampler step's ε under each gradient
    (:func:`fairlab.dal.dft.sample`'s ``gradient_norms``), over ``draws`` noise draws of the toy objective, on the
    original model with a fresh text-encoder LoRA (``scales.csv``: gradient, draw, step, timestep, norm)."""
    d, f = study.profile.dal, study.profile.dal.figure1
    config = ScaleConfig(_model_key(study), f.draws, f.images_per_prompt, d.runs.rank, d.runs.seed)

    def compute(workdir: Path) -> dict:
        from fairlab.dal.dft import GRADIENTS

        rt = devices.runtime(study.profile)
        g = generator(study, rt)
        seen = perception(study, rt)
        ft.attach(g, ft.RunSpec(("gender",)), config.rank, config.seed)
        train = prompts("train")
        g.scheduler.set_timesteps(g.steps)
        timesteps = [int(t) for t in g.scheduler.timesteps]
        rows = []
        for draw in range(config.draws):
            noise = ft.training_noise(config.seed, draw, config.images, g.latent_shape).to(rt.device)
            for gradient in GRADIENTS:
                norms: dict[int, float] = {}
                spec = ft.RunSpec(("gender",), gradient=gradient, objective="dissimilarity")
                loss, _ = ft.dissimilarity_objective(g, seen, spec, train[draw % len(train)], noise, None,
                                                     gradient_norms=norms)
                loss.backward()
                rows += [{"gradient": gradient, "draw": draw, "step": i, "timestep": timesteps[i], "norm": norms[i]}
                         for i in sorted(norms)]
        pd.DataFrame(rows).to_csv(workdir / "scales.csv", index=False)
        return {"draws": config.draws}

    return study.registry.get_or_compute(SCALE, config, compute)
