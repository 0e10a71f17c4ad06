"""Chapter 01, contextual synthetic data: prompt examples, the miniature model, fidelity, diversity, label noise, grids and Table 5.

The page decides what a profile can show: the miniature model's tables only where it generates
(``csdg.generation.pipeline: mini``), the oracle's readings only where the oracle knows the faces
(:func:`fairlab.aimfair.csdg.has_judge`); elsewhere its functions return a :class:`Sentence` saying why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from fairlab.aimfair import csdg
from fairlab.aimfair.prompts import group_words, instruction
from fairlab.aimfair.settings import SETTINGS
from fairlab.aimfair.tables import TABLE5_FAMILIES
from fairlab.data.subsets import GROUPS
from fairlab.profiles import Profile
from fairlab.reports import Claim, Row, Sentence
from fairlab.results import Record
from fairlab.study import Study

POOL_SETTINGS = tuple(SETTINGS)


def family_label(family: str) -> str:
    return csdg.FAMILIES[family].label


def example_instruction(label: str = "CelebA S/M") -> str:
    return instruction(SETTINGS[label], 1, 1, 50, head_poses=True)


def prompt_examples(study: Study, label: str, families=TABLE5_FAMILIES, per_group: int = 2) -> pd.DataFrame:
    """The first prompts of each family and group."""
    setting = SETTINGS[label]
    rows = []
    for family in families:
        prompts = csdg.prompt_set(study, label, family)
        for group in GROUPS:
            t, s = int(group[0]), int(group[2])
            for text in prompts.prompts[group][:per_group]:
                rows.append({"family": family_label(family), "group": f"{group} ({group_words(setting, t, s)})", "prompt": text})
    return pd.DataFrame(rows).set_index(["family", "group"])


def prompt_provenance(study: Study, label: str, family: str) -> pd.Series:
    prompts = csdg.prompt_set(study, label, family)
    line = {k: v for k, v in prompts.provenance.items() if k != "instruction_hashes"}
    line["rejected answers"] = sum(len(v) for v in prompts.rejected.values())
    return pd.Series(line, dtype=object)


NOT_JUDGED = Sentence("No attribute judge for Stable Diffusion's faces is built yet: fidelity, label noise and "
                      "diversity are measured only for the miniature model (`mini`, `smoke`).")


def _not_trained(profile: Profile) -> Sentence:
    return Sentence(f"This profile generates with `{profile.csdg.generation.pipeline}`: the miniature model is not trained.")


def t2i_summary(study: Study) -> list:
    """Parameters and minutes of the miniature model (two tables), or why this profile has none."""
    if study.profile.csdg.generation.pipeline != "mini":
        return [_not_trained(study.profile)]
    record = csdg.mini_t2i(study)
    m = record.metrics
    cfg = record.config["t2i"]
    head = pd.DataFrame({
        "parameters (M)": {k: v / 1e6 for k, v in m["parameters"].items()},
    }).round(2)
    steps = pd.Series({
        "training renders": cfg["images"], "VAE steps × batch": f"{cfg['vae_steps']} × {cfg['vae_batch_size']}",
        "U-Net steps × batch": f"{cfg['unet_steps']} × {cfg['unet_batch_size']}",
        "minutes: render / VAE / U-Net / total": " / ".join(f"{m['seconds'][k] / 60:.1f}" for k in ("render", "vae", "unet", "total")),
        "latent scaling factor": round(m["latent_scale"], 3),
    }, dtype=object)
    return [head, steps.to_frame("value")]


def reconstruction_table(study: Study) -> pd.DataFrame | Sentence:
    """The oracle's accuracy on held-out studio renders and on their VAE reconstructions."""
    if study.profile.csdg.generation.pipeline != "mini":
        return _not_trained(study.profile)
    return pd.DataFrame(csdg.mini_t2i(study).metrics["oracle_on_renders"]).round(3)


def pools(study: Study) -> dict[tuple[str, str], Record]:
    """Every pool of the page: each setting's contextual pool, and Table 5's other families."""
    out = {}
    for label in POOL_SETTINGS:
        family = csdg.contextual_family(SETTINGS[label])
        out[(label, family)] = csdg.pool(study, label, family, study.profile.csdg.pool_per_group)
    for label in csdg.TABLE5_SETTINGS:
        for family in TABLE5_FAMILIES:
            out[(label, family)] = csdg.table5_pool(study, label, family)
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0], TABLE5_FAMILIES.index(kv[0][1]))))


def fidelity_table(pools_: dict[tuple[str, str], Record]) -> pd.DataFrame:
    """Per pool: how often the target and protected attributes are what the prompt asked for, and the rest."""
    rows = []
    for (label, family), record in pools_.items():
        setting = SETTINGS[label]
        fid = record.metrics["fidelity"]
        details = [v["fidelity"] for k, v in fid.items() if k not in (setting.target, setting.protected) and v["images"] >= 20]
        rows.append({"setting": label, "prompts": family_label(family), "images": record.metrics["images"],
                     "target": fid[setting.target]["fidelity"], "protected": fid[setting.protected]["fidelity"],
                     "other stated attributes (mean)": float(np.mean(details)) if details else np.nan,
                     "images / s": record.metrics["images_per_second"]})
    return pd.DataFrame(rows).set_index(["setting", "prompts"])


def attribute_fidelity(record: Record, min_images: int = 20) -> pd.DataFrame:
    """Every attribute the prompts of one pool state, with how often the oracle reads it back."""
    fid = record.metrics["fidelity"]
    frame = pd.DataFrame(fid).T
    return frame[frame["images"] >= min_images].sort_values("fidelity")


def diversity_table(study: Study, pools_: dict[tuple[str, str], Record]) -> pd.DataFrame:
    """Attribute entropy and Vendi score of each pool, beside FaceWorld's own renders of the same groups."""
    rows = []
    for label in csdg.TABLE5_SETTINGS:
        reference = csdg.reference_diversity(study, label)
        rows.append({"setting": label, "images": "FaceWorld studio renders (the world's prior)",
                     **reference.metrics["diversity"]})
        for family in TABLE5_FAMILIES:
            d = pools_[(label, family)].metrics["diversity"]
            rows.append({"setting": label, "images": family_label(family), **d})
    frame = pd.DataFrame(rows).set_index(["setting", "images"])
    return frame.rename(columns={"attribute_entropy": "attribute entropy (bits)", "vendi": "Vendi score",
                                 "vendi_images_per_group": "images per group (Vendi)"})


def label_noise_table(pools_: dict[tuple[str, str], Record]) -> pd.DataFrame:
    rows = []
    for (label, family), record in pools_.items():
        noise = record.metrics["label_noise"]
        rows.append({"setting": label, "prompts": family_label(family), "target wrong": noise["target"],
                     "protected wrong": noise["protected"], "either wrong": noise["either"],
                     **{f"either, group {g}": v for g, v in noise["per_group"].items()}})
    return pd.DataFrame(rows).set_index(["setting", "prompts"])


def prior_shares(pools_: dict[tuple[str, str], Record], label: str, attributes=("Eyeglasses", "Wearing_Hat", "Bangs",
                                                                                    "Blond_Hair", "Wavy_Hair", "Heavy_Makeup")) -> pd.DataFrame:
    """Share of images showing attributes the plain prompt never names, per family (all groups pooled)."""
    rows = {}
    for family in TABLE5_FAMILIES:
        shares = pools_[(label, family)].metrics["attribute_share"]
        rows[family_label(family)] = {a: float(np.mean([shares[g][a] for g in shares])) for a in attributes}
    return pd.DataFrame(rows).T


def fidelity(profile: Profile, pools_: dict[tuple[str, str], Record]) -> list:
    """The fidelity table and its verdict, or why this profile cannot read its images."""
    if not csdg.has_judge(profile):
        return [NOT_JUDGED]
    table = fidelity_table(pools_)
    styled = table.style.format(precision=3).background_gradient(subset=["target", "protected"], cmap="Greens",
                                                                  vmin=0.5, vmax=1)
    return [styled, Sentence(fidelity_verdict(table))]


def label_noise(profile: Profile, pools_: dict[tuple[str, str], Record], label: str = "CelebA S/M") -> list:
    """Every stated attribute's fidelity in ``label``'s contextual pool, and every pool's label noise."""
    if not csdg.has_judge(profile):
        return [NOT_JUDGED]
    contextual = pools_[(label, csdg.contextual_family(SETTINGS[label]))]
    return [attribute_fidelity(contextual).style.format({"fidelity": "{:.3f}", "images": "{:.0f}"}),
            label_noise_table(pools_).style.format(precision=3)]


def diversity(study: Study, pools_: dict[tuple[str, str], Record]):
    """:func:`diversity_table`, styled, or why this profile cannot read its images."""
    if not csdg.has_judge(study.profile):
        return NOT_JUDGED
    return diversity_table(study, pools_).style.format(precision=3)


def prior(profile: Profile, pools_: dict[tuple[str, str], Record], label: str = "CelebA S/M"):
    """:func:`prior_shares`, styled, or why this profile cannot read its images."""
    if not csdg.has_judge(profile):
        return NOT_JUDGED
    return prior_shares(pools_, label).style.format(precision=3)


def grid(record: Record, per_group: int = 8, distinct_prompts: bool = True) -> dict[str, np.ndarray]:
    """The first images of each group of a pool (one per prompt where the pool has several prompts)."""
    frame = csdg.pool_frame(record)
    setting = SETTINGS[record.config["setting"]]
    out = {}
    for group in GROUPS:
        part = frame[frame["group"] == group]
        if distinct_prompts:
            part = part.sort_values(["image_index", "prompt_id"])
        t, s = int(group[0]), int(group[2])
        out[f"{group_words(setting, t, s)}"] = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in part["path"].head(per_group)])
    return out


def table5_records(study: Study) -> dict[tuple[str, str], list[Record]]:
    return {(label, family): [csdg.table5_run(study, label, family, seed) for seed in study.profile.aimfair.seeds]
            for label in csdg.TABLE5_SETTINGS for family in TABLE5_FAMILIES}


def table5_notes(profile: Profile) -> list[str]:
    """What Table 5's synthetic data and seeds are in this profile."""
    pipeline = profile.csdg.generation.pipeline
    return [f"Synthetic data: the {'miniature model' if pipeline == 'mini' else pipeline}, "
            f"{profile.csdg.table5_per_group} images per group; prompts: {profile.csdg.backend}.",
            f"Seeds: {', '.join(map(str, profile.aimfair.seeds))}. EO = max(ΔTPR, ΔFPR) as in the paper's tables."]


def table5_reproduced(runs: dict[tuple[str, str], list[Record]]) -> dict:
    """Rows of Table 5 (method = the printed prompt family, task) from the runs, aggregated as the paper does."""
    return {(family_label(family), label): Row.from_seeds([r.metrics["report"] for r in records], ("acc", "wst", "eo_max", "std"))
            for (label, family), records in runs.items()}


def table5_claims(profile: Profile, runs: dict[tuple[str, str], list[Record]],
                  pools_: dict[tuple[str, str], Record]) -> list[Claim]:
    """§4.3's reading of Table 5 and, where the oracle reads the images (:func:`~fairlab.aimfair.csdg.has_judge`),
    the diversity argument."""
    claims = []
    for label in csdg.TABLE5_SETTINGS:
        mean = {family: {k: float(np.mean([r.metrics["report"][k] for r in runs[(label, family)]])) for k in ("acc", "wst", "eo_max")}
                for family in TABLE5_FAMILIES}
        plain, best, ctx25, ctx50 = mean["plain"], mean["ctx50_pose"], mean["ctx25"], mean["ctx50"]
        claims += [
            Claim.compare(f"{label}: contextual + head-pose prompts beat the plain prompt in accuracy",
                          ("ACC contextual + poses", best["acc"]), ">", ("plain", plain["acc"])),
            Claim.compare(f"{label}: … and in worst-group accuracy", ("WST contextual + poses", best["wst"]), ">",
                          ("plain", plain["wst"])),
            Claim.compare(f"{label}: … and in fairness (lower EO)", ("EO contextual + poses", best["eo_max"]), "<",
                          ("plain", plain["eo_max"])),
            Claim.compare(f"{label}: 50 contextual prompts beat 25 in accuracy", ("ACC 50 prompts", ctx50["acc"]), ">",
                          ("25 prompts", ctx25["acc"])),
            Claim(f"{label}: head poses improve on the same 50 contextual prompts in accuracy and in EO",
                  best["acc"] > ctx50["acc"] and best["eo_max"] < ctx50["eo_max"],
                  {"ACC with poses": best["acc"], "ACC without": ctx50["acc"], "EO with poses": best["eo_max"],
                   "EO without": ctx50["eo_max"]},
                  evidence=f"ACC {best['acc']:.2f} vs {ctx50['acc']:.2f}, EO {best['eo_max']:.2f} vs {ctx50['eo_max']:.2f}"),
        ]
        if csdg.has_judge(profile):
            div = {f: pools_[(label, f)].metrics["diversity"]["attribute_entropy"] for f in TABLE5_FAMILIES}
            claims.append(Claim.compare(
                f"{label}: contextual prompts give more diverse images than the plain prompt (attribute entropy)",
                ("attribute entropy (bits) contextual + poses", div["ctx50_pose"]), ">", ("plain", div["plain"]), decimals=3))
    return claims


def synthetic_sets_table(study: Study) -> pd.DataFrame:
    """S2 and S1 of every setting: images per group, with any shortfall of the pool."""
    rows = []
    for label in POOL_SETTINGS:
        record = csdg.synthetic_sets(study, label)
        for name, counts in record.metrics["counts"].items():
            rows.append({"setting": label, "set": name, **counts, "short of the protocol": name in record.metrics["shortfall"]})
    return pd.DataFrame(rows).set_index(["setting", "set"])


def fidelity_verdict(table: pd.DataFrame, threshold: float = 0.9) -> str:
    """One sentence: do the target and protected attributes reach ``threshold`` in every pool?"""
    worst = table[["target", "protected"]].min(axis=1)
    low = worst[worst < threshold]
    if low.empty:
        return (f"The target and the protected attribute are right in at least {threshold:.0%} of the images of every "
                f"pool (lowest: {worst.min():.1%}, {' / '.join(worst.idxmin())}).")
    listed = "; ".join(f"{' / '.join(k)}: {v:.1%}" for k, v in low.items())
    return (f"**Below {threshold:.0%}** for the target or the protected attribute in {len(low)} of {len(worst)} pools "
            f"({listed}); their label noise is correspondingly high.")


def table5_beside_fidelity(profile: Profile, runs: dict[tuple[str, str], list[Record]],
                           pools_: dict[tuple[str, str], Record]) -> pd.DataFrame | Sentence:
    """Each Table 5 row's accuracy on real data (mean over seeds) beside how often its training images show the
    target and the protected attribute they are labelled with (the oracle's fidelity): a synthetic-only classifier
    can only learn what its images show."""
    if not csdg.has_judge(profile):
        return NOT_JUDGED
    lines = []
    for (label, family), records in runs.items():
        setting, fid = SETTINGS[label], pools_[(label, family)].metrics["fidelity"]
        lines.append({"setting": label, "prompts": family_label(family),
                      "ACC on real test (%)": float(np.mean([r.metrics["report"]["acc"] for r in records])),
                      "target fidelity": fid[setting.target]["fidelity"],
                      "protected fidelity": fid[setting.protected]["fidelity"]})
    return pd.DataFrame(lines).set_index(["setting", "prompts"]).round(3)


def table5_verdict(profile: Profile, runs: dict[tuple[str, str], list[Record]],
                   pools_: dict[tuple[str, str], Record]) -> Sentence:
    """How far the synthetic-only classifiers get on real data, and (where the oracle reads the images) the
    label noise they learnt from."""
    pools_ = pools_ if csdg.has_judge(profile) else None
    acc = {key: float(np.mean([r.metrics["report"]["acc"] for r in records])) for key, records in runs.items()}
    lo, hi = min(acc.values()), max(acc.values())
    text = (f"Trained on synthetic data only, the classifiers reach {lo:.1f}–{hi:.1f} % accuracy on the real test split "
            f"(the paper: 71.7–86.0 %).")
    if pools_ is not None:
        noise = [pools_[key].metrics["label_noise"]["either"] for key in runs]
        text += (f" Their training images carry {min(noise):.0%}–{max(noise):.0%} label noise (target or protected "
                 f"attribute not what the folder says), and they come from the studio domain while the test images "
                 f"come from the photo domain.")
    if hi < 65:
        text += " **Table 5 does not reproduce at this scale**: every row is within 15 points of chance."
    noise = family_differences_against_noise(runs)
    if noise is not None:
        widest = noise.loc[noise["largest difference"].idxmax()]
        beyond = noise[noise["largest difference"] > noise["noise bound"]]
        text += (f" Between prompt families the mean accuracies differ by up to {widest['largest difference']:.1f} points "
                 f"({widest.name}), against {widest['noise bound']:.1f} that a change of seeds alone moves a difference of "
                 f"two means (1.96 · s · √(2/n), s the pooled standard deviation over seeds, n = {int(widest['seeds'])})")
        text += (": no setting's differences exceed that, so the claims below are read on seed noise." if beyond.empty else
                 f"; {len(beyond)} of {len(noise)} settings have a difference beyond it ({', '.join(beyond.index)}).")
    return Sentence(text)


def family_differences_against_noise(runs: dict[tuple[str, str], list[Record]]) -> pd.DataFrame | None:
    """Per setting: the largest difference between two prompt families' mean accuracies, and the 95 % bound a change
    of seeds alone puts on a difference of two means, 1.96 · s_pooled · √(2 / n) (s_pooled: the root mean of the
    families' variances over seeds, n seeds each). None with fewer than two seeds."""
    lines = {}
    for label in sorted({label for label, _ in runs}):
        accs = {family: [r.metrics["report"]["acc"] for r in records] for (task, family), records in runs.items() if task == label}
        n = min(len(v) for v in accs.values())
        if n < 2:
            return None
        means = [float(np.mean(v)) for v in accs.values()]
        pooled = float(np.sqrt(np.mean([np.var(v, ddof=1) for v in accs.values()])))
        lines[label] = {"largest difference": max(means) - min(means), "noise bound": 1.96 * pooled * np.sqrt(2 / n),
                        "seeds": n}
    return pd.DataFrame(lines).T
