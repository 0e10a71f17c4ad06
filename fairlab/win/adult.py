"""Weight importance neutralization on UCI Adult: every experiment of notebook 04.

Protocol (``../shared/reference/win.md``; unstated choices are profile keys):

* the pre-trained models (unfair; EO- or DP-regularised; MLP-3/4/5) are trained on the 60 %
  pre-training split with seed 0 and evaluated on the new task's test split;
* fine-tuning runs ``n_runs`` seeds (0, 1, …) that vary the mini-batch order; each run keeps
  its best epoch by validation weighted F1; the learning rate is chosen from ``lr_grid`` by the
  mean validation error over seeds, separately for every table row;
* test metrics of the chosen learning rate are reported as mean ± std over runs.

Every run is stored in the registry; replicas batch the seeds (and the λ or α of a row set)
into one computation.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from fairlab import device as devices
from fairlab.data.adult import AdultSplits, load_adult
from fairlab.evaluation import reports, weighted_f1_scorer
from fairlab.models import ReplicaMLP, count_parameters, replicate
from fairlab.profiles import TrainRecipe
from fairlab.results import Record
from fairlab.study import InStudy, Study
from fairlab.train import ReplicaBatches, fit, make_optimizer, seed_everything
from fairlab.win.neutralize import FineTuning, HeadData, finetune_heads, trainable_parameters
from fairlab.win.regularisers import fairness_penalty

PRETRAIN = "win/adult_pretrain"
FINETUNE = "win/adult_finetune_head"
RETRAIN = "win/adult_retrain"
@dataclass(frozen=True)
class AdultData:
    """UCI Adult as :func:`fairlab.data.adult.load_adult` prepares it (the reference's AdultProcess, co234/BFARL:
    one-hot categoricals, z-scored per file) and splits it with ``split_seed``."""

    dataset: str = "uci_adult"
    split_seed: int = 0
    preprocessing: str = "adult_process_per_file_zscore"


DATA = AdultData()


@dataclass(frozen=True)
class PretrainConfig:
    """MLPs of ``depth`` hidden layers pre-trained with ``recipe`` on the 60 % split, one replica per λ of
    ``lambdas`` (all from the same initialisation and batches, seed ``seed``), penalised by ``constraint``."""

    data: AdultData
    depth: int
    hidden: int
    recipe: TrainRecipe
    constraint: str | None
    lambdas: tuple[float, ...]
    regularizer: str | None
    seed: int = 0


@dataclass(frozen=True)
class FinetuneHeadConfig:
    """The head (TL, SVD or WIN) of pre-trained replicas ``pretrain_replicas`` fine-tuned for every (replica, α,
    seed), the extractor frozen."""

    pretrain: dict
    pretrain_replicas: tuple[int, ...]
    method: str
    alphas: tuple[float, ...]
    rank: int
    eps_rel: float
    training: FineTuning


@dataclass(frozen=True)
class RetrainConfig:
    """Every parameter of pre-trained replica ``pretrain_replica`` fine-tuned with CE + λ·penalty, for every (λ, seed)."""

    pretrain: dict
    pretrain_replica: int
    constraint: str | None
    lambdas: tuple[float, ...]
    regularizer: str | None
    training: FineTuning


@dataclass
class AdultTask(InStudy):
    """The Adult splits as tensors in a study (the profile and the registry), loaded once per notebook."""

    study: Study
    splits: AdultSplits

    def fine_tuning(self, lr: float, optimizer: str | None = None) -> FineTuning:
        """The profile's fine-tuning recipe at rate ``lr`` (and, for a head, optionally another optimizer)."""
        cfg = self.cfg
        return FineTuning(optimizer=optimizer or cfg.finetune_optimizer, lr=float(lr), epochs=cfg.finetune_epochs,
                          patience=cfg.finetune_patience, batch_size=cfg.finetune_batch_size, seeds=tuple(self.seeds))

    @property
    def cfg(self):
        return self.profile.win_adult

    @cached_property
    def tensors(self) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        return {
            name: tuple(torch.from_numpy(np.array(a)) for a in (part.x, part.y, part.s))
            for name in ("pretrain", "train", "val", "test")
            for part in [getattr(self.splits, name)]
        }

    @property
    def seeds(self) -> list[int]:
        return list(range(self.cfg.n_runs))

    @property
    def runtime(self) -> devices.Runtime:
        return devices.runtime(self.profile)

    @property
    def progress(self) -> bool:
        return True


def open_task(study: Study) -> AdultTask:
    return AdultTask(study, load_adult(seed=DATA.split_seed))


# --------------------------------------------------------------------------- losses and scores

def penalised_loss(logits: torch.Tensor, y: torch.Tensor, s: torch.Tensor, constraint: str | None,
                   lambdas: torch.Tensor, form: str) -> torch.Tensor:
    """Σ_r [ mean cross-entropy of replica r + λ_r · penalty_r ] (just the cross-entropy without a constraint)."""
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(dim=1)
    if constraint is None:
        return ce.sum()
    return (ce + lambdas.to(ce.dtype) * fairness_penalty(logits, y, s, constraint, form)).sum()


# --------------------------------------------------------------------------- pre-training

def pretrain_config(task: AdultTask, constraint: str | None = None, lambdas: tuple[float, ...] = (0.0,),
                    depth: int = 2, epochs: int | None = None) -> PretrainConfig:
    cfg = task.cfg
    recipe = cfg.pretrain if epochs is None else cfg.pretrain.model_copy(update={"epochs": int(epochs)})
    return PretrainConfig(data=DATA, depth=depth, hidden=cfg.hidden, recipe=recipe, constraint=constraint,
                          lambdas=tuple(float(v) for v in lambdas), regularizer=cfg.regularizer if constraint else None)


def pretrain(task: AdultTask, constraint: str | None = None, lambdas: tuple[float, ...] = (0.0,), depth: int = 2,
             epochs: int | None = None) -> Record:
    """Pre-train MLPs on the 60 % split: one replica per λ (all from the same initialisation and batches), for the
    profile's ``win_adult.pretrain`` recipe (``epochs`` replaces its epochs: the recipe's sensitivity)."""
    config = pretrain_config(task, constraint, lambdas, depth, epochs)

    def compute(workdir):
        seed_everything(config.seed)
        n = len(config.lambdas)
        model = replicate(ReplicaMLP(1, task.splits.pretrain.x.shape[1], config.hidden, depth), [0] * n)
        recipe = config.recipe
        x, y, s = task.tensors["pretrain"]
        rt = task.runtime
        model = rt.prepare(model)
        lam = rt.put(torch.tensor(config.lambdas))
        fit(
            model, make_optimizer(recipe.optimizer, model.parameters(), recipe.lr),
            ReplicaBatches((x, y, s), recipe.batch_size, seeds=[config.seed] * n, device=rt.device),
            lambda m, b: penalised_loss(m(b[0]), b[1], b[2], constraint, lam, config.regularizer),
            recipe.epochs, desc=f"pre-train depth {depth} {constraint or 'unconstrained'}", progress=task.progress,
            runtime=rt,
        )
        torch.save(devices.cpu_state(model), workdir / "model.pt")
        test, val = reports(model, *task.tensors["test"]), reports(model, *task.tensors["val"])
        return {
            "replicas": [{"lambda": lam_r, "test": t, "val": v} for lam_r, t, v in zip(config.lambdas, test, val)],
            "parameters": count_parameters(model),
        }

    return task.registry.get_or_compute(PRETRAIN, config, compute)


def _load_mlp(path, hidden: int, depth: int) -> ReplicaMLP:
    state = torch.load(path, weights_only=True, map_location="cpu")
    n, _, in_features = state["body.0.weight"].shape
    model = ReplicaMLP(n, in_features, hidden, depth)
    model.load_state_dict(state)
    return model.eval()


def load_pretrained(record: Record) -> ReplicaMLP:
    """The pre-trained networks of a :func:`pretrain` record (one replica per λ)."""
    return _load_mlp(record.artifact("model.pt"), record.config["hidden"], record.config["depth"])


# --------------------------------------------------------------------------- fine-tuning

def finetune_head(task: AdultTask, pretrained: Record, method: str, lr: float, *, replicas: tuple[int, ...] = (0,),
                  alphas: tuple[float, ...] = (0.5,), rank: int | None = None, optimizer: str | None = None) -> Record:
    """Fine-tune only the head (TL, SVD or WIN) of pre-trained replicas ``replicas``, frozen extractor.

    Runs every (pre-trained replica, α, seed) combination as one replica of a batched head.
    """
    cfg = task.cfg
    config = FinetuneHeadConfig(
        pretrain=pretrained.config, pretrain_replicas=tuple(replicas), method=method,
        alphas=tuple(float(a) for a in alphas) if method == "win" else (0.5,), rank=rank or cfg.rank,
        eps_rel=cfg.fisher_eps_rel, training=task.fine_tuning(lr, optimizer),
    )

    def compute(workdir):
        grid = list(itertools.product(config.pretrain_replicas, config.alphas, config.training.seeds))
        extractor = task.runtime.prepare(load_pretrained(pretrained))
        pick = torch.tensor([p for p, _, _ in grid])
        shared = len(config.pretrain_replicas) == 1
        features = {}
        with devices.inference(extractor) as rt:
            for split in ("train", "val", "test"):
                h = extractor.features(rt.put(task.tensors[split][0]).expand(extractor.n_replicas, -1, -1)).float().cpu()
                features[split] = h[pick[0]] if shared else h[pick]
        data = HeadData(features, {k: task.tensors[k][1] for k in features}, {k: task.tensors[k][2] for k in features})
        seed_everything(0)
        head, result = finetune_heads(
            data, method, extractor.head.weight.detach().cpu()[pick], extractor.head.bias.detach().cpu()[pick],
            [sd for _, _, sd in grid], lr=config.training.lr, optimizer=config.training.optimizer, epochs=config.training.epochs,
            patience=config.training.patience, batch_size=config.training.batch_size, alphas=[a for _, a, _ in grid],
            rank=config.rank, eps_rel=config.eps_rel, progress=task.progress, runtime=task.runtime,
        )
        torch.save(devices.cpu_state(head), workdir / "head.pt")
        test, val = reports(head, *data.split("test")), reports(head, *data.split("val"))
        runs = [
            {"pretrain_replica": p, "alpha": a, "seed": sd, "best_epoch": int(e), "test": t, "val": v}
            for (p, a, sd), e, t, v in zip(grid, result.best_epoch, test, val)
        ]
        d = extractor.head.in_features
        return {"runs": runs, "trainable_parameters": trainable_parameters(method, d, rank=config.rank)}

    return task.registry.get_or_compute(FINETUNE, config, compute)


def retrain(task: AdultTask, pretrained: Record, lr: float, constraint: str | None = None,
            lambdas: tuple[float, ...] = (0.0,), replica: int = 0) -> Record:
    """Fine-tune *all* parameters of pre-trained replica ``replica`` with CE + λ·penalty (Retrain+EO / Retrain+DP).

    Without a constraint this is plain full fine-tuning.
    """
    cfg = task.cfg
    config = RetrainConfig(
        pretrain=pretrained.config, pretrain_replica=replica, constraint=constraint,
        lambdas=tuple(float(v) for v in lambdas), regularizer=cfg.regularizer if constraint else None,
        training=task.fine_tuning(lr),
    )

    def compute(workdir):
        grid = list(itertools.product(config.lambdas, config.training.seeds))
        rt = task.runtime
        model = rt.prepare(replicate(load_pretrained(pretrained), [replica] * len(grid)))
        lam = rt.put(torch.tensor([lam_r for lam_r, _ in grid]))
        x, y, s = task.tensors["train"]
        seed_everything(0)
        result = fit(
            model, make_optimizer(config.training.optimizer, model.parameters(), config.training.lr),
            ReplicaBatches((x, y, s), config.training.batch_size, seeds=[sd for _, sd in grid], device=rt.device),
            lambda m, b: penalised_loss(m(b[0]), b[1], b[2], constraint, lam, config.regularizer),
            config.training.epochs, evaluate=weighted_f1_scorer(task.tensors["val"][0], task.tensors["val"][1]),
            patience=config.training.patience, desc=f"retrain {constraint or 'CE'} lr={lr}", progress=task.progress,
            runtime=rt,
        )
        torch.save(devices.cpu_state(model), workdir / "model.pt")
        test, val = reports(model, *task.tensors["test"]), reports(model, *task.tensors["val"])
        runs = [
            {"lambda": lam_r, "seed": sd, "best_epoch": int(e), "test": t, "val": v}
            for (lam_r, sd), e, t, v in zip(grid, result.best_epoch, test, val)
        ]
        return {"runs": runs, "trainable_parameters": count_parameters(model)}

    return task.registry.get_or_compute(RETRAIN, config, compute)


def load_head(record: Record) -> torch.nn.Module:
    """The fine-tuned heads of a :func:`finetune_head` record (one replica per run)."""
    from fairlab.models import FactorisedHead, ReplicaLinear

    state = torch.load(record.artifact("head.pt"), weights_only=True, map_location="cpu")
    if "weight" in state:
        return ReplicaLinear.from_weights(state["weight"], state["bias"]).eval()
    return FactorisedHead(ReplicaLinear.from_weights(state["first.weight"], None),
                          ReplicaLinear.from_weights(state["second.weight"], state["second.bias"])).eval()


def load_retrained(record: Record) -> ReplicaMLP:
    """The fine-tuned networks of a :func:`retrain` record (one replica per run)."""
    pre = record.config["pretrain"]
    return _load_mlp(record.artifact("model.pt"), pre["hidden"], pre["depth"])
