"""UTKFace, read from its file names: ``{age}_{gender}_{race}_{datetime}.jpg.chip.jpg``.

gender 0 = male, 1 = female; race 0–4 = White, Black, Asian, Indian, Others.  The papers'
attributes are exposed as ``Female`` (gender 1) and ``White`` (race 0), beside ``age`` and
``race``.  A name that does not parse (UTKFace has three without a race field) is skipped and
counted in one warning.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd

from fairlab.data import DataError

IMAGE_DIR = "UTKFace"
RACES = ("White", "Black", "Asian", "Indian", "Others")
_NAME = re.compile(r"^(?P<age>\d{1,3})_(?P<gender>[01])_(?P<race>[0-4])_(?P<stamp>\d+)\s*\.?jpg\.chip\.jpg$")
EXPECTED_LAYOUT = """\
<root>/UTKFace/{age}_{gender}_{race}_{datetime}.jpg.chip.jpg    the aligned and cropped faces (200x200)"""


def parse_name(name: str) -> dict | None:
    """The labels in a UTKFace file name, or None when it does not parse."""
    match = _NAME.match(name)
    if not match:
        return None
    age, gender, race = int(match["age"]), int(match["gender"]), int(match["race"])
    return {"age": age, "gender": gender, "race": race, "Female": gender, "White": int(race == 0)}


def load_utkface(root: str | Path) -> pd.DataFrame:
    """One row per parsable image, sorted by file name: ``path``, ``age``, ``gender``, ``race``, ``Female``, ``White``."""
    folder = Path(root) / IMAGE_DIR
    if not folder.is_dir():
        raise DataError(f"{folder}: image folder not found.\n{EXPECTED_LAYOUT}")
    rows, skipped = [], []
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(".jpg"):
            continue
        labels = parse_name(path.name)
        if labels is None:
            skipped.append(path.name)
            continue
        rows.append({"image_id": path.name, "path": str(path), **labels})
    if skipped:
        warnings.warn(f"{folder}: skipped {len(skipped)} file names that do not parse as age_gender_race_datetime "
                      f"(e.g. {skipped[0]!r})", stacklevel=2)
    if not rows:
        raise DataError(f"{folder}: no UTKFace images found.\n{EXPECTED_LAYOUT}")
    return pd.DataFrame(rows).set_index("image_id")
