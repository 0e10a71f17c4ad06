"""AIM-Fair's settings: a dataset, a binary target and a binary protected attribute, named as the paper's tables name them.

The groups of a setting are :data:`fairlab.data.GROUPS` (``"t_s"``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """A task of AIM-Fair: dataset, target and protected attribute."""

    label: str
    dataset: str
    target: str
    protected: str

    def groups(self) -> list[tuple[int, int]]:
        return [(t, s) for t in (0, 1) for s in (0, 1)]


SETTINGS = {
    "CelebA S/M": Setting("CelebA S/M", "celeba", "Smiling", "Male"),
    "CelebA S/Y": Setting("CelebA S/Y", "celeba", "Smiling", "Young"),
    "CelebA Y/M": Setting("CelebA Y/M", "celeba", "Young", "Male"),
    "CelebA M/Y": Setting("CelebA M/Y", "celeba", "Male", "Young"),
    "UTK F/W": Setting("UTK F/W", "utkface", "Female", "White"),
}
