"""The training engine: one loop for every method of the three papers.

A method supplies a model, an optimiser over the parameters it trains, its batches and its
loss; the engine runs the epochs, evaluates after each one and keeps the best checkpoint.
Methods differ in those pieces, never in the loop.

Replicated models (see :mod:`fairlab.models`) return one validation score per replica; the
engine then keeps the best epoch of each replica separately, exactly as R separate runs would.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fairlab import device as devices
from fairlab.device import Runtime


@dataclass
class FitResult:
    """Best epoch (1-based; 0 = the initial weights) and score per replica, and the history."""

    best_epoch: np.ndarray
    best_score: np.ndarray
    history: list[dict] = field(default_factory=list)


def make_optimizer(name: str, params: Iterable[nn.Parameter], lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``adam`` (PyTorch defaults β = (0.9, 0.999)) or ``sgd`` (optionally with momentum)."""
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("the optimiser has no trainable parameters")
    if name == "adam":
        # the fused kernel is about a sixth faster for the many tiny heads of the neutralization chapter
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimiser {name!r}; expected 'adam' or 'sgd'")


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable,
    loss_fn: Callable[[nn.Module, object], torch.Tensor],
    epochs: int,
    evaluate: Callable[[nn.Module], float | np.ndarray | torch.Tensor] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    keep: Literal["ge", "gt"] = "ge",
    evaluate_initial: bool = False,
    patience: int | None = None,
    after_step: Callable[[], None] | None = None,
    skip_nonfinite: bool = False,
    desc: str | None = None,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    runtime: Runtime | None = None,
) -> FitResult:
    """Train for ``epochs`` epochs and leave the model at its best checkpoint.

    * ``batches`` is iterated once per epoch (a DataLoader or :class:`ReplicaBatches`).
    * ``loss_fn(model, batch)`` returns the scalar to minimise (for replicas, the sum of the
      replicas' losses).
    * ``evaluate(model)`` is called in eval mode without gradients after each epoch and
      returns a score, higher is better: a float, or one value per replica.
    * ``keep="ge"`` replaces the kept checkpoint when the score is at least the best so far
      (ties go to the later epoch); ``"gt"`` only when strictly better.
    * ``evaluate_initial`` lets the starting weights compete as epoch 0.
    * ``after_step`` is called after every optimiser step (e.g. to update an exponential moving
      average of the weights).
    * ``skip_nonfinite``: a step whose gradients are not all finite is skipped — no optimiser step,
      no ``after_step``, its loss left out of the epoch's mean — and counted in the history
      (``skipped_steps``), as the third paper's code does under fp16. It waits for the device
      once per step.
    * ``patience``: a run stops competing once its score has not improved for that many
      epochs (its kept checkpoint is final), and training ends when every run has stopped —
      for replicas exactly as if each had been stopped early on its own.

    * ``checkpoint``: a file written (atomically) after every epoch with everything the loop
      needs to go on — weights, optimiser, scheduler, the kept checkpoint and its score, the
      history and the batches' shuffling state.  When it exists at the start, training resumes
      after its last epoch and ends exactly as an uninterrupted run would; it is removed at the end.

    * ``runtime``: the device and precision (:mod:`fairlab.device`); by default the one the model
      was prepared with. The model is moved there (the optimiser keeps its parameters: moving a
      module keeps its parameter objects), every batch is moved there and the loss is computed
      under the runtime's autocast. The loop waits for the device once per epoch, not per step:
      the epoch's loss is summed on the device and checked for NaN/inf at the end of the epoch.

    Without ``evaluate`` the last epoch is kept.
    """
    rt = runtime or devices.runtime_of(model)
    model = rt.prepare(model)
    kept = _KeptCheckpoint(keep, patience)
    history: list[dict] = []
    first_epoch = 1
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if checkpoint is not None and checkpoint.exists():
        history, first_epoch = _resume(checkpoint, rt.device, model, optimizer, scheduler, batches, kept)

    model.train()
    if evaluate is not None and evaluate_initial and first_epoch == 1:
        history.append({"epoch": 0, "score": kept.offer(model, _score(model, evaluate), 0).tolist()})
    bar = tqdm(range(first_epoch, epochs + 1), desc=desc or "epochs", disable=not progress, file=sys.stderr, leave=False)
    for epoch in bar:
        mean_loss, skipped = _train_epoch(model, optimizer, batches, loss_fn, rt, after_step, skip_nonfinite)
        if not np.isfinite(mean_loss):
            raise FloatingPointError(f"{desc or 'training'}: the loss became {mean_loss} during epoch {epoch}")
        if scheduler is not None:
            scheduler.step()
        entry = {"epoch": epoch, "train_loss": mean_loss}
        if skip_nonfinite:
            entry["skipped_steps"] = skipped
        if evaluate is not None:
            score = kept.offer(model, _score(model, evaluate), epoch)
            entry["score"] = score.tolist()
            bar.set_postfix(loss=f"{mean_loss:.4f}", score=f"{float(np.mean(score)):.4f}")
        history.append(entry)
        stop = kept.every_run_stopped(epoch)
        if checkpoint is not None and not stop and epoch < epochs:
            _save_checkpoint(checkpoint, epoch, model, optimizer, scheduler, batches, kept, history)
        if stop:
            break
    bar.close()
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    if evaluate is None:
        n = _n_replicas(model)
        return FitResult(np.full(n, epochs), np.full(n, np.nan), history)
    model.load_state_dict(kept.state)
    return FitResult(kept.epoch, kept.score, history)


class _KeptCheckpoint:
    """The checkpoint a fit keeps: per run (replica), the best score so far, its epoch, and the weights.

    ``keep="ge"`` replaces a run's checkpoint when its score is at least the best so far (ties go to
    the later epoch), ``"gt"`` only when strictly better; with ``patience`` a run whose score has not
    improved for that many epochs stops competing.
    """

    def __init__(self, keep: Literal["ge", "gt"], patience: int | None):
        self.keep, self.patience = keep, patience
        self.state: dict[str, torch.Tensor] | None = None
        self.score: np.ndarray | None = None
        self.epoch: np.ndarray | None = None

    def offer(self, model: nn.Module, score: np.ndarray, epoch: int) -> np.ndarray:
        """Keep ``model``'s weights for every run whose ``score`` (one per run) beats its kept one; returns ``score``."""
        if self.score is None:
            self.score, self.epoch = score.copy(), np.full(score.shape, epoch)
            self.state = _snapshot(model)
            return score
        better = score >= self.score if self.keep == "ge" else score > self.score
        if self.patience is not None:
            better &= (epoch - self.epoch) <= self.patience  # a stopped run keeps its checkpoint
        if better.any():
            _update_snapshot(self.state, model, better)
            self.score = np.where(better, score, self.score)
            self.epoch = np.where(better, epoch, self.epoch)
        return score

    def every_run_stopped(self, epoch: int) -> bool:
        return self.patience is not None and self.epoch is not None and bool(np.all(epoch - self.epoch >= self.patience))


def _score(model: nn.Module, evaluate: Callable) -> np.ndarray:
    """``evaluate(model)`` in eval mode under inference mode, as one score per run."""
    model.eval()
    with torch.inference_mode():
        score = np.atleast_1d(np.asarray(_to_numpy(evaluate(model)), dtype=float))
    model.train()
    return score


def _train_epoch(model: nn.Module, optimizer, batches: Iterable, loss_fn: Callable, rt: Runtime,
                 after_step: Callable[[], None] | None, skip_nonfinite: bool = False) -> tuple[float, int]:
    """One pass over ``batches``; returns the mean loss (read from the device once) and the steps skipped."""
    total, count, skipped = torch.zeros((), dtype=torch.float64, device=rt.device), 0, 0
    for batch in batches:
        batch = rt.put(batch)
        optimizer.zero_grad(set_to_none=True)
        with rt.autocast():
            loss = loss_fn(model, batch)
        loss.backward()
        if skip_nonfinite and not _finite_gradients(optimizer):
            skipped += 1
            continue
        optimizer.step()
        if after_step is not None:
            after_step()
        total += loss.detach().double()
        count += 1
    if count == 0 and skipped:
        return float("nan"), skipped
    return total.item() / max(count, 1), skipped  # the epoch's one wait for the device


def _finite_gradients(optimizer) -> bool:
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True


def _save_checkpoint(path: Path, epoch: int, model: nn.Module, optimizer, scheduler, batches, kept: _KeptCheckpoint,
                     history: list[dict]) -> None:
    """Everything the loop needs to go on after ``epoch``, written atomically."""
    state = {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict() if scheduler is not None else None,
             "batches": batches.state_dict() if hasattr(batches, "state_dict") else None,
             "best_state": kept.state, "best_score": kept.score, "best_epoch": kept.epoch, "history": history}
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def _resume(path: Path, device, model: nn.Module, optimizer, scheduler, batches, kept: _KeptCheckpoint) -> tuple[list[dict], int]:
    """Load a :func:`_save_checkpoint` file into the loop's pieces; returns the history and the next epoch."""
    saved = torch.load(path, weights_only=False, map_location=device)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(saved["scheduler"])
    if hasattr(batches, "load_state_dict"):
        batches.load_state_dict(saved["batches"])
    kept.state, kept.score, kept.epoch = saved["best_state"], saved["best_score"], saved["best_epoch"]
    return saved["history"], saved["epoch"] + 1


class ReplicaBatches:
    """Mini-batches for R replicas, each with its own seeded shuffling.

    ``tensors`` are indexed along their first axis (``[N, ...]``, shared by every replica) or,
    when ``per_replica`` is set for them, along the second (``[R, N, ...]``, e.g. features of
    R different frozen extractors).  Each batch is a tuple of ``[R, B, ...]`` tensors; replica
    r draws its permutation of the N samples from its own generator seeded with ``seeds[r]``,
    so replica r sees exactly the batches a single run with that seed would see.
    """

    def __init__(self, tensors: tuple[torch.Tensor, ...], batch_size: int, seeds: list[int],
                 per_replica: tuple[bool, ...] | None = None, drop_last: bool = False, device: torch.device | None = None):
        self.tensors = tuple(t.to(device) for t in tensors) if device is not None else tensors
        self.per_replica = per_replica or tuple(False for _ in tensors)
        lengths = {t.shape[1] if pr else t.shape[0] for t, pr in zip(tensors, self.per_replica)}
        if len(lengths) != 1:
            raise ValueError(f"tensors disagree on the number of samples: {sorted(lengths)}")
        self.n = lengths.pop()
        self.batch_size, self.drop_last = batch_size, drop_last
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.rows = torch.arange(len(seeds), device=self.tensors[0].device)[:, None]

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self):
        # the permutations come from CPU generators (the same batches on any device), then move once
        order = torch.stack([torch.randperm(self.n, generator=g) for g in self.generators]).to(self.rows.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[:, start:start + self.batch_size]
            yield tuple(t[self.rows, idx] if pr else t[idx] for t, pr in zip(self.tensors, self.per_replica))


class TensorBatches:
    """Mini-batches of tensors sharing their first axis, reshuffled every epoch by a seeded generator.

    ``transform(batch, generator)``, if given, maps each batch (a tuple) before it is yielded —
    e.g. the papers' image augmentation on the first tensor.

    ``device``: the tensors are moved there once (e.g. the uint8 image cache onto the GPU), and
    batches are cut and transformed there; the shuffling stays on the CPU generator.

    A "tensor" may also be a lazy image set (:class:`fairlab.data.images.ImageFiles`, the
    ``stream`` store): its batches are decoded from their files one batch ahead, on a background
    thread, while the current batch trains.
    """

    def __init__(self, tensors: tuple[torch.Tensor, ...], batch_size: int, seed: int = 0, shuffle: bool = True,
                 drop_last: bool = False, transform=None, device: torch.device | None = None):
        lengths = {t.shape[0] for t in tensors}
        if len(lengths) != 1:
            raise ValueError(f"tensors disagree on the number of samples: {sorted(lengths)}")
        self.device = torch.device(device) if device is not None else None
        if device is not None:
            tensors = tuple(t.to(device) if isinstance(t, torch.Tensor) else t for t in tensors)
        self.tensors, self.n = tensors, lengths.pop()
        self.batch_size, self.shuffle, self.drop_last, self.transform = batch_size, shuffle, drop_last, transform
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def state_dict(self) -> dict:
        """The shuffling generator's state (what a resumed run needs to draw the same batches)."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
        starts = range(0, len(self) * self.batch_size, self.batch_size)
        lazy = [not isinstance(t, torch.Tensor) for t in self.tensors]
        if not any(lazy):
            order = order.to(self.tensors[0].device)
            for start in starts:
                idx = order[start:start + self.batch_size]
                batch = tuple(t[idx] for t in self.tensors)
                yield self.transform(batch, self.generator) if self.transform else batch
            return
        from concurrent.futures import ThreadPoolExecutor

        def cut(start: int) -> tuple:
            idx = order[start:start + self.batch_size]
            return tuple(t[idx] if is_lazy else t[idx.to(t.device)] for t, is_lazy in zip(self.tensors, lazy))

        with ThreadPoolExecutor(max_workers=1) as prefetch:
            pending = prefetch.submit(cut, starts[0]) if len(starts) else None
            for k in range(len(starts)):
                batch = pending.result()
                pending = prefetch.submit(cut, starts[k + 1]) if k + 1 < len(starts) else None
                if self.device is not None:
                    batch = tuple(b.to(self.device, non_blocking=True) for b in batch)
                yield self.transform(batch, self.generator) if self.transform else batch


def _to_numpy(value) -> np.ndarray | float:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _update_snapshot(state: dict[str, torch.Tensor], model: nn.Module, better: np.ndarray) -> None:
    current = model.state_dict()
    if better.size == 1:
        if better.item():
            state.update(_snapshot(model))
        return
    mask = torch.as_tensor(better)
    for key, value in current.items():
        mask = mask.to(value.device)
        if value.dim() == 0 or value.shape[0] != mask.numel():
            raise ValueError(f"per-replica selection needs every state tensor to lead with the replica axis; {key} has shape {tuple(value.shape)}")
        state[key][mask] = value.detach()[mask]


def _n_replicas(model: nn.Module) -> int:
    return getattr(model, "n_replicas", 1)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA).

    cuDNN's determinism and autotuner are the runtime's business (``compute.deterministic``,
    :meth:`fairlab.device.Runtime.configure`); CPU results are reproducible either way.
    """
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
