"""Lint of the text notebooks: one literal parameters cell, the python3 kernel, nothing generated committed."""

from __future__ import annotations

import ast
import subprocess

import jupytext
import pytest

from fairlab import paths
from fairlab.book import toc_pages

ROOT = paths.project_root()
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py")) + sorted((ROOT / "book").glob("*.py"))
#: the sections in reading order: data (00), AIM-Fair (01–03), neutralization (04), the third paper (05), then the
#: methods on one's own model (06)
SECTION_NAMES = {"01_csdg", "02_smg_sft", "03_ablations", "04_weight_importance_neutralization", "05_dal_adjusted_dft",
                 "06_your_own_model"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_one_literal_parameters_cell(path):
    nb = jupytext.read(path)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} parameters cells"
    tree = ast.parse(cells[0].source)
    names = {}
    for node in tree.body:
        # papermill reads the type hints (papermill --help-notebook) and injects literal values after the cell
        assert isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None, \
            f"{path.name}: the parameters cell may only assign literals, each with a type hint"
        names[node.target.id] = ast.literal_eval(node.value)
    assert names.get("profile") == "mini" and names.get("overrides") == {}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saving_a_notebook_in_jupyterlab_leaves_its_text_file_unchanged(path):
    """What JupyterLab's jupytext contents manager writes on save: the notebook (with the kernel's language_info,
    which the kernel adds) back to percent-format text."""
    from jupytext.config import load_jupytext_config

    text = path.read_text()
    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.9", "file_extension": ".py"}
    config = load_jupytext_config(str(path))
    assert config is not None, "jupytext.toml is not found from the notebook's folder"
    assert jupytext.writes(nb, fmt="py:percent", config=config) == text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_uses_the_python3_kernel_and_percent_format(path):
    nb = jupytext.read(path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["jupytext"]["text_representation"]["format_name"] == "percent"


def test_every_notebook_page_of_the_book_exists_and_section_notebooks_keep_their_names():
    pages = toc_pages()
    sections = [p for p in pages if p.docname.startswith("notebooks/")]
    assert sections and all(p.is_notebook for p in sections)
    section_files = {p.stem for p in (ROOT / "notebooks").glob("*.py")}
    assert "04_weight_importance_neutralization" in section_files
    # the numbers 01–06 are the sections' reading order, under their design names
    numbered = {name for name in section_files if name[:2] in {"01", "02", "03", "04", "05", "06"}}
    assert numbered <= SECTION_NAMES


def test_no_generated_notebooks_or_results_are_committed():
    try:
        tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    assert not [f for f in tracked if f.endswith(".ipynb")]
    assert not [f for f in tracked if f.startswith(("results/", "_build/"))]
