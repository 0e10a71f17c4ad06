"""The two ways to install (pip, conda) and the two commands stay in step."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
import yaml

from fairlab import paths

ROOT = paths.project_root()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]).union(*project["optional-dependencies"].values())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) - {"-e ."} == wanted
    assert "python=3.11" in env["dependencies"]


def test_readme_quick_start_is_the_two_make_commands_and_ci_runs_the_tests():
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def _requirements() -> list:
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + sum(project["optional-dependencies"].values(), [])]


def test_the_torch_pin_admits_no_release_without_the_fused_cpu_adam_the_engine_uses():
    from packaging.version import Version

    torch = next(r for r in _requirements() if r.name == "torch")
    assert not torch.specifier.contains(Version("2.3.1")) and torch.specifier.contains(Version("2.4.0"))
    assert "fused=True" in (ROOT / "fairlab" / "train.py").read_text()


def test_the_lock_file_pins_every_dependency_within_pyprojects_ranges():
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    pinned = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[canonicalize_name(name)] = Version(version)
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"requirements-lock.txt does not pin {requirement.name}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), f"{name} {pinned[name]} not in {requirement}"


def test_the_license_is_an_spdx_expression_with_its_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def _build_wheel(tmp_path: Path) -> Path:
    """fairlab's wheel, built from a copy of what it is made of (setuptools writes build/ and *.egg-info/ beside
    the sources)."""
    import shutil
    import subprocess
    import sys

    wheels, source = tmp_path / "wheels", tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    for folder in ("fairlab", "profiles"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(source)], check=True, capture_output=True, timeout=600)
    return next(wheels.glob("fairlab-*.whl"))


def _use_the_installed_wheel(python: Path, venv: Path, elsewhere: Path) -> None:
    """From a folder that is not a checkout: fairlab comes from the venv, finds its profiles, statistics and data."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}

    def run(*args):
        return subprocess.run([str(python), *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)

    where = run("-c", "import fairlab, fairlab.paths as p; print(fairlab.__file__); print(p.profiles_dir())")
    assert where.returncode == 0, where.stderr
    package, profiles = where.stdout.split()
    assert package.startswith(str(venv)) and profiles == str(venv / "share" / "fairlab" / "profiles")
    shown = run("-m", "fairlab.cli", "profile", "mini")
    assert shown.returncode == 0 and "name: mini" in shown.stdout, shown.stderr
    smoke = run("-c", "from fairlab.faceworld import world; from fairlab.data.adult import load_adult; "
                      "from fairlab import reported; print(len(world.celeba_scenes(50, 0)), len(load_adult().train.y) > 0, "
                      "len(reported.load('aimfair').tables) > 0)")
    assert smoke.returncode == 0 and smoke.stdout.split() == ["50", "True", "True"], smoke.stderr


def test_a_wheel_installed_outside_the_checkout_finds_its_profiles_statistics_and_data(tmp_path):
    """Build the wheel, install it into a fresh virtual environment (the dependencies lent from this one, fairlab
    only from the wheel) and use it from a folder that is not a checkout."""
    import subprocess
    import sys
    import sysconfig

    wheel = _build_wheel(tmp_path)
    venv, elsewhere = tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # the new environment's own pip (ensurepip, offline): pip run from this environment would uninstall this
    # environment's fairlab before installing the wheel elsewhere
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=600)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "_lent_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # after the venv's own
    _use_the_installed_wheel(python, venv, elsewhere)


def python_312() -> Path | None:
    """A Python 3.12 interpreter: ``python3.12`` on the PATH, or one that pyenv installed."""
    import glob
    import shutil

    found = shutil.which("python3.12")
    candidates = ([found] if found else []) + sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    for candidate in candidates:
        import subprocess

        version = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                                 capture_output=True, text=True)
        if version.returncode == 0 and version.stdout.strip() == "True":
            return Path(candidate)
    return None


@pytest.mark.python312
def test_the_wheel_installs_with_its_dependencies_and_works_on_python_3_12(tmp_path):
    """`pip install fairlab-*.whl` into a fresh Python 3.12 environment, the core dependencies from the package
    registry (make test-py312; CI runs it): the same checks as on 3.11, from a folder that is not a checkout."""
    import subprocess

    interpreter = python_312()
    if interpreter is None:
        pytest.skip("no Python 3.12 interpreter here (python3.12 on the PATH or under ~/.pyenv/versions)")
    wheel = _build_wheel(tmp_path)
    venv, elsewhere = tmp_path / "venv312", tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run([str(interpreter), "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True,
                               timeout=3000)
    assert installed.returncode == 0, installed.stderr[-4000:]
    _use_the_installed_wheel(python, venv, elsewhere)


#: the packages only the extras bring ([book], [diffusion], [test])
EXTRAS_ONLY = ("diffusers", "transformers", "tokenizers", "accelerate", "peft", "timm", "matplotlib", "seaborn",
               "jupyter_book", "sphinx", "papermill", "jupytext", "ipykernel", "nbformat", "dask", "distributed",
               "IPython", "nbclient", "fairlearn", "pytest", "playwright", "bs4")
#: what `pip install fairlab` (the core) must make importable: the methods, the data loaders, the engine, the CLI
CORE_MODULES = ("fairlab.metrics", "fairlab.aimfair.selective", "fairlab.aimfair.smg_sft", "fairlab.win.neutralize",
                "fairlab.win.regularisers", "fairlab.win.adult", "fairlab.data.sources", "fairlab.data.subsets",
                "fairlab.data.adult", "fairlab.train", "fairlab.models", "fairlab.backbones", "fairlab.results",
                "fairlab.study", "fairlab.profiles", "fairlab.faceworld.world", "fairlab.faceworld.render", "fairlab.cli",
                "fairlab.dal.targets", "fairlab.dal.bias", "fairlab.dal.loss", "fairlab.dal.noise", "fairlab.dal.dft",
                "fairlab.dal.occupations", "fairlab.dal.classifiers")


def test_the_core_install_imports_the_methods_without_any_extra():
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import importlib, importlib.abc, sys
        class NotInstalled(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in {EXTRAS_ONLY!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (an extra)")
        sys.meta_path.insert(0, NotInstalled())
        for module in {CORE_MODULES!r}:
            importlib.import_module(module)
        from fairlab.aimfair import selective
        from fairlab.win import neutralize
        import torch, torchvision
        selective.linear_probe(torchvision.models.resnet18(num_classes=1))  # a method on "your own" model
        neutralize.fisher_weighted_svd(torch.randn(2, 8), None, rank=2)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_make_install_takes_every_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(project["optional-dependencies"]) == {"book", "diffusion", "test"}
    assert '-e ".[book,diffusion,test]"' in (ROOT / "Makefile").read_text()
