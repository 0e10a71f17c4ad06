"""Execute the notebooks with papermill and build the Jupyter Book from the executed copies.

``build_book(profile)``:

1. reads ``_toc.yml``; every page whose source is a ``.py`` (jupytext percent) notebook is
   converted, given the kernel ``python3`` and executed by papermill with the parameters
   ``profile`` and ``overrides``, one kernel per notebook, with the project root as working
   directory and (by default) the network blocked;
2. writes each executed copy to ``_build/<profile>/executed/`` and records its run (time,
   status, versions, device) in ``_build/<profile>/executions.json``;
3. stages ``_config.yml``, ``_toc.yml``, ``book/`` and the executed notebooks in
   ``_build/<profile>/source/`` and runs Jupyter Book there with execution off and warnings as
   errors;
4. only when all of that succeeded, replaces the HTML folder (``_build/html`` for ``mini``,
   ``_build/<profile>/html`` otherwise).

A failing cell stops everything with the notebook, the cell and the traceback; a failing
Sphinx build stops with its log.  Either way the previous HTML stays as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from fairlab import environment, offline, paths
from fairlab.atomic import owner_is_dead, owner_tag
from fairlab.profiles import DEFAULT_PROFILE, load_profile, profile_name, resolve_profile
from fairlab.reports import NOTEBOOK_ENV
from fairlab.results import FRESH_SINCE_ENV, write_json_atomic

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookFailed(RuntimeError):
    """A notebook cell raised; carries the notebook, the cell and the traceback."""

    def __init__(self, notebook: str, cell_index: int | None, source: str, ename: str, evalue: str, traceback: str, saved: Path | None):
        self.notebook, self.cell_index, self.source = notebook, cell_index, source
        self.ename, self.evalue, self.traceback, self.saved = ename, evalue, traceback, saved
        super().__init__(str(self))

    def __reduce__(self):
        # rebuilt from its fields when it crosses from a chapter's process (parallel chapters)
        return type(self), (self.notebook, self.cell_index, self.source, self.ename, self.evalue, self.traceback, self.saved)

    def __str__(self) -> str:
        where = f"cell {self.cell_index}" if self.cell_index is not None else "a cell"
        lines = [f"notebook {self.notebook} failed in {where}: {self.ename}: {self.evalue}"]
        if self.source:
            lines += ["", "cell source:", *("    " + line for line in self.source.splitlines()[:20])]
        if self.traceback:
            lines += ["", "traceback:", self.traceback]
        if self.saved:
            lines += ["", f"the failed notebook is saved at {self.saved}"]
        return "\n".join(lines)


class NotebookInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped a notebook; carries the notebook, the cell it was in and the saved partial copy."""

    def __init__(self, notebook: str, cell_index: int | None, saved: Path | None):
        self.notebook, self.cell_index, self.saved = notebook, cell_index, saved
        super().__init__(str(self))

    def __reduce__(self):
        return type(self), (self.notebook, self.cell_index, self.saved)

    def __str__(self) -> str:
        where = f" in cell {self.cell_index}" if self.cell_index is not None else ""
        kept = f"; the partial notebook is saved at {self.saved}" if self.saved else ""
        return f"interrupted: notebook {self.notebook}{where}{kept}"


class ChaptersInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a build whose chapters ran at once (``--jobs N``); carries what each running chapter said."""

    def __init__(self, stopped: list[NotebookInterrupted], finished: list[str] | None = None):
        self.stopped, self.finished = list(stopped), list(finished or [])
        super().__init__(str(self))

    def __reduce__(self):
        return type(self), (self.stopped, self.finished)

    def __str__(self) -> str:
        lines = [f"interrupted: {len(self.stopped)} chapter{'s' if len(self.stopped) != 1 else ''} "
                 f"{'were' if len(self.stopped) != 1 else 'was'} running"]
        lines += [f"  {stop}" for stop in self.stopped]
        if self.finished:
            lines.append(f"  finished before the interruption: {', '.join(self.finished)}")
        return "\n".join(lines)


def _last_cell_started(path: Path) -> tuple[int | None, str]:
    """The index and source of the last cell papermill started in a partial notebook (its per-cell status)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # a notebook half-written as the process died: no cell to name
        return None, ""
    started = [i for i, cell in enumerate(nb.cells)
               if cell.get("metadata", {}).get("papermill", {}).get("status") in ("running", "completed")
               or cell.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not started:
        return None, ""
    return started[-1], nb.cells[started[-1]].source


def _kernel_death(exc: BaseException) -> str:
    """What a dead kernel's error says, in words: the likely cause first (the out-of-memory killer sends SIGKILL)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (f"the kernel died ({text}); it was killed by a signal (SIGKILL from the out-of-memory killer is the usual "
            f"cause: check `dmesg` or the job's memory limit) or it crashed")


class BookBuildFailed(RuntimeError):
    """Jupyter Book (Sphinx) reported an error or a warning."""


@dataclass(frozen=True)
class Page:
    docname: str  # path without suffix, relative to the project root, as in _toc.yml
    source: Path

    @property
    def is_notebook(self) -> bool:
        return self.source.suffix == ".py"

    @property
    def name(self) -> str:
        return Path(self.docname).name


def toc_pages(root: Path | None = None) -> list[Page]:
    """Every page of ``_toc.yml`` in reading order, with its source file (``.py`` notebook or ``.md``)."""
    root = root or paths.project_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    docnames: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    docnames.append(str(node[key]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []):
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    pages = []
    for docname in docnames:
        stem = root / docname
        for suffix in (".py", ".md"):
            if stem.with_suffix(suffix).is_file():
                pages.append(Page(docname, stem.with_suffix(suffix)))
                break
        else:
            raise FileNotFoundError(f"_toc.yml lists {docname!r} but neither {docname}.py nor {docname}.md exists")
    return pages


def find_notebook(name: str, root: Path | None = None) -> Path:
    """A notebook by path, by file name or by a unique prefix of its name (``03``)."""
    root = root or paths.project_root()
    candidate = Path(name)
    if candidate.is_file():
        return check_notebook_file(candidate.resolve())
    matches = sorted(p for folder in ("notebooks", "book") for p in (root / folder).glob(f"{candidate.stem}*.py"))
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(p.stem for p in sorted((root / "notebooks").glob("*.py")) + sorted((root / "book").glob("*.py")))
    if not matches:
        raise FileNotFoundError(f"no notebook matches {name!r}; notebooks: {known}")
    raise FileNotFoundError(f"{name!r} matches several notebooks ({', '.join(p.stem for p in matches)}); be more specific")


def shown_path(path: Path) -> str:
    """A path as messages and logs show it: relative to the project when it lies inside it."""
    root = paths.project_root()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def check_notebook_file(path: Path) -> Path:
    """``path`` itself, if it is a text notebook (a ``.py`` file in jupytext's percent format); an error otherwise."""
    if path.suffix != ".py" or "format_name: percent" not in path.read_text(errors="replace")[:2000]:
        raise ValueError(f"{path}: not a notebook of this book; expected a jupytext percent-format .py file such as "
                         f"notebooks/04_weight_importance_neutralization.py")
    return path


def check_output(output: Path | None) -> None:
    """Refuse, before a notebook runs, an ``--output`` that cannot receive the executed notebook."""
    if output is None:
        return
    output = Path(output)
    if output.is_dir():
        raise ValueError(f"{output}: --output is a folder; expected the path of the executed .ipynb file")
    if output.suffix != ".ipynb":
        raise ValueError(f"{output}: --output must end in .ipynb (the executed notebook)")


def default_html_dir(profile: str) -> Path:
    name = profile_name(profile)
    return paths.build_root() / ("html" if name == DEFAULT_PROFILE else f"{name}/html")


#: written into every HTML folder a build fills: a later build may replace a folder only if it holds this file
BOOK_MARKER = ".fairlab-book"


class HtmlDirRefused(ValueError):
    """The HTML folder asked for holds something other than an earlier fairlab book."""


def check_html_dir(final: Path, default: Path) -> None:
    """Refuse, before anything runs, an HTML folder that a build would have to delete and that is not ours.

    A build replaces its HTML folder whole. That is safe for the default folder (under ``_build/``), an
    empty or new folder, or an earlier fairlab book (:data:`BOOK_MARKER`); anything else would be lost.
    """
    final = Path(final)
    if final.resolve() == Path(default).resolve() or not final.exists():
        return
    if not final.is_dir():
        raise HtmlDirRefused(f"{final}: --html-dir is a file; expected a folder for the HTML book (new, empty, or an "
                             f"earlier fairlab book)")
    if any(final.iterdir()) and not (final / BOOK_MARKER).is_file():
        raise HtmlDirRefused(f"{final}: --html-dir holds files that are not a fairlab book (no {BOOK_MARKER} marker), "
                             f"and a build replaces its HTML folder whole; choose a new or empty folder")


def execution_log_path(profile: str) -> Path:
    return paths.build_root() / profile_name(profile) / "executions.json"


def read_execution_log(profile: str) -> dict:
    path = execution_log_path(profile)
    return json.loads(path.read_text()) if path.is_file() else {}


def _log_execution(profile: str, entry: dict) -> None:
    """Record a notebook's run: the latest run is the notebook's entry, earlier ones stay in its ``runs`` list.

    A file lock serialises concurrent builds (two ``fairlab run`` commands, parallel chapters), so
    no run is lost.
    """
    from filelock import FileLock

    path = execution_log_path(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(path.name + ".lock")):
        log = read_execution_log(profile)
        previous = log.get(entry["notebook"], {})
        runs = previous.pop("runs", []) + ([previous] if previous else [])
        log[entry["notebook"]] = {**entry, "runs": runs[-20:]}
        write_json_atomic(path, log)


@contextlib.contextmanager
def _kernel_environment(notebook: str, fresh_since: float | None, block_network: bool):
    """Environment variables the kernel inherits while one notebook runs."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="fairlab-ipython-") as ipython_dir:
        os.environ[NOTEBOOK_ENV] = notebook
        os.environ[paths.RESULTS_ENV] = str(paths.results_root())
        os.environ[paths.BUILD_ENV] = str(paths.build_root())
        os.environ.setdefault("PYTHONHASHSEED", "0")
        os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
        if fresh_since is not None:
            os.environ[FRESH_SINCE_ENV] = repr(fresh_since)
        if block_network:  # the kernel, and every process it starts
            os.environ["IPYTHONDIR"] = str(offline.ipython_dir_with_guard(Path(ipython_dir)))
            os.environ.update(offline.child_environment(Path(ipython_dir) / "site"))
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def kernel_log_path(profile: str, notebook: str) -> Path:
    """Where a notebook's kernel writes its own stderr: ``_build/<profile>/logs/<notebook>.kernel.log``."""
    return paths.build_root() / profile_name(profile) / "logs" / f"{notebook}.kernel.log"


def _kernel_manager_logging_to(log: Path):
    """A Jupyter kernel manager whose kernel writes its own stderr (ipykernel's log lines, C-level warnings, the
    traceback a kernel prints when it is shut down in the middle of a cell on Ctrl-C) to ``log`` rather than to the
    terminal. What the cells print still reaches the notebook: ipykernel captures it."""
    from jupyter_client.manager import AsyncKernelManager

    class KernelManagerWithLog(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):  # jupyter_client's hook for launching differently
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "ab") as stream:
                stream.write(f"--- kernel started {datetime.now(timezone.utc).isoformat(timespec='seconds')} "
                             f"by process {os.getpid()}\n".encode())
                stream.flush()
                return await super()._async_launch_kernel(kernel_cmd, **kw | {"stderr": stream})

    return KernelManagerWithLog


def notebook_node(source: Path):
    """The jupytext notebook as an nbformat node with the ``python3`` kernel; checks the parameters cell."""
    import jupytext

    nb = jupytext.read(source)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"{source}: expected exactly one cell tagged 'parameters', found {len(tagged)}")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def run_notebook(source: Path, profile: str = DEFAULT_PROFILE, overrides: dict | None = None, *, output: Path | None = None,
                 fresh_since: float | None = None, block_network: bool = True, log_output: bool = False,
                 progress: bool = True, timeout: int | None = None) -> dict:
    """Execute one text notebook with papermill; returns its execution record.

    The executed copy appears at ``output`` (default ``_build/<profile>/executed/<name>.ipynb``)
    only if every cell succeeded; a failed run is saved under ``_build/<profile>/failed/``.
    """
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from fairlab.results import Registry

    source = check_notebook_file(Path(source).resolve())
    check_output(output)
    profile = resolve_profile(profile)
    overrides = dict(overrides or {})
    load_profile(profile, overrides)  # fail here, with the key named, rather than inside the kernel
    name = source.stem
    output = Path(output) if output else paths.build_root() / profile_name(profile) / "executed" / f"{name}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(output.parent)
    Registry(profile_name(profile)).clean_stale()
    running = output.with_name(f".{name}.running-{owner_tag()}.ipynb")
    started = time.time()
    entry = {
        "notebook": name, "source": shown_path(source),
        "profile": profile, "overrides": overrides,
        "started_utc": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0], "packages": environment.package_versions(),
        "device": environment.describe_device(), "code_version": environment.code_version(),
        "git_commit": environment.git_state()["commit"],
    }
    try:
        with _kernel_environment(name, fresh_since, block_network):
            papermill.execute_notebook(
                notebook_node(source), str(running), parameters={"profile": profile, "overrides": overrides},
                kernel_name="python3", language="python", progress_bar=progress, log_output=log_output,
                cwd=str(paths.project_root()), execution_timeout=timeout,
                kernel_manager_class=_kernel_manager_logging_to(kernel_log_path(profile, name)),
            )
    except PapermillExecutionError as exc:
        failed = _keep_failed(running, profile, name)
        _log_execution(profile, entry | {"status": "failed", "seconds": round(time.time() - started, 1),
                                         "error": f"{exc.ename}: {exc.evalue}"})
        raise NotebookFailed(name, exc.cell_index, exc.source, exc.ename, exc.evalue,
                             _ANSI.sub("", "\n".join(exc.traceback)), failed) from None
    except DeadKernelError as exc:
        cell, cell_source = _last_cell_started(running) if running.exists() else (None, "")
        failed = _keep_failed(running, profile, name)
        message = f"{_kernel_death(exc)}; the kernel's own log is {shown_path(kernel_log_path(profile, name))}"
        _log_execution(profile, entry | {"status": "failed", "seconds": round(time.time() - started, 1),
                                         "error": f"DeadKernelError: {message}"})
        raise NotebookFailed(name, cell, cell_source, "DeadKernelError", message, "", failed) from None
    except KeyboardInterrupt:
        cell, _ = _last_cell_started(running) if running.exists() else (None, "")
        failed = _keep_failed(running, profile, name)
        _log_execution(profile, entry | {"status": "interrupted", "seconds": round(time.time() - started, 1),
                                         "error": "interrupted (Ctrl-C)"})
        raise NotebookInterrupted(name, cell, failed) from None
    except BaseException as exc:
        running.unlink(missing_ok=True)
        _log_execution(profile, entry | {"status": "failed", "seconds": round(time.time() - started, 1),
                                         "error": f"{type(exc).__name__}: {exc}"})
        raise
    _collapse_injected_parameters(running)
    os.replace(running, output)
    entry |= {"status": "ok", "seconds": round(time.time() - started, 1), "executed": str(output)}
    _log_execution(profile, entry)
    return entry


def _keep_failed(running: Path, profile: str, name: str) -> Path | None:
    """Move a run's partial notebook to ``_build/<profile>/failed/<name>.ipynb`` (None when nothing was written)."""
    if not running.exists():
        return None
    failed = paths.build_root() / profile_name(profile) / "failed" / f"{name}.ipynb"
    failed.parent.mkdir(parents=True, exist_ok=True)
    os.replace(running, failed)
    return failed


def clean_stale_temporaries(*folders: Path) -> list[Path]:
    """Delete the running notebooks (``.<name>.running-<host>.<pid>.ipynb``) and record work folders
    (``.tmp-<hash>-<host>.<pid>-<id>``) that a process of this machine left when it died; returns what went."""
    removed = []
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        for path in Path(folder).glob(".*.running-*.ipynb"):
            if owner_is_dead(path.name.rsplit(".running-", 1)[1].removesuffix(".ipynb")):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _collapse_injected_parameters(path: Path) -> None:
    """Fold papermill's injected-parameters cell in the rendered page (the page states its profile anyway)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(nb, path)


def execution_frame(profile: str):
    """One line per executed notebook of the book: status, time, device, Python, commit, code version."""
    import pandas as pd

    log = read_execution_log(profile)
    names = [p.name for p in toc_pages() if p.is_notebook and p.name in log and p.name != "execution"]
    return pd.DataFrame([
        {"notebook": name, "status": log[name]["status"], "seconds": log[name]["seconds"],
         "started (UTC)": log[name]["started_utc"], "device": log[name]["device"], "python": log[name]["python"],
         "git commit": (log[name].get("git_commit") or "—")[:10], "fairlab code": log[name]["code_version"]}
        for name in names
    ]).set_index("notebook")


def records_frame(profile: str):
    """One line per stored record of the profile: what computed it, in which notebook, on which device, how long it took."""
    import pandas as pd

    from fairlab.results import Registry

    lines = []
    for record in Registry(profile_name(profile)).records():
        on = record.env.get("computed_on") or {}
        device = on.get("gpu") or on.get("type") or "?"
        lines.append({"experiment": record.experiment, "record": record.config_hash, "notebook": record.env.get("notebook") or "—",
                      "device": device if on.get("networks", True) else f"{device} (no network)",
                      "seconds": record.env.get("seconds"), "created (UTC)": record.env.get("time_utc")})
    return pd.DataFrame(lines, columns=["experiment", "record", "notebook", "device", "seconds", "created (UTC)"])


def compute_summary(profile: str):
    """Records and compute seconds per notebook and device (the records' own compute times, dependencies excluded)."""
    frame = records_frame(profile)
    if frame.empty:
        return frame
    return (frame.groupby(["notebook", "device"], dropna=False)
            .agg(records=("record", "size"), seconds=("seconds", "sum"))
            .reset_index())


def benchmark_frame():
    """The stored benchmark results (``make bench``): each fairlab path against its reference, as a ratio, with the device."""
    import pandas as pd

    folder = paths.project_root() / "benchmarks" / "results"
    rows = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return pd.DataFrame([{"benchmark": r["benchmark"], "ratio": r["ratio"], "what": r["what"], "device": r["device"],
                          "measured (UTC)": r["time_utc"]} for r in rows],
                        columns=["benchmark", "ratio", "what", "device", "measured (UTC)"])


def package_frame(profile: str):
    """The key package versions each notebook ran with."""
    import pandas as pd

    log = read_execution_log(profile)
    names = [p.name for p in toc_pages() if p.is_notebook and p.name in log and p.name != "execution"]
    frame = pd.DataFrame({name: log[name]["packages"] for name in names})
    frame.index.name = "package"
    return frame


def _staged_config(profile: str, reportable: bool) -> dict:
    config = yaml.safe_load((paths.project_root() / "_config.yml").read_text())
    if not reportable:
        config.setdefault("html", {})["announcement"] = (
            "SMOKE BUILD — this book was executed with the smoke profile; its numbers are not results."
        )
    return config


def stage(profile: str, pages: list[Page], executed: dict[str, Path]) -> Path:
    """Lay out a buildable book for ``profile`` in ``_build/<profile>/source``."""
    root = paths.project_root()
    staging = paths.build_root() / profile_name(profile) / "source"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    reportable = load_profile(profile).reportable
    # the tables and figures the pages wrote as files, served at the HTML root for their download links
    extra = staging / "_extra"
    for kind in ("tables", "figures"):
        written = paths.build_root() / profile_name(profile) / kind
        if written.is_dir():
            shutil.copytree(written, extra / kind)
    config = _staged_config(profile, reportable)
    if extra.is_dir():
        config.setdefault("sphinx", {}).setdefault("config", {})["html_extra_path"] = ["_extra"]
    (staging / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy2(root / "_toc.yml", staging / "_toc.yml")
    shutil.copytree(root / "book", staging / "book", ignore=shutil.ignore_patterns("*.py", "*.ipynb", "__pycache__", ".ipynb_checkpoints"))
    for page in pages:
        target = staging / page.docname
        target.parent.mkdir(parents=True, exist_ok=True)
        if page.is_notebook:
            shutil.copy2(executed[page.docname], target.with_suffix(".ipynb"))
        elif not target.with_suffix(".md").exists():
            shutil.copy2(page.source, target.with_suffix(".md"))
    return staging


def run_jupyter_book(staging: Path) -> Path:
    """Build HTML with warnings as errors; returns the HTML folder inside ``staging``."""
    out = staging / "_out"
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(staging),
               "--path-output", str(out), "-W", "-n", "--keep-going", "--all"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=staging)
    log = result.stdout + result.stderr
    (staging / "jupyter-book.log").write_text(log)
    html = out / "_build" / "html"
    if result.returncode != 0 or not (html / "index.html").is_file():
        tail = "\n".join(log.strip().splitlines()[-40:])
        raise BookBuildFailed(f"Jupyter Book failed (exit {result.returncode}); full log: {staging / 'jupyter-book.log'}\n{tail}")
    return html


def precompute(notebook: str, profile: str = DEFAULT_PROFILE, overrides: dict | None = None, *, jobs: int = 1,
               address: str | None = None, fresh_since: float | None = None, announce=print) -> list[tuple[str, float]]:
    """Compute the records of ``notebook``'s plan (:mod:`fairlab.plans`) on ``jobs`` workers (or a Dask ``address``).

    Nothing is computed for a notebook without a plan, or with ``jobs <= 1`` and no address: the
    notebook then computes its records itself as it runs, with its progress bars.
    """
    from fairlab import parallel, plans

    if jobs <= 1 and address is None:
        return []
    loaded = load_profile(profile, dict(overrides or {}))
    stages = plans.plan(notebook, loaded)
    done = []
    try:
        with _kernel_environment(notebook, fresh_since, block_network=False):
            for number, stage in enumerate(stages, 1):
                announce(f"      plan stage {number}/{len(stages)}: {len(stage)} independent units on "
                         f"{address or f'{min(jobs, len(stage))} workers'}")
                done += parallel.run(stage, jobs=jobs, address=address, announce=announce, threads=loaded.compute.threads)
    except NotebookInterrupted:
        raise
    except KeyboardInterrupt:  # stored records are whole (written atomically); the notebook never started
        raise NotebookInterrupted(notebook, None, None) from None
    return done


def chapter_inputs(notebooks: list[Page]) -> dict[str, set[str]]:
    """Notebook → the earlier notebooks it must wait for: the ones whose records it reads.

    :data:`fairlab.plans.READS` declares them; a notebook it does not list (the build's own pages,
    a new chapter) waits for every notebook before it in the table of contents.
    """
    from fairlab.plans import READS

    names = [page.name for page in notebooks]
    return {name: set(names[:i]) & set(READS[name]) if name in READS else set(names[:i])
            for i, name in enumerate(names)}


def _execute_chapter(source: Path, profile: str, overrides: dict, jobs: int, address: str | None,
                     fresh_since: float | None, block_network: bool, log_output: bool, progress: bool,
                     announce=print) -> dict:
    """A notebook's plan on ``jobs`` workers, then the notebook (in its own process when chapters run at once)."""
    precompute(source.stem, profile, overrides, jobs=jobs, address=address, fresh_since=fresh_since, announce=announce)
    return run_notebook(source, profile, overrides, fresh_since=fresh_since, block_network=block_network,
                        log_output=log_output, progress=progress)


#: set in a chapter's process while it executes its chapter, and once a SIGINT reached it (see
#: :func:`_chapter_process_signals`)
_CHAPTER_RUNNING = False
_CHAPTER_INTERRUPTED = False


def _chapter_process_signals() -> None:
    """In a chapter's process: the first SIGINT stops the chapter it runs (a ``KeyboardInterrupt`` there) and later
    ones are ignored; one that reaches a process before its chapter started (still importing, say) stops that chapter
    as it starts. Ctrl-C in a terminal reaches every process of the build, and the build forwards it once more to
    each chapter (for a SIGINT sent to the build's process alone): one request each."""
    import signal

    def interrupt_once(signum, frame):
        global _CHAPTER_INTERRUPTED
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _CHAPTER_INTERRUPTED = True
        if _CHAPTER_RUNNING:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt_once)


def _chapter_in_own_process(source: Path, *args) -> dict:
    """:func:`_execute_chapter` in a chapter's process; an interruption while its plan computes names the notebook too."""
    global _CHAPTER_RUNNING
    _CHAPTER_RUNNING = True
    try:
        if _CHAPTER_INTERRUPTED:
            raise KeyboardInterrupt
        return _execute_chapter(source, *args)
    except NotebookInterrupted:
        raise
    except KeyboardInterrupt:
        raise NotebookInterrupted(source.stem, None, None) from None
    finally:
        _CHAPTER_RUNNING = False


def _stop_chapters(pool, running: dict, finished: list[str], grace: float = 120.0) -> ChaptersInterrupted:
    """After Ctrl-C in the build's process: pass the interruption on to every chapter's process, wait (at most
    ``grace`` seconds) for each running chapter to keep its partial notebook and log its run, start nothing new."""
    import multiprocessing
    import signal
    from concurrent.futures import wait

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
    try:
        for process in multiprocessing.active_children():  # the chapters' processes (the pool's workers)
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)
        done, not_done = wait(running, timeout=grace)
        stopped = []
        for future, page in running.items():
            if future in not_done:
                stopped.append(NotebookInterrupted(page.name, None, None))
                continue
            try:
                future.result()
                finished.append(page.name)
            except NotebookInterrupted as exc:
                stopped.append(exc)
            except BaseException:  # noqa: BLE001 — it failed as it was being stopped: it was running all the same
                stopped.append(NotebookInterrupted(page.name, None, None))
        for process in multiprocessing.active_children():
            if process.is_alive():
                process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        return ChaptersInterrupted(stopped, finished)
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass(frozen=True)
class ChapterRun:
    """How each chapter of a build executes in its own process (the arguments of :func:`_execute_chapter` but the
    notebook and its plan workers)."""

    profile: str
    overrides: dict
    address: str | None
    fresh_since: float | None
    block_network: bool
    log_output: bool
    progress: bool

    def submit(self, pool, page: "Page", workers: int):
        return pool.submit(_chapter_in_own_process, page.source, self.profile, self.overrides, workers, self.address,
                           self.fresh_since, self.block_network, self.log_output, self.progress)


class ChapterSchedule:
    """The chapters of one build: pending, running (future → page), done, and each executed notebook's path."""

    def __init__(self, notebooks: list["Page"], run: ChapterRun, jobs: int, announce):
        self.inputs = chapter_inputs(notebooks)
        self.pending, self.running, self.done = list(notebooks), {}, set()
        self.executed: dict[str, Path] = {}
        self.finished: list[str] = []
        self.total, self.run_settings, self.jobs, self.announce = len(notebooks), run, jobs, announce

    def start_ready(self, pool) -> None:
        """Start the chapters whose inputs are done, in the free slots, which they share for their plans."""
        free = self.jobs - len(self.running)
        startable = [p for p in self.pending if self.inputs[p.name] <= self.done][:free]
        for page in startable:
            workers = max(1, free // len(startable))
            self.announce(f"[{len(self.done) + len(self.running) + 1}/{self.total}] executing "
                          f"{shown_path(page.source)} ({self.run_settings.profile}, {workers} plan workers, "
                          f"{len(self.running)} other chapters running)")
            self.running[self.run_settings.submit(pool, page, workers)] = page
            self.pending.remove(page)

    def finish(self, future) -> None:
        page = self.running.pop(future)
        entry = future.result()
        self.announce(f"      {page.name} done in {entry['seconds']:.1f} s")
        self.done.add(page.name)
        self.finished.append(page.name)
        self.executed[page.docname] = Path(entry["executed"])

    def run(self, pool) -> None:
        """Start each chapter once its inputs are done, while slots are free; raise the first failure once the rest
        stopped."""
        from concurrent.futures import FIRST_COMPLETED, wait

        failure = None
        while self.running or (self.pending and failure is None):
            if failure is None:
                self.start_ready(pool)
            if not self.running:
                break
            # a short timeout: Ctrl-C can land on another thread of this process, and the main thread only sees it
            # between waits (a wait without one sleeps through it until some chapter ends)
            completed, _ = wait(self.running, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in completed:
                try:
                    self.finish(future)
                except BaseException as exc:  # let the running chapters finish, start no new one, then raise
                    failure = failure or exc
        if failure is not None:
            raise failure


def _execute_chapters_at_once(notebooks: list[Page], profile: str, overrides: dict, jobs: int, address: str | None,
                              fresh_since: float | None, block_network: bool, log_output: bool, progress: bool,
                              announce) -> dict[str, Path]:
    """At most ``jobs`` notebooks at a time, each once the notebooks it reads are done, each in its own process.

    The chapters that can start share the worker slots the running ones leave free, for their plans. The per-record
    locks make this safe even where :func:`chapter_inputs` is too optimistic: a record two
    chapters ask for is computed by one and loaded by the other.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    schedule = ChapterSchedule(notebooks, ChapterRun(profile, overrides, address, fresh_since, block_network, log_output,
                                                     progress), jobs, announce)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_chapter_process_signals) as pool:
        try:
            schedule.run(pool)
        except ChaptersInterrupted:
            raise
        except KeyboardInterrupt:
            raise _stop_chapters(pool, schedule.running, schedule.finished) from None
    return schedule.executed


def build_book(profile: str = DEFAULT_PROFILE, overrides: dict | None = None, *, fresh: bool = False,
               block_network: bool = True, html_dir: Path | None = None, log_output: bool = False,
               progress: bool = True, announce=print, jobs: int = 1, address: str | None = None) -> Path:
    """Execute every notebook of the table of contents and build the HTML book; returns the HTML folder.

    With ``jobs > 1`` (or a Dask ``address``) each notebook's plan is computed in parallel first, and
    notebooks that do not read each other's records (:func:`chapter_inputs`) execute at the same
    time, at most ``jobs`` at once. Either way every record is the same: a record's numbers do not
    depend on which process computed it.
    """
    from fairlab.plans import plan_text

    overrides = dict(overrides or {})
    profile = resolve_profile(profile)
    final = Path(html_dir) if html_dir else default_html_dir(profile)
    check_html_dir(final, default_html_dir(profile))
    announce(plan_text(load_profile(profile, overrides)))
    pages = toc_pages()
    notebooks = [p for p in pages if p.is_notebook]
    fresh_since = time.time() if fresh else None
    if jobs > 1:
        executed = _execute_chapters_at_once(notebooks, profile, overrides, jobs, address, fresh_since, block_network,
                                             log_output, progress, announce)
    else:
        executed = {}
        for number, page in enumerate(notebooks, 1):
            announce(f"[{number}/{len(notebooks)}] executing {shown_path(page.source)} ({profile})")
            entry = _execute_chapter(page.source, profile, overrides, jobs, address, fresh_since, block_network,
                                     log_output, progress, announce)
            announce(f"      done in {entry['seconds']:.1f} s")
            executed[page.docname] = Path(entry["executed"])
    announce("building the HTML book (Jupyter Book, warnings as errors)")
    html = run_jupyter_book(stage(profile, pages, executed))
    (html / BOOK_MARKER).write_text(json.dumps({"profile": profile, "built_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                               time.gmtime())}) + "\n")
    check_html_dir(final, default_html_dir(profile))  # again: the folder may have been filled while the book ran
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        shutil.move(str(html), str(final))
        shutil.rmtree(old, ignore_errors=True)
    else:
        shutil.move(str(html), str(final))
    return final
