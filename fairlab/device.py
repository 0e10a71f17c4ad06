"""Where and how networks run: the profile's ``compute`` section made into a :class:`Runtime`.

Every computation that trains, evaluates or samples a network takes its device from here, so a
profile moves all of them at once (``compute.device: auto`` is CUDA when present, else the CPU).

* On CUDA: bf16 autocast (``compute.precision: auto``), channels-last convolutions, cuDNN's
  autotuner unless ``compute.deterministic`` asks for bit-reproducible kernels, the uint8 image
  cache and the batch augmentation on the GPU, pinned host memory for whatever crosses over.
* On the CPU: float32 (bf16 autocast measured 26× *slower* on the AVX2 machines without native
  bf16), the exact small-map convolution path (:mod:`fairlab.small_maps`) and channels-last
  convolutions for training and inference (:func:`inference`).

Random draws (shuffling, crop boxes, flips) always come from CPU generators, so a seed gives the
same batches and crops on either device.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn


class DeviceError(RuntimeError):
    """The profile asks for a device this machine does not have."""


def resolve(spec: str = "auto") -> torch.device:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; ``cpu``; ``cuda`` or ``cuda:N`` (checked)."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"compute.device is {spec!r} but this machine has no CUDA device visible to PyTorch "
                              f"(torch {torch.__version__}, torch.cuda.is_available() is False); "
                              f"use compute.device: cpu or auto (-p compute.device=auto)")
        device = torch.device(spec)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"compute.device is {spec!r} but only {torch.cuda.device_count()} CUDA device(s) are visible")
        return device
    raise DeviceError(f"compute.device is {spec!r}; expected auto, cpu, cuda or cuda:N")


@dataclass(frozen=True)
class Runtime:
    """A device and how to compute on it: autocast precision, memory format, determinism."""

    device: torch.device
    precision: str = "float32"        # "float32" or "bf16" (autocast)
    deterministic: bool = False

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return torch.bfloat16 if self.precision == "bf16" else None

    def configure(self) -> None:
        """Process-wide switches for this runtime (cuDNN's autotuner and determinism)."""
        if self.is_cuda:
            torch.backends.cudnn.benchmark = not self.deterministic
            torch.backends.cudnn.deterministic = self.deterministic
            torch.backends.cuda.matmul.allow_tf32 = not self.deterministic
            torch.backends.cudnn.allow_tf32 = not self.deterministic

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast when the runtime asks for it, else nothing."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move ``model`` to the device, its convolutions channels-last; on the CPU, swap in the small-map convolutions.

        Channels-last trains faster on the CPU too (measured per step on the 2-core machine: ResNet-18 at 32 px
        5 %, ResNet-50 10 %, DenseNet-121 19 %, the miniature model's U-Net 8 %).
        """
        from fairlab.small_maps import use_small_map_convs

        model = model.to(self.device)
        if _has_conv(model):
            model = model.to(memory_format=torch.channels_last)
        if not self.is_cuda:
            model = use_small_map_convs(model)
        model._fairlab_runtime = self  # what inference() and the evaluation helpers run with
        return model

    def put(self, value):
        """A tensor (or a tuple/list/dict of them) on the device; CPU tensors go to a GPU through pinned memory."""
        if isinstance(value, torch.Tensor):
            if value.device == self.device:
                return value
            if self.is_cuda and value.device.type == "cpu":
                return value.pin_memory().to(self.device, non_blocking=True)
            return value.to(self.device)
        if isinstance(value, (tuple, list)):
            return type(value)(self.put(v) for v in value)
        if isinstance(value, dict):
            return {k: self.put(v) for k, v in value.items()}
        return value

    def gpu_name(self) -> str:
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        return torch.cuda.get_device_name(index)

    def describe(self) -> str:
        if self.is_cuda:
            return f"{self.gpu_name()} ({self.device}, {self.precision})"
        return f"CPU ({self.precision}, {torch.get_num_threads()} threads)"

    def as_dict(self) -> dict:
        """What ``env.json`` records about the runtime a record was computed with."""
        info = {"type": self.device.type, "name": str(self.device), "precision": self.precision,
                "deterministic": self.deterministic}
        if self.is_cuda:
            info["gpu"] = self.gpu_name()
            info["cuda_version"] = torch.version.cuda
        else:
            info["torch_threads"] = torch.get_num_threads()
        return info


CPU = Runtime(torch.device("cpu"))


def default_runtime() -> Runtime:
    """``compute.device: auto`` with the default precision: what a library call without a runtime runs on."""
    device = resolve("auto")
    return Runtime(device, "bf16" if device.type == "cuda" else "float32")


def runtime(profile) -> Runtime:
    """The :class:`Runtime` of a profile's ``compute`` section (resolved and checked now)."""
    cfg = profile.compute
    device = resolve(cfg.device)
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "float32"
    rt = Runtime(device, precision, cfg.deterministic)
    rt.configure()
    if cfg.threads and device.type == "cpu":
        pin_threads(cfg.threads)
    used = _USED.get()
    if used is not None:
        used.append(rt)
    return rt


_USED: contextvars.ContextVar[list | None] = contextvars.ContextVar("fairlab_runtimes_used", default=None)


@contextlib.contextmanager
def recording() -> Iterator[list[Runtime]]:
    """Collect every runtime resolved inside the block (the registry names them in a record's ``env.json``)."""
    used: list[Runtime] = []
    token = _USED.set(used)
    try:
        yield used
    finally:
        _USED.reset(token)


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU (what every stored ``.pt`` artifact holds, whatever it was trained on)."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def device_of(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def runtime_of(model: nn.Module) -> Runtime:
    """The runtime a model was prepared with (:meth:`Runtime.prepare`), else float32 on the device it is on."""
    rt = getattr(model, "_fairlab_runtime", None)
    device = device_of(model)
    if isinstance(rt, Runtime) and rt.device.type == device.type:
        return rt
    return Runtime(device)


@contextlib.contextmanager
def inference(model: nn.Module) -> Iterator[Runtime]:
    """Evaluation mode, ``torch.inference_mode``, channels-last and the runtime's autocast for the block.

    The model's training flag and memory format are restored afterwards. Channels-last made
    evaluation of ResNet-18 at 32 px 1.9× faster on the 2-core CPU (with ``inference_mode``).
    """
    rt = runtime_of(model)
    was_training = model.training
    # a prepared model is channels-last already; any other is re-laid for the block and restored after it
    convolutional = _has_conv(model) and not rt.is_cuda and not _channels_last(model)
    model.eval()
    # the weights are re-laid outside inference mode even when a caller is inside it (the engine
    # evaluates under inference_mode): weights made there could never be trained again
    if convolutional:
        with torch.inference_mode(False):
            model.to(memory_format=torch.channels_last)
    try:
        with torch.inference_mode(), rt.autocast():
            yield rt
    finally:
        if convolutional:
            with torch.inference_mode(False):
                model.to(memory_format=torch.contiguous_format)
        model.train(was_training)


def images_in(rt: Runtime, x: torch.Tensor) -> torch.Tensor:
    """A batch of images for a model in :func:`inference` (or any model on CUDA): on the device, channels-last."""
    x = rt.put(x)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def _has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def _channels_last(model: nn.Module) -> bool:
    """Whether every convolution kernel wider than 1 × 1 is laid out channels-last (a 1 × 1 kernel is both layouts)."""
    kernels = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d) and m.weight.shape[-2:] != (1, 1)]
    return bool(kernels) and all(w.is_contiguous(memory_format=torch.channels_last) for w in kernels)


def pin_threads(threads: int | None = None) -> int:
    """Pin this process's intra-op threads (``threads`` or ``$FAIRLAB_THREADS``); returns the count in force.

    Two processes of two threads each on two cores ran 7× slower per step than one: every
    worker of a parallel build pins its share. The numbers of a training depend on the count
    (a ResNet-18 trained 8 steps on 1 and on 2 threads disagreed on 71 of 256 predictions), which
    is why profiles fix it (``compute.threads``).
    """
    if threads is None and os.environ.get("FAIRLAB_THREADS"):
        threads = int(os.environ["FAIRLAB_THREADS"])
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)
    return torch.get_num_threads()


__all__ = ["Runtime", "DeviceError", "resolve", "runtime", "inference", "device_of", "runtime_of", "images_in",
           "pin_threads", "cpu_state", "CPU", "recording", "default_runtime"]
