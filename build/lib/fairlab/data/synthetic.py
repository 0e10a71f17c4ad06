"""Synthetic image folders, as the generation step writes them.

Layout::

    <root>/0_0/  0_1/  1_0/  1_1/       one folder per group {t}_{s}; labels come from the folder
    <root>/manifest.csv                 one row per image: file (relative to root), group, prompt_id,
                                        prompt, seed, generator, and the sampler settings

As in the AIM-Fair code, the label of an image is its folder: there is no relabelling or filtering.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fairlab.data import DataError

GROUP_DIRS = ("0_0", "0_1", "1_0", "1_1")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MANIFEST = "manifest.csv"


def load_synthetic(root: str | Path) -> pd.DataFrame:
    """One row per image: ``path``, ``target``, ``protected``, ``group`` and the manifest's columns."""
    root = Path(root)
    present = [g for g in GROUP_DIRS if (root / g).is_dir()]
    if not present:
        raise DataError(f"{root}: no group folders; expected {', '.join(GROUP_DIRS)} holding the images")
    rows = []
    for group in present:
        t, s = (int(v) for v in group.split("_"))
        for path in sorted((root / group).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                rows.append({"file": f"{group}/{path.name}", "path": str(path), "target": t, "protected": s, "group": group})
    frame = pd.DataFrame(rows)
    manifest = root / MANIFEST
    if manifest.is_file():
        extra = pd.read_csv(manifest)
        if "file" not in extra.columns:
            raise DataError(f"{manifest}: expected a 'file' column (path relative to {root})")
        if "group" in extra.columns:
            extra = extra.rename(columns={"group": "manifest_group"})
        frame = frame.merge(extra, on="file", how="left")
        if "manifest_group" in frame.columns:
            wrong = frame[frame["manifest_group"].notna() & (frame["manifest_group"] != frame["group"])]
            if len(wrong):
                raise DataError(f"{manifest}: {wrong['file'].iloc[0]} is in folder {wrong['group'].iloc[0]} but the manifest says "
                                f"{wrong['manifest_group'].iloc[0]}")
            frame = frame.drop(columns="manifest_group")
    return frame
