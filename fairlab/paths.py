"""Where the project, its results and its data live.

Notebooks run with the project root as working directory, but nothing in fairlab relies
on that: every path is resolved here, from the package location or an environment variable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

#: Environment variables a user (or the test suite) may set.
RESULTS_ENV = "FAIRLAB_RESULTS"
DATA_ROOT_ENV = "FAIRLAB_DATA_ROOT"
BUILD_ENV = "FAIRLAB_BUILD"


def project_root() -> Path:
    """The checkout that holds ``pyproject.toml``, ``notebooks/`` and ``profiles/``.

    fairlab is installed in editable mode from a checkout, so the package's parent is the
    project.  A non-editable install falls back to the current directory.
    """
    candidate = PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").exists() and (candidate / "profiles").is_dir():
        return candidate
    return Path.cwd()


def results_root() -> Path:
    """``$FAIRLAB_RESULTS`` or ``<project>/results``."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env).resolve() if env else project_root() / "results"


def build_root() -> Path:
    """``$FAIRLAB_BUILD`` or ``<project>/_build``: executed notebooks, logs and HTML."""
    env = os.environ.get(BUILD_ENV)
    return Path(env).resolve() if env else project_root() / "_build"


def profiles_dir() -> Path:
    """The shipped profiles: ``profiles/`` of the checkout, or where a wheel installs them (``<prefix>/share/fairlab``)."""
    checkout = project_root() / "profiles"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "fairlab" / "profiles"


def data_root(configured: str | os.PathLike | None = None) -> Path:
    """Root folder of the real datasets (``paper`` profile).

    Precedence: ``$FAIRLAB_DATA_ROOT``, then the profile's ``data_root``, then ``<project>/data``.
    """
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    if configured:
        return Path(configured).expanduser().resolve()
    return project_root() / "data"
