"""Files a command writes (`report --out`, and any later output file): checked at start.

A path that cannot be written is a usage error (exit 2, one line), found before the command
reads the warehouse or asks the API, not a traceback after the work is done. click's own
`click.Path(writable=True)` check cannot do this: its usage error is four lines long, and it
lets an empty path and a file under a missing directory through.
"""

from __future__ import annotations

import os
from pathlib import Path

from unpod_etl.core.errors import ConfigError


def writable_file(path: str | os.PathLike[str]) -> Path:
    """The path, when a file could be written there (created or replaced); else ConfigError."""
    text = os.fspath(path)
    if not text.strip():
        raise ConfigError("the output path is empty")
    shown = repr(text)  # repr(): a newline in the path stays on the one error line
    if "\x00" in text:  # pathlib takes it for a missing file; open() would raise ValueError
        raise ConfigError(f"cannot write {shown}: not a valid file name")
    try:
        return _check(Path(text), shown)
    except OSError as exc:  # e.g. a name too long, a loop of symbolic links
        raise ConfigError(f"cannot write {shown}: {exc.strerror or exc}") from None


def _check(target: Path, shown: str) -> Path:
    if target.is_dir():
        raise ConfigError(f"{shown} is a directory, not a file")
    if target.exists():
        if not os.access(target, os.W_OK):
            raise ConfigError(f"cannot write {shown}: permission denied")
        return target
    parent = target.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot write {shown}: the directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {shown}: permission denied in {str(parent)!r}")
    return target


def write_text(path: Path, text: str) -> None:
    """Write the file; what the start-up check could not foresee (a full disk, a read-only
    mount, a name too long) is still one line and exit 2, never a traceback."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
