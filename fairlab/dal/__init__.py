"""Fair text-to-image fine-tuning (Shen et al., ICLR 2024): the distributional alignment loss and adjusted direct
fine-tuning.

- :mod:`fairlab.dal.occupations` — the occupation world: sixty occupations (train / validation / test) with
  designed gender, race and age skews and signature cues, the biased model's prompts in `mini`;
- :mod:`fairlab.dal.classifiers` — the training classifier the loss reads and the separate evaluation classifier;
- :mod:`fairlab.dal.targets` — each batch's targets: optimal transport of the predicted attribute probabilities to
  samples of the target distribution (the exact two-class rule, Monte-Carlo transport for joint attributes, the
  composition enumeration for one many-class attribute), kept per attribute where confident;
- :mod:`fairlab.dal.loss` — the alignment loss (averaged over every image) and the preservation terms' per-image
  weights and face-region gradient factor;
- :mod:`fairlab.dal.noise` — the same starting noise for a (prompt, image) in every process;
- :mod:`fairlab.dal.bias` — the bias metric (mean pairwise gap of group frequencies per prompt) and Freq(old);
- :mod:`fairlab.dal.schedule` — the per-step gradient coefficients of adjusted direct fine-tuning;
- :mod:`fairlab.dal.dft` — sampling differentiably through DPM-Solver++ with the exact, the adjusted and the
  adjusted-without-coefficient gradients, and the direct-path weights A_t probed by autograd;
- :mod:`fairlab.dal.adapters` — what is trained (LoRA on the text encoder or the U-Net, or a soft prefix) and the
  original model as the same network with its adapter disabled;
- :mod:`fairlab.dal.base_model` — the biased model of `mini`: the miniature text-to-image model fine-tuned on the
  occupation world;
- :mod:`fairlab.dal.generator` — prompt and noise to image, without a graph or differentiably;
- :mod:`fairlab.dal.perception` — the faces (`mini`'s fixed box, a detector's largest face), the official square
  crop and ArcFace alignment, the preservation encoders and the face embedding with its bank;
- :mod:`fairlab.dal.paper_perception` — the paper's networks from a local folder for Stable Diffusion runs: insightface,
  the MobileNetV3 classifiers, CLIP, DINOv2, the face network, and the evaluation with CLIP-T;
- :mod:`fairlab.dal.finetune` — one run: three sampling passes per prompt, the loss, AdamW and EMA on the engine;
- :mod:`fairlab.dal.experiments` — the chapter's records: the classifier, the original model's images, every run and
  Figure 1's toy runs and gradient scales.
"""
