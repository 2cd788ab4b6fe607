"""Logging set-up and per-page progress for long syncs.

A person at a terminal gets tqdm bars; cron, Docker and Kubernetes get one plain log line
per page (bars written to a log file are unreadable carriage-return soup).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

# Type names only: `--log-format` needs this module at start-up, and `unpod-etl --help`
# should not pay for tqdm, requests and the pipeline (they load when a sync shows progress).
if TYPE_CHECKING:
    from tqdm import tqdm

    from unpod_etl.pipeline.results import AgentResult
    from unpod_etl.source.client import TaskPage

log = logging.getLogger(__name__)

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER_NAME = "unpod-etl-stderr"

PageHook = Callable[["AgentResult", "TaskPage"], None]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, message [, exc]."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at emit time (test runners swap it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """Ignored: the stream is always the current sys.stderr."""


def configure_logging(fmt: str = "text", verbose: bool = False) -> None:
    """Route every log record to stderr as text or JSON lines; idempotent."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, got {fmt!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    handler = StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Alembic narrates every migration check at INFO; only its warnings matter here.
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


@contextmanager
def page_progress(enabled_tty: bool) -> Iterator[PageHook]:
    """Yield an on_page hook for SyncRunner: tqdm bars if enabled_tty, else INFO lines.

    Pass `sys.stderr.isatty()` (or False to force log lines).
    """
    if not enabled_tty:
        yield _log_page
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    bars = _Bars(sys.stderr)
    try:
        with logging_redirect_tqdm():  # log lines print above the bars, not through them
            yield bars.on_page
    finally:
        bars.close()


def _log_page(res: AgentResult, page: TaskPage) -> None:
    log.info(
        "agent %s: page %d done, %d of %d tasks seen "
        "(inserted %d, updated %d, unchanged %d, failed %d)",
        res.handle,
        page.number,
        res.seen,
        page.count,
        res.inserted,
        res.updated,
        res.unchanged,
        res.failed,
    )


class _Bars:
    """Agents (done/started), pages fetched, tasks (seen/announced) over every agent.

    Pages of several agents interleave when the sync runs workers in parallel, so the
    bars sum over agents instead of following "the current one".
    """

    def __init__(self, out: TextIO) -> None:
        from tqdm import tqdm

        common: dict[str, Any] = {"file": out, "dynamic_ncols": True, "leave": True}
        self.agents = tqdm(desc="agents done", unit=" agent", total=0, position=0, **common)
        self.pages = tqdm(desc="pages", unit=" page", position=1, **common)
        self.tasks = tqdm(desc="tasks", unit=" task", total=0, position=2, **common)
        self.progress: dict[str, tuple[int, int]] = {}  # handle -> (seen, announced)

    def on_page(self, res: AgentResult, page: TaskPage) -> None:
        self.progress[res.handle] = (res.seen, max(page.count, res.seen))
        done = sum(seen >= count for seen, count in self.progress.values())
        self._set(self.agents, done, len(self.progress))
        self.agents.set_postfix_str(res.handle, refresh=False)
        self.pages.update(1)
        seen = sum(s for s, _ in self.progress.values())
        self._set(self.tasks, seen, sum(c for _, c in self.progress.values()))

    @staticmethod
    def _set(bar: tqdm, n: int, total: int) -> None:
        bar.total, bar.n = total, n
        bar.refresh()

    def close(self) -> None:
        for bar in (self.tasks, self.pages, self.agents):
            bar.close()
