"""LFW+a: the LFW-a aligned images with Kumar et al.'s 73 attribute scores.

Layout under a root folder::

    lfw_attributes.txt                 tab-separated; lines starting with '#' are comments, the
                                       header is "#<tab>person<tab>imagenum<tab>Male<tab>…";
                                       one row per image: person, image number, 73 real scores
    lfw2/<Person_Name>/<Person_Name>_0001.jpg     the LFW-a images (250x250 grayscale); the folder
                                       may also be named lfwa, lfw-a or lfw

The neutralization paper's task: target gender (``Male`` score > 0), sensitive Heavy Makeup
(score > 0, attribute index 60).  The same 73 scores ship in ``dataset_description.pkl`` of
the MultiAccuracyBoost code, whose structure is undocumented; fairlab reads the text file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fairlab.data import DataError

ATTRIBUTE_FILE = "lfw_attributes.txt"
IMAGE_DIRS = ("lfw2", "lfwa", "lfw-a", "lfw")
KUMAR_ATTRIBUTES = (
    "Male", "Asian", "White", "Black", "Baby", "Child", "Youth", "Middle Aged", "Senior", "Black Hair", "Blond Hair",
    "Brown Hair", "Bald", "No Eyewear", "Eyeglasses", "Sunglasses", "Mustache", "Smiling", "Frowning", "Chubby",
    "Blurry", "Harsh Lighting", "Flash", "Soft Lighting", "Outdoor", "Curly Hair", "Wavy Hair", "Straight Hair",
    "Receding Hairline", "Bangs", "Sideburns", "Fully Visible Forehead", "Partially Visible Forehead",
    "Obstructed Forehead", "Bushy Eyebrows", "Arched Eyebrows", "Narrow Eyes", "Eyes Open", "Big Nose",
    "Pointy Nose", "Big Lips", "Mouth Closed", "Mouth Slightly Open", "Mouth Wide Open", "Teeth Not Visible",
    "No Beard", "Goatee", "Round Jaw", "Double Chin", "Wearing Hat", "Oval Face", "Square Face", "Round Face",
    "Color Photo", "Posed Photo", "Attractive Man", "Attractive Woman", "Indian", "Gray Hair", "Bags Under Eyes",
    "Heavy Makeup", "Rosy Cheeks", "Shiny Skin", "Pale Skin", "5 o' Clock Shadow", "Strong Nose-Mouth Lines",
    "Wearing Lipstick", "Flushed Face", "High Cheekbones", "Brown Eyes", "Wearing Earrings", "Wearing Necktie",
    "Wearing Necklace",
)
EXPECTED_LAYOUT = """\
<root>/lfw_attributes.txt                              Kumar et al.'s 73 attribute scores (tab-separated)
<root>/lfw2/<Person_Name>/<Person_Name>_0001.jpg        LFW-a images (or a folder named lfwa, lfw-a or lfw)"""


def image_relpath(person: str, number: int) -> str:
    folder = person.replace(" ", "_")
    return f"{folder}/{folder}_{number:04d}.jpg"


def _image_root(root: Path) -> Path:
    for name in IMAGE_DIRS:
        if (root / name).is_dir():
            return root / name
    raise DataError(f"{root}: no LFW-a image folder ({', '.join(IMAGE_DIRS)}).\n{EXPECTED_LAYOUT}")


def load_lfwa(root: str | Path, check_images: bool = True) -> pd.DataFrame:
    """One row per image: ``path``, ``person``, ``imagenum``, every attribute as 0/1 (score > 0) under its name
    with underscores (``Male``, ``Heavy_Makeup``, …) and the raw scores as ``score:<name>``."""
    root = Path(root)
    path = root / ATTRIBUTE_FILE
    if not path.is_file():
        raise DataError(f"{path}: file not found; expected the LFW attribute scores.\n{EXPECTED_LAYOUT}")
    header, rows = None, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            fields = [f.strip() for f in line.lstrip("#").split("\t") if f.strip()]
            if fields[:2] == ["person", "imagenum"]:
                header = fields
            continue
        fields = line.rstrip("\n").split("\t")
        if header is None:
            raise DataError(f"{path}: data on line {number} before the '#\\tperson\\timagenum\\t…' header line")
        if len(fields) != len(header):
            raise DataError(f"{path}: line {number} has {len(fields)} fields, the header has {len(header)}")
        rows.append(fields)
    if header is None:
        raise DataError(f"{path}: no '#\\tperson\\timagenum\\t…' header line")
    missing = [a for a in ("Male", "Heavy Makeup") if a not in header]
    if missing:
        raise DataError(f"{path}: attributes {missing} are missing from the header")
    raw = pd.DataFrame(rows, columns=header)
    names = [c for c in header if c not in ("person", "imagenum")]
    scores = raw[names].astype(float)
    images = _image_root(root) if check_images else root / IMAGE_DIRS[0]
    numbers = raw["imagenum"].astype(int)
    frame = pd.concat([
        pd.Series([str(images / image_relpath(p, n)) for p, n in zip(raw["person"], numbers)], name="path"),
        raw["person"], numbers,
        (scores > 0).astype("int8").rename(columns=lambda c: c.replace(" ", "_")),
        scores.rename(columns=lambda c: f"score:{c}"),
    ], axis=1)
    frame.index = [Path(p).name for p in frame["path"]]
    frame.index.name = "image_id"
    if check_images:
        absent = [p for p in frame["path"] if not Path(p).is_file()]
        if absent:
            raise DataError(f"{absent[0]}: image listed in {ATTRIBUTE_FILE} is missing ({len(absent)} missing in all)")
    return frame
