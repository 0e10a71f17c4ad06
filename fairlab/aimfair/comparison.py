"""AIM-Fair's Tables 1 and 2: the other debiasing methods re-run on the same data, recipe and model selection.

The paper's rows for these methods are copied from the DiGA paper; here each is trained from the
backbone on the setting's biased real subset with the recipe of :mod:`fairlab.aimfair.recipe` and
its method from :mod:`fairlab.aimfair.competitors`, keeping the epoch with the best real validation
accuracy — target labels only, as the comparison requires. The ERM row is the Baseline
(:func:`fairlab.aimfair.smg_sft.pretrained`) and AIM-Fair's row its selective fine-tuning run.

Records (``results/<profile>/aimfair/competitor/...``), one per (setting, seed, method).

Hyper-parameters (profile key ``aimfair.competitor_search``): ``published`` takes one value each from
the method's own paper — CVaR DRO α = 0.2; JTT T = 1 identification epoch and λ_up = 50 (its CelebA
setting); LfF q = 0.7 and β = 0.7; EIIL 10,000 Adam steps at 0.001 on the Baseline's logits, then
group DRO (η = 0.01) over the two inferred environments; the oracle's group DRO η = 0.01 (Sagawa et
al.). ``grid`` searches :data:`GRIDS` — the published value with values below and above it — on the
profile's first seed and keeps, per setting, the point with the best validation accuracy (target
labels only, as the comparison requires; the oracle's search reads the same validation accuracy),
which then runs on every seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from fairlab.aimfair import bias_estimate, competitors, recipe, smg_sft
from fairlab.aimfair.settings import SUBSET_SETTINGS, setting
from fairlab.results import Record
from fairlab.study import Study

COMPETITOR = "aimfair/competitor"

#: Table 1's settings: Smiling with Male and with Young, and Young with Male
TABLE1_SETTINGS = ("CelebA S/M", "CelebA S/Y", "CelebA Y/M")
#: Table 2's settings: Smiling/Male on 50 %, 25 % and 10 % of the real subset (its synthetic data unchanged)
TABLE2_SETTINGS = tuple(SUBSET_SETTINGS)


@dataclass(frozen=True)
class Competitor:
    """One debiasing method and its hyper-parameters (``kind``: cvar, jtt, lff, eiil or groupdro)."""

    kind: str
    alpha: float | None = None
    upweight: int | None = None
    identification_epochs: int | None = None
    q: float | None = None
    ema: float | None = None
    eta: float | None = None
    eiil_steps: int | None = None
    eiil_lr: float | None = None


#: Table 1's re-run rows, as the paper prints their names, and the oracle (not in the paper)
COMPETITORS = {
    "CVaR DRO": Competitor("cvar", alpha=0.2),
    "EIIL": Competitor("eiil", eta=0.01, eiil_steps=10_000, eiil_lr=0.001),
    "LfF": Competitor("lff", q=0.7, ema=0.7),
    "JTT": Competitor("jtt", upweight=50, identification_epochs=1),
}
ORACLE = {"group DRO (oracle: group labels)": Competitor("groupdro", eta=0.01)}
#: ``competitor_search: grid``: each method's points, the published one (:data:`COMPETITORS`, :data:`ORACLE`) among them;
#: JTT's T only below the profile's epochs
GRIDS = {
    "CVaR DRO": [Competitor("cvar", alpha=a) for a in (0.1, 0.2, 0.5)],
    "EIIL": [Competitor("eiil", eta=e, eiil_steps=10_000, eiil_lr=0.001) for e in (0.001, 0.01, 0.1)],
    "LfF": [Competitor("lff", q=q, ema=0.7) for q in (0.5, 0.7, 0.9)],
    "JTT": [Competitor("jtt", upweight=u, identification_epochs=t) for t in (1, 5, 10) for u in (20, 50, 100)],
    "group DRO (oracle: group labels)": [Competitor("groupdro", eta=e) for e in (0.001, 0.01, 0.1)],
}
#: rows the paper prints that are not re-run, and why
REPORTED_ONLY = {
    "MAPLE": "MAPLE learns sample weights with a bilevel meta-learning loop over the whole training set; it is not "
             "re-implemented here.",
    "DiGA": "DiGA edits the training images with a trained image-editing generator (a diffusion model fine-tuned to "
            "change the protected attribute), which neither the miniature model nor this project provides.",
}


@dataclass(frozen=True)
class CompetitorConfig:
    """``method`` trained from the backbone on ``setting``'s biased real subset with seed ``seed``."""

    setting: str
    seed: int
    method: dict
    classifier: recipe.ClassifierInputs
    reference: str | None = None  # EIIL: the Baseline record whose logits it reads


def run(study: Study, label: str, seed: int, competitor: Competitor) -> Record:
    """Train one method for one seed and test it on the real test split."""
    setting(label)  # an unknown label fails here, before any record is looked up
    reference = smg_sft.pretrained(study, label, seed).path.name if competitor.kind == "eiil" else None
    config = CompetitorConfig(setting=label, seed=seed, method={k: v for k, v in asdict(competitor).items() if v is not None},
                              classifier=recipe.ClassifierInputs.of(study.profile), reference=reference)

    def compute(workdir: Path, staging: Path) -> dict:  # staging: the training checkpoint an interrupted run resumes
        return _train(study, label, seed, competitor, staging)

    return study.registry.get_or_compute_resumable(COMPETITOR, config, compute)


def _train(study: Study, label: str, seed: int, competitor: Competitor, staging: Path) -> dict:
    task = recipe.open_task(label, study)
    real, val, test = (task.split(s) for s in ("train", "val", "test"))
    size = study.profile.aimfair.image_size
    desc = f"{label} seed {seed}: {competitor.kind}"
    extra: dict = {}
    loss_fn = competitors.method_loss
    if competitor.kind == "cvar":
        model, loss_fn = smg_sft.classifier(study, "resnet18", seed), competitors.cvar_objective(competitor.alpha)
    elif competitor.kind == "jtt":
        identification = smg_sft.classifier(study, "resnet18", seed)
        recipe.train(identification, real, val, study.profile, seed, epochs=competitor.identification_epochs,
                     desc=f"{desc} identification")
        predicted = (recipe.predict_logits(identification, real.images, size) > 0).numpy().astype(int)
        errors = bias_estimate.error_set(predicted, real.target)
        extra = {"error_set": int(errors.sum()), "error_set_minority_share": _minority_share(errors, real)}
        real = competitors.jtt_upweighted(real, errors, competitor.upweight)
        model, loss_fn = smg_sft.classifier(study, "resnet18", seed), None
    elif competitor.kind == "lff":
        model = competitors.LearningFromFailure(smg_sft.classifier(study, "resnet18", seed),
                                                smg_sft.classifier(study, "resnet18", seed + 1), real.target,
                                                q=competitor.q, ema=competitor.ema)
    elif competitor.kind == "eiil":
        baseline = smg_sft.load_pretrained(study, label, seed)
        logits = recipe.predict_logits(baseline, real.images, size)
        environments = competitors.infer_environments(logits, torch.from_numpy(real.target), competitor.eiil_steps,
                                                      competitor.eiil_lr, seed)
        model = competitors.GroupDRO(smg_sft.classifier(study, "resnet18", seed), environments, competitor.eta)
        extra = {"environment_sizes": np.bincount(environments, minlength=2).tolist()}
    elif competitor.kind == "groupdro":
        model = competitors.GroupDRO(smg_sft.classifier(study, "resnet18", seed), 2 * real.target + real.protected,
                                     competitor.eta)
    else:
        raise ValueError(f"unknown competitor {competitor.kind!r}; expected cvar, jtt, lff, eiil or groupdro")
    result = recipe.train(model, real, val, study.profile, seed, desc=desc, checkpoint=staging / "fit.pt",
                          loss_fn=loss_fn)
    return {"report": recipe.evaluate(model, test, size), "val_acc": float(result.best_score[0]),
            "best_epoch": int(result.best_epoch[0]), "train_images": len(real), **extra}


def _minority_share(errors: np.ndarray, train: recipe.LabelledImages) -> float:
    """The share of JTT's error set that lies in the two smallest groups of ``train`` (read from protected labels,
    reported only)."""
    groups = 2 * train.target + train.protected
    counts = np.bincount(groups, minlength=4)
    minority = np.isin(groups, np.argsort(counts)[:2])
    return float(minority[errors].mean()) if errors.any() else float("nan")


def seed_records(study: Study, label: str, competitor: Competitor) -> list[Record]:
    """One record per seed of the profile."""
    return [run(study, label, seed, competitor) for seed in study.profile.aimfair.seeds]


def candidates(profile, name: str) -> list[Competitor]:
    """The points a row named ``name`` is chosen among: the published one, or :data:`GRIDS`' (``competitor_search``)."""
    published = {**COMPETITORS, **ORACLE}[name]
    if profile.aimfair.competitor_search == "published":
        return [published]
    return [c for c in GRIDS[name] if c.identification_epochs is None or c.identification_epochs < profile.aimfair.epochs]


def best_on_validation(validation: list[list[float]]) -> int:
    """The index of the candidate whose validation accuracies (one per seed it ran on) have the highest mean (the
    first on a tie)."""
    means = [float(np.mean(v)) for v in validation]
    return int(np.argmax(means))


def chosen(study: Study, label: str, name: str) -> tuple[Competitor, list[Record]]:
    """Row ``name`` on ``label``: the candidate with the best validation accuracy on the profile's first seed (the
    only one with ``published``), and its records on every seed."""
    points = candidates(study.profile, name)
    first = study.profile.aimfair.seeds[0]
    best = best_on_validation([[run(study, label, first, c).metrics["val_acc"]] for c in points]) if len(points) > 1 else 0
    return points[best], seed_records(study, label, points[best])


__all__ = ["Competitor", "COMPETITORS", "GRIDS", "ORACLE", "best_on_validation", "candidates", "chosen", "REPORTED_ONLY", "TABLE1_SETTINGS", "TABLE2_SETTINGS", "run", "seed_records"]
