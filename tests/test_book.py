"""Executing notebooks and building the book: failures stop everything, kernels stay offline."""

from __future__ import annotations

import json

import nbformat
import pytest
from typer.testing import CliRunner

from fairlab import paths
from fairlab.book import NotebookFailed, read_execution_log, run_notebook
from fairlab.cli import app

HEADER = """# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile = "mini"
overrides = {}

"""


def write_notebook(tmp_path, body: str):
    path = tmp_path / "probe.py"
    path.write_text(HEADER + body)
    return path


def test_a_failing_cell_stops_with_the_notebook_the_cell_and_the_traceback(tmp_path):
    source = write_notebook(tmp_path, "# %%\nx = 1\n\n# %%\nratio = x / 0\n")
    with pytest.raises(NotebookFailed) as info:
        run_notebook(source, "smoke", progress=False)
    message = str(info.value)
    assert "probe" in message and "ratio = x / 0" in message and "ZeroDivisionError" in message
    assert not (paths.build_root() / "smoke" / "executed" / "probe.ipynb").exists()
    assert read_execution_log("smoke")["probe"]["status"] == "failed"


def test_kernels_and_the_processes_they_start_run_behind_the_network_guard(tmp_path):
    # the guard's own tests (tests/test_offline.py) show what it blocks; here: that a kernel and its children have it
    source = write_notebook(tmp_path, """# %%
import subprocess, sys
import fairlab.offline
assert fairlab.offline._installed, "the kernel runs without the network guard"
probe = "import fairlab.offline, os; print(fairlab.offline._installed, os.environ.get('https_proxy'))"
child = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.split()
assert child == ["True", fairlab.offline.DEAD_PROXY], child
""")
    entry = run_notebook(source, "smoke", progress=False)
    assert entry["status"] == "ok"


def test_parameters_reach_the_notebook(tmp_path):
    source = write_notebook(tmp_path, "# %%\nassert profile == 'smoke' and overrides == {'win_adult.n_runs': 3}, (profile, overrides)\n")
    run_notebook(source, "smoke", {"win_adult.n_runs": 3}, progress=False)


@pytest.mark.parametrize("command", ["run", "book"])
def test_a_bad_override_is_refused_before_anything_runs(command):
    args = [command, "03", "--profile", "smoke", "-p", "win_adult.nruns=3"] if command == "run" else \
        [command, "--profile", "smoke", "-p", "win_adult.nruns=3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "nruns" in result.output and "n_runs" in result.output
    assert not (paths.build_root() / "smoke" / "executions.json").exists()


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_a_profile_given_as_a_path_reaches_the_kernel_and_names_its_folders(tmp_path, monkeypatch, relative):
    text = (paths.profiles_dir() / "smoke.yml").read_text().replace("name: smoke", "name: mine", 1)
    (tmp_path / "mine.yml").write_text(text)
    source = write_notebook(tmp_path, "# %%\nfrom pathlib import Path\nfrom fairlab.profiles import load_profile\n"
                                      "assert Path(profile).is_absolute() and load_profile(profile).name == 'mine', profile\n")
    if relative:
        monkeypatch.chdir(tmp_path)
    entry = run_notebook(source, "mine.yml" if relative else str(tmp_path / "mine.yml"), progress=False)
    assert entry["status"] == "ok"
    assert (paths.build_root() / "mine" / "executed" / "probe.ipynb").is_file()
    assert (paths.build_root() / "mine" / "executions.json").is_file()


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_kernel_names_the_notebook_and_cell_keeps_the_partial_notebook_and_leaves_no_temporaries(tmp_path):
    import socket

    from fairlab.results import Registry

    executed = paths.build_root() / "smoke" / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    dead = f"{socket.gethostname()}.{_dead_pid()}"
    stale_notebook = executed / f".probe.running-{dead}.ipynb"
    stale_notebook.write_text("{}")
    stale_record = Registry("smoke").root / "demo" / "exp" / f".tmp-0123456789ab-{dead}-0badc0de"
    stale_record.mkdir(parents=True)
    source = write_notebook(tmp_path, "# %%\nx = 1\n\n# %%\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    with pytest.raises(NotebookFailed) as info:
        run_notebook(source, "smoke", progress=False)
    message = str(info.value)
    assert "notebook probe failed in cell" in message and "the kernel died" in message and "killed by a signal" in message
    assert "os.kill(os.getpid(), signal.SIGKILL)" in message
    assert info.value.saved == paths.build_root() / "smoke" / "failed" / "probe.ipynb" and info.value.saved.is_file()
    assert not stale_notebook.exists() and not stale_record.exists()
    assert not list(executed.glob(".*.running-*"))


@pytest.fixture
def sigint_raises_keyboard_interrupt():
    """Python's own SIGINT handler while the test runs: a test started from a job that ignores SIGINT (a background
    job of a non-interactive shell) inherits SIG_IGN, and then Ctrl-C, like ``_thread.interrupt_main``, does nothing."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _wait_until_a_sleeping_cell_runs(folder, pattern: str, count: int = 1, timeout: float = 90) -> None:
    """Until ``count`` partial notebooks matching ``pattern`` in ``folder`` show their ``time.sleep`` cell running
    (papermill saves the notebook as each cell starts); a loaded machine can take many seconds to get there."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        running = 0
        for path in folder.glob(pattern):
            try:
                cells = json.loads(path.read_text())["cells"]
            except (OSError, ValueError, KeyError):
                continue
            running += any("time.sleep" in "".join(c.get("source", "")) and
                           c.get("metadata", {}).get("papermill", {}).get("status") == "running" for c in cells)
        if running >= count:
            return
        time.sleep(0.2)


def test_ctrl_c_says_interrupted_names_the_notebook_and_cell_and_prints_no_kernel_traceback(tmp_path, capfd,
                                                                                           sigint_raises_keyboard_interrupt):
    import _thread
    import threading
    import time

    from fairlab.book import NotebookInterrupted, kernel_log_path

    source = write_notebook(tmp_path, "# %%\nx = 1\n\n# %%\nimport time\ntime.sleep(60)\n")
    executed = paths.build_root() / "smoke" / "executed"

    def interrupt_once_the_notebook_runs():
        _wait_until_a_sleeping_cell_runs(executed, ".probe.running-*.ipynb")
        time.sleep(1)
        _thread.interrupt_main()

    timer = threading.Thread(target=interrupt_once_the_notebook_runs, daemon=True)
    timer.start()
    try:
        with pytest.raises(NotebookInterrupted) as info:
            run_notebook(source, "smoke", progress=False)
    finally:
        timer.join()
    assert str(info.value).startswith("interrupted: notebook probe in cell 3")
    assert read_execution_log("smoke")["probe"]["status"] == "interrupted"
    # the kernel, shut down in the middle of a cell, complains on its own stderr: that goes to its log, not the terminal
    assert "Traceback" not in capfd.readouterr().err
    assert kernel_log_path("smoke", "probe").is_file()


def test_a_file_that_is_not_a_notebook_is_refused_and_logs_no_execution():
    log = paths.build_root() / "smoke" / "executions.json"
    before = log.read_text() if log.exists() else None
    result = CliRunner().invoke(app, ["run", str(paths.project_root() / "README.md"), "--profile", "smoke", "--jobs", "1"])
    assert result.exit_code == 1 and "README.md: not a notebook of this book" in result.output
    assert (log.read_text() if log.exists() else None) == before


def test_an_output_that_is_a_folder_is_refused_before_the_notebook_runs(tmp_path, monkeypatch):
    from fairlab import book

    monkeypatch.setattr(book, "precompute", lambda *a, **k: (_ for _ in ()).throw(AssertionError("it ran")))
    result = CliRunner().invoke(app, ["run", "04", "--profile", "smoke", "--output", str(tmp_path), "--jobs", "1"])
    assert result.exit_code == 1 and f"{tmp_path}: --output is a folder" in result.output


def _nothing_may_run(monkeypatch):
    from fairlab import book

    def refuse(*args, **kwargs):
        raise AssertionError("a notebook ran although the HTML folder was refused")

    monkeypatch.setattr(book, "_execute_chapter", refuse)
    monkeypatch.setattr(book, "_execute_chapters_at_once", refuse)


def test_an_html_folder_holding_other_files_is_refused_before_anything_runs_and_keeps_its_files(tmp_path, monkeypatch):
    _nothing_may_run(monkeypatch)
    folder = tmp_path / "thesis"
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.tex").write_text("\\documentclass{article}")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    result = CliRunner().invoke(app, ["book", "--profile", "smoke", "--html-dir", str(folder), "--jobs", "1"])
    assert result.exit_code == 1
    assert f"{folder}: --html-dir holds files that are not a fairlab book" in result.output
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == ["sub", "sub/data.csv", "thesis.tex"]


def test_an_html_folder_that_is_a_file_is_refused(tmp_path, monkeypatch):
    _nothing_may_run(monkeypatch)
    target = tmp_path / "book.html"
    target.write_text("mine")
    result = CliRunner().invoke(app, ["book", "--profile", "smoke", "--html-dir", str(target), "--jobs", "1"])
    assert result.exit_code == 1 and "--html-dir is a file" in result.output and target.read_text() == "mine"


def test_an_earlier_fairlab_book_or_an_empty_folder_may_be_replaced(tmp_path):
    from fairlab.book import BOOK_MARKER, check_html_dir

    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "index.html").write_text("<html></html>")
    (earlier / BOOK_MARKER).write_text("{}")
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (earlier, empty, tmp_path / "new"):
        check_html_dir(folder, default=tmp_path / "default")


def test_a_bad_override_value_names_the_key():
    result = CliRunner().invoke(app, ["run", "03", "--profile", "smoke", "-p", "win_adult.n_runs=many"])
    assert result.exit_code == 2 and "win_adult.n_runs" in result.output


@pytest.mark.book
def test_smoke_book_builds_every_page(smoke_book):
    html = smoke_book["html"]
    assert (html / "index.html").is_file()
    for page in ("notebooks/00_data", "notebooks/01_csdg", "notebooks/02_smg_sft", "notebooks/03_ablations",
                 "notebooks/04_weight_importance_neutralization", "notebooks/05_dal_adjusted_dft",
                 "notebooks/06_your_own_model", "book/status",
                 "book/execution", "book/bibliography"):
        assert (html / f"{page}.html").is_file(), page
    text = (html / "notebooks/04_weight_importance_neutralization.html").read_text()
    assert "SMOKE" in text and "paper vs reproduced" in text


@pytest.mark.book
def test_smoke_notebooks_ran_without_errors(smoke_book):
    log = json.loads((smoke_book["build"] / "smoke" / "executions.json").read_text())
    assert {name: entry["status"] for name, entry in log.items()} == {
        "00_data": "ok", "01_csdg": "ok", "02_smg_sft": "ok", "03_ablations": "ok", "04_weight_importance_neutralization": "ok",
        "05_dal_adjusted_dft": "ok", "06_your_own_model": "ok", "status": "ok", "execution": "ok"}
    for path in (smoke_book["build"] / "smoke" / "executed").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, path.name


@pytest.mark.book
def test_smoke_build_recorded_the_adult_experiments(smoke_book):
    runs = smoke_book["results"] / "smoke" / "win"
    experiments = {p.name for p in runs.iterdir()}
    assert {"adult_pretrain", "adult_finetune_head", "adult_retrain", "image_features", "image_heads"} <= experiments
    assert (smoke_book["results"] / "smoke" / "faceworld" / "dataset").is_dir()


@pytest.mark.book
def test_every_table_and_figure_of_the_smoke_book_is_a_file_linked_from_its_page_and_from_the_status_page(smoke_book):
    from bs4 import BeautifulSoup

    html = smoke_book["html"].resolve()
    pages = sorted((html / "notebooks").glob("*.html")) + sorted((html / "book").glob("*.html"))
    shown = 0
    for page in pages:
        soup = BeautifulSoup(page.read_text(), "html.parser")
        for link in soup.select("a[download]"):
            assert (page.parent / link["href"]).resolve().is_file(), f"{page.name}: {link['href']} is not in the book"
        for output in soup.select("div.cell_output"):
            files = [p.get_text() for p in output.select("p.fairlab-files")]
            tables, images = len(output.select("table")), len(output.select("img"))
            shown += tables + images
            assert sum("CSV" in f for f in files) >= tables, f"{page.name}: a table without its CSV file"
            assert sum("PNG" in f and "SVG" in f for f in files) >= images, f"{page.name}: a figure without its files"
    assert shown > 50
    status = BeautifulSoup((html / "book" / "status.html").read_text(), "html.parser")
    linked = {(html / "book" / a["href"]).resolve() for a in status.select("a[download]")}
    written = {p.resolve() for kind in ("tables", "figures") for p in (html / kind).rglob("*") if p.is_file()}
    # the execution page runs after the status page: its own tables are the only files the status page cannot know
    assert {p for p in written - linked if p.parent.name != "execution"} == set()
    assert {"aimfair", "win", "02_smg_sft"} <= {p.parent.name for p in written}


def test_ctrl_c_in_a_build_with_chapters_at_once_names_every_running_chapter_and_keeps_their_partial_notebooks(
        tmp_path, monkeypatch, sigint_raises_keyboard_interrupt):
    import _thread
    import threading
    import time

    from fairlab import plans
    from fairlab.book import ChaptersInterrupted, Page, _execute_chapters_at_once

    pages = []
    for name in ("probe_a", "probe_b"):
        source = tmp_path / f"{name}.py"
        source.write_text(HEADER + "# %%\nx = 1\n\n# %%\nimport time\ntime.sleep(120)\n")
        pages.append(Page(name, source))
    monkeypatch.setattr(plans, "READS", {"probe_a": set(), "probe_b": set()})  # neither waits for the other
    executed = paths.build_root() / "smoke" / "executed"
    interrupted = []

    def interrupt_once_both_chapters_run():
        # Ctrl-C reaching the build's process alone (as `kill -INT`): it passes the interruption on to each chapter
        _wait_until_a_sleeping_cell_runs(executed, ".probe_*.running-*.ipynb", count=2)
        time.sleep(1)
        interrupted.append(time.time())
        _thread.interrupt_main()

    timer = threading.Thread(target=interrupt_once_both_chapters_run, daemon=True)
    timer.start()
    try:
        with pytest.raises(ChaptersInterrupted) as info:
            _execute_chapters_at_once(pages, "smoke", {}, 2, None, None, True, False, False, lambda message: None)
    finally:
        timer.join()
    assert time.time() - interrupted[0] < 60  # each chapter stopped in its two-minute cell, not at its end
    message = str(info.value)
    assert message.startswith("interrupted: 2 chapters were running")
    assert "notebook probe_a" in message and "notebook probe_b" in message
    log = read_execution_log("smoke")
    assert log["probe_a"]["status"] == log["probe_b"]["status"] == "interrupted"
    failed = paths.build_root() / "smoke" / "failed"
    assert (failed / "probe_a.ipynb").is_file() and (failed / "probe_b.ipynb").is_file()
