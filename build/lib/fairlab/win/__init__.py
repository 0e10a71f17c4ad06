"""Weight importance neutralization (arXiv 2403.00625).

- :mod:`~fairlab.win.neutralize`: group-wise Fisher information, its neutralization and the
  Fisher-weighted SVD of the last layer;
- :mod:`~fairlab.win.regularisers`: the Equalized-Odds and Demographic-Parity penalties of the baselines;
- :mod:`~fairlab.win.adult`: the protocol on UCI Adult; :mod:`~fairlab.win.images`: on image features.
"""
