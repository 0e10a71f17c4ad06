"""The results registry: one folder per experiment and resolved configuration.

Layout::

    results/<profile>/<experiment>/<config-hash>/
        config.json   the resolved configuration (canonical JSON)
        metrics.json  what the experiment measured
        env.json      code version, git commit, package versions, device, timing
        ...           artifacts that later steps reuse (models, arrays)

``config-hash`` is the first 12 hex digits of SHA-256 over the canonical configuration and
the package's code version, so a record is reused only by the same code on the same config.
A record is written into a temporary folder and renamed into place when complete: an
interrupted or failed computation leaves the previous record (if any) untouched. Computing a
record holds a file lock (``.locks/<experiment>/<config-hash>.lock``, the ``filelock`` package), so two
workers of a parallel build, or two ``fairlab run`` commands started by hand on one results
folder, never compute the same record: the second waits and then loads what the first stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from filelock import FileLock

from fairlab import device as devices
from fairlab import environment, paths
from fairlab.atomic import owner_is_dead, owner_tag, write_text_atomic

FRESH_SINCE_ENV = "FAIRLAB_FRESH_SINCE"
#: set by the book builder to the notebook being executed (recorded with every record it computes)
NOTEBOOK_ENV = "FAIRLAB_NOTEBOOK"
_RECORD_FILES = ("config.json", "metrics.json", "env.json")


#: a record is computed in ``<experiment>/.tmp-<hash>-<host>.<pid>-<id>`` and renamed into place when complete
_WORK_PREFIX = ".tmp-"


class RecordMissing(LookupError):
    """A record was required but is not in the registry."""


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy scalars/arrays, tuples, paths, dataclasses, pydantic models and nested containers."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable({field.name: getattr(obj, field.name) for field in dataclasses.fields(obj)})
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, tuple) else ",".join(map(str, k)): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, Path):
        return obj.as_posix()
    if hasattr(obj, "model_dump"):
        return to_jsonable(obj.model_dump())
    return obj


def canonical_json(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(config: Any, code_version: str | None = None, module: str | None = None) -> str:
    """12 hex of SHA-256 over the config and the code version (of ``module``'s code, or of all of fairlab's)."""
    text = canonical_json(config) + (code_version if code_version is not None else environment.code_version(module))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` whole or not at all (:func:`fairlab.atomic.write_atomic`)."""
    write_text_atomic(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")


@dataclass(frozen=True)
class Record:
    """A complete registry entry."""

    path: Path
    profile: str
    experiment: str
    config_hash: str
    config: dict
    metrics: dict
    env: dict

    def artifact(self, name: str) -> Path:
        """Path of an artifact stored with the record; raises if it was not written."""
        path = self.path / name
        if not path.exists():
            raise RecordMissing(f"{self.path}: artifact {name!r} is missing; recompute with --fresh")
        return path

    def summary(self) -> dict:
        return {
            "profile": self.profile,
            "experiment": self.experiment,
            "config_hash": self.config_hash,
            "path": self.path.as_posix(),
            "created": self.env.get("time_utc"),
            "metrics": self.metrics,
        }

    @classmethod
    def read(cls, path: Path, profile: str, experiment: str) -> "Record":
        def load(name: str) -> dict:
            try:
                return json.loads((path / name).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise RecordMissing(f"{path / name}: unreadable record file ({exc})") from None

        return cls(path, profile, experiment, path.name, load("config.json"), load("metrics.json"), load("env.json"))


class Registry:
    """Load a record when its config hash exists, compute and store it otherwise.

    A record's hash covers its config and the code of the module that computes it (``module``:
    by default the module that defines ``compute``), with every fairlab module that one imports;
    records computed elsewhere (tests, scripts) hash the whole package.

    ``fresh_since`` (a UNIX time, default ``$FAIRLAB_FRESH_SINCE``) makes records written
    before that moment count as missing: ``fairlab book --fresh`` recomputes each record
    once per build even when several notebooks need it.
    """

    def __init__(self, profile: str, root: Path | None = None, fresh_since: float | None = None):
        self.profile = profile
        self.root = (root or paths.results_root()) / profile
        if fresh_since is None and os.environ.get(FRESH_SINCE_ENV):
            fresh_since = float(os.environ[FRESH_SINCE_ENV])
        self.fresh_since = fresh_since

    def record_dir(self, experiment: str, config: Any, module: str | None = None) -> Path:
        _check_experiment_name(experiment)
        return self.root / experiment / config_hash(config, module=module)

    def staging_dir(self, experiment: str, config: Any, module: str | None = None) -> Path:
        """A folder that survives an interrupted ``compute`` (e.g. half-generated images to resume from).

        It is not a record: :meth:`records` skips it, and ``compute`` moves what it needs out of it.
        """
        path = self.root / experiment / f".staging-{config_hash(config, module=module)}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def load(self, experiment: str, config: Any, module: str | None = None) -> Record | None:
        path = self.record_dir(experiment, config, module)
        if not all((path / f).is_file() for f in _RECORD_FILES):
            return None
        if self.fresh_since is not None and (path / "env.json").stat().st_mtime < self.fresh_since:
            return None
        return Record.read(path, self.profile, experiment)

    def require(self, experiment: str, config: Any, module: str | None = None) -> Record:
        record = self.load(experiment, config, module)
        if record is None:
            raise RecordMissing(
                f"no record for {experiment!r} with config hash {config_hash(config, module=module)} in {self.root}; "
                f"run the notebook that computes it (fairlab run ... --profile {self.profile})"
            )
        return record

    def get_or_compute(self, experiment: str, config: Any, compute: Callable[[Path], dict],
                       module: str | None = None) -> Record:
        """Return the stored record, or call ``compute(workdir)`` and store its metrics.

        ``compute`` may write artifacts into ``workdir``; it returns the metrics dict.
        """
        if getattr(multiprocessing.current_process(), "_inheriting", False):
            # a spawned worker is re-importing a script that computes at import time: without this it would wait
            # forever on the lock its parent holds for the same record
            raise RuntimeError(
                f"{experiment}: a worker process started while importing the script that asked for this record; "
                'put the script\'s work under `if __name__ == "__main__":` (see the multiprocessing docs, '
                '"Safe importing of main module")')
        module = module or computing_module(compute)
        if module is not None:
            check_experiment_config(experiment, config)
        record = self.load(experiment, config, module)
        if record is not None:
            return record
        final = self.record_dir(experiment, config, module)
        final.parent.mkdir(parents=True, exist_ok=True)
        lock = self.root / ".locks" / experiment / f"{final.name}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(lock):
            # another process may have stored the record while this one waited for the lock
            record = self.load(experiment, config, module)
            if record is not None:
                return record
            return self._compute(experiment, config, compute, module, final)

    def get_or_compute_resumable(self, experiment: str, config: Any, compute: Callable[[Path, Path], dict],
                                 module: str | None = None) -> Record:
        """:meth:`get_or_compute` for a computation that resumes after an interruption: ``compute(workdir, staging)``
        also gets the record's staging folder (:meth:`staging_dir`, e.g. for training checkpoints), which survives an
        interrupted run and is removed once ``compute`` returns."""
        module = module or computing_module(compute)

        def compute_and_clean(workdir: Path) -> dict:
            staging = self.staging_dir(experiment, config, module)
            metrics = compute(workdir, staging)
            shutil.rmtree(staging, ignore_errors=True)
            return metrics

        compute_and_clean.__module__ = getattr(compute, "__module__", None)  # keyed by the caller's code, not this module's
        return self.get_or_compute(experiment, config, compute_and_clean, module=module)

    def _compute(self, experiment: str, config: Any, compute: Callable[[Path], dict], module: str | None,
                 final: Path) -> Record:
        work = final.parent / f"{_WORK_PREFIX}{final.name}-{owner_tag()}-{uuid.uuid4().hex[:8]}"
        work.mkdir()
        started = time.time()
        try:
            with devices.recording() as runtimes:
                metrics = compute(work)
            if not isinstance(metrics, dict):
                raise TypeError(f"{experiment}: compute() must return a dict of metrics, got {type(metrics).__name__}")
            env = environment.snapshot()
            env.update(profile=self.profile, experiment=experiment, seconds=round(time.time() - started, 3),
                       computed_by=module, computing_code_version=environment.code_version(module),
                       computed_on=computed_on(runtimes), notebook=os.environ.get(NOTEBOOK_ENV))
            # metrics and env first: a record counts as complete only once config.json exists too.
            write_json_atomic(work / "metrics.json", metrics)
            write_json_atomic(work / "env.json", env)
            write_json_atomic(work / "config.json", config)
            _swap_into_place(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        self._log_computation(experiment, final.name, env)
        return Record.read(final, self.profile, experiment)

    def clean_stale(self) -> list[Path]:
        """Delete the work folders of records whose computing process (on this machine) died before it finished:
        ``.tmp-<hash>-<host>.<pid>-<id>``. A live computation's folder, or another machine's, is left alone."""
        removed = []
        if not self.root.is_dir():
            return removed
        for work in self.root.rglob(f"{_WORK_PREFIX}*"):
            middle = work.name[len(_WORK_PREFIX):]
            # <12-hex hash>-<host>.<pid>-<8-hex id>
            tag = middle[13:-9] if len(middle) > 22 and middle[12] == "-" and middle[-9] == "-" else ""
            if work.is_dir() and tag and owner_is_dead(tag):
                shutil.rmtree(work, ignore_errors=True)
                removed.append(work)
        return removed

    @property
    def computations_log(self) -> Path:
        """One JSON line per record computed (not loaded) into this profile's folder, in order."""
        return self.root / "_computations.jsonl"

    def _log_computation(self, experiment: str, config_hash_: str, env: dict) -> None:
        line = canonical_json({"experiment": experiment, "config_hash": config_hash_, "seconds": env["seconds"],
                               "notebook": env.get("notebook"), "pid": os.getpid(), "time_utc": env["time_utc"],
                               "device": env["computed_on"].get("name")})
        with open(self.computations_log, "a") as handle:  # one short append per record: whole lines
            handle.write(line + "\n")

    def computations(self) -> list[dict]:
        """The records computed into this folder so far (:attr:`computations_log`)."""
        if not self.computations_log.is_file():
            return []
        return [json.loads(line) for line in self.computations_log.read_text().splitlines() if line.strip()]

    def records(self) -> list[Record]:
        """Every complete, readable record of this profile, sorted by experiment and creation time."""
        return self.scan()[0]

    def scan(self) -> tuple[list[Record], list[str]]:
        """Every complete record of this profile (sorted by experiment and creation time), and one message per
        record folder whose files cannot be read: one damaged record hides none of the others."""
        found, unreadable = [], []
        if not self.root.is_dir():
            return found, unreadable
        for config_file in self.root.rglob("config.json"):
            path = config_file.parent
            if path.name.startswith(".") or not all((path / f).is_file() for f in _RECORD_FILES):
                continue
            experiment = path.parent.relative_to(self.root).as_posix()
            try:
                found.append(Record.read(path, self.profile, experiment))
            except RecordMissing as exc:
                unreadable.append(str(exc))
        return sorted(found, key=lambda r: (r.experiment, r.env.get("time_utc") or "")), sorted(unreadable)


def computed_on(runtimes: list) -> dict:
    """What ``env.json`` says a record was computed on: the runtime its networks used, or the CPU (numpy only)."""
    distinct = {json.dumps(rt.as_dict(), sort_keys=True): rt.as_dict() for rt in runtimes}
    if not distinct:
        return {"type": "cpu", "name": "cpu", "networks": False}
    first = next(iter(distinct.values()))
    return {**first, "networks": True} if len(distinct) == 1 else {**first, "networks": True, "also": list(distinct.values())[1:]}


def check_experiment_config(experiment: str, config: Any) -> None:
    """A fairlab experiment's config is a frozen dataclass: its fields are what the computation reads, and the
    record's key is computed from them (:func:`to_jsonable`), never from a hand-built dict."""
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type) and type(config).__dataclass_params__.frozen):
        raise TypeError(f"{experiment}: a fairlab experiment's config must be a frozen dataclass instance, "
                        f"got {type(config).__name__}")


class PresentationComputeError(TypeError):
    """A stored computation was defined in a presentation module, whose code no record's key covers."""


def computing_module(compute: Callable) -> str | None:
    """The fairlab module that defines ``compute`` (``None`` outside the package).

    A presentation module (:data:`fairlab.environment.PRESENTATION_MODULES`: the pages, the reports,
    the book) is left out of every code version, so a record it computed would be served stale
    after its code changed: that is an error, naming the function and where it belongs.
    """
    name = getattr(compute, "__module__", None) or ""
    if not (name.startswith("fairlab.") and environment.module_files_exist(name)):
        return None
    if environment.is_presentation_module(name):
        raise PresentationComputeError(
            f"{getattr(compute, '__qualname__', compute)!r} in {name} computes a stored record, but {name} is a "
            f"presentation module, left out of the code version that keys records; define the computation in the "
            f"paper's package (fairlab.aimfair, fairlab.win, ...) and call it from the page")
    return name


def _swap_into_place(work: Path, final: Path) -> None:
    if final.exists():
        old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
        os.replace(work, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, final)


def _check_experiment_name(experiment: str) -> None:
    parts = experiment.split("/")
    if not experiment or any(not p or p.startswith(".") or p in {"..", "."} for p in parts):
        raise ValueError(f"invalid experiment name {experiment!r}: use slash-separated names like 'win/adult_pretrain'")
