"""The ``fairlab`` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text

from fairlab.profiles import DEFAULT_PROFILE, ProfileError, load_profile, parse_override, valid_keys

app = typer.Typer(add_completion=False, no_args_is_help=True, help="fairlab: the companion book of three fairness papers.")
console = Console(stderr=True)

ProfileOption = Annotated[str, typer.Option("--profile", help="smoke, mini (default) or paper; or a path to a profile YAML")]
OverrideOption = Annotated[
    Optional[list[str]],
    typer.Option("-p", "--param", help="override a profile key, e.g. -p win_adult.n_runs=3 (repeatable)"),
]
FreshOption = Annotated[bool, typer.Option("--fresh", help="recompute every result instead of loading it from results/")]
NetworkOption = Annotated[bool, typer.Option("--allow-network", help="do not block network access in the kernels")]
LogOption = Annotated[bool, typer.Option("--log-output", help="stream the notebooks' output to the terminal")]
JobsOption = Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="workers computing a notebook's independent "
                                                   "records before it runs (default: from the cores; 1: the notebook computes them itself)")]
AddressOption = Annotated[Optional[str], typer.Option("--address", help="a running Dask scheduler (tcp://host:8786) to "
                                                      "compute the records on, instead of local workers")]


def _jobs(jobs: int | None, profile: str, params: list[str] | None) -> int:
    from fairlab.parallel import default_jobs

    return jobs if jobs is not None else default_jobs(load_profile(profile, _overrides(profile, params)).compute.threads)


def _overrides(profile: str, params: list[str] | None) -> dict:
    overrides = dict(parse_override(p) for p in params or [])
    load_profile(profile, overrides)
    return overrides


def _say(label: str, style: str, message: str) -> None:
    """``label`` in ``style``, then ``message`` verbatim: never read as Rich markup, which would eat anything in
    square brackets (``[np.float64(0.0), ...]``, a traceback's subscripts) or fail on ``[/...]``."""
    console.print(Text.assemble((label, style), " ", message), highlight=False, soft_wrap=True)


def _announce(message: str) -> None:
    console.print(Text(message), highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 1) -> None:
    _say("error:", "bold red", message)
    raise typer.Exit(code)


@app.command()
def book(profile: ProfileOption = DEFAULT_PROFILE, param: OverrideOption = None, fresh: FreshOption = False,
         allow_network: NetworkOption = False, log_output: LogOption = False,
         html_dir: Annotated[Optional[Path], typer.Option(help="where to put the HTML (default: _build/html for mini, _build/<profile>/html otherwise)")] = None,
         jobs: JobsOption = None, address: AddressOption = None):
    """Execute every notebook of the book with PROFILE and build the HTML book."""
    from fairlab.book import BookBuildFailed, ChaptersInterrupted, NotebookFailed, NotebookInterrupted, build_book

    try:
        html = build_book(profile, _overrides(profile, param), fresh=fresh, block_network=not allow_network,
                          html_dir=html_dir, log_output=log_output, announce=_announce,
                          jobs=_jobs(jobs, profile, param), address=address)
    except ProfileError as exc:
        _fail(str(exc), 2)
    except (NotebookFailed, BookBuildFailed, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    except (NotebookInterrupted, ChaptersInterrupted) as exc:
        _fail(str(exc), 130)
    _say("book built:", "green", str(html / "index.html"))


@app.command()
def run(notebook: Annotated[str, typer.Argument(help="a notebook path or name, e.g. 04 or notebooks/04_weight_importance_neutralization.py")],
        profile: ProfileOption = DEFAULT_PROFILE, param: OverrideOption = None, fresh: FreshOption = False,
        allow_network: NetworkOption = False, log_output: LogOption = False,
        output: Annotated[Optional[Path], typer.Option(help="where to write the executed notebook")] = None,
        jobs: JobsOption = None, address: AddressOption = None):
    """Execute one notebook with papermill, the same way the book does."""
    import time

    from fairlab.book import NotebookFailed, NotebookInterrupted, check_output, find_notebook, precompute, run_notebook
    from fairlab.plans import plan_text

    try:
        source = find_notebook(notebook)
        check_output(output)
        overrides = _overrides(profile, param)
        cost = plan_text(load_profile(profile, overrides), source.stem)
        if cost:
            _announce(cost)   # before hours of work, what they will cost
        fresh_since = time.time() if fresh else None
        precompute(source.stem, profile, overrides, jobs=_jobs(jobs, profile, param), address=address, fresh_since=fresh_since,
                   announce=_announce)
        entry = run_notebook(source, profile, overrides, output=output, fresh_since=fresh_since,
                             block_network=not allow_network, log_output=log_output)
    except ProfileError as exc:
        _fail(str(exc), 2)
    except (NotebookFailed, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    except NotebookInterrupted as exc:
        _fail(str(exc), 130)
    _say("executed", "green", f"{entry['notebook']} in {entry['seconds']:.1f} s -> {entry['executed']}")


@app.command()
def plan(profile: ProfileOption = DEFAULT_PROFILE, param: OverrideOption = None):
    """Before anything runs: per notebook, trainings, images to generate, device-hours, disk and RAM."""
    from fairlab.plans import plan_text

    try:
        text = plan_text(load_profile(profile, _overrides(profile, param)))
    except ProfileError as exc:
        _fail(str(exc), 2)
    typer.echo(text)


@app.command()
def gate(profile: ProfileOption = DEFAULT_PROFILE, param: OverrideOption = None,
         setting: Annotated[Optional[list[str]], typer.Option("--setting", help="e.g. 'CelebA S/M' (repeatable; "
                                                              "default: every setting of the gate)")] = None,
         seeds: Annotated[Optional[int], typer.Option("--seeds", min=1, help="the profile's first N seeds (default: all)")] = None,
         errors: Annotated[bool, typer.Option("--errors", help="then, for each failing setting, where its Baseline "
                                              "errs in its weakest test group, by attribute")] = False):
    """Try a scale before a build: train the Baseline alone and print the data page's calibration gate."""
    from fairlab.aimfair.tables import GATE_BASELINES
    from fairlab.pages import data as page
    from fairlab.study import Study

    try:
        loaded = load_profile(profile, _overrides(profile, param))
    except ProfileError as exc:
        _fail(str(exc), 2)
    unknown = [s for s in setting or [] if s not in GATE_BASELINES]
    if unknown:
        _fail(f"--setting {unknown[0]!r}: not a setting of the gate; expected one of {', '.join(GATE_BASELINES)}", 2)
    study, chosen_seeds = Study.of(loaded), loaded.aimfair.seeds[:seeds] if seeds else None
    table = page.calibration_gate(study, setting, chosen_seeds)
    typer.echo(table.to_string())
    typer.echo(page.gate_verdict(table))
    if errors:
        for label in table.index[table["passes"] != "yes"]:
            group, by_attribute = page.weakest_group_errors(study, label, chosen_seeds)
            typer.echo(f"\n{label}: where the Baseline errs in its weakest test group ({group}, target_protected), "
                       "error rate (%) with and without each attribute")
            typer.echo(by_attribute.head(12).to_string())


@app.command()
def results(profile: ProfileOption = DEFAULT_PROFILE,
            as_json: Annotated[bool, typer.Option("--json", help="print every record as JSON")] = False):
    """List the stored results of PROFILE (experiment, config hash, metrics)."""
    from fairlab.results import Registry

    try:
        profile = load_profile(profile).name
    except ProfileError as exc:
        _fail(str(exc), 2)

    records, unreadable = Registry(profile).scan()
    for message in unreadable:
        _say("unreadable record:", "bold red", message)
    if as_json:
        typer.echo(json.dumps([r.summary() for r in records], indent=2))
    else:
        from rich.table import Table

        table = Table(title=Text(f"results/{profile}: {len(records)} records"))
        for column in ("experiment", "config hash", "created", "seconds"):
            table.add_column(column)
        for record in records:
            table.add_row(*(Text(str(v)) for v in (record.experiment, record.config_hash, record.env.get("time_utc"),
                                                    record.env.get("seconds"))))
        Console().print(table)
    if unreadable:
        raise typer.Exit(1)


@app.command()
def profile(name: Annotated[str, typer.Argument(help="smoke, mini or paper")] = DEFAULT_PROFILE,
            param: OverrideOption = None):
    """Show a profile, validated and with overrides applied, and the keys it accepts."""
    import yaml

    try:
        loaded = load_profile(name, _overrides(name, param))
    except ProfileError as exc:
        _fail(str(exc), 2)
    typer.echo(yaml.safe_dump(loaded.model_dump(), sort_keys=False))
    typer.echo("# valid keys: " + ", ".join(valid_keys()))


data_app = typer.Typer(no_args_is_help=True, help="The real datasets: biased subsets and a layout check.")
faceworld_app = typer.Typer(no_args_is_help=True, help="FaceWorld: the procedural face world.")
app.add_typer(data_app, name="data")
app.add_typer(faceworld_app, name="faceworld")

DATASETS = ("celeba", "utkface", "lfwa")


@data_app.command("subset")
def data_subset(dataset: Annotated[str, typer.Option(help="celeba, utkface or lfwa")],
                root: Annotated[Path, typer.Option(help="the dataset's root folder")],
                target: Annotated[str, typer.Option(help="target attribute, e.g. Smiling")],
                protected: Annotated[str, typer.Option(help="protected attribute, e.g. Male")],
                size: Annotated[int, typer.Option(min=1, help="number of images, e.g. 20000")],
                out: Annotated[Path, typer.Option(help="CSV file to write")],
                rule: Annotated[str, typer.Option(help="first (the reference code's deterministic rule) or random")] = "first",
                seed: Annotated[int, typer.Option(help="seed of the random rule")] = 0,
                minority_share: Annotated[float, typer.Option(min=0.0, max=0.5, help="protected minority within each "
                                                              "class (0.1 = 90/10)")] = 0.1,
                verify: Annotated[bool, typer.Option("--verify", help="decode every chosen image first (slow): a "
                                                     "truncated or corrupt file is named before anything is written")] = False):
    """Write the biased training subset (each class 50/50, protected 90/10 inside it) and print its group counts."""
    from fairlab.atomic import write_atomic
    from fairlab.data import DataError
    from fairlab.data.images import verify_images
    from fairlab.data.sources import load_dataset
    from fairlab.data.subsets import biased_subset, group_counts

    if dataset not in DATASETS:
        _fail(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}", 2)
    if out.is_dir():
        _fail(f"{out}: --out is a folder; expected the path of the CSV file to write", 2)
    try:
        frame = load_dataset(dataset, root)
        pool = frame[frame["partition"] == "train"] if "partition" in frame.columns else frame
        chosen = biased_subset(pool, target, protected, size, minority_share=minority_share, rule=rule, seed=seed)
        if verify:
            verify_images(chosen["path"].tolist())
    except (DataError, ValueError) as exc:
        _fail(str(exc), 2)
    table = chosen.reset_index()[["image_id", "path", "target", "protected", "group"]]
    try:
        write_atomic(out, lambda tmp: table.to_csv(tmp, index=False))
    except OSError as exc:
        _fail(f"{out}: could not write the subset ({exc.strerror or exc}); nothing was written")
    counts = group_counts(chosen)
    _announce(f"wrote {len(chosen)} images to {out}")
    for group, count in counts.items():
        typer.echo(f"  ({group[0]},{group[2]})  {target}={group[0]} {protected}={group[2]}: {count}")


@data_app.command("check")
def data_check(data_root: Annotated[Optional[Path], typer.Option("--data-root", help="folder holding celeba/, utkface/, "
                                                                   "lfwa/ (default: the profile's data_root)")] = None,
               profile: Annotated[str, typer.Option("--profile", help="the profile to check for (default: paper)")] = "paper",
               param: OverrideOption = None):
    """The pre-flight check of PROFILE: data root, datasets, weight files, diffusion pipeline, prompt backend, device.

    Exits 1 when something the profile needs is missing (the expected layout is printed).
    """
    from fairlab.preflight import check

    try:
        loaded = load_profile(profile, _overrides(profile, param))
    except ProfileError as exc:
        _fail(str(exc), 2)
    checks = check(loaded, data_root)
    for item in checks:
        typer.echo(item.line())
    failed = [c.name for c in checks if not c.ok]
    if failed:
        _fail(f"profile {loaded.name!r} cannot run here yet: {', '.join(failed)}")
    _say("ready:", "green", f"everything profile {loaded.name!r} needs is here")


@faceworld_app.command("make")
def faceworld_make(format: Annotated[str, typer.Option("--format", help="celeba, utkface or lfwa")],
                   domain: Annotated[str, typer.Option(help="photo (plays the real data) or studio (the synthetic look)")],
                   n: Annotated[int, typer.Option(min=1, help="number of images")],
                   out: Annotated[Path, typer.Option(help="folder to write the dataset to (new or empty)")],
                   seed: Annotated[int, typer.Option(help="seed of the scenes")] = 0,
                   size: Annotated[int, typer.Option(min=8, help="image width in pixels (at least 8)")] = 32,
                   overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a dataset already in --out")] = False):
    """Render a FaceWorld dataset in a real dataset's format (readable by that dataset's loader)."""
    import time

    from fairlab.faceworld.formats import FORMATS, make_folder
    from fairlab.faceworld.render import DOMAINS

    if format not in FORMATS:
        _fail(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}", 2)
    if domain not in DOMAINS:
        _fail(f"unknown domain {domain!r}; expected one of {', '.join(DOMAINS)}", 2)
    started = time.time()
    try:
        make_folder(format, domain, n, seed, out, size=size, overwrite=overwrite)
    except (FileExistsError, ValueError) as exc:
        _fail(str(exc), 2)
    except OSError as exc:
        _fail(f"{out}: could not write the dataset ({exc.strerror or exc}); nothing was left behind")
    _say("wrote", "green", f"{n} FaceWorld images ({format}, {domain}, {size} px) to {out} in {time.time() - started:.1f} s")


if __name__ == "__main__":
    app()
