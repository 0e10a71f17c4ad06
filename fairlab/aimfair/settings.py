"""AIM-Fair's settings: a dataset, a binary target and a binary protected attribute, named as the paper's tables name them.

The groups of a setting are :data:`fairlab.data.GROUPS` (``"t_s"``). Table 2's settings train on a share of
Smiling/Male's biased real subset (its prefix per group, the same first-N rule) and fine-tune on Smiling/Male's
synthetic data: only the real data shrinks (:data:`SUBSET_SETTINGS`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """A task of AIM-Fair: dataset, target and protected attribute; ``real_share`` of the profile's biased real
    subset, and the setting whose synthetic data (prompts, pool, S1 and S2) it uses (itself by default)."""

    label: str
    dataset: str
    target: str
    protected: str
    real_share: float = 1.0
    synthetic_from: str | None = None

    @property
    def synthetic_label(self) -> str:
        """The label whose contextual pool and synthetic sets this setting trains and fine-tunes on."""
        return self.synthetic_from or self.label

    def groups(self) -> list[tuple[int, int]]:
        return [(t, s) for t in (0, 1) for s in (0, 1)]


SETTINGS = {
    "CelebA S/M": Setting("CelebA S/M", "celeba", "Smiling", "Male"),
    "CelebA S/Y": Setting("CelebA S/Y", "celeba", "Smiling", "Young"),
    "CelebA Y/M": Setting("CelebA Y/M", "celeba", "Young", "Male"),
    "CelebA M/Y": Setting("CelebA M/Y", "celeba", "Male", "Young"),
    "UTK F/W": Setting("UTK F/W", "utkface", "Female", "White"),
}

#: Table 2's sample ratios, as the paper prints them
TABLE2_SHARES = {"50%": 0.5, "25%": 0.25, "10%": 0.1}

#: Table 2's settings: Smiling/Male on a share of the real subset, with Smiling/Male's synthetic data
SUBSET_SETTINGS = {f"CelebA S/M {name}": Setting(f"CelebA S/M {name}", "celeba", "Smiling", "Male", real_share=share,
                                                 synthetic_from="CelebA S/M")
                   for name, share in TABLE2_SHARES.items()}


def setting(label: str) -> Setting:
    """The setting named ``label``: one of :data:`SETTINGS` or of Table 2's :data:`SUBSET_SETTINGS`."""
    if label in SETTINGS:
        return SETTINGS[label]
    if label in SUBSET_SETTINGS:
        return SUBSET_SETTINGS[label]
    raise KeyError(f"unknown AIM-Fair setting {label!r}; expected one of {', '.join([*SETTINGS, *SUBSET_SETTINGS])}")
