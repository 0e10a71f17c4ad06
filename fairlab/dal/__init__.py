"""Fair text-to-image fine-tuning (Shen et al., ICLR 2024): the distributional alignment loss and adjusted direct
fine-tuning.

- :mod:`fairlab.dal.targets` — each batch's targets: optimal transport of the predicted attribute probabilities to
  samples of the target distribution (the exact two-class rule, Monte-Carlo transport for joint attributes, the
  composition enumeration for one many-class attribute), kept per attribute where confident;
- :mod:`fairlab.dal.bias` — the bias metric (mean pairwise gap of group frequencies per prompt) and Freq(old);
- :mod:`fairlab.dal.schedule` — the per-step gradient coefficients of adjusted direct fine-tuning.
"""
