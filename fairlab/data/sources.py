"""Where each dataset comes from: its loader by name, and a check of a data root's layout."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fairlab.data import DataError, celeba, lfwa, utkface

LOADERS = {"celeba": celeba.load_celeba, "utkface": utkface.load_utkface, "lfwa": lfwa.load_lfwa}
LAYOUTS = {"celeba": celeba.EXPECTED_LAYOUT, "utkface": utkface.EXPECTED_LAYOUT, "lfwa": lfwa.EXPECTED_LAYOUT}


def load_dataset(name: str, root: str | Path) -> pd.DataFrame:
    """The index of dataset ``name`` (celeba, utkface, lfwa) stored under ``root``."""
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; expected one of {', '.join(LOADERS)}")
    return LOADERS[name](Path(root))


def check_data_root(data_root: str | Path) -> list[str]:
    """One line per dataset: found (with its size) or missing (with the expected layout under ``<data root>/<name>``)."""
    lines = []
    for name in LOADERS:
        root = Path(data_root) / name
        try:
            frame = load_dataset(name, root)
            lines.append(f"{name}: found at {root} ({len(frame)} images)")
        except DataError as exc:
            layout = LAYOUTS[name].replace("<root>", str(root))
            lines.append(f"{name}: missing or incomplete at {root}: {str(exc).splitlines()[0]}\n  expected:\n    "
                         + layout.replace("\n", "\n    "))
    return lines
