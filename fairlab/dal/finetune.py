"""One debiasing run: adjusted direct fine-tuning of a text-to-image model with the distributional alignment loss
(reference §1–4), on the project's training engine (:func:`fairlab.train.fit`).

An iteration is one training prompt and N images from one noise draw, in three sampling passes (reference §3.4):

1. the fine-tuned model, without a graph: the training classifier's probabilities give each image's targets, by
   optimal transport toward the target distribution (:mod:`fairlab.dal.targets`) over all N images at once;
2. the original model (the adapter disabled, or the prompt without its prefix), without a graph: the references of
   the preservation terms and the original image's predicted classes;
3. the fine-tuned model, differentiably under the run's gradient (:mod:`fairlab.dal.dft`): the loss

       L = L_align + w_img · (1/N) Σᵢ w_dyn,i · (d(E_clip) + d(E_dino)) + w_face · (1/N) Σᵢ d(E_face)

   with d = 1 − cos against the original image's features (the face-region pixel gradient of the two whole-image terms
   scaled by factor2 where the target changes the face, :func:`fairlab.dal.loss.attenuate_inside`) and, for the face
   embedding, against the original face where every target keeps it and the original was confidently read, else the
   nearest face of the bank.

The classifiers read each image's largest face (`mini`: the renderer's face box, the whole image to the classifier); an
image without a face gets no target, is left out of the transport, adds nothing to the alignment and face terms and
weighs ``no_face_weight`` in the preservation terms (the official code).

What trains is a text-encoder LoRA, a U-Net LoRA or a soft prefix (:mod:`fairlab.dal.adapters`); AdamW at a constant
rate; an exponential moving average of the trained weights (diffusers' ``EMAModel``, whose warm-up is the official
min((1 + s) / (10 + s), decay)) is the evaluated model; a step with a non-finite gradient is skipped. An epoch is one
pass over the training prompts in a seeded order; the engine checkpoints after each epoch, so a run resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fairlab.dal import adapters
from fairlab.dal.bias import NO_FACE
from fairlab.dal.classifiers import HEADS
from fairlab.dal.generator import Generator, to_classifier_input, to_uint8
from fairlab.dal.loss import (alignment_loss, attenuate_inside, box_intersection, changed_attributes,
                              preservation_weight, region_factor)
from fairlab.dal.perception import (FaceEmbedder, Faces, FixedFaceBox, ImageEncoder, cosine_distance, face_crops,
                                    nearest_in_bank)
from fairlab.dal.targets import (AGE_OLD_COST_SCALE, NO_TARGET, composition_targets, joint_targets,
                                 two_class_targets)
from fairlab.data.images import eval_transform
from fairlab.train import fit

TRAINED = ("text_lora", "unet_lora", "prefix")
#: the paper's targets: a balanced gender, four equally likely race classes, 75 % young and 25 % old
TARGET_SHARES = {"gender": (0.5, 0.5), "race": (0.25, 0.25, 0.25, 0.25), "age": (0.75, 0.25)}


@dataclass(frozen=True)
class RunSpec:
    """One run as plain data: the debiased attributes, what trains, the gradient, and the official per-experiment
    weights (reference §2's table): the preservation weight ``image_weight``, the face term's ``face_weight``, the
    original confidence above which the original face is its own target (``face_confidence``) and the preservation
    weight of an image without a face (``no_face_weight``; every `mini` image shows a face)."""

    debias: tuple[str, ...]
    trained: str = "text_lora"
    gradient: str = "adjusted"
    coefficients: str = "official"
    objective: str = "alignment"
    image_weight: float = 8.0
    face_weight: float = 1.0
    face_confidence: float = 0.9
    no_face_weight: float = 1.0
    targets: dict = field(default_factory=lambda: dict(TARGET_SHARES))

    def __post_init__(self):
        unknown = [a for a in self.debias if a not in HEADS]
        if not self.debias or unknown:
            raise ValueError(f"debias must name some of {list(HEADS)}, got {list(self.debias)}")
        if self.trained not in TRAINED:
            raise ValueError(f"trained must be one of {TRAINED}, got {self.trained!r}")
        if self.objective not in ("alignment", "dissimilarity"):
            raise ValueError(f"objective must be 'alignment' or 'dissimilarity', got {self.objective!r}")


@dataclass
class Perception:
    """The networks the loss reads, all frozen: the training classifier (read at ``classifier_size``), the two
    whole-image encoders, the face embedder and its bank of real-face embeddings, and the face detector. In `mini` the
    classifier reads the whole image, normalised as the renders it learned from; the paper's classifiers read the
    largest face's square crop in [−1, 1] with no normalisation (``reads_face_crop``)."""

    classifier: nn.Module
    classifier_size: int
    clip: ImageEncoder
    dino: ImageEncoder
    face: FaceEmbedder
    bank: torch.Tensor
    detector: Callable[[torch.Tensor], Faces] = field(default_factory=FixedFaceBox)
    reads_face_crop: bool = False

    def detect(self, pixels: torch.Tensor) -> Faces:
        """The largest face of each decoded image (pixels in [−1, 1]); not differentiable."""
        return self.detector(to_uint8(pixels.detach()))

    def probabilities(self, pixels: torch.Tensor, faces: Faces) -> dict[str, torch.Tensor]:
        return {h: logits.softmax(dim=1) for h, logits in self.logits(pixels, faces).items()}

    def logits(self, pixels: torch.Tensor, faces: Faces) -> dict[str, torch.Tensor]:
        """The training classifier's logits of decoded images (pixels in [−1, 1], differentiable); an image without a
        face is read whole, and its reading is never used."""
        if not self.reads_face_crop:
            return self.classifier(eval_transform(to_classifier_input(pixels), self.classifier_size))
        return self.classifier(face_crops(pixels, faces, self.classifier_size))

    def classify(self, images: torch.Tensor, batch_size: int = 64) -> dict[str, np.ndarray]:
        """What the training classifier reads in ``uint8`` images: each head's class (``NO_FACE`` without a face)."""
        device = self.bank.device
        parts = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                pixels = images[start:start + batch_size].to(device).float() / 127.5 - 1
                faces = self.detect(pixels)
                parts.append({h: np.where(faces.found, p.argmax(1).cpu().numpy(), NO_FACE)
                              for h, p in self.logits(pixels, faces).items()})
        return {h: np.concatenate([p[h] for p in parts]) for h in parts[0]}


def batch_targets(spec: RunSpec, probabilities: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each debiased attribute's target class per image (:data:`fairlab.dal.targets.NO_TARGET` where unconfident): the
    exact two-class rule for one two-class attribute, the composition enumeration for race alone, Monte-Carlo
    transport for several attributes (with the official asymmetric cost of "old")."""
    shares = {a: np.asarray(spec.targets[a], dtype=float) for a in spec.debias}
    if len(spec.debias) == 1:
        (name,) = spec.debias
        if len(shares[name]) == 2:
            return {name: two_class_targets(probabilities[name][:, 1], shares[name][1]).labels}
        return {name: composition_targets(probabilities[name], shares[name]).labels}
    scale = {"age": {1: AGE_OLD_COST_SCALE}} if "age" in spec.debias else None
    found = joint_targets({a: probabilities[a] for a in spec.debias}, shares, rng, cost_scale=scale)
    return {a: t.labels for a, t in found.items()}


class DebiasedModel(nn.Module):
    """The generator's trained networks as one module for the engine, with the exponential moving average of the
    trained weights and the per-iteration log kept in its state (so a checkpoint holds them)."""

    def __init__(self, generator: Generator, trained: list[nn.Parameter], ema_decay: float):
        from diffusers.training_utils import EMAModel

        super().__init__()
        self.text_encoder, self.unet = generator.text_encoder, generator.unet
        self.trained = trained
        self.ema = EMAModel(trained, decay=ema_decay)
        self.log: list[dict] = []

    def state_dict(self, *args, **kwargs) -> dict:
        """What a run changes, and nothing else: the trained parameters, the EMA and the log (the frozen base is as
        it was loaded; Stable Diffusion's would add 4 GB to every checkpoint)."""
        full = super().state_dict(*args, **kwargs)
        prefix = kwargs.get("prefix", "")
        kept = {prefix + name for name, p in self.named_parameters() if p.requires_grad} | {prefix + "_extra_state"}
        return type(full)((k, v) for k, v in full.items() if k in kept)

    def load_state_dict(self, state: dict, strict: bool = True, assign: bool = False):
        """Loads :meth:`state_dict`'s entries; with ``strict``, every trained parameter must be among them."""
        result = super().load_state_dict(state, strict=False, assign=assign)
        missing = [k for k in result.missing_keys if self.get_parameter(k).requires_grad]
        if strict and (missing or result.unexpected_keys):
            raise RuntimeError(f"a debiased model's state misses trained parameters {missing} or has unexpected "
                               f"entries {result.unexpected_keys}")
        return result

    def get_extra_state(self) -> dict:
        return {"ema": self.ema.state_dict(), "log": self.log}

    def set_extra_state(self, state: dict) -> None:
        self.ema.load_state_dict(state["ema"])
        self.log = list(state["log"])

    def update_ema(self) -> None:
        self.ema.step(self.trained)

    def use_ema(self) -> None:
        """Copy the averaged weights into the trained parameters (the evaluated model)."""
        self.ema.copy_to(self.trained)


def attach(generator: Generator, spec: RunSpec, rank: int, seed: int) -> list[nn.Parameter]:
    """Add what ``spec`` trains to ``generator`` (its base weights stay frozen); returns the trained parameters."""
    torch.manual_seed(seed)   # peft draws the LoRA's Gaussian initialisation from the global generator
    if spec.trained == "text_lora":
        return adapters.add_lora(generator.text_encoder, adapters.TEXT_ENCODER_TARGETS, rank)
    if spec.trained == "unet_lora":
        return adapters.add_lora(generator.unet, adapters.UNET_TARGETS, rank)
    generator.prefix, parameter = adapters.add_soft_prefix(generator.text_encoder, generator.tokenizer, seed=seed)
    return [parameter]


@contextmanager
def original_model(generator: Generator) -> Iterator[None]:
    """Within the block, ``generator`` is the original model: adapters disabled and the prefix left out."""
    prefix, generator.prefix = generator.prefix, ""
    try:
        with adapters.original(generator.text_encoder, generator.unet):
            yield
    finally:
        generator.prefix = prefix


def _face_targets(spec: RunSpec, labels, original_classes, original_confidence, original_found, original_faces,
                  current_faces, bank) -> torch.Tensor:
    keep = np.array(original_found, dtype=bool)
    for a in spec.debias:
        keep &= (labels[a] == original_classes[a]) & (original_confidence[a] >= spec.face_confidence)
    neighbours = nearest_in_bank(current_faces, bank)
    return torch.where(torch.as_tensor(keep, device=bank.device)[:, None], original_faces, neighbours)


def _targets_of_faces(spec: RunSpec, probabilities: dict[str, np.ndarray], found: np.ndarray,
                      rng: np.random.Generator) -> dict[str, np.ndarray]:
    """:func:`batch_targets` over the images with a face; the others get no target (the official code)."""
    labels = {a: np.full(len(found), NO_TARGET, dtype=np.int64) for a in spec.debias}
    if found.any():
        for a, found_labels in batch_targets(spec, {a: p[found] for a, p in probabilities.items()}, rng).items():
            labels[a][found] = found_labels
    return labels


def alignment_objective(generator: Generator, perception: Perception, spec: RunSpec, prompt: str,
                        noise: torch.Tensor, rng: np.random.Generator, steps: int | None = None,
                        checkpoint: bool = False) -> tuple[torch.Tensor, dict]:
    """The loss of one prompt's batch (the module docstring's three passes) and what it logs. The face term counts
    the images with a face and a target, averaged over all N (the official code), as the alignment term does."""
    n = len(noise)
    with torch.no_grad():
        current = generator.decode(generator.latents_from(noise, prompt, steps=steps))
        faces = perception.detect(current)
        probabilities = {h: p.cpu().double().numpy() for h, p in perception.probabilities(current, faces).items()}
        labels = _targets_of_faces(spec, probabilities, faces.found, rng)
        with original_model(generator):
            before = generator.decode(generator.latents_from(noise, prompt, steps=steps))
        faces_before = perception.detect(before)
        original_probabilities = perception.probabilities(before, faces_before)
        original_classes = {a: original_probabilities[a].argmax(1).cpu().numpy() for a in spec.debias}
        original_confidence = {a: original_probabilities[a].max(1).values.cpu().numpy() for a in spec.debias}
        references = {"clip": perception.clip(to_classifier_input(before)),
                      "dino": perception.dino(to_classifier_input(before))}
        original_faces = _embed_found(perception, before, faces_before)
    images = generator.decode(generator.latents_from(noise, prompt, gradient=spec.gradient,
                                                     coefficients=spec.coefficients, checkpoint=checkpoint,
                                                     steps=steps))
    logits = perception.logits(images, faces)
    align = alignment_loss({a: logits[a] for a in spec.debias}, labels)
    changed = changed_attributes(labels, original_classes)
    weight = torch.as_tensor(preservation_weight(changed, faces.found, spec.no_face_weight), dtype=images.dtype,
                             device=images.device)
    both_found = (faces.found & faces_before.found)[:, None]
    region = np.where(both_found, box_intersection(faces.boxes, faces_before.boxes), 0)
    held = attenuate_inside(images, region, region_factor(changed))
    pixels = to_classifier_input(held)
    preservation = (weight * (cosine_distance(perception.clip(pixels), references["clip"])
                              + cosine_distance(perception.dino(pixels), references["dino"]))).mean()
    with_target = faces.found & np.all([labels[a] >= 0 for a in spec.debias], axis=0)
    face = images.new_zeros(())
    if with_target.any():
        current_faces = perception.face(to_classifier_input(images[with_target]), faces.subset(with_target))
        face_target = _face_targets(spec, {a: labels[a][with_target] for a in spec.debias},
                                    {a: original_classes[a][with_target] for a in spec.debias},
                                    {a: original_confidence[a][with_target] for a in spec.debias},
                                    faces_before.found[with_target], original_faces[with_target],
                                    current_faces.detach(), perception.bank)
        face = cosine_distance(current_faces, face_target).sum() / n
    total = align + spec.image_weight * preservation + spec.face_weight * face
    kept = {a: float(np.mean(labels[a] >= 0)) for a in spec.debias}
    share = {a: float(np.mean(probabilities[a].argmax(1)[faces.found] == 1)) for a in spec.debias
             if len(spec.targets[a]) == 2 and faces.found.any()}
    return total, {"loss": float(total.detach()), "align": float(align.detach()),
                   "preservation": float(preservation.detach()), "face": float(face.detach()),
                   "kept": kept, "class_1_share": share, "faces": float(faces.found.mean())}


def _embed_found(perception: Perception, pixels: torch.Tensor, faces: Faces) -> torch.Tensor:
    """The face embeddings of decoded images, zeros where no face was found."""
    out = torch.zeros(len(pixels), perception.bank.shape[1], dtype=perception.bank.dtype, device=perception.bank.device)
    if faces.found.any():
        out[torch.as_tensor(faces.found, device=out.device)] = perception.face(
            to_classifier_input(pixels[faces.found]), faces.subset(faces.found)).to(out.dtype)
    return out


def dissimilarity_objective(generator: Generator, perception: Perception, spec: RunSpec, prompt: str,
                            noise: torch.Tensor, rng: np.random.Generator, steps: int | None = None,
                            checkpoint: bool = False, gradient_norms: dict | None = None) -> tuple[torch.Tensor, dict]:
    """Figure 1's toy objective, "minimising average CLIP & DINO similarity" (the paper's page; similarity to what, it
    does not say). Read here as the mean cosine similarity between the batch's images under the two encoders,
    averaged: images of one prompt start alike (near 1) and the loss falls as they diversify. Similarity to the
    original image from the same noise would start at its maximum, where a zero-initialised LoRA gets no gradient.
    ``gradient_norms`` records each sampler step's gradient scale (:func:`fairlab.dal.dft.sample`)."""
    images = generator.decode(generator.latents_from(noise, prompt, gradient=spec.gradient,
                                                     coefficients=spec.coefficients, checkpoint=checkpoint,
                                                     steps=steps, gradient_norms=gradient_norms))
    pixels = to_classifier_input(images)
    n = len(pixels)
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=pixels.device)
    similarity = sum((f @ f.T)[off_diagonal].mean() for f in (perception.clip(pixels), perception.dino(pixels))) / 2
    return similarity, {"loss": float(similarity.detach())}


#: what a run minimises: the paper's loss, or Figure 1's toy objective
OBJECTIVES = {"alignment": alignment_objective, "dissimilarity": dissimilarity_objective}


@dataclass(frozen=True)
class TrainingSettings:
    """How long and how fast: ``iterations`` prompts in all, ``images`` per prompt (N), AdamW at ``lr`` (weight decay
    ``weight_decay``), the EMA's ``ema_decay``, the LoRA ``rank`` and the run's ``seed`` (prompt order, noise,
    initialisation); ``steps`` sampler steps (None: the generator's); ``checkpoint``: recompute the U-Net's activations
    in the backward pass (for GPU memory; slower on the CPU)."""

    iterations: int
    images: int
    lr: float = 5e-5
    weight_decay: float = 1e-2
    ema_decay: float = 0.996
    rank: int = adapters.RANK
    seed: int = 5991
    steps: int | None = None
    checkpoint: bool = False


class PromptStream:
    """The training prompts' order: one seeded shuffle after another (the official code shuffles with its own seed),
    cut into epochs of one pass each, ``iterations`` prompts in all; resumable from :meth:`state_dict`."""

    def __init__(self, n_prompts: int, iterations: int, seed: int):
        self.n, self.iterations = n_prompts, iterations
        self.generator = torch.Generator().manual_seed(int(seed))
        self.done = 0

    @property
    def epochs(self) -> int:
        return -(-self.iterations // self.n)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "done": self.done}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.done = state["done"]

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.generator)
        for index in order[: min(self.n, self.iterations - self.done)]:
            self.done += 1
            yield (index.view(1),)


def training_noise(seed: int, iteration: int, n: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The starting noise of one training iteration, from its own seeded generator (the same on any device)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + iteration)
    return torch.randn((n, *shape), generator=generator)


def finetune(generator: Generator, perception: Perception, spec: RunSpec, prompts: list[str],
             settings: TrainingSettings, checkpoint: Path | None = None, progress: bool = True,
             runtime=None) -> DebiasedModel:
    """Fine-tune ``generator`` on ``prompts`` under ``spec``; returns the trained module, its EMA weights copied in
    (so ``generator`` is now the debiased model) and its per-iteration log in ``.log``."""
    trained = attach(generator, spec, settings.rank, settings.seed)
    model = DebiasedModel(generator, trained, settings.ema_decay)
    optimizer = torch.optim.AdamW(trained, lr=settings.lr, betas=(0.9, 0.999), weight_decay=settings.weight_decay,
                                  eps=1e-8)
    order = PromptStream(len(prompts), settings.iterations, settings.seed + 1)

    objective = OBJECTIVES[spec.objective]

    def loss(m: DebiasedModel, batch) -> torch.Tensor:
        iteration = len(m.log)
        noise = training_noise(settings.seed, iteration, settings.images, generator.latent_shape).to(generator.device)
        rng = np.random.default_rng([settings.seed, iteration])
        value, entry = objective(generator, perception, spec, prompts[int(batch[0])], noise, rng, settings.steps,
                                 settings.checkpoint)
        m.log.append({"iteration": iteration, **entry})
        return value

    fit(model, optimizer, order, loss, order.epochs, after_step=model.update_ema, skip_nonfinite=True,
        desc=f"debiasing {' × '.join(spec.debias)} ({spec.trained}, {spec.gradient})", progress=progress,
        checkpoint=checkpoint, runtime=runtime)
    model.use_ema()
    return model
