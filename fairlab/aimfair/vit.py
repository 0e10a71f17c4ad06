"""ViT-S/32 for AIM-Fair's Table 8: timm's ``vit_small_patch32_224`` with a one-logit head.

The paper fine-tunes ImageNet weights (``../shared/reference/aimfair.md`` §8: "model class only";
the learning rate, k and epochs of its ViT runs are not given). Here:

* ``paper`` (``backbones.weights: imagenet``) reads timm's weight file for the model from
  ``backbones.weights_dir`` (``vit_small_patch32_224.safetensors`` or ``.pth``), the head left out;
* ``mini`` and ``smoke`` (``faceworld``) pretrain the same architecture on the FaceWorld task the
  ResNet-18 stand-in learns (:data:`fairlab.backbones.PRETRAINING_TASK`, never a book
  target or protected attribute), with the ResNet-18 stand-in's image count and epochs, AdamW
  (lr 1e-3, weight decay 0.05, cosine), the usual recipe for training a ViT.

The input size is the profile's ``aimfair.image_size``: at ``mini``'s 32 px a 32-px patch makes
the image a single token (plus the class token). That keeps the architecture the paper names, but
it is no longer a vision transformer in any useful sense: the pages say so.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fairlab import backbones
from fairlab import device as devices
from fairlab.data import DataError
from fairlab.results import Record, Registry
from fairlab.study import Study
from fairlab.train import seed_everything

ARCH = "vit_small_patch32_224"
PRETRAIN = "backbones/vit"
WEIGHT_FILES = (f"{ARCH}.safetensors", f"{ARCH}.pth")


def build(image_size: int, outputs: int) -> nn.Module:
    import timm  # imported here: only the ViT rows need it

    return timm.create_model(ARCH, pretrained=False, num_classes=outputs, img_size=image_size)


def backbone(study: Study) -> Record:
    """The ViT-S/32 weights the Table 8 classifiers start from (``backbone.pt``, no head)."""
    cfg = study.profile.backbones
    size = study.profile.aimfair.image_size
    if cfg.weights == "imagenet":
        return _local_weights(study.registry, cfg.weights_dir, size)
    recipe = cfg.resnet18
    config = backbones.StandInConfig(arch=ARCH, images=recipe.images, epochs=recipe.epochs, image_size=size,
                                     render_width=study.profile.faceworld.size, batch_size=cfg.batch_size, optimizer="adamw",
                                     lr=1e-3, weight_decay=0.05, seed=study.profile.faceworld.seed + 300,
                                     task=backbones.pretraining_task(cfg.task))

    def compute(workdir: Path) -> dict:
        return backbones.pretrain_stand_in(config, lambda: build(size, len(config.task)), devices.runtime(study.profile),
                                           workdir, strip_head=lambda model, state: _without_head(state))

    return study.registry.get_or_compute(PRETRAIN, config, compute)


def _without_head(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith("head.")}


def _local_weights(registry: Registry, weights_dir: str | None, size: int) -> Record:
    if not weights_dir:
        raise DataError(f"backbones.weights is 'imagenet' but backbones.weights_dir is not set; expected a folder with "
                        f"{' or '.join(WEIGHT_FILES)} (timm's ImageNet weights for {ARCH})")
    folder = Path(weights_dir).expanduser()
    found = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not found:
        raise DataError(f"{folder / WEIGHT_FILES[0]}: file not found; expected timm's ImageNet weights for {ARCH} "
                        f"({' or '.join(WEIGHT_FILES)})")
    path = found[0]
    config = backbones.LocalWeightsConfig(arch=ARCH, file=str(path), image_size=size)

    def compute(workdir: Path) -> dict:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, weights_only=True, map_location="cpu")
        model = build(size, 1)
        missing, unexpected = model.load_state_dict(_without_head(state), strict=False)
        if unexpected or set(missing) != {"head.weight", "head.bias"}:
            raise DataError(f"{path}: not {ARCH} weights (missing {missing}, unexpected {unexpected})")
        torch.save(_without_head(model.state_dict()), workdir / "backbone.pt")
        return {"source": str(path)}

    return registry.get_or_compute(PRETRAIN, config, compute)


def classifier(study: Study, seed: int) -> nn.Module:
    """ViT-S/32 with the profile's backbone weights and a fresh one-logit head (seeded)."""
    record = backbone(study)
    seed_everything(seed)
    model = build(study.profile.aimfair.image_size, 1)
    state = torch.load(record.artifact("backbone.pt"), weights_only=True, map_location="cpu")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) != {"head.weight", "head.bias"}:
        raise RuntimeError(f"backbone {record.path}: unexpected weights (missing {missing}, unexpected {unexpected})")
    return devices.runtime(study.profile).prepare(model)


def with_lora(model: nn.Module, rank: int = 8) -> nn.Module:
    """LoRA adapters (peft) on every attention block's ``qkv`` projection, the head trained as well.

    The paper names LoRA without its settings; rank 8, α = 2 × rank and the ``qkv`` target are the
    common choices for ViTs and ours.
    """
    from peft import LoraConfig, get_peft_model

    adapted = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["qkv"], lora_dropout=0.0,
                                               bias="none"))
    for name, parameter in adapted.named_parameters():
        if ".head." in name:
            parameter.requires_grad_(True)
    return adapted


__all__ = ["ARCH", "build", "backbone", "classifier", "with_lora"]
