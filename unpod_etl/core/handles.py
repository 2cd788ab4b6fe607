"""The shape of an agent handle a user may name (`--agent`), checked before any request.

Unpod handles are slugs (`calm-assistant-1`): they go into a URL path
(`/agents/{handle}/tasks/`) and into `agents.handle`, a VARCHAR(255). A handle with
whitespace, a slash or `..` is a typo or a path trick, never a real agent; sending it would
only earn a 404 (or another route) and, before this check, a permanent row in `agents`.
"""

from __future__ import annotations

import re

from unpod_etl.core.errors import ConfigError

HANDLE_MAX = 255  # agents.handle and every agent_handle column are VARCHAR(255)
HANDLE_RULE = (
    "ASCII letters, digits, '-', '_' and '.', starting with a letter or digit, "
    f"no '..', at most {HANDLE_MAX} characters"
)
# fullmatch: `$` would let a trailing newline through.
_HANDLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def handle_problem(handle: str) -> str | None:
    """Why `handle` is not a valid agent handle, or None when it is."""
    if not handle:
        return "is empty"
    if len(handle) > HANDLE_MAX:
        return f"is {len(handle)} characters long (at most {HANDLE_MAX})"
    if not _HANDLE.fullmatch(handle) or ".." in handle:
        return f"is not a handle ({HANDLE_RULE})"
    return None


def check_handle(handle: str) -> str:
    """The handle itself, or ConfigError naming it (on one line, shortened)."""
    problem = handle_problem(handle)
    if problem is not None:
        raise ConfigError(f"agent handle {_shown(handle)} {problem}")
    return handle


def _shown(handle: str) -> str:
    # repr() keeps a newline in the handle from splitting the error into two lines.
    return repr(handle if len(handle) <= 60 else handle[:57] + "...")
