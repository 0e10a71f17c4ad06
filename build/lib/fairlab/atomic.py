"""Files written whole or not at all: a reader (or a later run) never sees half a file.

Every file fairlab writes for others to read (records, tables, figures, subset lists) goes through
:func:`write_atomic`: the content is written to a temporary file in the same folder, then renamed
over the target in one step. A failure (a full disk, an interrupt) leaves the previous file as it
was and no temporary behind.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Callable


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary path next to ``path``, then rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def owner_tag() -> str:
    """``<host>.<pid>``, put in the names of a process's temporaries so that a later run can tell a dead
    process's leftovers (a kernel killed by the out-of-memory killer cleans nothing up) from a live one's."""
    return f"{socket.gethostname()}.{os.getpid()}"


def owner_is_dead(tag: str) -> bool:
    """Whether the process of an :func:`owner_tag` is gone; another machine's tag (a shared folder) never is."""
    host, _, pid = tag.rpartition(".")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


__all__ = ["write_atomic", "write_text_atomic", "owner_tag", "owner_is_dead"]
