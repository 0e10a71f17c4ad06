"""Datasets: the vendored UCI Adult (``fairlab.data.adult``) and, later, the face datasets."""

from __future__ import annotations

#: The four groups of a binary target t and a binary protected attribute s, named ``"t_s"``.
GROUPS = ("0_0", "0_1", "1_0", "1_1")


class DataError(ValueError):
    """A data file is missing, corrupt or not in the expected format."""
