"""What adjusted direct fine-tuning trains (reference §4): LoRA on the text encoder (the paper's main runs) or on the
U-Net's attention, through peft; the base weights frozen. The "original" model that the semantic-preservation terms
compare against is the same network with its adapter disabled (:func:`original`), not a second copy — equivalent to
the official code's separate copies of the base modules, since a disabled adapter adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

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
        raise ValueError(f"none of the modules {list(targets)} is in {type(model).__name__}: no LoRA was added") from error
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
