"""The pre-flight check of a profile: is everything it needs on this machine, before hours of GPU work?

``fairlab data check --profile paper`` runs it: the data root and each real dataset the profile
reads, the backbone weight files, the Stable Diffusion folder, the prompt backend's settings and
the device. Each check is a line; the command exits non-zero when one the profile needs fails.
Nothing here computes or downloads anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fairlab import paths
from fairlab.profiles import Profile

#: the real datasets each chapter reads when ``data.source`` is ``real``
REAL_DATASETS = ("celeba", "utkface", "lfwa")


@dataclass(frozen=True)
class Check:
    """One thing a profile needs: whether it is there, and what was found or is expected."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def data_checks(data_root: Path, needed: tuple[str, ...] = REAL_DATASETS) -> list[Check]:
    """The data root, then each dataset of ``needed`` under it (found with its size, or the expected layout)."""
    from fairlab.data import DataError
    from fairlab.data.sources import LAYOUTS, load_dataset

    if not data_root.is_dir():
        return [Check("data root", False, f"{data_root} does not exist; expected a folder holding "
                                          f"{', '.join(n + '/' for n in needed)} (set data_root, --data-root or "
                                          f"${paths.DATA_ROOT_ENV})")]
    checks = [Check("data root", True, str(data_root))]
    for name in needed:
        root = data_root / name
        try:
            checks.append(Check(name, True, f"{root} ({len(load_dataset(name, root)):,} images)"))
        except DataError as exc:
            layout = LAYOUTS[name].replace("<root>", str(root)).replace("\n", "\n      ")
            checks.append(Check(name, False, f"missing or incomplete at {root}: {str(exc).splitlines()[0]}\n"
                                             f"    expected:\n      {layout}"))
    return checks


def weight_checks(profile: Profile) -> list[Check]:
    """The ImageNet weight files of every backbone (torchvision's and timm's ViT-S/32), where the profile uses them."""
    from fairlab.aimfair.vit import ARCH as VIT, WEIGHT_FILES as VIT_FILES
    from fairlab.backbones import IMAGENET_FILES

    if profile.backbones.weights != "imagenet":
        return []
    folder = profile.backbones.weights_dir
    if not folder:
        return [Check("backbone weights", False, "backbones.weights is 'imagenet' but backbones.weights_dir is not set")]
    folder = Path(folder).expanduser()
    checks = [Check(f"weights {arch}", (folder / file).is_file(), str(folder / file)) for arch, file in IMAGENET_FILES.items()]
    found = [folder / f for f in VIT_FILES if (folder / f).is_file()]
    checks.append(Check(f"weights {VIT}", bool(found), str(found[0]) if found else f"none of {', '.join(VIT_FILES)} in {folder}"))
    return checks


def pipeline_check(profile: Profile) -> list[Check]:
    """The Stable Diffusion pipelines: AIM-Fair's and the third paper's, each a local folder with ``model_index.json``
    or a hub id in the local cache (the miniature models are trained here)."""
    return (_pipeline_check("diffusion pipeline", profile.csdg.generation.pipeline)
            + _pipeline_check("pipeline to debias", profile.dal.pipeline))


def _pipeline_check(name: str, source: str) -> list[Check]:
    if source == "mini":
        return []
    folder = Path(source).expanduser()
    if (folder / "model_index.json").is_file():
        return [Check(name, True, str(folder))]
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub").expanduser()
    cached = hub / f"models--{source.replace('/', '--')}"
    if cached.is_dir():
        return [Check(name, True, f"{source} in the local hub cache ({cached})")]
    return [Check(name, False, f"{source!r} is neither a folder with model_index.json nor in the local hub cache "
                               f"({hub}); nothing is downloaded at run time")]


def dal_perception_check(profile: Profile) -> list[Check]:
    """The third paper's perception networks (``dal.perception_dir``, :data:`fairlab.dal.paper_perception.LAYOUT`)
    and insightface, where the model to debias is Stable Diffusion."""
    from importlib.util import find_spec

    from fairlab.dal.paper_perception import LAYOUT, missing_files

    if profile.dal.pipeline == "mini":
        return []
    folder = profile.dal.perception_dir
    if not folder:
        return [Check("dal perception", False, "dal.perception_dir is not set; expected a folder holding "
                                               + ", ".join(LAYOUT))]
    missing = missing_files(Path(folder))
    checks = [Check("dal perception", not missing, str(Path(folder).expanduser()) if not missing else
                    f"{len(missing)} of {len(LAYOUT)} entries missing:\n      " + "\n      ".join(missing))]
    found = find_spec("insightface") is not None and find_spec("onnxruntime") is not None
    return checks + [Check("face detector", found, "insightface and onnxruntime installed" if found else
                           "insightface or onnxruntime missing: pip install insightface onnxruntime-gpu")]


def prompt_backend_check(profile: Profile) -> list[Check]:
    """The settings of the backend that writes the contextual prompts (never the key itself)."""
    from fairlab.aimfair.prompts import API_KEY_ENV, BASE_URL_ENV, MODEL_ENV

    backend = profile.csdg.backend
    if backend == "composer":
        return [Check("prompt backend", True, "composer (offline, nothing to configure)")]
    if backend == "chat-completions":
        missing = [f"${v}" for v in (BASE_URL_ENV, MODEL_ENV) if not os.environ.get(v)]
        key = "set" if any(os.environ.get(k) for k in API_KEY_ENV) else "not set"
        if missing:
            return [Check("prompt backend", False, f"chat-completions needs {' and '.join(missing)}")]
        return [Check("prompt backend", True, f"chat-completions, model {os.environ[MODEL_ENV]} (API key {key})")]
    folder = Path(profile.csdg.llm_model).expanduser()
    return [Check("prompt backend", folder.is_dir(), f"transformers model folder {folder}"
                                                     + ("" if folder.is_dir() else " not found"))]


def device_check(profile: Profile) -> list[Check]:
    from fairlab import device as devices

    try:
        return [Check("device", True, devices.runtime(profile).describe())]
    except devices.DeviceError as exc:
        return [Check("device", False, str(exc))]


def check(profile: Profile, data_root: Path | None = None) -> list[Check]:
    """Every check the profile needs, in the order a build would meet them."""
    checks = []
    if profile.data.source == "real":
        checks += data_checks(Path(data_root).expanduser() if data_root else paths.data_root(profile.data_root))
    return (checks + weight_checks(profile) + pipeline_check(profile) + dal_perception_check(profile)
            + prompt_backend_check(profile) + device_check(profile))


__all__ = ["Check", "check", "data_checks", "REAL_DATASETS"]
