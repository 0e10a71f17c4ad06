"""The text-to-image model being debiased, as adjusted direct fine-tuning uses it (reference §3.3–3.4).

A :class:`Generator` holds a Stable Diffusion pipeline's parts — VAE, text encoder, tokenizer, U-Net — and the
DPM-Solver++ sampler of :func:`fairlab.dal.dft.dft_scheduler`, and turns a prompt and image indices into images:

1. the prompt and the empty prompt are encoded together, both through the (possibly adapted) text encoder, so
   classifier-free guidance's two branches both change with a text-encoder LoRA. ``padding="longest"`` pads them to
   the longer of the two and passes the attention mask (the official code's quirk); ``"max_length"`` pads to the
   tokenizer's length without a mask, as the stock pipeline does and as the miniature model was trained;
2. image i starts from the noise seeded by the prompt and i (:mod:`fairlab.dal.noise`), so the original and the
   debiased model draw the same face from the same index in any process;
3. :func:`fairlab.dal.dft.sample` runs the sampler — without a graph, or differentiably under one of its gradients;
4. the VAE decodes the latents to pixels in [−1, 1] (differentiably when they carry a gradient).

The miniature model and Stable Diffusion v1.5 go through the same code (:func:`load_generator`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fairlab.dal import dft
from fairlab.dal.noise import initial_noise


@dataclass
class Generator:
    vae: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    unet: torch.nn.Module
    scheduler: object
    steps: int
    guidance: float
    #: "longest" (the official code) or "max_length" (the stock pipeline, the miniature model's training)
    padding: str = "longest"
    #: text prepended to each conditional prompt (a soft prefix's tokens; empty otherwise)
    prefix: str = ""

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        size = self.unet.config.sample_size
        return (self.unet.config.in_channels, size, size)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def encode(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(conditional, unconditional) token features of ``prompt`` and ``""`` (see :attr:`padding`)."""
        texts = [self.prefix + prompt, ""]
        if self.padding == "longest":
            ids = self.tokenizer(texts, padding="longest", return_tensors="pt")
            mask = ids.attention_mask.to(self.device)
        elif self.padding == "max_length":
            ids = self.tokenizer(texts, padding="max_length", max_length=self.tokenizer.model_max_length,
                                 truncation=True, return_tensors="pt")
            mask = None
        else:
            raise ValueError(f"padding must be 'longest' or 'max_length', got {self.padding!r}")
        features = self.text_encoder(ids.input_ids.to(self.device), attention_mask=mask)[0]
        return features[:1], features[1:]

    def noise(self, prompt: str, indices) -> torch.Tensor:
        """z_T of each image index of ``prompt`` (the prefix is not part of the seed: same noise as the original)."""
        return initial_noise(prompt, indices, self.latent_shape).to(self.device)

    def latents_from(self, noise: torch.Tensor, prompt: str, gradient: str | None = None,
                     coefficients: np.ndarray | str = "official", checkpoint: bool = False,
                     steps: int | None = None, gradient_norms: dict | None = None) -> torch.Tensor:
        """z_0 from the starting ``noise`` (N × latent shape); ``gradient=None`` samples without a graph, else under that
        DFT gradient (:data:`fairlab.dal.dft.GRADIENTS`), recording each step's gradient scale in ``gradient_norms``
        if given (:func:`fairlab.dal.dft.sample`)."""
        if gradient is None:
            with torch.no_grad():
                return self.latents_from(noise, prompt, "adjusted_no_coefficient", coefficients, False, steps)
        cond, uncond = self.encode(prompt)
        n = len(noise)
        return dft.sample(self.unet, self.scheduler, noise, cond.expand(n, -1, -1), uncond.expand(n, -1, -1),
                          steps or self.steps, self.guidance, gradient, coefficients, checkpoint, gradient_norms)

    def latents(self, prompt: str, indices, **sampling) -> torch.Tensor:
        """z_0 of each image index of ``prompt``, from its own seeded noise (:meth:`noise`)."""
        return self.latents_from(self.noise(prompt, indices), prompt, **sampling)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Pixels in [−1, 1] (not clamped: the classifiers read them as decoded)."""
        return self.vae.decode(latents / self.vae.config.scaling_factor).sample

    def images(self, prompt: str, indices, batch_size: int = 64, steps: int | None = None) -> torch.Tensor:
        """``uint8 [N, 3, H, W]`` images of the image indices, sampled without a graph in batches."""
        out = []
        indices = list(indices)
        with torch.no_grad():
            for start in range(0, len(indices), batch_size):
                x = self.decode(self.latents(prompt, indices[start:start + batch_size], steps=steps))
                out.append(to_uint8(x).cpu())
        return torch.cat(out)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Pixels in [−1, 1] to ``uint8`` in [0, 255]."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_classifier_input(images: torch.Tensor) -> torch.Tensor:
    """Decoded pixels in [−1, 1] as the classifiers read ``uint8`` renders (``eval_transform`` scales [0, 255]),
    keeping the gradient: clamped to the valid range, then mapped to [0, 255]."""
    return (images.clamp(-1, 1) + 1) * 127.5


def load_generator(source, steps: int, guidance: float, timestep_spacing: str = dft.SPACING,
                   padding: str = "longest", torch_dtype=None) -> Generator:
    """A :class:`Generator` from a local ``StableDiffusionPipeline`` folder (or a hub id already in the cache):
    the miniature model of this project or Stable Diffusion v1.5. Every weight is frozen."""
    from fairlab.aimfair.generation import load_pipeline

    pipe = load_pipeline(source, sampler="native", torch_dtype=torch_dtype)
    for module in (pipe.vae, pipe.text_encoder, pipe.unet):
        module.requires_grad_(False).eval()
    scheduler = dft.dft_scheduler(pipe.scheduler.config, timestep_spacing)
    return Generator(pipe.vae, pipe.text_encoder, pipe.tokenizer, pipe.unet, scheduler, steps, guidance, padding)
