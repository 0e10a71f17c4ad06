"""UCI Adult, as the weight-importance-neutralization paper prepares it.

The raw UCI files ship with fairlab (``fairlab/data/files/adult/``, gzip) and are verified
against their published SHA-256 before use.  The preprocessing restates the first author's
public ``AdultProcess`` pipeline, which reproduces the paper's Table 1 counts exactly
(12,287 / 5,000 / 10,315):

1. read each file, *skipping its first line* (the header of ``adult.test``, but also the first
   record of ``adult.data`` — this quirk is what gives 12,287 rather than 12,288);
2. recode marital status, relationship, workclass, occupation and native country into coarse
   groups (see ``_RECODE``), '?' in native country counting as "not United States";
3. z-score the five numeric columns per file, with that file's own statistics;
4. drop ``fnlwgt`` and ``race``; 5. drop rows with a missing value ('?' in workclass or occupation);
6. one-hot the six categorical columns (29 indicators) -> 34 inputs beside the sensitive ``sex``;
7. y = 1 for income > 50K; s = 1 for Male (privileged), 0 for Female.

``adult.data`` (30,717 rows) is split 60/40 into the pre-training set (18,430) and the new
task's training set (12,287, the 40 % rounded up as ``train_test_split`` does); ``adult.test``
(15,315 rows) into validation (5,000) and test (10,315).  Both splits are seeded (seed 0,
shuffled, not stratified: the paper states no seed) and the row indices are kept.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from fairlab.data import DataError

SHIPPED_DIR = Path(__file__).resolve().parent / "files" / "adult"

SHA256 = {
    "adult.data": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    "adult.test": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
}

COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income",
]
NUMERIC = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]

_RECODE = {
    "marital-status": {
        "Married-AF-spouse": "married", "Married-civ-spouse": "married", "Married-spouse-absent": "married",
        "Divorced": "not married", "Never-married": "not married", "Separated": "not married", "Widowed": "not married",
    },
    "relationship": {
        "Husband": "not single", "Wife": "not single",
        "Not-in-family": "single", "Own-child": "single", "Unmarried": "single",
        "Other-relative": "other",
    },
    "workclass": {
        "Private": "private",
        "Self-emp-not-inc": "no income", "Without-pay": "no income", "Never-worked": "no income",
        "Self-emp-inc": "self-emp",
        "Federal-gov": "gov", "Local-gov": "gov", "State-gov": "gov",
    },
    "occupation": {
        "Tech-support": "white collar", "Exec-managerial": "white collar",
        "Prof-specialty": "white collar", "Adm-clerical": "white collar",
        "Craft-repair": "blue collar", "Other-service": "blue collar", "Sales": "blue collar",
        "Handlers-cleaners": "blue collar", "Machine-op-inspct": "blue collar", "Farming-fishing": "blue collar",
        "Transport-moving": "blue collar", "Priv-house-serv": "blue collar", "Protective-serv": "blue collar",
        "Armed-Forces": "blue collar",
    },
}
_EDUCATION = [
    "10th", "11th", "12th", "1st-4th", "5th-6th", "7th-8th", "9th", "Assoc-acdm", "Assoc-voc",
    "Bachelors", "Doctorate", "HS-grad", "Masters", "Preschool", "Prof-school", "Some-college",
]
#: The categories of each one-hot block, fixed so that both files get identical columns.
CATEGORIES = {
    "workclass": ["gov", "no income", "private", "self-emp"],
    "education": _EDUCATION,
    "marital-status": ["married", "not married"],
    "occupation": ["blue collar", "white collar"],
    "relationship": ["not single", "other", "single"],
    "native-country": [0, 1],
}


@dataclass(frozen=True)
class Split:
    """Features ``x`` (float32, 34 columns), labels ``y`` and sensitive ``s`` (int64, 0/1)."""

    x: np.ndarray
    y: np.ndarray
    s: np.ndarray
    rows: np.ndarray = field(repr=False)  # row indices into the processed source file

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class AdultSplits:
    pretrain: Split
    train: Split
    val: Split
    test: Split
    feature_names: list[str]
    seed: int

    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ("pretrain", "train", "val", "test")}

    def describe(self) -> pd.DataFrame:
        """Size, share of women and positive rate of every split."""
        rows = []
        for name in ("pretrain", "train", "val", "test"):
            part = getattr(self, name)
            rows.append({
                "split": name, "rows": len(part),
                "female %": round(100 * float(np.mean(part.s == 0)), 1),
                "income > 50K %": round(100 * float(np.mean(part.y == 1)), 1),
            })
        return pd.DataFrame(rows).set_index("split")


def read_raw(name: str, root: Path | None = None) -> bytes:
    """The bytes of ``adult.data`` or ``adult.test``, verified against the UCI SHA-256.

    ``root`` may hold the plain file or a ``.gz`` copy; by default the shipped copy is used.
    """
    folder = Path(root) if root is not None else SHIPPED_DIR
    plain, packed = folder / name, folder / f"{name}.gz"
    if plain.is_file():
        data = plain.read_bytes()
        source = plain
    elif packed.is_file():
        try:
            data = gzip.decompress(packed.read_bytes())
        except (OSError, EOFError) as exc:
            raise DataError(f"{packed}: not a readable gzip file ({exc}); expected the UCI {name} compressed with gzip") from None
        source = packed
    else:
        raise DataError(f"{plain}(.gz): file not found; expected the UCI Adult file {name} (sha256 {SHA256[name]})")
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise DataError(f"{source}: sha256 {digest} does not match the UCI {name} ({SHA256[name]}); the file is corrupt or not the original")
    return data


def preprocess(raw: bytes) -> pd.DataFrame:
    """Steps 1–7 of the module docstring for one file: 34 features, ``sex``, ``y``."""
    frame = pd.read_csv(
        io.BytesIO(raw), header=None, names=COLUMNS, sep=r",\s*", engine="python",
        skiprows=1, na_values="?", skip_blank_lines=True,
    )
    frame = frame.dropna(how="all")
    frame["income"] = frame["income"].str.rstrip(".")
    for column, mapping in _RECODE.items():
        unknown = set(frame[column].dropna()) - set(mapping)
        if unknown:
            raise DataError(f"Adult column {column!r}: unexpected categories {sorted(unknown)}")
        frame[column] = frame[column].map(mapping)
    frame["native-country"] = (frame["native-country"] == "United-States").astype(int)
    for column in NUMERIC:
        values = frame[column].astype(float)
        frame[column] = (values - values.mean()) / values.std(ddof=0)
    frame = frame.drop(columns=["fnlwgt", "race"]).dropna().reset_index(drop=True)
    blocks = [frame[NUMERIC].astype(float)]
    for column, categories in CATEGORIES.items():
        coded = pd.Categorical(frame[column], categories=categories)
        if pd.isna(coded).any():
            raise DataError(f"Adult column {column!r}: values outside {categories}")
        blocks.append(pd.get_dummies(coded, prefix=column, prefix_sep="=").astype(float))
    features = pd.concat(blocks, axis=1)
    features["sex"] = (frame["sex"] == "Male").astype(int)
    features["y"] = (frame["income"] == ">50K").astype(int)
    return features


def load_adult(seed: int = 0, root: Path | None = None) -> AdultSplits:
    """The four splits of the neutralization paper (sizes 18,430 / 12,287 / 5,000 / 10,315)."""
    data = preprocess(read_raw("adult.data", root))
    test = preprocess(read_raw("adult.test", root))
    feature_names = [c for c in data.columns if c not in ("sex", "y")]
    pre_rows, new_rows = train_test_split(np.arange(len(data)), test_size=0.4, random_state=seed, shuffle=True)
    val_rows, test_rows = train_test_split(np.arange(len(test)), train_size=5000, random_state=seed, shuffle=True)

    def split(frame: pd.DataFrame, rows: np.ndarray) -> Split:
        part = frame.iloc[rows]
        return Split(
            x=part[feature_names].to_numpy(np.float32),
            y=part["y"].to_numpy(np.int64),
            s=part["sex"].to_numpy(np.int64),
            rows=np.asarray(rows, dtype=np.int64),
        )

    return AdultSplits(split(data, pre_rows), split(data, new_rows), split(test, val_rows), split(test, test_rows), feature_names, seed)
