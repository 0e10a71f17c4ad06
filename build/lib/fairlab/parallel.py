"""Independent records computed at once, on Dask's distributed scheduler.

A notebook's *plan* (:mod:`fairlab.plans`) lists units of work that do not depend on each other:
one AIM-Fair (setting, seed) with every strategy it trains, one Table 5 run, one generation pool.
:func:`run` computes them on a Dask cluster, then the notebook executes and finds every record
stored. Each unit goes through the results registry, whose per-record file locks make two workers
that reach the same dependency (the backbone, a synthetic pool) compute it once: the other waits
and loads it. Records are keyed and seeded exactly as in a sequential run, so the numbers are the
same (tested on the smoke profile).

Why Dask and not Ray: the GPU machine fairlab is checked on takes only what fits in a 64 MiB
upload, and ``dask`` + ``distributed`` are pure Python (a few MB) while Ray's wheel is 79 MB;
Dask's ``LocalCluster`` covers one machine, ``dask-scheduler`` / ``dask-worker`` (or
``dask-cuda``'s one worker per GPU) several, through ``address``.

Threads are pinned per worker: ``jobs`` workers of ``cores // jobs`` threads each (two 2-thread
processes on two cores measured 7× slower per step than one process).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from fairlab import device as devices


@dataclass(frozen=True)
class Unit:
    """One independent unit of work: ``function(*args)``, with a name for progress and logs."""

    name: str
    function: Callable[..., Any]
    args: tuple = ()
    #: the resources a worker must have for it (e.g. ``{"GPU": 1}`` on a CUDA cluster)
    resources: dict = field(default_factory=dict)

    def __call__(self):
        return self.function(*self.args)


def default_jobs(threads: int | None = None) -> int:
    """Workers for a parallel build: as many as the cores hold at ``threads`` each (the profile's ``compute.threads``).

    On the 2-core machines here that is one (the notebook computes its own records): two
    single-thread workers measured 0.35× the speed of one two-thread process over four ResNet-18
    trainings (``benchmarks/bench_parallel.py``), since their two cores are one core's two threads.
    """
    return max(1, min(8, (os.cpu_count() or 1) // max(1, threads or 1)))


def _run_unit(unit: Unit, threads: int) -> tuple[str, float]:
    devices.pin_threads(threads)
    started = time.time()
    unit()
    return unit.name, time.time() - started


def run(units: list[Unit], jobs: int = 1, address: str | None = None, announce: Callable[[str], None] | None = None,
        threads: int | None = None) -> list[tuple[str, float]]:
    """Compute ``units``: one after another in this process (``jobs <= 1`` and no ``address``), else on Dask.

    ``address``: a running Dask scheduler (``tcp://host:8786``) to use instead of a local cluster of
    ``jobs`` single-process workers. ``threads``: CPU threads per unit (default: the cores shared
    out among the workers). Returns ``(name, seconds)`` per unit. The first failure is raised once
    every unit has stopped (no record is left half-written: the registry writes records atomically).
    """
    announce = announce or (lambda message: None)
    if not units:
        return []
    if jobs <= 1 and address is None:
        done = []
        for unit in units:
            announce(f"  computing {unit.name}")
            done.append(_run_unit(unit, threads or devices.pin_threads()))
        return done
    from dask.distributed import Client, LocalCluster, as_completed

    threads = threads or max(1, (os.cpu_count() or 1) // max(jobs, 1))
    env = {"FAIRLAB_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if address is not None:
        cluster, client = None, Client(address)
    else:
        cluster = LocalCluster(n_workers=min(jobs, len(units)), threads_per_worker=1, processes=True,
                               dashboard_address=None, env=env, silence_logs=40)
        client = Client(cluster)
    try:
        futures = {client.submit(_run_unit, unit, threads, key=f"{unit.name}-{i}", pure=False,
                                 resources=unit.resources or None): unit for i, unit in enumerate(units)}
        done, failures = [], []
        for future in as_completed(futures):
            try:
                name, seconds = future.result()
                done.append((name, seconds))
                announce(f"  computed {name} in {seconds:.0f} s ({len(done)}/{len(units)})")
            except Exception as exc:  # noqa: BLE001 — reported below, after the other units stopped
                failures.append((futures[future].name, exc))
        if failures:
            name, exc = failures[0]
            raise RuntimeError(f"parallel unit {name!r} failed: {type(exc).__name__}: {exc}") from exc
        return done
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


__all__ = ["Unit", "run", "default_jobs"]
