"""AIM-Fair (CVPR 2025): contextual synthetic data, selective mask generation and selective fine-tuning.

- :mod:`~fairlab.aimfair.prompts`: the settings (target and protected attributes, groups) and the
  LLM-written contextual prompts;
- :mod:`~fairlab.aimfair.generation`: text-to-image pipelines (Stable Diffusion, the miniature model);
- :mod:`~fairlab.aimfair.csdg`: contextual synthetic data generation, its pools, measures and Table 5;
- :mod:`~fairlab.aimfair.recipe`: the classifier recipe (pre-training on the biased real subset);
- :mod:`~fairlab.aimfair.selective`: SMG's masks and SFT's gradient masking;
- :mod:`~fairlab.aimfair.smg_sft`: every training strategy of Tables 3–11 on the shared engine;
- :mod:`~fairlab.aimfair.vit`: the ViT-S/32 backbone;
- :mod:`~fairlab.aimfair.bias_estimate`: S1's bias ratio from a JTT-style error set;
- :mod:`~fairlab.aimfair.competitors`: the debiasing methods Tables 1 and 2 compare with (CVaR DRO, JTT, LfF,
  EIIL, and group DRO as the oracle) on the shared recipe.

Each experiment function builds a plain-data configuration, asks the results registry for the
record and computes it only when it is missing.

For your own model: :func:`selective_mask` (``from fairlab.aimfair import selective_mask``).
"""

from fairlab.aimfair.selective import selective_mask

__all__ = ["selective_mask"]
