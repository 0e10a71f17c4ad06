"""The two ways to install (pip, conda) and the two commands stay in step."""

from __future__ import annotations

import tomllib

import yaml

from fairlab import paths

ROOT = paths.project_root()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
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
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


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
