"""The miniature text-to-image model: Stable Diffusion's components at CPU scale.

It is built from diffusers' and transformers' own classes — an ``AutoencoderKL`` (8 latent
channels: 32×32 images become 8×8×8 latents), a small ``CLIPTextModel`` with a word-level
tokenizer over FaceWorld's caption vocabulary, a ``UNet2DConditionModel`` with cross-attention at
4×4 and in the middle block, a DDPM training scheduler and a DPM-Solver++ sampler — and assembled
as a ``StableDiffusionPipeline``, saved with ``save_pretrained``.  Generation and fine-tuning then
run the same code for the miniature and the real Stable Diffusion.

Training (:func:`train`) follows what made a CPU prototype work (``../shared/reference/mini_t2i.md``):
the VAE first (reconstruction + a small KL term), then the U-Net and the text encoder together on
the cached latents with min-SNR-5 weighting of the noise loss, an exponential moving average of
the weights (0.998), a cosine learning-rate decay, attribute-level caption dropout (so unspecified
attributes follow the training prior) and 10 % empty captions (for classifier-free guidance).
The sampler's timestep spacing is "leading" with offset 1: with the cosine schedule, the default
spacing starts sampling at t = 999 where no signal is left.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from fairlab import device as devices
from fairlab.device import Runtime
from fairlab.train import TensorBatches, fit, make_optimizer

MAX_TOKENS = 24
SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")


@dataclass(frozen=True)
class Architecture:
    image_size: int = 32
    latent_channels: int = 8
    vae_channels: tuple[int, ...] = (16, 32, 64)
    unet_channels: tuple[int, ...] = (64, 128)
    text_width: int = 64
    text_layers: int = 2


def build_tokenizer(vocabulary: list[str]):
    """A word-level tokenizer: lower-case, commas and full stops dropped, one id per known word."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    # each word once: a repeated word would take a later id and push the last one outside the embedding's range
    words = dict.fromkeys(list(SPECIALS) + [w for w in vocabulary if w not in SPECIALS])
    vocab = {token: i for i, token in enumerate(words)}
    core = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    core.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(",", " "), normalizers.Replace(".", " ")])
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single="[BOS] $A [EOS]", special_tokens=[("[BOS]", 2), ("[EOS]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="[BOS]", eos_token="[EOS]", pad_token="[PAD]",
                                   unk_token="[UNK]", model_max_length=MAX_TOKENS)


def build_components(arch: Architecture, vocab_size: int):
    """A fresh (VAE, text encoder, U-Net) for the miniature model."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    blocks = len(arch.vae_channels)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * blocks,
                        up_block_types=("UpDecoderBlock2D",) * blocks, block_out_channels=arch.vae_channels,
                        latent_channels=arch.latent_channels, layers_per_block=1, norm_num_groups=8,
                        sample_size=arch.image_size, mid_block_add_attention=False)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=vocab_size, hidden_size=arch.text_width, intermediate_size=2 * arch.text_width,
                                        num_hidden_layers=arch.text_layers, num_attention_heads=4,
                                        max_position_embeddings=MAX_TOKENS + 8, pad_token_id=0, bos_token_id=2, eos_token_id=3))
    latent = arch.image_size // 2 ** (blocks - 1)
    unet = UNet2DConditionModel(sample_size=latent, in_channels=arch.latent_channels, out_channels=arch.latent_channels,
                                block_out_channels=arch.unet_channels, layers_per_block=1,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=arch.text_width, attention_head_dim=8, norm_num_groups=16)
    return vae, text, unet


PREDICTIONS = ("epsilon", "v_prediction")


def training_scheduler(prediction: str = "epsilon"):
    """The cosine-schedule DDPM scheduler the U-Net learns with (its config is also the sampler's).

    ``epsilon``: noise prediction; sampling starts at t = 901 ("leading" spacing, offset 1), because
    the last cosine steps hold almost no signal and ε-prediction cannot recover an image from them.
    ``v_prediction``: velocity prediction with the betas rescaled to a zero terminal SNR and
    "trailing" spacing, so sampling starts from pure noise at t = 999 exactly as training saw it
    (Lin et al., 2024, "Common diffusion noise schedules and sample steps are flawed").
    """
    from diffusers import DDPMScheduler

    by_prediction = {"epsilon": {"timestep_spacing": "leading"},
                     "v_prediction": {"timestep_spacing": "trailing", "rescale_betas_zero_snr": True}}
    if prediction not in by_prediction:
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type=prediction,
                         steps_offset=1, clip_sample=False, **by_prediction[prediction])


def assemble(vae, text_encoder, tokenizer, unet, train_scheduler):
    """A ``StableDiffusionPipeline`` with the DPM-Solver++ sampler (no safety checker: the images are cartoons)."""
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    sampler = DPMSolverMultistepScheduler.from_config(train_scheduler.config, algorithm_type="dpmsolver++")
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=sampler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def _to_unit(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(127.5).sub(1.0)


class StepLimit:
    """At most ``steps`` batches in all from ``batches``, over as many epochs as that takes (the last one partial)."""

    def __init__(self, batches, steps: int):
        self.batches, self.steps, self.done = batches, steps, 0

    @property
    def epochs(self) -> int:
        return -(-self.steps // len(self.batches))

    def __len__(self) -> int:
        return min(len(self.batches), self.steps)

    def __iter__(self):
        for batch in self.batches:
            if self.done >= self.steps:
                return
            self.done += 1
            yield batch


def _cosine(optimizer, steps: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)))


def train_vae(vae, images: torch.Tensor, steps: int, batch_size: int = 16, lr: float = 1e-3, kl_weight: float = 1e-6,
              seed: int = 0, progress: bool = True, runtime: Runtime | None = None) -> list[dict]:
    """Reconstruction (mean squared error) + ``kl_weight`` × KL on ``uint8 [N, 3, S, S]`` images; cosine-decayed Adam.

    Small batches and many steps reconstruct thin details (the smile) far better than large ones
    at the same time (measured: batch 16 beats batch 64). Returns the loss history.
    """
    rt = runtime or devices.default_runtime()
    vae = rt.prepare(vae)
    batches = StepLimit(TensorBatches((images,), batch_size, seed=seed, drop_last=True, device=rt.device), steps)
    optimizer = make_optimizer("adam", vae.parameters(), lr)
    schedule = _cosine(optimizer, steps)

    def loss(model, batch):
        x = _to_unit(batch[0])
        posterior = model.encode(x).latent_dist
        reconstruction = model.decode(posterior.sample()).sample
        return nn.functional.mse_loss(reconstruction, x) + kl_weight * posterior.kl().mean()

    vae.train()
    result = fit(vae, optimizer, batches, loss, batches.epochs, after_step=schedule.step, desc="miniature model: VAE",
                 progress=progress, runtime=rt)
    vae.eval()
    return result.history


def encode(vae, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Latent means of the images (unscaled), on the VAE's device."""
    with devices.inference(vae) as rt:
        return torch.cat([vae.encode(_to_unit(rt.put(images[i:i + batch_size]))).latent_dist.mean.float()
                          for i in range(0, len(images), batch_size)])


class _Denoiser(nn.Module):
    """The U-Net and the text encoder, trained together (the tiny text encoder starts from scratch)."""

    def __init__(self, unet, text_encoder):
        super().__init__()
        self.unet, self.text_encoder = unet, text_encoder


class _EMA:
    def __init__(self, module: nn.Module, decay: float):
        self.module, self.decay = module, decay
        self.shadow = copy.deepcopy(module).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self) -> None:
        for ema, live in zip(self.shadow.parameters(), self.module.parameters()):
            ema.lerp_(live, 1 - self.decay)


def train_denoiser(unet, text_encoder, tokenizer, latents: torch.Tensor, captions, steps: int, batch_size: int = 64,
                   lr: float = 1e-3, min_snr_gamma: float = 5.0, ema_decay: float = 0.998, seed: int = 0,
                   prediction: str = "epsilon", progress: bool = True, runtime: Runtime | None = None):
    """Denoising training on scaled latents; ``captions(indices, generator)`` writes a batch's captions.

    The loss is min-SNR-γ weighted: ``min(SNR, γ) / SNR`` on the noise for ε-prediction, the same
    weight expressed on the velocity, ``min(SNR, γ) / (SNR + 1)``, for v-prediction.
    Returns the EMA copies of the U-Net and the text encoder, and the loss history.

    The noise and timesteps are drawn from the seed's CPU generator and moved to the runtime's
    device, so a seed trains on the same draws on either device.
    """
    rt = runtime or devices.default_runtime()
    scheduler = training_scheduler(prediction)
    alphas = scheduler.alphas_cumprod
    snr = alphas / (1 - alphas)
    clipped = torch.clamp(snr, max=min_snr_gamma)
    weight = rt.put(clipped / snr if prediction == "epsilon" else clipped / (snr + 1))
    model = rt.prepare(_Denoiser(unet, text_encoder))
    ema = _EMA(model, ema_decay)
    index = torch.arange(len(latents))
    batches = StepLimit(TensorBatches((latents, index), batch_size, seed=seed, drop_last=True, device=rt.device), steps)
    optimizer = make_optimizer("adam", model.parameters(), lr)
    schedule = _cosine(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)

    def loss(m, batch):
        z0, rows = batch
        ids = tokenizer(captions(rows.cpu().numpy(), generator), padding="max_length", max_length=MAX_TOKENS,
                        truncation=True, return_tensors="pt").input_ids
        context = m.text_encoder(rt.put(ids))[0]
        noise = rt.put(torch.randn(z0.shape, generator=generator))
        t = rt.put(torch.randint(0, scheduler.config.num_train_timesteps, (len(z0),), generator=generator))
        noisy = scheduler.add_noise(z0, noise, t)
        predicted = m.unet(noisy, t, encoder_hidden_states=context).sample
        target = noise if prediction == "epsilon" else scheduler.get_velocity(z0, noise, t)
        per_sample = (predicted - target).pow(2).mean(dim=(1, 2, 3))
        return (weight[t] * per_sample).mean()

    def after_step():
        schedule.step()
        ema.update()

    model.train()
    result = fit(model, optimizer, batches, loss, batches.epochs, after_step=after_step, desc="miniature model: U-Net",
                 progress=progress, runtime=rt)
    return ema.shadow.unet, ema.shadow.text_encoder, result.history


def latent_scale(latents: torch.Tensor) -> float:
    """The VAE's ``scaling_factor``: 1 / the standard deviation of the latents (SD uses 0.18215)."""
    return float(1.0 / latents.std())
