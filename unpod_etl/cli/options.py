"""Options and error handling shared by the `unpod-etl` commands."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from unpod_etl.cli.rate_option import max_requests_per_second_option
from unpod_etl.core.errors import AbortError, ConfigError, EtlError
from unpod_etl.source.auth_answers import AUTH_SCHEMES, DEFAULT_AUTH_SCHEME

DEFAULT_API_URL = "https://unpod.dev"
DEFAULT_DATABASE_URL = "sqlite:///unpod_etl.db"
F = TypeVar("F", bound=Callable[..., Any])

database_option = click.option(
    "--database-url",
    envvar="UNPOD_ETL_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="SQLAlchemy URL of the warehouse [UNPOD_ETL_DATABASE_URL].",
)


def api_options(fn: F) -> F:
    fn = click.option(
        "--auth-scheme",
        type=click.Choice(AUTH_SCHEMES, case_sensitive=False),
        envvar="UNPOD_API_AUTH_SCHEME",
        default=DEFAULT_AUTH_SCHEME,
        show_default=True,
        help="Sent as Authorization: <scheme> <token>, for accounts that use another of the "
        "schemes the server accepts [UNPOD_API_AUTH_SCHEME].",
    )(fn)
    fn = click.option(
        "--org",
        envvar="UNPOD_ORG_HANDLE",
        default="",
        help="Organization handle, sent as Org-Handle [UNPOD_ORG_HANDLE].",
    )(fn)
    fn = click.option(
        "--token",
        envvar="UNPOD_API_TOKEN",
        default="",
        show_default=False,
        help="API token [UNPOD_API_TOKEN].",
    )(fn)
    fn = click.option(
        "--api-url",
        envvar="UNPOD_API_URL",
        default=DEFAULT_API_URL,
        show_default=True,
        help="Unpod API base URL [UNPOD_API_URL].",
    )(fn)
    return fn


_FILE_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.ENOENT,
    errno.ENAMETOOLONG,
}


def handle_errors(fn: F) -> F:
    """Known failures become one line on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except AbortError as exc:
            click.echo(f"aborted: {exc}", err=True)
            sys.exit(3)
        except EtlError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except BrokenPipeError:  # `unpod-etl status | head`: the reader left, nothing to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
            sys.exit(1)
        except OSError as exc:
            # A file the command was told to use (an output path) cannot be: the user's to fix.
            # Anything else (no file named, another errno) is a bug and keeps its traceback.
            if exc.filename is None or exc.errno not in _FILE_ERRNOS:
                raise
            click.echo(f"error: cannot use {str(exc.filename)!r}: {exc.strerror}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


# Agents are fetched concurrently; a small machine gains little past a few at once.
DEFAULT_WORKERS = 4


class ShardParam(click.ParamType):
    """K/N, as in `--shard 2/8`."""

    name = "K/N"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        try:
            k, n = (int(part) for part in str(value).split("/"))
        except ValueError:
            self.fail(f"{value!r} is not K/N (e.g. 0/4)", param, ctx)
        if n < 1 or not 0 <= k < n:
            self.fail(f"{value!r}: need 0 <= K < N", param, ctx)
        return k, n


def sync_options(fn: F) -> F:
    """What one sync run walks; the keyword names match SyncConfig's fields."""
    fn = max_requests_per_second_option(fn)  # cli/rate_option.py
    fn = click.option(
        "--shard",
        type=ShardParam(),
        default="0/1",
        show_default=True,
        help="K/N: own only the agents whose handle hashes to shard K of N (0 <= K < N).",
    )(fn)
    fn = click.option(
        "--workers",
        type=click.IntRange(1, 64),
        default=DEFAULT_WORKERS,
        show_default=True,
        help="Agents fetched at once.",
    )(fn)
    fn = click.option(
        "--max-delete-fraction",
        type=click.FloatRange(0.0, 1.0),
        default=0.2,
        show_default=True,
        help="Per agent and run, delete nothing when more than this fraction of its stored "
        "tasks would be marked deleted.",
    )(fn)
    fn = click.option("--page-size", type=click.IntRange(min=1), default=100, show_default=True)(fn)
    fn = click.option(
        "--agent",
        "agents",
        multiple=True,
        metavar="HANDLE",
        help="Sync this agent (repeatable). Default: every agent GET /agents/ lists.",
    )(fn)
    return fn


class SecondsParam(click.ParamType):
    """A duration: `10`, `2s`, `500ms`, `1m`."""

    name = "DURATION"
    _UNITS = (("ms", 0.001), ("s", 1.0), ("m", 60.0))

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, int | float):
            return float(value)
        raw = str(value).strip().lower()
        factor = 1.0
        for suffix, unit in self._UNITS:
            if raw.endswith(suffix):
                raw, factor = raw[: -len(suffix)], unit
                break
        try:
            seconds = float(raw) * factor
        except ValueError:
            self.fail(f"{value!r} is not a duration (e.g. 10s, 500ms, 1m)", param, ctx)
        if not 0 < seconds <= 86_400:
            self.fail(f"{value!r}: must be more than 0 and at most a day", param, ctx)
        return seconds


def _set_db_default(name: str) -> Callable[[Any, Any, float], None]:
    def callback(_ctx: Any, _param: Any, value: float) -> None:
        from unpod_etl.warehouse.db import set_connection_defaults

        set_connection_defaults(**{name: value})

    return callback


def db_timeout_options(fn: F) -> F:
    """Bounds on waiting for the database, for every command that opens it. They set the
    process's connection defaults (warehouse.db), so commands need no new parameters."""
    fn = click.option(
        "--lock-timeout",
        type=SecondsParam(),
        default="60s",
        show_default=True,
        expose_value=False,
        callback=_set_db_default("lock_timeout"),
        help="Longest wait for a table another session locked (PostgreSQL lock_timeout; "
        "SQLite busy timeout); then that agent fails (the run, for the run's own tables).",
    )(fn)
    fn = click.option(
        "--connect-timeout",
        type=SecondsParam(),
        default="10s",
        show_default=True,
        expose_value=False,
        callback=_set_db_default("connect_timeout"),
        help="Longest wait to connect to the database (at least 2s on PostgreSQL); then exit 3.",
    )(fn)
    return fn


def monitor_options(fn: F) -> F:
    """Where a run reports itself (pipeline/monitor.py); keyword names match RunMonitor's."""
    fn = click.option(
        "--notify-url",
        envvar="UNPOD_ETL_NOTIFY_URL",
        metavar="URL",
        help="Slack/Teams incoming webhook: told of partial or aborted runs and of the "
        "recovery after one [UNPOD_ETL_NOTIFY_URL].",
    )(fn)
    fn = click.option(
        "--pushgateway",
        envvar="UNPOD_ETL_PUSHGATEWAY",
        metavar="URL",
        help="Push the run's metrics to this Prometheus Pushgateway, job unpod_etl "
        "[UNPOD_ETL_PUSHGATEWAY].",
    )(fn)
    fn = click.option(
        "--metrics-file",
        type=click.Path(path_type=Path),  # checked by RunMonitor: one line, exit 2
        envvar="UNPOD_ETL_METRICS_FILE",
        metavar="PATH",
        help="Write the run's metrics here (node_exporter textfile, replaced atomically) "
        "[UNPOD_ETL_METRICS_FILE].",
    )(fn)
    return fn


# PostgreSQL only: where the tables, alembic_version and the views live (warehouse/namespace.py).
schema_option = click.option(
    "--schema",
    envvar="UNPOD_ETL_SCHEMA",
    default="public",
    show_default=True,
    help="PostgreSQL schema of the warehouse, created if missing [UNPOD_ETL_SCHEMA].",
)


def pii_options(fn: F) -> F:
    """--pii and friends (normalize/pii.py); keyword names match SyncConfig's fields."""
    fn = click.option(
        "--rewrite-pii",
        is_flag=True,
        help="When --pii differs from the mode the warehouse was written in, re-process "
        "every stored row from its stored document first (no API calls). keep->hash, "
        "keep->redact and hash->redact only.",
    )(fn)
    fn = click.option(
        "--pii-region",
        envvar="UNPOD_ETL_PII_REGION",
        default="US",
        show_default=True,
        metavar="CC",
        help="Region (ISO 3166 code) a phone number without a leading + is read in "
        "[UNPOD_ETL_PII_REGION].",
    )(fn)
    fn = click.option(
        "--pii",
        type=click.Choice(["keep", "hash", "redact"], case_sensitive=False),
        envvar="UNPOD_ETL_PII",
        default="keep",
        show_default=True,
        help="Contact numbers, e-mail addresses and names: keep as received; hash (keyed "
        "HMAC-SHA-256 with the key in UNPOD_ETL_PII_KEY, joins still work); redact (fixed "
        "placeholders) [UNPOD_ETL_PII].",
    )(fn)
    return fn
