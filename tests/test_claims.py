"""Verdicts and claims read the numbers they speak of."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairlab.reports import Estimate


def _row(acc: float, wst: float, eo: float) -> dict:
    return {"acc": Estimate(acc), "wst": Estimate(wst), "eo_max": Estimate(eo)}


def test_table4_names_the_most_accurate_row_and_the_best_worst_group_from_the_rows():
    from fairlab.pages.smg_sft import table4_claims

    label = "CelebA S/M"
    rows = {("Best Random Selection", label): _row(88, 80, 9), ("Best Sub-Tuning (By Updating One Block)", label): _row(91, 79, 12),
            ("Best Sub-Tuning (By Freezing One Block)", label): _row(89, 82, 7),
            ("Selective Fine-Tuning (Cosine Similarity)", label): _row(88, 81, 8),
            ("AIM-Fair (Ours) (Absolute Difference)", label): _row(90, 84, 6)}
    claims = {c.statement: c for c in table4_claims(rows, [label])}
    assert claims[f"{label}: updating one block gives the best accuracy of Table 4"].holds
    assert claims[f"{label}: AIM-Fair gives the best worst-group accuracy of Table 4"].holds
    rows[("Best Sub-Tuning (By Freezing One Block)", label)] = _row(92, 85, 7)
    claims = {c.statement: c for c in table4_claims(rows, [label])}
    assert not claims[f"{label}: updating one block gives the best accuracy of Table 4"].holds
    assert not claims[f"{label}: AIM-Fair gives the best worst-group accuracy of Table 4"].holds
    assert "Best Sub-Tuning (By Freezing One Block), 92.00" in claims[f"{label}: updating one block gives the best accuracy of Table 4"].evidence


def test_figure8_reads_the_share_of_selected_tensors_in_the_early_blocks():
    from fairlab.pages.ablations import early_share

    blocks = pd.DataFrame({"block": ["stem", "layer1", "layer2", "layer3", "layer4", "fc"] * 2,
                           "selected": [1, 6, 5, 4, 2, 0, 1, 5, 4, 6, 4, 0]})
    assert early_share(blocks) == (1 + 6 + 5 + 1 + 5 + 4) / blocks["selected"].sum()


def test_figure5_and_table7_claims_follow_the_numbers():
    from fairlab.aimfair import csdg
    from fairlab.pages.ablations import ablation_claims

    def rows_with(acc7: dict, eo7: dict) -> dict:
        label = "CelebA S/M"
        t6 = {("Fully Fine-Tuning", label): _row(88, 80, 9), **{(r.replace(":", " : "), label): _row(88, 80, 5) for r in csdg.S1_RATIOS}}
        t7 = {(f"{x:g}", label): _row(acc7[x], 80, eo7[x]) for x in csdg.S2_SCALES}
        t8 = {(m, label): _row(88, 80, 5) for m in ("Selective Fine-Tuning", "LoRA", "Fully Fine-Tuning")}
        t9 = {("AIM-Fair (Ours)", label): _row(88, 82, 5), ("LTGC", label): _row(88, 80, 6)}
        t10 = {("Baseline", "UTK F/W"): _row(88, 80, 9), ("1.0", "UTK F/W"): _row(88, 80, 5)}
        t11 = {(m, "CelebA M/Y"): _row(88, 80, 5) for m in ("Baseline", "Fully Fine-Tuning", "AIM-Fair (Ours)")}
        return {"Table 6": t6, "Table 7": t7, "Table 8": t8, "Table 9": t9, "Table 10": t10, "Table 11": t11}

    sweep = pd.DataFrame({"k": [40, 45, 50, 55, 60], "ACC": [90, 89.5, 89, 88, 87], "EO": [9, 8, 7, 6, 6.5],
                          "EO sd": [0.5] * 5})
    decodability = pd.DataFrame({"method": ["Baseline", "Data Supplementation", "AIM-Fair (Ours)"], "mean": [0.8, 0.8, 0.6]})
    blocks = pd.DataFrame({"block": ["stem", "layer1", "layer2", "layer3", "layer4", "fc"] * 2,
                           "selected": [1, 9, 15, 15, 8, 0] + [0, 2, 3, 15, 15, 2],
                           "setting": ["CelebA S/M"] * 6 + ["UTK F/W"] * 6})
    scales = list(csdg.S2_SCALES)
    acc7 = {x: 90 - i for i, x in enumerate(scales)}  # ×0.5 the most accurate
    eo7 = {x: (5 if x == 1 else 8) for x in scales}   # ×1 the fairest
    claims = {c.statement: c for cs in ablation_claims(rows_with(acc7, eo7), sweep, decodability, blocks).values() for c in cs}
    assert claims["Figure 5: a lower k is more accurate (ACC falls as k grows: Spearman ρ(k, ACC) < 0)"].holds
    assert claims["Figure 5: … and less fair up to k = 55 (EO falls as k grows to 55: Spearman ρ(k, EO) < 0)"].holds
    assert claims["Table 7: half the real set's size (×0.5) gives the best accuracy of the sizes"].holds
    assert claims["Table 7: S2 as large as the real set (×1) gives the best fairness (lowest EO) of the sizes"].holds
    figure8 = {c.statement.split(")")[0]: c for c in claims.values() if c.statement.startswith("Figure 8")}
    assert set(figure8) == {"Figure 8 (CelebA S/M", "Figure 8 (UTK F/W"}  # one reading per setting
    celeba, utk = figure8["Figure 8 (CelebA S/M"], figure8["Figure 8 (UTK F/W"]
    assert celeba.holds and "52% in stem, layer1, layer2" in celeba.evidence
    assert celeba.reads["share of the selected tensors in early layers"] == (1 + 9 + 15) / 48
    assert not utk.holds and utk.reads["share of the selected tensors in early layers"] == 5 / 37
    sweep["ACC"] = sweep["ACC"][::-1].to_numpy()
    acc7 = {x: 80 + i for i, x in enumerate(scales)}
    claims = {c.statement: c for cs in ablation_claims(rows_with(acc7, eo7), sweep, decodability, blocks).values() for c in cs}
    assert not claims["Figure 5: a lower k is more accurate (ACC falls as k grows: Spearman ρ(k, ACC) < 0)"].holds
    assert not claims["Table 7: half the real set's size (×0.5) gives the best accuracy of the sizes"].holds


def test_table5_verdict_compares_the_differences_between_families_with_the_seed_spread():
    from fairlab.pages.csdg import family_differences_against_noise

    class Run:
        def __init__(self, acc):
            self.metrics = {"report": {"acc": acc}}

    runs = {("CelebA S/M", "plain"): [Run(50), Run(52), Run(54)], ("CelebA S/M", "ctx50_pose"): [Run(51), Run(53), Run(55)]}
    noise = family_differences_against_noise(runs).loc["CelebA S/M"]
    assert noise["largest difference"] == 1.0
    assert np.isclose(noise["noise bound"], 1.96 * 2.0 * np.sqrt(2 / 3))
    runs[("CelebA S/M", "ctx50_pose")] = [Run(71), Run(73), Run(75)]
    noise = family_differences_against_noise(runs).loc["CelebA S/M"]
    assert noise["largest difference"] > noise["noise bound"]
    assert family_differences_against_noise({("CelebA S/M", "plain"): [Run(50)]}) is None


def test_table1_claims_compare_aimfair_with_the_best_other_rerun_method_per_setting():
    from fairlab.aimfair.comparison import TABLE1_SETTINGS
    from fairlab.pages.smg_sft import table1_claims

    rows = {}
    for label in TABLE1_SETTINGS:
        rows.update({("ERM", label): _row(88, 70, 25), ("CVaR DRO", label): _row(87, 74, 22), ("JTT", label): _row(88, 75, 19),
                     ("AIM-Fair (Ours)", label): _row(89, 84, 6)})
    claims = table1_claims(rows)
    assert len(claims) == 2 * len(TABLE1_SETTINGS) and all(c.holds for c in claims)
    rows[("JTT", TABLE1_SETTINGS[0])] = _row(88, 86, 5)
    claims = {c.statement: c for c in table1_claims(rows)}
    wst = claims[f"{TABLE1_SETTINGS[0]}: AIM-Fair has the best worst-group accuracy of the re-run methods"]
    assert not wst.holds and "the best other, JTT, 86.00" in wst.evidence


def test_table2_claims_ask_for_the_best_accuracy_except_at_ten_percent_and_the_best_wst_and_eo_at_every_share():
    from fairlab.aimfair.comparison import TABLE2_SETTINGS
    from fairlab.pages.smg_sft import table2_claims

    rows = {}
    for label in TABLE2_SETTINGS:
        rows.update({("ERM", label): _row(88, 70, 25), ("JTT", label): _row(87, 75, 19), ("AIM-Fair (Ours)", label): _row(89, 84, 6)})
    claims = table2_claims(rows)
    assert len(claims) == 3 * len(TABLE2_SETTINGS) - 1 and all(c.holds for c in claims)
    assert not any("10%: AIM-Fair has the best accuracy" in c.statement for c in claims)
    rows[("ERM", "CelebA S/M 25%")] = _row(90, 70, 25)
    accuracy = {c.statement: c for c in table2_claims(rows)}["CelebA S/M 25%: AIM-Fair has the best accuracy of the re-run methods"]
    assert not accuracy.holds and "the best other, ERM, 90.00" in accuracy.evidence
