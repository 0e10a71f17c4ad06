"""CelebA, read exactly as MMLAB distributes it (or in the common CSV re-packaging).

Official layout under a root folder::

    img_align_celeba/000001.jpg … 202599.jpg
    list_attr_celeba.txt      line 1: the number of images; line 2: the 40 attribute names;
                              then "000001.jpg  -1  1 …" (±1 per attribute)
    list_eval_partition.txt   "000001.jpg 0" (0 train, 1 val, 2 test)

The CSV variant (Kaggle) has ``list_attr_celeba.csv`` (``image_id`` and the 40 columns of ±1)
and ``list_eval_partition.csv`` (``image_id,partition``).  Attributes are returned as 0/1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fairlab.data import DataError

IMAGE_DIR = "img_align_celeba"
PARTITION_NAMES = {0: "train", 1: "val", 2: "test"}
EXPECTED_LAYOUT = """\
<root>/img_align_celeba/000001.jpg ...        aligned 178x218 JPEGs
<root>/list_attr_celeba.txt                    count line, header line of 40 names, one row of ±1 per image
<root>/list_eval_partition.txt                 "<image> <0|1|2>" per image
(or list_attr_celeba.csv and list_eval_partition.csv, the CSV re-packaging)"""


def _read_attribute_txt(path: Path) -> pd.DataFrame:
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise DataError(f"{path}: expected a count line and a header line, found {len(lines)} lines")
    try:
        declared = int(lines[0].strip())
    except ValueError:
        raise DataError(f"{path}: the first line must be the number of images, got {lines[0][:40]!r}") from None
    names = lines[1].split()
    rows = [line.split() for line in lines[2:] if line.strip()]
    if len(rows) != declared:
        raise DataError(f"{path}: the count line says {declared} images but {len(rows)} rows follow")
    bad = next((r for r in rows if len(r) != len(names) + 1), None)
    if bad is not None:
        raise DataError(f"{path}: row {bad[0]!r} has {len(bad) - 1} values for {len(names)} attributes")
    frame = pd.DataFrame([r[1:] for r in rows], columns=names, index=[r[0] for r in rows])
    frame.index.name = "image_id"
    return _attribute_values(frame, path, first_line=3)


def _read_attribute_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    if "image_id" not in frame.columns:
        raise DataError(f"{path}: expected an 'image_id' column first, got {list(frame.columns[:3])}")
    return _attribute_values(frame.set_index("image_id"), path, first_line=2)


def _attribute_values(frame: pd.DataFrame, path: Path, first_line: int) -> pd.DataFrame:
    """The ±1 attribute table as integers; a value that is not -1 or 1 is an error naming the file, the line,
    the image and the attribute (a truncated download leaves values such as ``-``)."""
    try:
        values = frame.astype(int)
        ok = values.isin([-1, 1]).to_numpy()
    except (ValueError, TypeError):
        values, ok = None, frame.astype(str).apply(lambda column: column.str.strip()).isin(["-1", "1"]).to_numpy()
    if not ok.all():
        row, column = np.argwhere(~ok)[0]
        raise DataError(f"{path}: line {first_line + row}, image {frame.index[row]!r}, attribute {frame.columns[column]!r}: "
                        f"expected -1 or 1, got {str(frame.iat[row, column])!r}")
    return values


def _read_partition(root: Path) -> pd.Series:
    txt, csv = root / "list_eval_partition.txt", root / "list_eval_partition.csv"
    if txt.is_file():
        frame = pd.read_csv(txt, sep=r"\s+", header=None, names=["image_id", "partition"], engine="python")
    elif csv.is_file():
        frame = pd.read_csv(csv)
    else:
        raise DataError(f"{txt}: file not found (nor {csv.name}); expected the official partition list.\n{EXPECTED_LAYOUT}")
    if not set(frame["partition"].unique()) <= set(PARTITION_NAMES):
        raise DataError(f"{txt if txt.is_file() else csv}: partitions must be 0, 1 or 2, found {sorted(frame['partition'].unique())}")
    return frame.set_index("image_id")["partition"]


def load_celeba(root: str | Path, check_images: bool = True) -> pd.DataFrame:
    """One row per image (index ``image_id``, in file order): ``path``, ``partition`` (train/val/test)
    and the 40 attributes as 0/1."""
    root = Path(root)
    txt, csv = root / "list_attr_celeba.txt", root / "list_attr_celeba.csv"
    if txt.is_file():
        attributes = _read_attribute_txt(txt)
    elif csv.is_file():
        attributes = _read_attribute_csv(csv)
    else:
        raise DataError(f"{txt}: file not found (nor {csv.name}); expected CelebA's attribute list.\n{EXPECTED_LAYOUT}")
    values = attributes.to_numpy()
    if not np.isin(values, (-1, 1)).all():
        raise DataError(f"{txt if txt.is_file() else csv}: attribute values must be -1 or 1")
    frame = ((attributes + 1) // 2).astype(np.int8)
    partition = _read_partition(root)
    missing = frame.index.difference(partition.index)
    if len(missing):
        raise DataError(f"{root}: {len(missing)} images have no partition, e.g. {missing[0]}")
    frame.insert(0, "partition", partition.reindex(frame.index).map(PARTITION_NAMES).to_numpy())
    frame.insert(0, "path", [str(root / IMAGE_DIR / name) for name in frame.index])
    if check_images:
        folder = root / IMAGE_DIR
        if not folder.is_dir():
            raise DataError(f"{folder}: image folder not found.\n{EXPECTED_LAYOUT}")
        absent = [p for p in frame["path"] if not Path(p).is_file()]
        if absent:
            raise DataError(f"{absent[0]}: image listed in the attribute file is missing ({len(absent)} missing in all)")
    return frame


def require_attributes(frame: pd.DataFrame, *names: str, dataset: str = "CelebA") -> None:
    """Raise a clear error for an attribute name that the dataset does not have."""
    known = [c for c in frame.columns if c not in ("path", "partition")]
    for name in names:
        if name not in frame.columns:
            raise DataError(f"unknown {dataset} attribute {name!r}; valid attributes: {', '.join(known)}")
