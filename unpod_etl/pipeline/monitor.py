"""What `sync` does around a run for the people not watching it: the metrics textfile, the
Pushgateway and the chat notification (metrics.py, notify.py).

Built before the run, so a metrics path that cannot be written is a usage error at start,
not a surprise at the end; `watching(runner)` wraps the run and reports it however it ends,
an AbortError raised before the run could start included.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.exc import SQLAlchemyError

from unpod_etl.core import clock
from unpod_etl.core.errors import AbortError, ConfigError
from unpod_etl.core.outcomes import RunOutcome
from unpod_etl.pipeline import metrics, notify
from unpod_etl.pipeline.results import RunResult
from unpod_etl.pipeline.sync import SyncRunner
from unpod_etl.warehouse import health

log = logging.getLogger(__name__)


def check_writable(path: Path) -> None:
    """The metrics file can be (re)placed: write_to_textfile writes a temporary file beside
    it and renames it over the path, so try exactly that kind of file (root passes access()
    checks on /proc and read-only mounts alike; only trying tells)."""
    where = path.parent
    if path.is_dir():
        raise ConfigError(f"metrics file {path} is a directory")
    if not where.is_dir():
        raise ConfigError(f"metrics file {path}: no directory {where}")
    try:
        with tempfile.NamedTemporaryFile(dir=where, prefix=f".{path.name}.", suffix=".check"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"metrics file {path}: cannot write in {where} ({reason})") from None


def check_http_url(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # Not echoed: a webhook URL's path is its secret, and this one may be all path.
        raise ConfigError(f"{what} must be an http(s):// URL")


@dataclass
class RunMonitor:
    metrics_file: Path | None = None
    pushgateway: str | None = None
    notify_url: str | None = None
    started: float = field(default_factory=time.monotonic)
    result: RunResult | None = None

    def __post_init__(self) -> None:
        if self.metrics_file is not None:
            check_writable(self.metrics_file)
        if self.pushgateway:
            check_http_url(self.pushgateway, "--pushgateway")
        if self.notify_url:
            check_http_url(self.notify_url, "--notify-url")

    @property
    def active(self) -> bool:
        return bool(self.metrics_file or self.pushgateway or self.notify_url)

    @contextmanager
    def watching(self, runner: SyncRunner) -> Iterator[RunMonitor]:
        """Set `.result` inside the block; a run that aborts before it starts is reported too."""
        self.started = time.monotonic()
        try:
            yield self
        except AbortError as exc:
            self.report(runner, RunResult(None, RunOutcome.ABORTED, error=str(exc)))
            raise
        if self.result is not None:
            self.report(runner, self.result)

    def report(self, runner: SyncRunner, result: RunResult) -> None:
        if not self.active:
            return
        duration = time.monotonic() - self.started
        if self.metrics_file is not None or self.pushgateway:
            stats = runner.client.stats
            facts = metrics.read_warehouse(runner.engine)
            registry = metrics.build_registry(result, duration, clock.now(), stats, facts)
            if self.metrics_file is not None:
                metrics.write_textfile(str(self.metrics_file), registry)
            if self.pushgateway:
                metrics.push(self.pushgateway, registry, runner.config.shard)
        if self.notify_url:
            text = notify.message(result, self._previous(runner, result), (runner.config.token,))
            if text is not None:
                notify.send(self.notify_url, text)

    def _previous(self, runner: SyncRunner, result: RunResult) -> str | None:
        if result.outcome is not RunOutcome.OK or result.run_id is None:
            return None  # only an ok run asks: is it a recovery?
        try:
            with runner.engine.connect() as conn:
                return health.previous_outcome(conn, result.run_id)
        except SQLAlchemyError as exc:
            log.warning("notify: cannot read the previous run (%s)", type(exc).__name__)
            return None
