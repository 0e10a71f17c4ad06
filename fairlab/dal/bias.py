"""How biased a text-to-image model's outputs are, prompt by prompt (the paper's §4 metric; the official repository
has no code for it, so it is stated and tested here).

For a prompt P whose images' attribute is read by the *evaluation* classifier (images without a face left out):

    bias(P) = 1 / C(K, 2) · Σ_{i<j} |freq_i(P) − freq_j(P)|

over the K classes (K = 2 for gender: |f_male − f_female|; 4 for race; 8 for gender × race), reported as the mean
and standard deviation over the test prompts. Age is reported as Freq(old) per prompt instead, against a target.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

NO_FACE = -1


def class_frequencies(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """freq_k = #{images read as class k} / #{images with a face} (labels of :data:`NO_FACE` left out); NaN if none."""
    labels = np.asarray(labels)
    if labels.size and (labels.max() >= n_classes or labels.min() < NO_FACE):
        raise ValueError(f"labels must lie in 0..{n_classes - 1} or be {NO_FACE} (no face), got "
                         f"{labels.min()}..{labels.max()}")
    faces = labels[labels != NO_FACE]
    if faces.size == 0:
        return np.full(n_classes, np.nan)
    return np.bincount(faces, minlength=n_classes) / faces.size


def bias(frequencies: np.ndarray) -> float:
    """bias = 1 / C(K, 2) · Σ_{i<j} |f_i − f_j|: 0 when the classes are equally frequent, 2 / K when every image
    is one class (two classes at .8/.2 give .6; four classes with only one present give .5)."""
    f = np.asarray(frequencies, dtype=float)
    if f.size < 2:
        raise ValueError(f"bias needs at least two classes, got {f.size}")
    pairs = list(combinations(range(f.size), 2))
    return float(sum(abs(f[i] - f[j]) for i, j in pairs) / len(pairs))


def prompt_bias(labels: pd.Series, prompts: pd.Series, n_classes: int) -> pd.Series:
    """bias(P) for every prompt P, from each image's class (:data:`NO_FACE` where none was found)."""
    frame = pd.DataFrame({"label": np.asarray(labels), "prompt": np.asarray(prompts)})
    return frame.groupby("prompt", sort=True)["label"].apply(
        lambda g: bias(class_frequencies(g.to_numpy(), n_classes))).rename("bias")


def freq_old(labels: pd.Series, prompts: pd.Series, old: int = 1) -> pd.Series:
    """Freq(old) for every prompt: the share of its images with a face that are read as ``old``."""
    frame = pd.DataFrame({"label": np.asarray(labels), "prompt": np.asarray(prompts)})
    frame = frame[frame["label"] != NO_FACE]
    return frame.groupby("prompt", sort=True)["label"].apply(lambda g: float((g == old).mean())).rename("freq_old")


def mean_and_std(per_prompt: pd.Series) -> tuple[float, float]:
    """The reported pair: the mean over prompts and their standard deviation (population, ddof 0: the paper does not
    say which)."""
    values = per_prompt.dropna().to_numpy(dtype=float)
    return float(values.mean()), float(values.std())
