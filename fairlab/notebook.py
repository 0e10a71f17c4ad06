"""What every notebook does first: load its profile, set the plotting style, show the banner."""

from __future__ import annotations

from fairlab import environment, figures
from fairlab.profiles import Profile, load_profile

SMOKE_BANNER = """```{warning}
**Smoke build.** This page was executed with the `smoke` profile, which only proves that every
cell runs. Its numbers are **not results** and must not be compared with the papers. Run
`make book` (the `mini` profile) or the `paper` profile for real numbers.
```"""


def start(profile: str, overrides: dict | None = None) -> Profile:
    """Load and validate the profile (with ``overrides``), style the figures, show the banner."""
    from IPython.display import Markdown, display

    loaded = load_profile(profile, overrides or {})
    figures.style()
    if not loaded.reportable:
        display(Markdown(SMOKE_BANNER))
    device = environment.describe_device()
    display(Markdown(f"*Profile* `{loaded.name}` · *device* {device} · *fairlab code* `{environment.code_version()}`"))
    return loaded


def say(markdown: str) -> None:
    """Show a sentence computed from results (so the text can never disagree with the numbers)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))
