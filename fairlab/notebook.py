"""What every notebook does first: load its profile, set the plotting style, show the banner."""

from __future__ import annotations

import os

from fairlab import device as devices
from fairlab import environment, figures
from fairlab.profiles import Profile, load_profile
from fairlab.results import NOTEBOOK_ENV

SMOKE_BANNER = """```{warning}
**Smoke build.** This page was executed with the `smoke` profile, which only proves that every
cell runs. Its numbers are **not results** and must not be compared with the papers. Run
`make book` (the `mini` profile) or the `paper` profile for real numbers.
```"""


def start(profile: str, overrides: dict | None = None) -> Profile:
    """Load and validate the profile (with ``overrides``), style the figures, show the banner."""
    import warnings

    from IPython.display import Markdown, display
    from tqdm import TqdmWarning

    # diffusers and transformers import tqdm.auto, which warns that Jupyter widgets are missing;
    # the book shows text progress bars on purpose (widgets would not survive the static HTML)
    warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)
    loaded = load_profile(profile, overrides or {})
    figures.style()
    figures.begin_page(loaded.name, os.environ.get(NOTEBOOK_ENV))
    if not loaded.reportable:
        display(Markdown(SMOKE_BANNER))
    device = devices.runtime(loaded).describe()  # the profile's device (a missing GPU fails here, clearly)
    display(Markdown(f"*Profile* `{loaded.name}` · *device* {device} · *fairlab code* `{environment.code_version()}`"))
    return loaded


def say(markdown: str) -> None:
    """Show a sentence computed from results (so the text can never disagree with the numbers)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))
