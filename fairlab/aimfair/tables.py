"""The paper's tables as data: which strategies each table of AIM-Fair compares, on which settings.

A table entry is a :class:`~fairlab.aimfair.smg_sft.Strategy`, a
:class:`~fairlab.aimfair.smg_sft.Baseline` (the pre-trained model of an architecture) or an
:class:`~fairlab.aimfair.smg_sft.AimFair` (SMG + SFT at the profile's k);
:func:`fairlab.aimfair.smg_sft.seed_records` gives an entry's per-seed records. The chapters' pages
(:mod:`fairlab.pages.smg_sft`, :mod:`fairlab.pages.ablations`) and the build's plans
(:mod:`fairlab.plans`) read the tables from here.
"""

from __future__ import annotations

from fairlab.aimfair import csdg, smg_sft
from fairlab.aimfair.smg_sft import AimFair, Baseline, Strategy
from fairlab.profiles import Profile

S = Strategy


AIM = AimFair()


#: Table 5's rows: the prompt families whose synthetic data alone trains a classifier
TABLE5_FAMILIES = ("plain", "ctx25", "ctx50", "ctx50_pose")

#: the settings each profile's budget covers: the paper's three in ``paper``; elsewhere CelebA
#: Smiling/Male, the paper's main setting (Tables 6, 7 and 9 and Figures 1, 2, 5, 6 are on it)
PROFILE_SETTINGS = {"paper": ["CelebA S/M", "CelebA S/Y", "UTK F/W"]}


DEFAULT_SETTINGS = ["CelebA S/M"]


def settings_for(profile: Profile) -> list[str]:
    """Tables 3 and 4's settings at this profile's scale."""
    return PROFILE_SETTINGS.get(profile.name, DEFAULT_SETTINGS)


#: Table 3's rows: printed method name → strategy (``None``: the pre-trained Baseline)
TABLE3 = {
    "Baseline": Baseline(),
    "Trained on Synthetic Data": S("synthetic"),
    "Data Supplementation": S("supplementation"),
    "Data Repairing": S("repairing"),
    "Linear Prob": S("linear_probe"),
    "Fully Fine-Tuning": S("full"),
    "AIM-Fair (Ours)": AIM,
}


RANDOM_RATIOS = (0.4, 0.55, 0.7, 0.85)


BLOCKS = ("stem", "layer1", "layer2", "layer3", "layer4", "fc")


def table4_candidates(profile: Profile) -> dict[str, dict[str, Strategy]]:
    return {
        "Best Random Selection": {f"{r:.0%}": S("random", ratio=r) for r in RANDOM_RATIOS},
        # updating fc alone is the linear probe: the same run
        "Best Sub-Tuning (By Updating One Block)": {b: S("linear_probe") if b == "fc" else S("update", block=b) for b in BLOCKS},
        "Best Sub-Tuning (By Freezing One Block)": {b: S("freeze", block=b) for b in BLOCKS},
    }


TOP_KS = (40, 45, 50, 55, 60)


#: Table 6's rows, in its order (the weakest bias first)
S1_RATIOS = tuple(reversed(list(csdg.S1_RATIOS)))


VIT = "vit_s32"


def s2_entries(profile: Profile, printed: str) -> dict:
    """Table 7 / 10 rows: the ratio as the table prints it (``printed.format(scale)``) → AIM-Fair with S2 at that
    multiple of N_R / 4 per group."""
    return {printed.format(scale): S("selective", k=profile.aimfair.top_k, s1=smg_sft.aim_s1(profile), s2=f"x{scale:g}")
            for scale in csdg.S2_SCALES}


TABLE8 = {
    "Baseline": Baseline(VIT),
    "Trained on Synthetic Data": S("synthetic", arch=VIT),
    "Data Supplementation": S("supplementation", arch=VIT),
    "Fully Fine-Tuning": S("full", arch=VIT),
    "LoRA": S("lora", arch=VIT),
    "LTGC": S("ltgc", arch=VIT),
    "Selective Fine-Tuning": AimFair(arch=VIT),
}


TABLE9 = {"Baseline": Baseline(), "LTGC": S("ltgc"), "AIM-Fair (Ours)": AIM}


TABLE11 = {"Baseline": Baseline(), "Fully Fine-Tuning": S("full"), "AIM-Fair (Ours)": AIM}

#: the settings of the paper's Table 8 (ViT-S/32): Smiling with Male and with Young
TABLE8_SETTINGS = ("CelebA S/M", "CelebA S/Y")

#: Figure 8's settings: every setting the ablation chapter runs AIM-Fair's ResNet-18 mask on (S/M throughout, UTK F/W
#: in Table 10 at S2 × 1, M/Y in Table 11); the paper says the distribution holds across datasets
FIGURE8_SETTINGS = ("CelebA S/M", "UTK F/W", "CelebA M/Y")


#: the data page's calibration gate: every setting an AIM-Fair chapter trains a classifier on, with the paper table and
#: row that print its Baseline (Young/Male has none of its own: Table 1's ERM, copied from DiGA, without group accuracies)
GATE_BASELINES = {"CelebA S/M": ("Table 3", "Baseline"), "CelebA S/Y": ("Table 3", "Baseline"),
                  "CelebA Y/M": ("Table 1", "ERM"), "CelebA M/Y": ("Table 11", "Baseline"),
                  "UTK F/W": ("Table 3", "Baseline")}
