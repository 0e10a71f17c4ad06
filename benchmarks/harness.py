"""What every benchmark shares: timing a path against its reference in one run, and the JSON it leaves.

Each benchmark prints ``<name>: <ratio>× (<what>) on <device>`` and writes
``benchmarks/results/<name>.json``, which the book's execution page shows. On the CPU only ratios
mean anything (machines here differ by up to 2×); absolute times are kept with the device named.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def device_name(device: str = "cpu") -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


def timed(function, repeats: int = 3, warmup: int = 1, sync=None) -> float:
    """The median wall time of ``function()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        if sync:
            sync()
        started = time.perf_counter()
        function()
        if sync:
            sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def report(name: str, what: str, reference_s: float, fairlab_s: float, device: str = "cpu", **details) -> dict:
    """Print and store one comparison: ``ratio`` = reference time / fairlab time (above 1: fairlab is faster)."""
    ratio = reference_s / fairlab_s
    result = {"benchmark": name, "what": what, "ratio": round(ratio, 3), "device": device_name(device),
              "device_type": device.split(":")[0], "reference_seconds": round(reference_s, 5),
              "fairlab_seconds": round(fairlab_s, 5), "details": details, "python": sys.version.split()[0],
              "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if device == "cpu" else "_" + device.split(":")[0]
    path = RESULTS / f"{name}{suffix}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, path)
    print(f"{name}: {ratio:.2f}x ({what}) on {result['device']}")
    return result


def device_argument() -> str:
    """``--device cuda`` on the command line, else the CPU."""
    if "--device" in sys.argv:
        return sys.argv[sys.argv.index("--device") + 1]
    return "cpu"
