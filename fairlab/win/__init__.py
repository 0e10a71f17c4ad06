"""Weight importance neutralization (arXiv 2403.00625).

- :mod:`~fairlab.win.neutralize`: group-wise Fisher information, its neutralization and the
  Fisher-weighted SVD of the last layer;
- :mod:`~fairlab.win.regularisers`: the Equalized-Odds and Demographic-Parity penalties of the baselines;
- :mod:`~fairlab.win.adult`: the protocol on UCI Adult; :mod:`~fairlab.win.images`: on image features.

For your own model: :func:`neutralized_head` (``from fairlab.win import neutralized_head``).
"""

from fairlab.win.neutralize import neutralized_head

__all__ = ["neutralized_head"]
