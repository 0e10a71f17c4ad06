"""The selective fine-tuning chapter's tables and figures, from the records of :mod:`fairlab.experiments.smg_sft`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairlab.data.subsets import GROUPS
from fairlab.experiments import smg_sft
from fairlab.experiments.smg_sft import Strategy
from fairlab.metrics import aggregate_seeds
from fairlab.profiles import Profile
from fairlab.reports import Estimate
from fairlab.results import Registry
from fairlab.selective import block_of, kind_of

S = Strategy
#: Table 3's rows: printed method name → strategy (``None``: the pre-trained Baseline)
TABLE3 = {
    "Baseline": None,
    "Trained on Synthetic Data": S("synthetic"),
    "Data Supplementation": S("supplementation"),
    "Data Repairing": S("repairing"),
    "Linear Prob": S("linear_probe"),
    "Fully Fine-Tuning": S("full"),
    "AIM-Fair (Ours)": "selective",
}
RANDOM_RATIOS = (0.4, 0.55, 0.7, 0.85)
BLOCKS = ("stem", "layer1", "layer2", "layer3", "layer4", "fc")
METRICS = ("acc", "wst", "eo_max", "eo_mean", "std")


def aimfair_strategy(profile: Profile, measure: str = "absolute") -> Strategy:
    return S("selective", k=profile.aimfair.top_k, measure=measure)


def seed_metrics(profile: Profile, registry: Registry, label: str, strategy: Strategy | None) -> list[dict]:
    """Per-seed metrics of a strategy's records (``None``: the pre-trained Baseline): ``report``, ``val_acc``, ..."""
    if strategy is None:
        return [smg_sft.pretrained(profile, registry, label, seed).metrics for seed in profile.aimfair.seeds]
    return [smg_sft.run(profile, registry, label, seed, strategy).metrics for seed in profile.aimfair.seeds]


def reports(profile: Profile, registry: Registry, label: str, strategy: Strategy | None) -> list[dict]:
    """Per-seed test reports of a strategy (``None``: the pre-trained Baseline)."""
    return [m["report"] for m in seed_metrics(profile, registry, label, strategy)]


def val_accuracy(per_seed: list[dict]) -> float:
    """Mean over seeds of the kept checkpoint's validation accuracy (how "best" variants are chosen here)."""
    return float(np.mean([m["val_acc"] for m in per_seed]))


def row(per_seed: list[dict]) -> dict[str, Estimate]:
    """A table row aggregated as the paper does (seed means; WST = min and STD = pstdev of the mean group
    accuracies), with the spread over seeds and a bootstrap 95 % interval."""
    agg = aggregate_seeds(per_seed)
    n = agg["n_seeds"]

    def est(value, std, ci):
        return Estimate(value, std if n > 1 else None, n, tuple(ci) if n > 1 else None)

    out = {f"group_acc.{g}": est(agg["paper"]["group_acc"][g], agg["std"]["group_acc"][g], agg["ci95"]["group_acc"][g])
           for g in GROUPS}
    for metric in METRICS:
        out[metric] = est(agg["paper"][metric], agg["std"].get(metric, 0.0), agg["ci95"][metric])
    return out


def resolve(profile: Profile, entry) -> Strategy | None:
    return aimfair_strategy(profile) if entry == "selective" else entry


def table3(profile: Profile, registry: Registry, settings: list[str]) -> dict[tuple[str, str], dict]:
    return {(method, label): row(reports(profile, registry, label, resolve(profile, entry)))
            for label in settings for method, entry in TABLE3.items()}


def best_by_validation(profile: Profile, registry: Registry, label: str, candidates: dict[str, Strategy]) -> tuple[str, Strategy]:
    """The candidate with the highest mean validation accuracy (the paper reports "the best" without saying how)."""
    scores = {name: val_accuracy(seed_metrics(profile, registry, label, s)) for name, s in candidates.items()}
    name = max(scores, key=scores.get)
    return name, candidates[name]


def table4_candidates(profile: Profile) -> dict[str, dict[str, Strategy]]:
    return {
        "Best Random Selection": {f"{r:.0%}": S("random", ratio=r) for r in RANDOM_RATIOS},
        "Best Sub-Tuning (By Updating One Block)": {b: S("update", block=b) for b in BLOCKS},
        "Best Sub-Tuning (By Freezing One Block)": {b: S("freeze", block=b) for b in BLOCKS},
    }


def table4(profile: Profile, registry: Registry, settings: list[str]) -> tuple[dict, pd.DataFrame]:
    """Table 4's rows and, for each "best" row, which variant won on validation."""
    rows, chosen = {}, []
    for label in settings:
        for method, candidates in table4_candidates(profile).items():
            name, strategy = best_by_validation(profile, registry, label, candidates)
            rows[(method, label)] = row(reports(profile, registry, label, strategy))
            chosen.append({"task": label, "row": method, "chosen": name})
        rows[("Selective Fine-Tuning (Cosine Similarity)", label)] = row(reports(profile, registry, label, aimfair_strategy(profile, "cosine")))
        rows[("AIM-Fair (Ours) (Absolute Difference)", label)] = row(reports(profile, registry, label, aimfair_strategy(profile)))
    return rows, pd.DataFrame(chosen)


def variants_table(profile: Profile, registry: Registry, label: str) -> pd.DataFrame:
    """Every random ratio and every block, updated or frozen: validation and test numbers (seed means)."""
    lines = []
    for family, candidates in table4_candidates(profile).items():
        for name, strategy in candidates.items():
            per_seed = seed_metrics(profile, registry, label, strategy)
            agg = aggregate_seeds([m["report"] for m in per_seed])["paper"]
            lines.append({"family": family.replace("Best ", ""), "variant": name,
                          "val ACC": 100 * val_accuracy(per_seed),
                          "ACC": agg["acc"], "WST": agg["wst"], "EO (max)": agg["eo_max"]})
    return pd.DataFrame(lines)


def strategy_points(rows: dict[tuple[str, str], dict], label: str) -> pd.DataFrame:
    """One line per method of a task: ACC, WST, EO with their spread over seeds (Figure 1)."""
    lines = []
    for (method, task), r in rows.items():
        if task != label:
            continue
        lines.append({"method": method, "ACC": r["acc"].mean, "WST": r["wst"].mean, "EO": r["eo_max"].mean,
                      "ACC sd": r["acc"].std or 0.0, "WST sd": r["wst"].std or 0.0, "EO sd": r["eo_max"].std or 0.0})
    return pd.DataFrame(lines)


def seed_table(profile: Profile, registry: Registry, label: str, methods: dict) -> pd.DataFrame:
    """Per-seed ACC, WST and EO of each method: whether a gap between methods exceeds the seed noise."""
    lines = []
    for method, entry in methods.items():
        for seed, rep in zip(profile.aimfair.seeds, reports(profile, registry, label, resolve(profile, entry))):
            lines.append({"method": method, "seed": seed, "ACC": rep["acc"], "WST": rep["wst"], "EO (max)": rep["eo_max"]})
    return pd.DataFrame(lines)


def claims(rows: dict[tuple[str, str], dict], settings: list[str]) -> list[tuple[str, bool, str]]:
    """§4.3's reading of Tables 3 and 4, checked; "beyond seed noise" means the 95 % intervals do not overlap."""
    out = []

    def separated(a: Estimate, b: Estimate, lower: bool) -> bool:
        if a.ci95 is None or b.ci95 is None:
            return False
        return a.ci95[1] < b.ci95[0] if lower else a.ci95[0] > b.ci95[1]

    for label in settings:
        aim, base, fft = rows[("AIM-Fair (Ours)", label)], rows[("Baseline", label)], rows[("Fully Fine-Tuning", label)]
        synth = rows[("Trained on Synthetic Data", label)]
        out.append((f"{label}: AIM-Fair is fairer than the Baseline (lower EO)", aim["eo_max"].mean < base["eo_max"].mean,
                    f"EO {aim['eo_max'].mean:.2f} vs {base['eo_max'].mean:.2f}"
                    + (" (beyond seed noise)" if separated(aim["eo_max"], base["eo_max"], True) else " (within seed noise)")))
        out.append((f"{label}: AIM-Fair raises the worst group above the Baseline's", aim["wst"].mean > base["wst"].mean,
                    f"WST {aim['wst'].mean:.2f} vs {base['wst'].mean:.2f}"))
        out.append((f"{label}: AIM-Fair keeps the Baseline's accuracy (within 1 point)", aim["acc"].mean >= base["acc"].mean - 1.0,
                    f"ACC {aim['acc'].mean:.2f} vs {base['acc'].mean:.2f}"))
        out.append((f"{label}: AIM-Fair is more accurate than full fine-tuning", aim["acc"].mean > fft["acc"].mean,
                    f"ACC {aim['acc'].mean:.2f} vs {fft['acc'].mean:.2f}"))
        out.append((f"{label}: training on synthetic data only loses accuracy against the Baseline",
                    synth["acc"].mean < base["acc"].mean, f"ACC {synth['acc'].mean:.2f} vs {base['acc'].mean:.2f}"))
    return out


def mask_summary(profile: Profile, registry: Registry, label: str) -> pd.DataFrame:
    """The AIM-Fair mask of every seed: tensors selected, their share of tensors and of scalars."""
    lines = []
    for seed in profile.aimfair.seeds:
        mask = smg_sft.run(profile, registry, label, seed, aimfair_strategy(profile)).metrics["mask"]
        lines.append({"seed": seed, "tensors selected": len(mask["selected"]), "of": mask["tensors"],
                      "share of tensors": mask["tensor_share"], "share of scalars": mask["scalar_share"]})
    return pd.DataFrame(lines)


def sensitivity_frame(profile: Profile, registry: Registry, label: str, seed: int) -> pd.DataFrame:
    """Δ1 and Δ2 of every tensor for one seed, with its block and whether AIM-Fair selected it."""
    table = smg_sft.sensitivity_table(smg_sft.gradients(profile, registry, label, seed))
    selected = set(smg_sft.run(profile, registry, label, seed, aimfair_strategy(profile)).metrics["mask"]["selected"])
    return table.assign(block=[block_of(n) for n in table.index], kind=[kind_of(n) for n in table.index],
                        selected=[n in selected for n in table.index]).reset_index()
