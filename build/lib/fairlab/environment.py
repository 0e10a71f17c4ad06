"""What a result was computed with: code version, packages, device."""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from fairlab import paths

KEY_PACKAGES = (
    "fairlab", "numpy", "pandas", "scipy", "scikit-learn", "torch", "torchvision", "fairlearn",
    "matplotlib", "papermill", "jupyter-book", "diffusers", "transformers", "peft", "timm", "pot",
)


#: Modules (paths relative to the package) that present results but never compute a stored
#: record; editing them keeps stored results valid.
PRESENTATION_MODULES = frozenset({
    "book.py", "cli.py", "environment.py", "figures.py", "notebook.py", "offline.py", "paths.py",
    "pages", "parallel.py", "plans.py", "reports.py", "sphinx_ext.py",
})


@lru_cache(maxsize=None)
def code_version(module: str | None = None) -> str:
    """SHA-256 (16 hex) of the fairlab modules that compute results, in path order.

    It is part of every config hash, so a change to the code that computes results invalidates
    the stored results instead of silently reusing them; the presentation modules
    (:data:`PRESENTATION_MODULES`: the book builder, the reports, the figures, ...) are left out
    so that polishing a table does not recompute the experiments behind it.

    With ``module`` (e.g. ``"fairlab.aimfair.csdg"``) only that module and the fairlab modules
    it imports, transitively (:func:`module_files`), count: the registry keys a record by the
    code of the experiment that computed it, so a new chapter's code leaves the records of the
    others valid.
    """
    files = module_files(module) if module is not None else sorted(paths.PACKAGE_DIR.rglob("*.py"))
    digest = hashlib.sha256()
    for path in files:
        if path.relative_to(paths.PACKAGE_DIR).parts[0] in PRESENTATION_MODULES:
            continue
        digest.update(path.relative_to(paths.PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def is_presentation_module(name: str) -> bool:
    """Whether fairlab module ``name`` (dotted) is one of :data:`PRESENTATION_MODULES`."""
    path = _module_file(name)
    return path is not None and path.relative_to(paths.PACKAGE_DIR).parts[0] in PRESENTATION_MODULES


def _module_file(name: str) -> Path | None:
    """The source file of fairlab module ``name`` (a package's ``__init__.py``), or ``None``."""
    parts = name.split(".")
    if parts[0] != "fairlab":
        return None
    base = paths.PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _fairlab_imports(path: Path) -> set[str]:
    """Every fairlab module a file imports, at any depth of the file (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "fairlab")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "fairlab":
            found.add(node.module)
            # ``from fairlab.aimfair import csdg`` imports a module, not a name
            found.update(f"{node.module}.{alias.name}" for alias in node.names if _module_file(f"{node.module}.{alias.name}"))
    return found


def module_files_exist(module: str) -> bool:
    return _module_file(module) is not None


def module_files(module: str) -> list[Path]:
    """The files of ``module``, of the fairlab modules it imports transitively and of their packages, sorted."""
    if _module_file(module) is None:
        raise ValueError(f"{module!r} is not a fairlab module")
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # importing a module runs its packages
        path = _module_file(name)
        if path is not None:
            todo.extend(_fairlab_imports(path) - seen)
    return sorted({p for p in map(_module_file, seen) if p is not None})


def git_state() -> dict:
    """Commit and dirty flag of the checkout, or ``None`` values outside git."""
    root = paths.project_root()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=10, check=True,
        ).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def device_description() -> dict:
    info = {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available()
        if info["cuda"]:
            info["gpu"] = torch.cuda.get_device_name(0)
            info["cuda_version"] = torch.version.cuda
    except ImportError:
        info["cuda"] = False
    return info


def describe_device(info: dict | None = None) -> str:
    """One line, e.g. ``CPU x86_64, 2 cores`` or ``NVIDIA H100 (CUDA 12.4)``."""
    info = info or device_description()
    if info.get("gpu"):
        return f"{info['gpu']} (CUDA {info.get('cuda_version')})"
    return f"CPU {info.get('cpu')}, {info.get('cpu_count')} cores"


def snapshot() -> dict:
    """Everything ``env.json`` records."""
    return {
        "git": git_state(),
        "code_version": code_version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "device": device_description(),
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
