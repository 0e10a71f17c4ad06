"""Scenes: everything the renderer needs for one face, drawn from the calibrated sampler.

A scene is one row: the 40 CelebA attributes (0/1), the numeric ``age``, the UTKFace-style
``gender`` (1 = female) and ``race`` (0 White, 1 Black, 2 Asian, 3 Indian, 4 Others), the skin
``tone``, the head ``yaw`` and ``tilt`` and the image's ``seed``.  Scenes are the oracle: the
true attributes of every rendered image.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairlab.faceworld import sampler
from fairlab.faceworld.render import RACE_TONES

#: Attributes that a child's face (under 13) never shows, whatever the adult sampler drew.
ADULT_ONLY = ("Goatee", "Mustache", "Sideburns", "5_o_Clock_Shadow", "Heavy_Makeup", "Wearing_Lipstick", "Bald",
              "Gray_Hair", "Receding_Hairline", "Bags_Under_Eyes", "Double_Chin", "Wearing_Necktie")
YAW_RANGE = 0.6     # |yaw| ≤ 0.6: from three-quarter left to three-quarter right
TILT_SD = 7.0       # degrees


def _pose_and_seeds(n: int, rng: np.random.Generator) -> dict:
    return {
        "yaw": rng.uniform(-YAW_RANGE, YAW_RANGE, n).round(3),
        "tilt": rng.normal(0.0, TILT_SD, n).clip(-20, 20).round(2),
        "seed": rng.integers(0, 2**31 - 1, n),
    }


def _races_from_utk_marginal(n: int, rng: np.random.Generator) -> np.ndarray:
    cells = sampler.utkface_cells()
    share = cells.groupby("race")["count"].sum().sort_index()
    return rng.choice(share.index.to_numpy(), size=n, p=(share / share.sum()).to_numpy())


def tones_for(race: np.ndarray, pale: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A skin tone per face: the palest tone for Pale_Skin, otherwise drawn from the race's tones."""
    cumulative = RACE_TONES.cumsum(axis=1)[race]
    tone = (rng.random(len(race))[:, None] > cumulative).sum(axis=1)
    return np.where(pale.astype(bool), 0, tone)


def celeba_scenes(n: int, seed: int, partition: str = "train") -> pd.DataFrame:
    """``n`` CelebA-like faces of a partition: attributes from the copula, age from Young, a race for the skin."""
    rng = np.random.default_rng(seed)
    frame = sampler.celeba_copula().sample(n, rng, partition)
    frame["age"] = sampler.ages_for(frame["Young"].to_numpy(), rng)
    frame["race"] = _races_from_utk_marginal(n, rng)
    frame["gender"] = 1 - frame["Male"]
    frame["tone"] = tones_for(frame["race"].to_numpy(), frame["Pale_Skin"].to_numpy(), rng)
    return frame.assign(**_pose_and_seeds(n, rng))


def utkface_scenes(n: int, seed: int) -> pd.DataFrame:
    """``n`` UTKFace-like faces: (age, gender, race) from the real joint, the rest from the copula given Male and Young."""
    rng = np.random.default_rng(seed)
    labels = sampler.sample_utkface(n, rng)
    fixed = pd.DataFrame({"Male": (labels["gender"] == 0).astype(np.int8),
                          "Young": (labels["age"] < sampler.YOUNG_AGE_LIMIT).astype(np.int8)})
    frame = sampler.celeba_copula().sample_given(rng, fixed, partition="all")
    child = labels["age"].to_numpy() < 13
    for name in ADULT_ONLY:
        frame.loc[child, name] = 0
    frame.loc[child, "No_Beard"] = 1
    frame = frame.assign(age=labels["age"].to_numpy(), gender=labels["gender"].to_numpy(), race=labels["race"].to_numpy())
    frame["tone"] = tones_for(frame["race"].to_numpy(), frame["Pale_Skin"].to_numpy(), rng)
    return frame.assign(**_pose_and_seeds(n, rng)).reset_index(drop=True)
