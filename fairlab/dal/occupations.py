"""The occupation world: the prompts of a biased text-to-image model to debias (the `mini` profile's stand-in for the
paper's 1,000 training and 50 test occupations).

Sixty one-token occupations ship as data (``fairlab/data/files/occupations.csv``: 40 train, 5 validation, 15 test,
disjoint), each prompted as the paper does, "a photo of the face of a {occupation}, a person". Each is given a skew,
drawn once from stated distributions before any fine-tuning (:func:`draw_skews`, seed :data:`DESIGN_SEED`):

- gender: p_male ~ Beta(5, 1), a random quarter of the occupations flipped to 1 − p_male (female-leaning);
- race, the paper's four classes (WMELH, Black, Indian, Asian): shares ~ Dirichlet(20, 1, 1, 1);
- age: p_old ~ Beta(0.3, 1.2);
- one or two signature cues among hat, eyeglasses, blond and black hair, each shown with probability
  :data:`CUE_RATE` (the non-protected content that semantic preservation must keep).

Its faces (:func:`occupation_scenes`) are FaceWorld scenes drawn from those skews, the other attributes from the
CelebA copula given gender and age. FaceWorld shows race only through skin tone, and its UTKFace-calibrated tones
overlap between races; here each race class gets one tone of its own (:data:`RACE_TONE`), far enough apart that the
classes can be told apart, so a fair generator can also be read as fair.

Over many occupations these distributions give a bias (:mod:`fairlab.dal.bias`) of .68 for gender, .44 for race and
.22 for gender × race, and Freq(old) .20 — the paper's original Stable Diffusion: .67, .42, .21 and .202.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from fairlab.dal.bias import bias
from fairlab.data import DataError
from fairlab.faceworld import sampler, world

PROMPT = "a photo of the face of a {occupation}, a person"
SPLITS = ("train", "validation", "test")
#: the paper's four race classes, and the FaceWorld race (UTKFace's codes) that draws each
RACES = ("WMELH", "Black", "Indian", "Asian")
FACEWORLD_RACE = {"WMELH": 0, "Black": 1, "Indian": 3, "Asian": 2}
#: each race class's skin tone (an index into FaceWorld's SKIN_TONES: pale, light-warm, tan, dark): every other tone, so
#: that neighbours differ in lightness or hue (measured: pale, medium, brown, dark, evenly spread in lightness, left
#: brown and dark harder to tell apart under the renderer's shading than pale and light-warm, told apart by hue)
RACE_TONE = {"WMELH": 0, "Black": 6, "Indian": 4, "Asian": 2}
CUES = ("Wearing_Hat", "Eyeglasses", "Blond_Hair", "Black_Hair")
HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
CUE_RATE = 0.8
FLIPPED_SHARE = 0.25
DESIGN_SEED = 0
#: the shipped occupations and their split
NAMES_FILE = Path(__file__).resolve().parent.parent / "data" / "files" / "occupations.csv"


@dataclass(frozen=True)
class Occupation:
    name: str
    split: str
    p_male: float
    race_shares: tuple[float, ...]
    p_old: float
    cues: tuple[str, ...]

    @property
    def prompt(self) -> str:
        return PROMPT.format(occupation=self.name)


def occupation_names(path: Path = NAMES_FILE) -> pd.DataFrame:
    """The shipped occupations and their split, checked: distinct single words, the three splits and no other."""
    frame = pd.read_csv(path, comment="#", dtype=str)
    if list(frame.columns) != ["occupation", "split"]:
        raise DataError(f"{path}: expected the columns occupation,split, got {','.join(frame.columns)}")
    if set(frame["split"]) != set(SPLITS):
        found = ", ".join(sorted(set(frame["split"])))
        raise DataError(f"{path}: the splits must be exactly {', '.join(SPLITS)}, got {found}")
    if frame["occupation"].duplicated().any() or frame["occupation"].str.contains(r"\s").any():
        raise DataError(f"{path}: occupations must be distinct single words")
    return frame


def draw_skews(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """n occupations' skews from the stated distributions (module docstring)."""
    p_male = rng.beta(5.0, 1.0, n)
    flipped = rng.permutation(n) < round(FLIPPED_SHARE * n)
    p_male = np.where(flipped, 1.0 - p_male, p_male)
    race = rng.dirichlet([20.0, 1.0, 1.0, 1.0], n)
    p_old = rng.beta(0.3, 1.2, n)
    n_cues = rng.integers(1, 3, n)
    cues = [tuple(sorted(str(c) for c in rng.choice(CUES, size=k, replace=False))) for k in n_cues]
    return {"p_male": p_male, "race": race, "p_old": p_old, "cues": cues}


@lru_cache(maxsize=2)
def occupations(seed: int = DESIGN_SEED) -> tuple[Occupation, ...]:
    """The sixty occupations with their designed skews (fixed by ``seed`` before anything is trained)."""
    names = occupation_names()
    skews = draw_skews(len(names), np.random.default_rng(seed))
    return tuple(Occupation(name, split, float(skews["p_male"][i]), tuple(float(x) for x in skews["race"][i]),
                            float(skews["p_old"][i]), skews["cues"][i])
                 for i, (name, split) in enumerate(zip(names["occupation"], names["split"])))


def designed_bias(p_male: float, race_shares, p_old: float) -> dict[str, float]:
    """The bias an occupation's skew would show with infinitely many images: gender (two classes), race (four), gender ×
    race (eight, the two independent), and Freq(old)."""
    gender = np.array([1.0 - p_male, p_male])
    race = np.asarray(race_shares, dtype=float)
    return {"gender": bias(gender), "race": bias(race), "gender × race": bias(np.outer(gender, race).ravel()),
            "freq_old": float(p_old)}


def design_table(seed: int = DESIGN_SEED) -> pd.DataFrame:
    """Per occupation: its split, designed frequencies, cues and designed bias."""
    lines = []
    for o in occupations(seed):
        lines.append({"occupation": o.name, "split": o.split, "p_male": o.p_male,
                      **{f"p_{race}": share for race, share in zip(RACES, o.race_shares)},
                      "cues": ", ".join(o.cues), **designed_bias(o.p_male, o.race_shares, o.p_old)})
    return pd.DataFrame(lines).set_index("occupation")


def occupation_scenes(occupation: Occupation, n: int, seed: int) -> pd.DataFrame:
    """``n`` FaceWorld scenes of an occupation, drawn from its skews: gender, race class and age group independently,
    each signature cue with probability :data:`CUE_RATE` (a hair-colour cue replacing the drawn colour), the rest
    from the CelebA copula given Male and Young. Columns as :func:`fairlab.faceworld.world.celeba_scenes`, plus the
    paper's race class (``race_class``, an index into :data:`RACES`)."""
    rng = np.random.default_rng([seed, zlib.crc32(occupation.name.encode())])
    male = (rng.random(n) < occupation.p_male).astype(np.int8)
    race_class = rng.choice(len(RACES), size=n, p=np.asarray(occupation.race_shares) / sum(occupation.race_shares))
    young = (rng.random(n) >= occupation.p_old).astype(np.int8)
    frame = sampler.celeba_copula().sample_given(rng, pd.DataFrame({"Male": male, "Young": young}), partition="all")
    for cue in occupation.cues:
        shown = rng.random(n) < CUE_RATE
        if cue in HAIR_COLOURS:
            for colour in HAIR_COLOURS:
                frame.loc[shown, colour] = int(colour == cue)
            frame.loc[shown, "Bald"] = 0
        else:
            frame.loc[shown, cue] = 1
    frame["age"] = sampler.ages_for(young, rng)
    frame["race_class"] = race_class
    frame["race"] = [FACEWORLD_RACE[RACES[k]] for k in race_class]
    frame["gender"] = 1 - frame["Male"]
    frame["Pale_Skin"] = 0           # the tone is the race class's own
    frame["tone"] = [RACE_TONE[RACES[k]] for k in race_class]
    # FaceWorld's own pose draw; left private there, since renaming it would re-key every FaceWorld record
    return frame.assign(**world._pose_and_seeds(n, rng)).reset_index(drop=True)
