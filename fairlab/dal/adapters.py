"""What adjusted direct fine-tuning trains (reference §4): LoRA on the text encoder (the paper's main runs) or on the
U-Net's attention, through peft, or five soft prefix tokens; the base weights frozen. The "original" model that the
semantic-preservation terms compare against is the same network with its adapter disabled (:func:`original`), not a second copy — equivalent to
the official code's separate copies of the base modules, since a disabled adapter adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

#: the official text-encoder LoRA: every self-attention projection and both MLP layers of all CLIP layers
TEXT_ENCODER_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
#: the official U-Net LoRA: the query, key, value and output of every attention (self and cross)
UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
#: the official rank, with scale 1 (α = r)
RANK = 50
ADAPTER = "fair"


def add_lora(model: nn.Module, targets: Sequence[str], rank: int = RANK) -> list[nn.Parameter]:
    """LoRA of ``rank`` (α = rank; down-projection Gaussian, up-projection zero, so the model starts as it was) on the
    ``targets`` of ``model``; every other weight frozen. Returns the trained parameters."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=list(targets))
    try:
        inject_adapter_in_model(config, model, adapter_name=ADAPTER)
    except ValueError as error:   # peft: "Target modules … not found"
        raise ValueError(f"none of the modules {list(targets)} is in {type(model).__name__}: "
                         "no LoRA was added") from error
    trained = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad_("lora_" in name)
        if parameter.requires_grad:
            trained.append(parameter)
    return trained


def _set_enabled(model: nn.Module, enabled: bool) -> None:
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.enable_adapters(enabled)


@contextmanager
def original(*models: nn.Module) -> Iterator[None]:
    """Within the block, every adapter of ``models`` is disabled: the networks compute exactly their base outputs."""
    for model in models:
        _set_enabled(model, False)
    try:
        yield
    finally:
        for model in models:
            _set_enabled(model, True)


#: the official number of soft prefix tokens
PREFIX_TOKENS = 5


class PrefixEmbedding(nn.Module):
    """A token embedding with ``n`` trainable rows after the frozen table: ids below the base vocabulary read the
    table, the ``n`` new ids read :attr:`prefix` — its own parameter, so weight decay touches no other row (the
    reference's advice against unfreezing the whole table with masked gradients)."""

    def __init__(self, base: nn.Embedding, n: int, generator: torch.Generator):
        super().__init__()
        self.base = base.requires_grad_(False)
        rows = torch.randint(0, base.num_embeddings, (n,), generator=generator)
        # each new token starts as a copy of a random existing one, as the official code initialises them
        self.prefix = nn.Parameter(base.weight[rows].detach().clone())

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        vocab = self.base.num_embeddings
        new = ids >= vocab
        table = self.base(ids.clamp(max=vocab - 1))
        return torch.where(new[..., None], self.prefix[(ids - vocab).clamp(min=0)], table)


def add_soft_prefix(text_encoder: nn.Module, tokenizer, n: int = PREFIX_TOKENS,
                    seed: int = 0) -> tuple[str, nn.Parameter]:
    """``n`` new tokens added to ``tokenizer`` and read from a :class:`PrefixEmbedding` of ``text_encoder`` (a CLIP
    text model), every other weight frozen. Returns the text to prepend to each prompt (no space: the tokens are
    split out on their own) and the trained parameter. The original model is the prompt without the prefix."""
    embeddings = text_encoder.get_input_embeddings()
    names = [f"<fair-prefix-{i}>" for i in range(n)]
    if any(name in tokenizer.get_vocab() for name in names):
        raise ValueError("this tokenizer already has the soft prefix tokens")
    tokenizer.add_tokens(names)
    ids = tokenizer.convert_tokens_to_ids(names)
    if ids != list(range(embeddings.num_embeddings, embeddings.num_embeddings + n)):
        raise ValueError(f"the prefix tokens must follow the text encoder's {embeddings.num_embeddings} embeddings, "
                         f"got ids {ids}: the tokenizer and the text encoder disagree on the vocabulary")
    for parameter in text_encoder.parameters():
        parameter.requires_grad_(False)
    prefixed = PrefixEmbedding(embeddings, n, torch.Generator().manual_seed(seed))
    text_encoder.set_input_embeddings(prefixed)
    return "".join(names), prefixed.prefix
