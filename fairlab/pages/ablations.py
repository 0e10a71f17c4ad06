"""Chapter 03, the ablations: Figure 5's k sweep, Tables 6–11, Figures 2, 6 and 8, from :mod:`fairlab.aimfair.smg_sft`'s records.

The tables' entries are :mod:`fairlab.aimfair.tables`'; rows are aggregated over seeds as chapter
02's (:func:`fairlab.pages.smg_sft.row`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairlab.aimfair import csdg, smg_sft
from fairlab.aimfair.smg_sft import Baseline

# re-exported for the notebook: the rows of Tables 9 and 11 (and 3), chapter 02's tables and
# summaries, shown again here on the ablations' settings
from fairlab.aimfair.tables import (AIM, BLOCKS, FIGURE8_SETTINGS, S1_RATIOS, TABLE3, TABLE8, TABLE8_SETTINGS,  # noqa: F401, E402
                                    TABLE9, TABLE11, TOP_KS, S, s2_entries)
from fairlab.metrics.representation import decodability_within_classes
from fairlab.pages.smg_sft import (  # noqa: F401, E402
    point,
    regime_table,
    row,
    rows_of,
    scale_table,
    seed_metrics,
    spread_table,
    table3,
    test_reports,
    verdict,
)
from fairlab.reports import MEANS, THRESHOLD, Claim
from fairlab.study import Study


def k_sweep(study: Study, label: str, ks=TOP_KS) -> pd.DataFrame:
    """Figure 5: AIM-Fair at every k, with the seed spread and the selected share of tensors and scalars."""
    lines = []
    for k in ks:
        entry = S("selective", k=k, s1=smg_sft.aim_s1(study.profile))
        per_seed = seed_metrics(smg_sft.seed_records(study, label, entry))
        lines.append({"k": k, **point(row([m["report"] for m in per_seed])),
                      "tensors": float(np.mean([len(m["mask"]["selected"]) for m in per_seed])),
                      "share of scalars": float(np.mean([m["mask"]["scalar_share"] for m in per_seed]))})
    return pd.DataFrame(lines)


def table6(study: Study, label: str = "CelebA S/M") -> dict:
    entries = {"Fully Fine-Tuning": S("full")}
    entries.update({r.replace(":", " : "): S("selective", k=study.profile.aimfair.top_k, s1=r) for r in S1_RATIOS})
    return rows_of(study, entries, [label])


def s1_estimates(study: Study, label: str) -> pd.DataFrame:
    """Per seed: the real subset's true bias ratio, the one estimated from the Baseline's error set (JTT-style,
    :func:`fairlab.aimfair.smg_sft.estimated_s1`), and the S1 drawn at the estimate."""
    from fairlab.aimfair.bias_estimate import as_ratio

    lines = []
    for seed in study.profile.aimfair.seeds:
        m = smg_sft.estimated_s1(study, label, seed).metrics
        lines.append({"seed": seed, "true ratio": as_ratio(m["true_share"]), "estimated ratio": as_ratio(m["estimated_share"]),
                      "Baseline's training error (%)": 100 * m["error_rate"], **{f"S1 {g}": n for g, n in m["counts"].items()}})
    return pd.DataFrame(lines).set_index("seed")


def table7(study: Study, label: str = "CelebA S/M") -> dict:
    return rows_of(study, s2_entries(study.profile, "{:g}"), [label])


def table10(study: Study, label: str = "UTK F/W") -> dict:
    return rows_of(study, {"Baseline": Baseline(), **s2_entries(study.profile, "{:.1f}")}, [label])


def table8(study: Study) -> dict:
    """Table 8's ViT-S/32 rows on both of the paper's settings (:data:`~fairlab.aimfair.tables.TABLE8_SETTINGS`)."""
    return rows_of(study, TABLE8, list(TABLE8_SETTINGS))


def freezing_frame(study: Study, label: str) -> pd.DataFrame:
    """Figure 2: fine-tuning on S2 with one block frozen (and none: full fine-tuning), seed means and spread."""
    entries = {"none": S("full"), **{b: S("freeze", block=b) for b in BLOCKS}}
    return pd.DataFrame([{"frozen": frozen, **point(row(test_reports(smg_sft.seed_records(study, label, entry))))}
                         for frozen, entry in entries.items()])


def selected_by_block(study: Study, settings: tuple[str, ...] = FIGURE8_SETTINGS) -> pd.DataFrame:
    """Figure 8: the AIM-Fair mask's tensors per block, each seed, on each setting."""
    frames = []
    for label in settings:
        for seed, m in zip(study.profile.aimfair.seeds, seed_metrics(smg_sft.seed_records(study, label, AIM))):
            frames.append(pd.DataFrame(m["mask_blocks"]).assign(setting=label, seed=seed))
    return pd.concat(frames, ignore_index=True)


def representations(study: Study, label: str, entries: dict, seed: int) -> dict[str, dict]:
    """The stored penultimate features of each entry's run of one seed (Figure 6)."""
    index = study.profile.aimfair.seeds.index(seed)
    return {name: smg_sft.load_features(smg_sft.seed_records(study, label, entry)[index]) for name, entry in entries.items()}


def tsne_frame(features: dict[str, dict], seed: int) -> pd.DataFrame:
    """t-SNE (scikit-learn, perplexity 30, PCA start) of each entry's features, one embedding per entry."""
    from sklearn.manifold import TSNE

    frames = []
    for name, f in features.items():
        xy = TSNE(n_components=2, perplexity=30, init="pca", random_state=seed).fit_transform(f["features"].astype(np.float32))
        frames.append(pd.DataFrame({"method": name, "x": xy[:, 0], "y": xy[:, 1],
                                    "group": [f"T={t}, P={p}" for t, p in zip(f["target"], f["protected"])]}))
    return pd.concat(frames, ignore_index=True)


def protected_decodability(features: dict[str, dict], seed: int) -> pd.DataFrame:
    """How much of the protected attribute each entry's representation carries beyond the target.

    Per entry: :func:`fairlab.metrics.representation.decodability_within_classes` (0.5: nothing to
    read), and their mean over the two target classes. Figure 6's claim — the baseline's
    representations separate by the spurious attribute, AIM-Fair's less so — as a number.
    """
    lines = []
    for name, f in features.items():
        scores = decodability_within_classes(f["features"], f["target"], f["protected"], seed)
        lines.append({"method": name, "protected read from T=0": scores[0], "protected read from T=1": scores[1],
                      "mean": float(np.mean(scores))})
    return pd.DataFrame(lines)


#: Figure 8's "early layers": the first half of ResNet-18's blocks (the paper does not say where early ends)
EARLY_BLOCKS = ("stem", "layer1", "layer2")


def _spearman(x, y) -> float:
    """Spearman's rank correlation of two sequences (ties share their mean rank)."""
    return float(pd.Series(list(x)).rank().corr(pd.Series(list(y)).rank()))


def early_share(blocks: pd.DataFrame) -> float:
    """Figure 8's reading as a number: the share of the selected tensors that lie in :data:`EARLY_BLOCKS`,
    Σ_seeds selected(early) / Σ_seeds selected(all), from :func:`selected_by_block`."""
    return float(blocks.loc[blocks["block"].isin(EARLY_BLOCKS), "selected"].sum() / blocks["selected"].sum())


def ablation_claims(rows: dict[str, dict], sweep: pd.DataFrame, decodability: pd.DataFrame,
                    blocks: pd.DataFrame) -> dict[str, list[Claim]]:
    """§4.4 and the supplement's readings of Figures 5, 6 and 8 and Tables 6–11, checked on our numbers, by item."""
    out = []
    best = sweep.loc[sweep["EO"].idxmin()]
    out.append(Claim("Figure 5: k = 55 gives the lowest EO of the sweep", int(best["k"]) == 55,
                     {f"EO k={int(k)}": eo for k, eo in zip(sweep["k"], sweep["EO"])}, MEANS,
                     "EO " + ", ".join(f"k = {int(k)}: {eo:.2f} ± {sd:.2f}" for k, eo, sd in zip(sweep["k"], sweep["EO"], sweep["EO sd"]))
                     + " (mean ± sd over seeds)", item="Figure 5"))
    rho_acc = _spearman(sweep["k"], sweep["ACC"])
    out.append(Claim("Figure 5: a lower k is more accurate (ACC falls as k grows: Spearman ρ(k, ACC) < 0)", rho_acc < 0,
                     {"Spearman rho(k, ACC)": rho_acc, **{f"ACC k={int(k)}": a for k, a in zip(sweep["k"], sweep["ACC"])}},
                     MEANS, f"ρ = {rho_acc:.2f}; ACC " + ", ".join(f"k = {int(k)}: {a:.2f}" for k, a in zip(sweep["k"], sweep["ACC"])),
                     item="Figure 5"))
    up_to = sweep[sweep["k"] <= 55]
    rho_eo = _spearman(up_to["k"], up_to["EO"])
    out.append(Claim("Figure 5: … and less fair up to k = 55 (EO falls as k grows to 55: Spearman ρ(k, EO) < 0)",
                     rho_eo < 0, {"Spearman rho(k, EO), k <= 55": rho_eo}, MEANS,
                     f"ρ = {rho_eo:.2f} over k = {', '.join(str(int(k)) for k in up_to['k'])}", item="Figure 5"))
    t6 = rows["Table 6"]
    aim = {r: t6[(r.replace(":", " : "), "CelebA S/M")]["eo_max"].mean for r in S1_RATIOS}
    fft = t6[("Fully Fine-Tuning", "CelebA S/M")]["eo_max"].mean
    out.append(Claim("Table 6: the real bias ratio (1 : 9) gives the lowest EO of the S1 ratios", min(aim, key=aim.get) == "1:9",
                     {f"EO {r}": v for r, v in aim.items()}, evidence=", ".join(f"{r} {v:.2f}" for r, v in aim.items()),
                     item="Table 6"))
    out.append(Claim("Table 6: AIM-Fair is fairer than full fine-tuning at every S1 ratio", all(v < fft for v in aim.values()),
                     {"EO full fine-tuning": fft, **{f"EO {r}": v for r, v in aim.items()}}, item="Table 6"))
    t7 = rows["Table 7"]
    eo7 = {f"{x:g}": t7[(f"{x:g}", "CelebA S/M")]["eo_max"].mean for x in csdg.S2_SCALES}
    acc7 = {f"{x:g}": t7[(f"{x:g}", "CelebA S/M")]["acc"].mean for x in csdg.S2_SCALES}
    out.append(Claim("Table 7: S2 as large as the real set (×1) gives the best fairness (lowest EO) of the sizes",
                     min(eo7, key=eo7.get) == "1", {f"EO ×{k}": v for k, v in eo7.items()},
                     evidence="EO " + ", ".join(f"×{k} {v:.2f}" for k, v in eo7.items()), item="Table 7"))
    out.append(Claim("Table 7: half the real set's size (×0.5) gives the best accuracy of the sizes",
                     max(acc7, key=acc7.get) == "0.5", {f"ACC ×{k}": v for k, v in acc7.items()},
                     evidence="ACC " + ", ".join(f"×{k} {v:.2f}" for k, v in acc7.items()), item="Table 7"))
    t8 = rows["Table 8"]
    for label in sorted({task for _, task in t8}):
        sft = t8[("Selective Fine-Tuning", label)]
        others = {m: r for (m, task), r in t8.items() if task == label and m != "Selective Fine-Tuning"}
        best_acc, best_wst = max(r["acc"].mean for r in others.values()), max(r["wst"].mean for r in others.values())
        out.append(Claim(f"Table 8 ({label}): selective fine-tuning has the highest ACC and WST of the ViT-S/32 rows",
                         sft["acc"].mean >= best_acc and sft["wst"].mean >= best_wst,
                         {"ACC": sft["acc"].mean, "WST": sft["wst"].mean, "best other ACC": best_acc, "best other WST": best_wst},
                         item="Table 8"))
        lora = t8[("LoRA", label)]
        out.append(Claim(f"Table 8 ({label}): selective fine-tuning beats LoRA (ACC and WST)",
                         sft["acc"].mean > lora["acc"].mean and sft["wst"].mean > lora["wst"].mean,
                         {"ACC": sft["acc"].mean, "LoRA ACC": lora["acc"].mean, "WST": sft["wst"].mean,
                          "LoRA WST": lora["wst"].mean}, item="Table 8"))
    t9 = rows["Table 9"]
    aim9, ltgc = t9[("AIM-Fair (Ours)", "CelebA S/M")], t9[("LTGC", "CelebA S/M")]
    out.append(Claim("Table 9: AIM-Fair is fairer than LTGC (lower EO, higher WST)",
                     aim9["eo_max"].mean < ltgc["eo_max"].mean and aim9["wst"].mean > ltgc["wst"].mean,
                     {"EO": aim9["eo_max"].mean, "LTGC EO": ltgc["eo_max"].mean, "WST": aim9["wst"].mean,
                      "LTGC WST": ltgc["wst"].mean}, item="Table 9"))
    t10 = rows["Table 10"]
    base10 = t10[("Baseline", "UTK F/W")]["eo_max"].mean
    sizes = {p: r["eo_max"].mean for (p, _), r in t10.items() if p != "Baseline"}
    out.append(Claim("Table 10: AIM-Fair is fairer than the UTKFace Baseline at every S2 size", all(v < base10 for v in sizes.values()),
                     {"Baseline EO": base10, **{f"EO ×{p}": v for p, v in sizes.items()}}, item="Table 10"))
    t11 = rows["Table 11"]
    b11, f11, a11 = (t11[(m, "CelebA M/Y")] for m in ("Baseline", "Fully Fine-Tuning", "AIM-Fair (Ours)"))
    out.append(Claim("Table 11 (the paper's failure case): AIM-Fair lowers EO but loses accuracy against the Baseline",
                     a11["eo_max"].mean < b11["eo_max"].mean and a11["acc"].mean < b11["acc"].mean,
                     {"EO": a11["eo_max"].mean, "Baseline EO": b11["eo_max"].mean, "ACC": a11["acc"].mean,
                      "Baseline ACC": b11["acc"].mean}, item="Table 11"))
    out.append(Claim("Table 11: AIM-Fair is fairer but less accurate than full fine-tuning",
                     a11["eo_max"].mean < f11["eo_max"].mean and a11["acc"].mean < f11["acc"].mean,
                     {"EO": a11["eo_max"].mean, "full fine-tuning EO": f11["eo_max"].mean, "ACC": a11["acc"].mean,
                      "full fine-tuning ACC": f11["acc"].mean}, item="Table 11"))
    d = decodability.set_index("method")["mean"]
    out.append(Claim("Figure 6: AIM-Fair's representations carry less of the protected attribute than the Baseline's "
                     "and supplementation's", d["AIM-Fair (Ours)"] < min(d["Baseline"], d["Data Supplementation"]),
                     dict(d.items()), evidence=", ".join(f"{m} {v:.3f}" for m, v in d.items())
                     + " (balanced accuracy reading P within each class)", item="Figure 6"))
    for label, part in blocks.groupby("setting", sort=False):
        share = early_share(part)
        per_block = part.groupby("block", sort=False)["selected"].mean()
        out.append(Claim(f"Figure 8 ({label}): most selected tensors lie in early layers ({', '.join(EARLY_BLOCKS)}: "
                         f"more than half)", share > 0.5,
                         {"share of the selected tensors in early layers": share, **dict(per_block.items())},
                         MEANS, f"{share:.0%} in {', '.join(EARLY_BLOCKS)}; mean selected per block: "
                         + ", ".join(f"{b} {v:.1f}" for b, v in per_block.items()), item="Figure 8"))
    by_item: dict[str, list[Claim]] = {}
    for claim in out:
        by_item.setdefault(claim.item, []).append(claim)
    return by_item


def freezing_claims(freezing: pd.DataFrame) -> list[Claim]:
    """Figure 2's caption, checked against full fine-tuning ("none" frozen); the paper's block k is ResNet's layer k."""
    f = freezing.set_index("frozen")
    full = f.loc["none"]

    def reads(block: str) -> dict:
        r = f.loc[block]
        return {f"{m} ({block} frozen)": r[m] for m in ("ACC", "WST", "EO")} | {f"{m} (none)": full[m] for m in ("ACC", "WST", "EO")}

    def numbers(block: str) -> str:
        r = f.loc[block]
        return f"ACC {r['ACC']:.2f} vs {full['ACC']:.2f}, WST {r['WST']:.2f} vs {full['WST']:.2f}, EO {r['EO']:.2f} vs {full['EO']:.2f}"

    fc, b1, b2 = f.loc["fc"], f.loc["layer1"], f.loc["layer2"]
    return [
        Claim("Figure 2: freezing only the FC layer is fairer (higher WST, lower EO) but less accurate than full fine-tuning",
              fc["WST"] > full["WST"] and fc["EO"] < full["EO"] and fc["ACC"] < full["ACC"], reads("fc"), MEANS, numbers("fc")),
        Claim("Figure 2: freezing only block 2 is more accurate but less fair (higher EO) than full fine-tuning",
              b2["ACC"] > full["ACC"] and b2["EO"] > full["EO"], reads("layer2"), MEANS, numbers("layer2")),
        Claim("Figure 2: freezing only block 1 keeps EO (within 1 point) and raises accuracy and the worst group",
              abs(b1["EO"] - full["EO"]) <= 1.0 and b1["ACC"] > full["ACC"] and b1["WST"] > full["WST"], reads("layer1"),
              THRESHOLD, numbers("layer1")),
    ]
