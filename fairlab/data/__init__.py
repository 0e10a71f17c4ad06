"""Datasets: the vendored UCI Adult (``fairlab.data.adult``) and, later, the face datasets."""

from __future__ import annotations


class DataError(ValueError):
    """A data file is missing, corrupt or not in the expected format."""
