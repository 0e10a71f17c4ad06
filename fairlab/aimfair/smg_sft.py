"""AIM-Fair's training strategies, selective mask generation and selective fine-tuning (Tables 3, 4, 6–11).

Records (``results/<profile>/aimfair/...``), one per (setting, seed, ...):

* ``pretrained`` — ResNet-18 trained on the biased real subset (the Baseline row; ``model.pt``);
* ``mean_gradients`` — the pre-trained model's mean gradient on one image set (real R, or one
  of the seed's synthetic sets), computed once and shared by every (S1, S2) pair that uses it;
* ``gradients`` — SMG's per-tensor sensitivities from that model, on real R, biased synthetic S1
  and balanced synthetic S2 (``absolute.csv``, ``cosine.csv``);
* ``strategy`` — one training strategy: trained from the backbone on synthetic data, on real +
  synthetic (supplementation), on real groups topped up from the contextual pool until they balance
  (repairing), on that with real and synthetic images mixed (LTGC-style mix-up); or the pre-trained
  model fine-tuned on S2
  under a mask (linear probe, full, AIM-Fair, cosine, random, one block updated or frozen) or with
  LoRA adapters (ViT-S/32).

Every record is for one architecture: ResNet-18 (Tables 3, 4, 6, 7, 9–11) or ViT-S/32 (Table 8).
ResNet-18 records also keep the penultimate features of a fixed, group-stratified sample of the
test set (``features.npz``) for Figure 6.

Per seed, as the reference code: pre-train → SMG → SFT → test; S1 and S2 are drawn from the
contextual pool with the seed (:func:`fairlab.aimfair.csdg.synthetic_sets`).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from fairlab import device as devices
from fairlab.aimfair import bias_estimate, csdg, recipe, selective, vit
from fairlab.aimfair.settings import setting as setting_named
from fairlab.data.images import ImageFiles
from fairlab.data.subsets import GROUPS, bias_quotas
from fairlab.profiles import Profile, RESNET18_TENSORS
from fairlab.results import Record
from fairlab.study import Study

PRETRAINED = "aimfair/pretrained"
MEAN_GRADIENTS = "aimfair/mean_gradients"
GRADIENTS = "aimfair/gradients"
STRATEGY = "aimfair/strategy"
S1_ESTIMATE = "aimfair/s1_estimate"

#: the S1 name whose bias ratio is estimated from the Baseline's error set (:func:`estimated_s1`)
S1_ESTIMATED = "jtt"

#: strategies trained from the backbone (the pre-training recipe) on a training set of their own
FROM_BACKBONE = ("synthetic", "supplementation", "repairing", "ltgc")
ARCHITECTURES = ("resnet18", "vit_s32")
#: test images per group whose penultimate features are stored (Figure 6's t-SNE)
FEATURE_SAMPLE_PER_GROUP = 150
#: LTGC-style mix-up: λ ~ Beta(α, α)
MIXUP_ALPHA = 1.0


@dataclass(frozen=True)
class PretrainedConfig:
    """The Baseline classifier of ``setting`` and ``seed``: ``arch`` trained from the backbone on the biased real subset."""

    setting: str
    seed: int
    arch: str
    classifier: recipe.ClassifierInputs


@dataclass(frozen=True)
class MeanGradientsConfig:
    """The ``pretrained`` model's (a record's hash) mean gradient per tensor on ``images`` (``"real"`` or a
    synthetic set's name)."""

    setting: str
    seed: int
    arch: str
    pretrained: str
    images: str
    classifier: recipe.ClassifierInputs


@dataclass(frozen=True)
class EstimatedS1Config:
    """S1 at the bias ratio estimated from the error set of the ``pretrained`` Baseline (a record's hash) on the real
    training data, ``s1_size`` images drawn from the contextual ``pool`` with ``seed``."""

    setting: str
    seed: int
    pretrained: str
    pool: str
    s1_size: int
    classifier: recipe.ClassifierInputs


@dataclass(frozen=True)
class GradientsConfig:
    """SMG's sensitivities of the ``pretrained`` model from its ``mean_gradients`` on R, S1 and S2 (record hashes)."""

    setting: str
    seed: int
    arch: str
    pretrained: str
    s1: str
    s2: str
    mean_gradients: dict
    classifier: recipe.ClassifierInputs


@dataclass(frozen=True)
class FineTuning:
    """What a fine-tuned strategy adds: the ``pretrained`` model it starts from and the learning-rate grid and epochs."""

    pretrained: str
    lrs: tuple[float, ...]
    epochs: int


@dataclass(frozen=True)
class StrategyConfig:
    """One strategy (its non-empty fields) for ``setting`` and ``seed``; ``finetune`` is set for the strategies that
    fine-tune the pre-trained model."""

    setting: str
    seed: int
    strategy: dict
    classifier: recipe.ClassifierInputs
    finetune: FineTuning | None = None


# ---------------------------------------------------------------------------------------------
# data


def synthetic(study: Study, label: str, seed: int, name: str) -> recipe.LabelledImages:
    """A seed's synthetic set (``"S2_x1"``, ``"S1_1-9"``, ..., or ``"S1_jtt"`` at the estimated bias ratio) at the
    generator's output size."""
    if name == f"S1_{S1_ESTIMATED}":
        frame = estimated_s1_frame(estimated_s1(study, label, seed))
    else:
        frame = csdg.load_set(csdg.synthetic_sets(study, label, seed=seed), name)
    return recipe.load_synthetic_set(frame, study.profile.csdg.generation.out_size, study.profile.data.image_store)


def estimated_s1(study: Study, label: str, seed: int) -> Record:
    """S1 at the real data's bias ratio as the paper sets it: estimated from the error set of the seed's Baseline on
    the real training data (:mod:`fairlab.aimfair.bias_estimate`), then drawn from the contextual pool with the
    seed. The record keeps the estimate beside the true ratio (from the protected labels, never used)."""
    setting = setting_named(label)
    source = pretrained(study, label, seed)
    pool_record = csdg.contextual_pool(study, label)
    n_s1 = study.profile.csdg.s1_size or csdg.real_size(study.profile, setting)
    config = EstimatedS1Config(setting=label, seed=seed, pretrained=source.path.name, pool=pool_record.path.name,
                               s1_size=n_s1, classifier=recipe.ClassifierInputs.of(study.profile))

    def compute(workdir: Path) -> dict:
        real = recipe.open_task(label, study).split("train")
        model = load_pretrained(study, label, seed)
        predicted = (recipe.predict_logits(model, real.images, study.profile.aimfair.image_size) > 0).numpy().astype(int)
        errors = bias_estimate.error_set(predicted, real.target)
        share = bias_estimate.estimated_minority_share(errors, real.target)
        quota = bias_quotas(n_s1, share)
        got = csdg.draw_set(csdg.pool_frame(pool_record), quota, seed, workdir / "S1.csv")
        return {"estimated_share": share, "true_share": bias_estimate.true_minority_share(real.target, real.protected),
                "error_rate": float(errors.mean()), "counts": got, "short": got != quota,
                "pool": f"{csdg.POOL}/{pool_record.path.name}"}

    return study.registry.get_or_compute(S1_ESTIMATE, config, compute)


def estimated_s1_frame(record: Record) -> pd.DataFrame:
    """The images of an :func:`estimated_s1` record with absolute paths."""
    return csdg.read_set(record, "S1")


def concat(*parts: recipe.LabelledImages) -> recipe.LabelledImages:
    """One training set from several; images are resized (squashed) to the first part's size.

    Real CelebA-format faces are taller than wide and synthetic ones square: bringing the synthetic
    images to the real decode size keeps the real images exactly as the Baseline sees them.
    """
    height, width = parts[0].images.shape[-2:]
    if any(isinstance(p.images, ImageFiles) for p in parts):  # the stream store: a list of files, decoded later
        if not all(isinstance(p.images, ImageFiles) for p in parts):
            raise TypeError("the stream store cannot mix decoded tensors with image files; load every part with the same store")
        images = ImageFiles.concat([p.images for p in parts]).at_size((height, width))
        return recipe.LabelledImages(images, np.concatenate([p.target for p in parts]),
                                      np.concatenate([p.protected for p in parts]))
    images = []
    for part in parts:
        x = part.images
        if x.shape[-2:] != (height, width):
            x = nn.functional.interpolate(x.float(), size=(height, width), mode="bilinear", antialias=True,
                                          align_corners=False).round().clamp(0, 255).to(torch.uint8)
        images.append(x)
    return recipe.LabelledImages(torch.cat(images), np.concatenate([p.target for p in parts]),
                                  np.concatenate([p.protected for p in parts]))


def subset(data: recipe.LabelledImages, index: np.ndarray) -> recipe.LabelledImages:
    index = np.asarray(index, dtype=np.int64)
    images = data.images.take(index) if isinstance(data.images, ImageFiles) else data.images[torch.from_numpy(index)]
    return recipe.LabelledImages(images, data.target[index], data.protected[index])


def repairing_picks(real_groups: np.ndarray, pool_groups: np.ndarray, seed: int) -> np.ndarray:
    """Indices into a synthetic pool that top every real group up to the largest one.

    With the 90/10 layout this adds (majority − minority) images to each minority group, e.g.
    8,000 to (0,0) and (1,1) for the paper's 20k subset from its 10,500-per-group contextual pool
    (``../shared/reference/aimfair.md`` §7). A group asks for at most what the pool holds: a pool
    smaller than the need leaves that group short (the record's group counts say by how much).
    """
    real_counts = pd.Series(real_groups).value_counts()
    largest = int(real_counts.max())
    rng = np.random.default_rng(seed)
    picked = []
    for group in GROUPS:
        need = largest - int(real_counts.get(group, 0))
        candidates = np.flatnonzero(np.asarray(pool_groups) == group)
        if need > 0 and len(candidates):
            picked.append(np.sort(rng.choice(candidates, min(need, len(candidates)), replace=False)))
    return np.concatenate(picked) if picked else np.array([], dtype=np.int64)


def repairing_top_up(real: recipe.LabelledImages, pool: recipe.LabelledImages, seed: int) -> recipe.LabelledImages:
    """The synthetic images of ``pool`` that balance ``real``'s groups (:func:`repairing_picks`)."""
    return subset(pool, repairing_picks(real.groups(), pool.groups(), seed))


def contextual_top_up(study: Study, label: str, real: recipe.LabelledImages, seed: int) -> recipe.LabelledImages:
    """Data repairing's top-up, drawn from the setting's whole contextual pool (not from S2, whose N_R / 4 per group
    cannot balance a 90/10 set); only the picked images are decoded."""
    frame = csdg.pool_frame(csdg.contextual_pool(study, label))
    picks = repairing_picks(real.groups(), frame["group"].to_numpy(), seed)
    return recipe.load_synthetic_set(frame.iloc[picks].reset_index(drop=True), study.profile.csdg.generation.out_size,
                                     study.profile.data.image_store)


def ltgc_mix(real: recipe.LabelledImages, synthetic_part: recipe.LabelledImages, seed: int,
             alpha: float = MIXUP_ALPHA) -> recipe.LabelledImages:
    """LTGC-style mix-up of real and synthetic data, drawn once per seed.

    LTGC fills a long-tailed set's tail with generated images and mixes generated with real ones
    (its BalanceMix); AIM-Fair compares with it as "mix-up of real and synthetic data" and gives
    no settings (``../shared/reference/aimfair.md`` §7). Here: the real set plus the synthetic
    top-up of :func:`repairing_top_up`, and every image blended with a random image of the *other*
    source, ``x = λ x_a + (1 − λ) x_b``, ``y = λ y_a + (1 − λ) y_b`` with λ ~ Beta(α, α) per image.
    Targets become soft (BCE takes them as they are); the protected labels stay the first image's.
    """
    both = concat(real, synthetic_part)
    n_real, n = len(real), len(both)
    if n_real == 0 or n == n_real:
        raise ValueError("LTGC mix-up needs real and synthetic images")
    rng = np.random.default_rng(seed)
    partner = np.where(np.arange(n) < n_real, rng.integers(n_real, n, n), rng.integers(0, n_real, n))
    lam = rng.beta(alpha, alpha, n)
    target = lam * both.target + (1 - lam) * both.target[partner]
    if isinstance(both.images, ImageFiles):  # blended batch by batch when read, never as a whole-set copy
        return recipe.LabelledImages(both.images.mixed_with(partner, lam.astype(np.float32)), target.astype(np.float32),
                                      both.protected)
    weight = torch.from_numpy(lam).float().view(-1, 1, 1, 1)
    images = (weight * both.images.float() + (1 - weight) * both.images[torch.from_numpy(partner)].float())
    return recipe.LabelledImages(images.round().clamp(0, 255).to(torch.uint8), target.astype(np.float32), both.protected)


# ---------------------------------------------------------------------------------------------
# models


def classifier(study: Study, arch: str, seed: int) -> nn.Module:
    """A classifier from the profile's backbone weights with a fresh one-logit head."""
    if arch == "resnet18":
        return recipe.classifier(study, seed)
    if arch == "vit_s32":
        return vit.classifier(study, seed)
    raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")


def scaled_k(k: int, model: nn.Module) -> int:
    """SMG's k for a model: the paper's k of ResNet-18's 62 tensors at the same share (ViT-S/32: 55 → 135 of 152)."""
    n = len(list(model.named_parameters()))
    return k if n == RESNET18_TENSORS else max(1, int(round(k * n / RESNET18_TENSORS)))


def feature_sample(test: recipe.LabelledImages) -> np.ndarray:
    """A fixed sample of test images, :data:`FEATURE_SAMPLE_PER_GROUP` per group (seed 0)."""
    rng = np.random.default_rng(0)
    groups = test.groups()
    picked = [np.sort(rng.choice(np.flatnonzero(groups == g), min(FEATURE_SAMPLE_PER_GROUP, int((groups == g).sum())),
                                 replace=False)) for g in GROUPS if (groups == g).any()]
    return np.concatenate(picked)


def penultimate(model: nn.Module, images: torch.Tensor, size: int, batch_size: int = 512) -> torch.Tensor:
    """The input of the model's last linear layer (ResNet-18: the 512-d pooled features)."""
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    captured = []
    hook = head.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0].detach().float().cpu()))
    try:
        recipe.predict_logits(model, images, size, batch_size)
    finally:
        hook.remove()
    return torch.cat(captured)


def _save_features(model: nn.Module, arch: str, test: recipe.LabelledImages, size: int, workdir: Path) -> None:
    if arch != "resnet18":
        return
    index = feature_sample(test)
    features = penultimate(model, test.images[torch.from_numpy(index)], size)
    np.savez_compressed(workdir / "features.npz", features=features.numpy().astype(np.float16), index=index,
                        target=test.target[index], protected=test.protected[index])


def load_features(record: Record) -> dict[str, np.ndarray]:
    with np.load(record.artifact("features.npz")) as data:
        return {k: data[k] for k in data.files}


# ---------------------------------------------------------------------------------------------
# pre-training (the Baseline)


def pretrained(study: Study, label: str, seed: int, arch: str = "resnet18") -> Record:
    """The classifier trained from the backbone on the biased real subset (the Baseline; ties: later epoch)."""
    config = PretrainedConfig(setting=label, seed=seed, arch=arch, classifier=recipe.ClassifierInputs.of(study.profile))

    def compute(workdir: Path, staging: Path) -> dict:
        task = recipe.open_task(label, study)
        train, val, test = (task.split(s) for s in ("train", "val", "test"))
        model = classifier(study, arch, seed)
        result = recipe.train(model, train, val, study.profile, seed, desc=f"{label} seed {seed}: {arch} pre-training on real data",
                               checkpoint=staging / "fit.pt")
        torch.save(devices.cpu_state(model), workdir / "model.pt")
        _save_features(model, arch, test, study.profile.aimfair.image_size, workdir)
        return {"report": recipe.evaluate(model, test, study.profile.aimfair.image_size), "val_acc": float(result.best_score[0]),
                "best_epoch": int(result.best_epoch[0]), "history": result.history, "train_images": len(train)}

    return study.registry.get_or_compute_resumable(PRETRAINED, config, compute)


def load_pretrained(study: Study, label: str, seed: int, arch: str = "resnet18") -> nn.Module:
    record = pretrained(study, label, seed, arch)
    model = classifier(study, arch, seed)
    model.load_state_dict(torch.load(record.artifact("model.pt"), weights_only=True, map_location="cpu"))
    return model


# ---------------------------------------------------------------------------------------------
# SMG


def mean_gradients(study: Study, label: str, seed: int, image_set: str,
                   arch: str = "resnet18") -> Record:
    """The pre-trained model's mean gradient per tensor on one image set: ``"real"`` (R) or a synthetic set name
    (``"S1_1-9"``, ``"S2_x1"``, ...), over one pass of the recipe's augmented batches (``gradients.pt``)."""
    source = pretrained(study, label, seed, arch)
    config = MeanGradientsConfig(setting=label, seed=seed, arch=arch, pretrained=source.path.name, images=image_set,
                                 classifier=recipe.ClassifierInputs.of(study.profile))

    def compute(workdir: Path) -> dict:
        if image_set == "real":
            data = recipe.open_task(label, study).split("train")
        else:
            data = synthetic(study, label, seed, image_set)
        model = load_pretrained(study, label, seed, arch)  # a fresh copy: train mode moves BN statistics
        grads = selective.mean_gradients(model, recipe.training_batches(data, study.profile, seed), recipe.loss)
        torch.save({name: g.detach().cpu() for name, g in grads.items()}, workdir / "gradients.pt")
        return {"images": len(data), "tensors": len(grads)}

    return study.registry.get_or_compute(MEAN_GRADIENTS, config, compute)


def load_mean_gradients(record: Record) -> dict[str, torch.Tensor]:
    return torch.load(record.artifact("gradients.pt"), weights_only=True, map_location="cpu")


def gradients(study: Study, label: str, seed: int, s1: str = "1:9", s2: str = "x1",
              arch: str = "resnet18") -> Record:
    """SMG's two sensitivities per tensor from the mean gradients on R, S1 and S2 (each a record of its own)."""
    source = pretrained(study, label, seed, arch)
    names = {"real": "real", "S1": f"S1_{s1.replace(':', '-')}", "S2": f"S2_{s2}"}
    parts = {key: mean_gradients(study, label, seed, name, arch) for key, name in names.items()}
    config = GradientsConfig(setting=label, seed=seed, arch=arch, pretrained=source.path.name, s1=s1, s2=s2,
                             mean_gradients={key: record.path.name for key, record in parts.items()},
                             classifier=recipe.ClassifierInputs.of(study.profile))

    def compute(workdir: Path) -> dict:
        grads = {key: load_mean_gradients(record) for key, record in parts.items()}
        for measure in ("absolute", "cosine"):
            table = selective.sensitivities(grads["real"], grads["S1"], grads["S2"], measure)
            table.index.name = "tensor"
            table.to_csv(workdir / f"{measure}.csv")
        return {"images": {key: record.metrics["images"] for key, record in parts.items()}}

    return study.registry.get_or_compute(GRADIENTS, config, compute)


def sensitivity_table(record: Record, measure: str = "absolute") -> pd.DataFrame:
    return pd.read_csv(record.artifact(f"{measure}.csv"), index_col="tensor")


# ---------------------------------------------------------------------------------------------
# strategies


@dataclass(frozen=True)
class Strategy:
    """A row of Tables 3/4 (or an ablation): what is trained, on what, and (for fine-tuning) under which mask.

    ``kind``: one of :data:`FROM_BACKBONE`, or a fine-tuning mask — ``linear_probe``, ``full``,
    ``selective`` (``k``, given against ResNet-18's 62 tensors, and ``measure``), ``random``
    (``ratio``), ``update`` / ``freeze`` (``block``), ``lora`` (ViT-S/32 only). ``s1`` and ``s2``
    name the synthetic sets (Tables 6, 7 and 10 vary them), ``arch`` the classifier.
    """

    kind: str
    k: int | None = None
    measure: str = "absolute"
    ratio: float | None = None
    block: str | None = None
    s1: str = "1:9"
    s2: str = "x1"
    arch: str = "resnet18"

    def __post_init__(self):
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; expected one of {ARCHITECTURES}")
        if self.kind == "lora" and self.arch != "vit_s32":
            raise ValueError("LoRA adapts the attention projections: it needs arch='vit_s32'")

    @property
    def fine_tunes(self) -> bool:
        return self.kind not in FROM_BACKBONE

    def mask(self, model: nn.Module, table: pd.DataFrame | None, seed: int) -> selective.Mask:
        if self.kind == "linear_probe":
            return selective.linear_probe(model)
        if self.kind == "full":
            return selective.everything(model)
        if self.kind == "selective":
            k = scaled_k(self.k, model)
            return selective.select(model, table, k, f"selective ({self.measure}, top-{k})")
        if self.kind == "random":
            return selective.random_share(model, self.ratio, seed)
        if self.kind == "update":
            return selective.update_block(model, self.block)
        if self.kind == "freeze":
            return selective.freeze_block(model, self.block)
        if self.kind == "lora":
            return selective.Mask.of(model, [n for n, p in model.named_parameters() if p.requires_grad],
                                     "LoRA (rank 8 on qkv) + head")
        raise ValueError(f"unknown strategy kind {self.kind!r}")

    def as_config(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _training_set(study: Study, label: str, strategy: Strategy, real: recipe.LabelledImages, seed: int):
    """The training set of a strategy trained from the backbone, and its images per group before any mixing:
    S2 (synthetic), real + S2 (supplementation), real topped up from the contextual pool until its groups balance
    (repairing), and that mixed up (LTGC)."""
    if strategy.kind in ("synthetic", "supplementation"):
        s2 = synthetic(study, label, seed, f"S2_{strategy.s2}")
        train = s2 if strategy.kind == "synthetic" else concat(real, s2)
        return train, train
    top_up = contextual_top_up(study, label, real, seed)
    repaired = concat(real, top_up)
    if strategy.kind == "repairing":
        return repaired, repaired
    return ltgc_mix(real, top_up, seed), repaired


def _train_from_backbone(study: Study, config: StrategyConfig, strategy: Strategy, staging: Path,
                         workdir: Path) -> dict:
    """A strategy trained from the backbone (synthetic, supplementation, repairing, LTGC), tested on the real test split."""
    label, seed = config.setting, config.seed
    task = recipe.open_task(label, study)
    real, val, test = (task.split(s) for s in ("train", "val", "test"))
    arch, size = strategy.arch, study.profile.aimfair.image_size
    train, unmixed = _training_set(study, label, strategy, real, seed)
    model = classifier(study, arch, seed)
    result = recipe.train(model, train, val, study.profile, seed, desc=f"{label} seed {seed}: {arch} {strategy.kind}",
                          checkpoint=staging / "fit.pt")
    _save_features(model, arch, test, size, workdir)
    return {"report": recipe.evaluate(model, test, size), "val_acc": float(result.best_score[0]),
            "best_epoch": int(result.best_epoch[0]), "train_images": len(train), "groups": _group_counts(unmixed)}


def _fine_tune(study: Study, config: StrategyConfig, strategy: Strategy, staging: Path,
               workdir: Path) -> dict:
    """The pre-trained model fine-tuned on S2 under the strategy's mask at every learning rate of the grid; the
    one with the best validation accuracy is tested on the real test split."""
    label, seed, finetune = config.setting, config.seed, config.finetune
    task = recipe.open_task(label, study)
    val, test = task.split("val"), task.split("test")
    s2 = synthetic(study, label, seed, f"S2_{strategy.s2}")
    arch, size = strategy.arch, study.profile.aimfair.image_size
    table = None
    if strategy.kind == "selective":
        table = sensitivity_table(gradients(study, label, seed, strategy.s1, strategy.s2, arch), strategy.measure)
    base = load_pretrained(study, label, seed, arch)
    tried, best = [], None
    for lr in finetune.lrs:
        model = copy.deepcopy(base)
        if strategy.kind == "lora":
            model = vit.with_lora(model)
        mask = strategy.mask(model, table, seed)
        model = mask.apply(model)
        result = recipe.train(model, s2, val, study.profile, seed, epochs=finetune.epochs, lr=lr,
                              decay_epoch=finetune.epochs + 1, keep="gt",
                              desc=f"{label} seed {seed}: {arch} {mask.description}, lr {lr}",
                              checkpoint=staging / f"fit_lr{lr:g}.pt")
        tried.append({"lr": lr, "val_acc": float(result.best_score[0]), "best_epoch": int(result.best_epoch[0])})
        if best is None or tried[-1]["val_acc"] > best[0]["val_acc"]:
            best = (tried[-1], model, mask)
    chosen, model, mask = best
    _save_features(model, arch, test, size, workdir)
    return {"report": recipe.evaluate(model, test, size), "val_acc": chosen["val_acc"],
            "best_epoch": chosen["best_epoch"], "lr": chosen["lr"], "lr_search": tried, "mask": mask.to_dict(),
            "mask_blocks": mask.by_block().to_dict("records"), "train_images": len(s2)}


def run(study: Study, label: str, seed: int, strategy: Strategy) -> Record:
    """Train one strategy for one seed and test it on the real test split."""
    setting = setting_named(label)  # an unknown label fails here, before any record is looked up
    arch = strategy.arch
    finetune = None
    if strategy.fine_tunes:
        finetune = FineTuning(pretrained=pretrained(study, label, seed, arch).path.name,
                              lrs=tuple(study.profile.aimfair.finetune_lrs), epochs=study.profile.aimfair.finetune_epochs)
    config = StrategyConfig(setting=label, seed=seed, strategy=strategy.as_config(),
                            classifier=recipe.ClassifierInputs.of(study.profile), finetune=finetune)

    if strategy.kind == "synthetic" and arch == "resnet18" and strategy.s2 == "x1" and setting.real_share == 1:
        # the paper's "Trained on Synthetic Data" row is Table 5's "Contextual + Head Poses (50)" run, digit for digit
        return csdg.table5_run(study, label, csdg.contextual_family(setting), seed)

    train_one = _train_from_backbone if not strategy.fine_tunes else _fine_tune

    def compute(workdir: Path, staging: Path) -> dict:
        # an interrupted run resumes from the epoch it reached: checkpoints live outside the record's work folder
        return train_one(study, config, strategy, staging, workdir)

    return study.registry.get_or_compute_resumable(STRATEGY, config, compute)


@dataclass(frozen=True)
class Baseline:
    """The pre-trained model (trained on the biased real data only) of an architecture: a table's first row."""

    arch: str = "resnet18"


@dataclass(frozen=True)
class AimFair:
    """AIM-Fair (SMG's mask at the profile's k, then SFT) on an architecture, with either gradient difference."""

    measure: str = "absolute"
    arch: str = "resnet18"

    def strategy(self, profile: Profile) -> Strategy:
        return Strategy("selective", k=profile.aimfair.top_k, measure=self.measure, arch=self.arch, s1=aim_s1(profile))


def aim_s1(profile: Profile) -> str:
    """AIM-Fair's S1 in this profile: the real subset's true 1 : 9, or the ratio estimated from the Baseline's error set
    (``aimfair.s1_ratio``). Every row that is AIM-Fair with one thing varied (k, S2's size) keeps it."""
    return S1_ESTIMATED if profile.aimfair.s1_ratio == "estimated" else "1:9"


def resolve(profile: Profile, entry: Strategy | Baseline | AimFair) -> Strategy | Baseline:
    """A table entry with AIM-Fair's k taken from the profile."""
    return entry.strategy(profile) if isinstance(entry, AimFair) else entry


def seed_records(study: Study, label: str, entry: Strategy | Baseline | AimFair) -> list[Record]:
    """A table entry's records, one per seed of the profile: the pre-trained model for a :class:`Baseline`,
    the strategy's run otherwise (computed when missing)."""
    entry = resolve(study.profile, entry)
    if isinstance(entry, Baseline):
        return [pretrained(study, label, seed, entry.arch) for seed in study.profile.aimfair.seeds]
    return [run(study, label, seed, entry) for seed in study.profile.aimfair.seeds]


def _group_counts(data: recipe.LabelledImages) -> dict[str, int]:
    return pd.Series(data.groups()).value_counts().reindex(list(GROUPS), fill_value=0).astype(int).to_dict()



__all__ = ["Strategy", "pretrained", "load_pretrained", "mean_gradients", "load_mean_gradients", "gradients", "sensitivity_table", "run", "concat",
           "aim_s1", "estimated_s1", "estimated_s1_frame", "repairing_picks", "repairing_top_up", "contextual_top_up", "ltgc_mix", "synthetic", "classifier", "scaled_k", "penultimate", "load_features",
           "FROM_BACKBONE", "ARCHITECTURES"]
