"""A study: one profile and the results registry its records live in.

Every experiment function of a paper's package and every page function takes a :class:`Study`
as its first argument, instead of a ``(profile, registry)`` pair: what is computed is the
profile's, where it is stored is the registry's, and the two always travel together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fairlab.profiles import Profile
from fairlab.results import Registry


@dataclass(frozen=True)
class Study:
    """A validated profile and the registry of its records (``results/<profile>/``)."""

    profile: Profile
    registry: Registry

    @classmethod
    def of(cls, profile: Profile, root: Path | None = None) -> "Study":
        """The study of ``profile`` with its records under ``root`` (default: the project's ``results/``)."""
        return cls(profile, Registry(profile.name, root))


class InStudy:
    """For a task object with a ``study`` field: its profile and registry as attributes of its own."""

    study: Study

    @property
    def profile(self) -> Profile:
        return self.study.profile

    @property
    def registry(self) -> Registry:
        return self.study.registry


__all__ = ["Study", "InStudy"]
