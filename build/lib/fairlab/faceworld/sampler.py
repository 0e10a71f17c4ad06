r"""Attribute sampler calibrated to the real label statistics of CelebA and UTKFace.

**CelebA (40 binary attributes).** A Gaussian copula: a latent ``z ~ N(0, R)`` and attribute
``a_i = 1[z_i > τ_i]`` with ``τ_i = Φ⁻¹(1 − p_i)``, where ``p_i`` is the attribute's share of
positives in the chosen partition (train / val / test / all), so the partition shift of
CelebA is kept.  ``R[i, j]`` is the *tetrachoric* correlation of the pair: the latent
correlation at which ``P(a_i = 1, a_j = 1)`` equals the real joint share (train counts).
The 780 pairwise values are not jointly consistent (their matrix is far from positive
definite: hair colours exclude each other, beards and lipstick exclude each other), so they
are projected onto the nearest correlation matrix (Higham's alternating projections) and then
refined by gradient descent on the pairwise joint shares themselves, through a Cholesky
parametrisation that keeps the matrix valid.  The fit is a deterministic function of the
shipped statistics, done once by :func:`fit_celeba_copula` and stored in
``stats/celeba_copula.json``; nothing in it is tuned to any experiment.  A Gaussian copula
cannot reproduce every pair exactly; the data page reports how close it comes.

**UTKFace.** ``(age, gender, race)`` cells are drawn with probabilities proportional to the
real image counts (ages 1–116, malformed names excluded); the visual CelebA attributes of a
UTKFace face are drawn from the copula conditioned on Male and Young.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

STATS_DIR = Path(__file__).resolve().parent / "stats"
PARTITIONS = ("train", "val", "test", "all")
PARTITION_CODES = {"train": 0, "val": 1, "test": 2}
#: CelebA's official partition sizes, in index order (train, then val, then test).
CELEBA_PARTITION_SIZES = {"train": 162770, "val": 19867, "test": 19962}
UTK_RACES = ("White", "Black", "Asian", "Indian", "Others")
YOUNG_AGE_LIMIT = 40  # a CelebA-style face counts as Young below this age

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(64)


def orthant_probability(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """P(X > h, Y > k) for a standard bivariate normal with correlation ``rho`` (vectorised).

    Uses Φ₂(a, b; ρ) = Φ(a)Φ(b) + ∫₀^ρ φ₂(a, b; r) dr with 64-point Gauss–Legendre quadrature.
    """
    a, b = -np.asarray(h, dtype=float), -np.asarray(k, dtype=float)
    rho = np.asarray(rho, dtype=float)
    r = 0.5 * rho[..., None] * (_NODES + 1.0)  # nodes mapped to [0, rho]
    one_minus = 1.0 - r**2
    density = np.exp(-(a[..., None] ** 2 - 2 * r * a[..., None] * b[..., None] + b[..., None] ** 2) / (2 * one_minus))
    density /= 2 * np.pi * np.sqrt(one_minus)
    return ndtr(a) * ndtr(b) + 0.5 * rho * (density * _WEIGHTS).sum(-1)


def tetrachoric(p_a: np.ndarray, p_b: np.ndarray, p_11: np.ndarray, iterations: int = 60) -> np.ndarray:
    """Latent correlations at which thresholded normals reproduce the joint share ``p_11`` (bisection)."""
    h, k = ndtri(1 - np.asarray(p_a)), ndtri(1 - np.asarray(p_b))
    low, high = np.full_like(h, -0.999), np.full_like(h, 0.999)
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        too_high = orthant_probability(h, k, mid) > p_11
        high, low = np.where(too_high, mid, high), np.where(too_high, low, mid)
    return 0.5 * (low + high)


def nearest_correlation(matrix: np.ndarray, iterations: int = 100, floor: float = 1e-4) -> np.ndarray:
    """Higham's alternating projections onto {unit diagonal} ∩ {positive definite}."""
    y = matrix.copy()
    correction = np.zeros_like(y)
    for _ in range(iterations):
        r = y - correction
        values, vectors = np.linalg.eigh(r)
        x = (vectors * np.maximum(values, floor)) @ vectors.T
        correction = x - r
        y = x.copy()
        np.fill_diagonal(y, 1.0)
    values, vectors = np.linalg.eigh(y)
    y = (vectors * np.maximum(values, floor)) @ vectors.T
    d = np.sqrt(np.diag(y))
    return y / np.outer(d, d)


@dataclass(frozen=True)
class CelebACopula:
    attributes: tuple[str, ...]
    thresholds: dict[str, np.ndarray]   # per partition
    factor: np.ndarray                  # L with the fitted latent correlation R = L Lᵀ
    tetrachoric: np.ndarray             # raw pairwise estimates

    @property
    def correlation(self) -> np.ndarray:
        return self.factor @ self.factor.T

    def sample(self, n: int, rng: np.random.Generator, partition: str = "train") -> pd.DataFrame:
        """``n`` attribute vectors (0/1, official column order) of the given partition."""
        if partition not in self.thresholds:
            raise ValueError(f"unknown partition {partition!r}; expected one of {PARTITIONS}")
        z = rng.standard_normal((n, len(self.attributes))) @ self.factor.T
        return pd.DataFrame((z > self.thresholds[partition]).astype(np.int8), columns=list(self.attributes))

    def sample_given(self, rng: np.random.Generator, fixed: pd.DataFrame, partition: str = "all") -> pd.DataFrame:
        """One attribute vector per row of ``fixed`` agreeing with it on its columns (e.g. Male, Young).

        Draws from the copula and assigns draws to rows with the same values of the fixed
        columns, i.e. a sample from the copula conditioned on them.
        """
        out = pd.DataFrame(index=fixed.index, columns=list(self.attributes), dtype=np.int8)
        keys = list(fixed.columns)
        needed = fixed.groupby(keys).size()
        pool = self.sample(4 * len(fixed) + 64, rng, partition)
        for _ in range(50):
            have = pool.groupby(keys).size().reindex(needed.index, fill_value=0)
            if (have >= needed).all():
                break
            pool = pd.concat([pool, self.sample(4 * len(fixed) + 64, rng, partition)], ignore_index=True)
        else:
            raise RuntimeError(f"could not draw enough faces for the combinations {needed.to_dict()}")
        for combo, rows in fixed.groupby(keys).groups.items():
            combo = combo if isinstance(combo, tuple) else (combo,)
            mask = np.all([pool[k].to_numpy() == v for k, v in zip(keys, combo)], axis=0)
            out.loc[rows] = pool[mask].iloc[: len(rows)].to_numpy()
        return out.astype(np.int8)


COPULA_FILE = STATS_DIR / "celeba_copula.json"


def _pair_shares(partition: str = "train"):
    marginals = pd.read_csv(STATS_DIR / "celeba_marginals.csv").set_index("attribute")
    pairs = pd.read_csv(STATS_DIR / "celeba_pairwise.csv")
    attributes = tuple(marginals.index)
    index = {a: i for i, a in enumerate(attributes)}
    cells = pairs[[f"{partition}_n00", f"{partition}_n01", f"{partition}_n10", f"{partition}_n11"]]
    n = cells.sum(axis=1)
    p_a = ((pairs[f"{partition}_n10"] + pairs[f"{partition}_n11"]) / n).to_numpy()
    p_b = ((pairs[f"{partition}_n01"] + pairs[f"{partition}_n11"]) / n).to_numpy()
    rows = np.array([index[a] for a in pairs["attr_a"]])
    cols = np.array([index[b] for b in pairs["attr_b"]])
    return attributes, marginals, rows, cols, p_a, p_b, (pairs[f"{partition}_n11"] / n).to_numpy()


def tetrachoric_matrix() -> np.ndarray:
    """The raw pairwise tetrachoric correlations (train), as a symmetric matrix."""
    attributes, _, rows, cols, p_a, p_b, p_11 = _pair_shares()
    raw = np.eye(len(attributes))
    raw[rows, cols] = raw[cols, rows] = tetrachoric(p_a, p_b, p_11)
    return raw


def fit_celeba_copula(steps: int = 800, lr: float = 0.01) -> np.ndarray:
    """Fit the latent correlation matrix to CelebA's pairwise joint shares (train); returns its factor L (R = L Lᵀ).

    Starts from the nearest correlation matrix to the tetrachoric estimates and minimises the
    squared error of the 780 joint shares, each scaled to phi units, with Adam on a Cholesky
    factor (so the matrix stays a valid correlation matrix).
    """
    import torch

    attributes, marginals, rows, cols, p_a, p_b, p_11 = _pair_shares()
    tau = torch.tensor(ndtri(1 - marginals["frac_train"].to_numpy()))
    nodes, weights = (torch.tensor(v) for v in np.polynomial.legendre.leggauss(64))
    target = torch.tensor(p_11)
    scale = torch.tensor(1.0 / np.sqrt(p_a * (1 - p_a) * p_b * (1 - p_b)))  # joint-share error -> phi error
    factor = torch.tensor(np.linalg.cholesky(nearest_correlation(tetrachoric_matrix())), requires_grad=True)
    optimizer = torch.optim.Adam([factor], lr=lr)

    def correlation():
        m = factor @ factor.T
        d = torch.sqrt(torch.diag(m))
        return m / torch.outer(d, d)

    def joint(h, k, rho):
        a, b = -h, -k
        r = 0.5 * rho[:, None] * (nodes + 1)
        density = torch.exp(-(a[:, None] ** 2 - 2 * r * a[:, None] * b[:, None] + b[:, None] ** 2) / (2 * (1 - r**2)))
        density = density / (2 * np.pi * torch.sqrt(1 - r**2))
        cdf = lambda x: 0.5 * (1 + torch.erf(x / np.sqrt(2)))  # noqa: E731
        return cdf(a) * cdf(b) + 0.5 * rho * (density * weights).sum(-1)

    for _ in range(steps):
        rho = correlation()[rows, cols].clamp(-0.999, 0.999)
        loss = (((joint(tau[rows], tau[cols], rho) - target) * scale) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return (factor / factor.norm(dim=1, keepdim=True)).numpy()  # rows of unit norm: L Lᵀ has a unit diagonal


def write_copula_file(path: Path = COPULA_FILE) -> None:
    """Fit the copula and store it (run once; the file ships with fairlab)."""
    import json

    factor = fit_celeba_copula()
    attributes = list(real_marginals().index)
    path.write_text(json.dumps({"attributes": attributes, "factor": np.round(factor, 8).tolist()}) + "\n")


@lru_cache(maxsize=1)
def celeba_copula() -> CelebACopula:
    """The copula fitted to the shipped CelebA statistics (read from ``stats/celeba_copula.json``)."""
    import json

    marginals = real_marginals()
    stored = json.loads(COPULA_FILE.read_text())
    if stored["attributes"] != list(marginals.index):
        raise ValueError(f"{COPULA_FILE}: attribute order differs from celeba_marginals.csv; refit with write_copula_file()")
    factor = np.array(stored["factor"])
    factor /= np.linalg.norm(factor, axis=1, keepdims=True)
    thresholds = {p: ndtri(1 - marginals[f"frac_{p}"].to_numpy()) for p in PARTITIONS}
    return CelebACopula(tuple(marginals.index), thresholds, factor, tetrachoric_matrix())


@lru_cache(maxsize=1)
def utkface_cells() -> pd.DataFrame:
    """The (age, gender, race) cells of UTKFace with their image counts and probabilities."""
    joint = pd.read_csv(STATS_DIR / "utkface_joint.csv")
    cells = joint[(joint["kind"] == "label") & (joint["count"] > 0)].copy()
    cells[["age", "gender", "race"]] = cells[["age", "gender", "race"]].astype(int)
    cells["p"] = cells["count"] / cells["count"].sum()
    return cells.reset_index(drop=True)[["age", "gender", "race", "count", "p"]]


def sample_utkface(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` (age, gender, race) draws from the real UTKFace joint (gender 1 = female, race 0 = White)."""
    cells = utkface_cells()
    picks = rng.choice(len(cells), size=n, p=cells["p"].to_numpy())
    return cells.iloc[picks][["age", "gender", "race"]].reset_index(drop=True)


@lru_cache(maxsize=1)
def _adult_ages() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cells = utkface_cells().groupby("age")["count"].sum()
    young = cells[(cells.index >= 18) & (cells.index < YOUNG_AGE_LIMIT)]
    old = cells[(cells.index >= YOUNG_AGE_LIMIT) & (cells.index <= 90)]
    return young.index.to_numpy(), (young / young.sum()).to_numpy(), old.index.to_numpy(), (old / old.sum()).to_numpy()


def ages_for(young: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A numeric age for each CelebA-style face: UTKFace's adult ages below 40 if Young, else 40–90."""
    young_ages, young_p, old_ages, old_p = _adult_ages()
    return np.where(young.astype(bool), rng.choice(young_ages, size=len(young), p=young_p),
                    rng.choice(old_ages, size=len(young), p=old_p))


def pairwise_phi(frame: pd.DataFrame) -> pd.DataFrame:
    """Phi coefficient of every pair of 0/1 columns (the Pearson correlation of binary variables)."""
    values = frame.to_numpy(dtype=float)
    std = values.std(0)
    centred = (values - values.mean(0)) / np.where(std > 0, std, 1.0)
    return pd.DataFrame(centred.T @ centred / len(values), index=frame.columns, columns=frame.columns)


def real_phi(partition: str = "train") -> pd.DataFrame:
    """CelebA's pairwise phi (``train`` or ``all``) as a square matrix in the official order."""
    pairs = pd.read_csv(STATS_DIR / "celeba_pairwise.csv")
    attributes = list(pd.read_csv(STATS_DIR / "celeba_marginals.csv")["attribute"])
    out = pd.DataFrame(np.eye(len(attributes)), index=attributes, columns=attributes)
    for a, b, phi in zip(pairs["attr_a"], pairs["attr_b"], pairs[f"{partition}_phi"]):
        out.loc[a, b] = out.loc[b, a] = phi
    return out


def real_marginals() -> pd.DataFrame:
    return pd.read_csv(STATS_DIR / "celeba_marginals.csv").set_index("attribute")


def real_groups() -> pd.DataFrame:
    return pd.read_csv(STATS_DIR / "celeba_groups.csv")
