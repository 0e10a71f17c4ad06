"""What every notebook does first: load its profile, set the plotting style, show the banner.

From then on every table the page shows (a DataFrame or a Styler, as a cell's value or through
``display``) is also written as CSV to ``_build/<profile>/tables/<notebook>/<NN>-<caption>.csv``
and shown under its anchor with a download link; the paper's tables go through
:func:`fairlab.reports.publish` instead, to ``tables/<paper>/``.
"""

from __future__ import annotations

import os

from fairlab import device as devices
from fairlab import environment, figures
from fairlab.profiles import load_profile
from fairlab.results import NOTEBOOK_ENV
from fairlab.study import Study

SMOKE_BANNER = """```{warning}
**Smoke build.** This page was executed with the `smoke` profile, which only proves that every
cell runs. Its numbers are **not results** and must not be compared with the papers. Run
`make book` (the `mini` profile) or the `paper` profile for real numbers.
```"""


def start(profile: str, overrides: dict | None = None) -> Study:
    """Load and validate the profile (with ``overrides``), style the figures, show the banner; the page's study
    (the profile and the registry of its records) is what its cells pass to the page module."""
    import warnings

    from IPython.display import Markdown, display
    from tqdm import TqdmWarning

    # diffusers and transformers import tqdm.auto, which warns that Jupyter widgets are missing;
    # the book shows text progress bars on purpose (widgets would not survive the static HTML)
    warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)
    loaded = load_profile(profile, overrides or {})
    figures.style()
    figures.begin_page(loaded.name, os.environ.get(NOTEBOOK_ENV))
    _write_shown_tables(loaded.name, os.environ.get(NOTEBOOK_ENV) or "notebook")
    if not loaded.reportable:
        display(Markdown(SMOKE_BANNER))
    device = devices.runtime(loaded).describe()  # the profile's device (a missing GPU fails here, clearly)
    display(Markdown(f"*Profile* `{loaded.name}` · *device* {device} · *fairlab code* `{environment.code_version()}`"))
    return Study.of(loaded)


def say(markdown: str) -> None:
    """Show a sentence computed from results (a :class:`fairlab.reports.Sentence`)."""
    from IPython.display import display

    from fairlab.reports import Sentence

    display(Sentence(markdown))


def _write_shown_tables(profile: str, notebook: str) -> None:
    """Register HTML formatters that write every DataFrame and Styler the page shows as a CSV file, linked."""
    import pandas as pd
    from IPython import get_ipython
    from pandas.io.formats.style import Styler

    shell = get_ipython()
    if shell is None:
        return
    count = {"n": 0}

    def linked(frame: pd.DataFrame, caption: str | None, html: str) -> str:
        from fairlab.reports import artifacts_dir, link_html, slug, write_csv_atomic

        count["n"] += 1
        name = f"{count['n']:02d}-{slug(caption or '', 60) or 'table'}"
        relative = f"tables/{notebook}/{name}.csv"
        has_index = not isinstance(frame.index, pd.RangeIndex)
        write_csv_atomic(artifacts_dir(profile, "tables").parent / relative, frame.reset_index() if has_index else frame)
        return link_html(f"table-{name}", {"CSV": relative}) + html

    formatter = shell.display_formatter.formatters["text/html"]
    formatter.for_type(pd.DataFrame, lambda frame: linked(frame, None, frame._repr_html_()))
    formatter.for_type(Styler, lambda styler: linked(styler.data, styler.caption, styler.to_html()))
