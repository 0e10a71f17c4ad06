"""Where each dataset comes from: its loader by name, and a check of a data root's layout."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from fairlab.data import DataError, celeba, lfwa, utkface

LOADERS = {"celeba": celeba.load_celeba, "utkface": utkface.load_utkface, "lfwa": lfwa.load_lfwa}
LAYOUTS = {"celeba": celeba.EXPECTED_LAYOUT, "utkface": utkface.EXPECTED_LAYOUT, "lfwa": lfwa.EXPECTED_LAYOUT}


def load_dataset(name: str, root: str | Path) -> pd.DataFrame:
    """The index of dataset ``name`` (celeba, utkface, lfwa) stored under ``root``.

    Parsed once per process and dataset folder: every task of a notebook asks for the same index
    (CelebA's label file has 202,599 rows), so later calls get a copy of the first parse, until a
    file at the top of the folder (or the folder itself) changes.
    """
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; expected one of {', '.join(LOADERS)}")
    root = Path(root)
    key = (name, str(root.resolve()), _signature(root))
    if key not in _PARSED:
        frame = LOADERS[name](root)
        _PARSED.clear()  # one dataset index kept at a time: they are large
        _PARSED[key] = frame
    return _PARSED[key].copy()


_PARSED: dict[tuple, pd.DataFrame] = {}


def _signature(root: Path) -> tuple:
    """Names, sizes and modification times of the folder and its top-level entries (what a re-parse would see)."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
        return (root.stat().st_mtime_ns,) + tuple((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries)
    except OSError:
        return ()

