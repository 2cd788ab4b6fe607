"""Operations commands: `schedule` (a long-running nightly sync) and `report` (HTML).

Standalone click commands; cli.py registers them on the main group with add_command.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click

from unpod_etl.cli import interrupts, render
from unpod_etl.cli.options import (
    api_options,
    database_option,
    db_timeout_options,
    handle_errors,
    monitor_options,
    pii_options,
    schema_option,
    sync_options,
)
from unpod_etl.cli.paths import writable_file, write_text
from unpod_etl.cli.progress import page_progress
from unpod_etl.cli.walk_options import walk_options
from unpod_etl.core.errors import ConfigError, EtlError
from unpod_etl.core.outcomes import RunOutcome, interrupted_exit_code
from unpod_etl.pipeline.interrupts import StopToken
from unpod_etl.pipeline.monitor import RunMonitor
from unpod_etl.pipeline.schedule import parse_cron, run_schedule
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.report import build_report
from unpod_etl.source.client import UnpodClient
from unpod_etl.warehouse import db
from unpod_etl.warehouse.namespace import engine_in_schema
from unpod_etl.warehouse.open_existing import open_existing

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = "0 2 * * *"


@contextmanager
def stop_on_signals(stop: threading.Event, token: StopToken | None = None) -> Iterator[None]:
    """SIGTERM/SIGINT: the first lets the current run finish then stops; a second one
    interrupts the run through `token` (recorded as interrupted, like `sync` on a signal).
    Handlers are restored on exit."""
    token = token or StopToken()
    interrupt = interrupts.stopping_handler(token)

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            interrupt(signum, frame)
            return
        log.warning(
            "%s received: stopping after the current run (send it again to interrupt)",
            signal.Signals(signum).name,
        )
        stop.set()

    with interrupts.handling(handler):
        yield


@click.command(name="schedule")
@click.option(
    "--cron",
    envvar="UNPOD_ETL_SCHEDULE",
    default=DEFAULT_SCHEDULE,
    show_default=True,
    help="When to sync, a five-field cron expression in UTC [UNPOD_ETL_SCHEDULE].",
)
@click.option("--run-now", is_flag=True, help="Also sync once at start, then on the schedule.")
@api_options
@database_option
@schema_option
@db_timeout_options
@sync_options
@walk_options
@monitor_options
@pii_options
@handle_errors
def schedule_command(
    cron: str,
    run_now: bool,
    api_url: str,
    token: str,
    org: str,
    database_url: str,
    metrics_file: Path | None,
    pushgateway: str | None,
    notify_url: str | None,
    **options: Any,
) -> None:
    """Stay running and sync on a cron schedule (one run at a time; missed slots skipped)."""
    expr = parse_cron(cron)
    RunMonitor(metrics_file, pushgateway, notify_url)  # a bad metrics path: exit 2 at start
    # Fail at start, not at 02:00: a bad handle/org/token/URL/database URL is exit 2.
    config = SyncConfig(api_url, token, org, database_url, **options)
    UnpodClient(api_url, token, org)
    engine_in_schema(database_url, options["schema"]).dispose()
    if not org and not options.get("agents"):
        raise ConfigError("set UNPOD_ORG_HANDLE (--org) or name agents with --agent")
    stop, interrupt = threading.Event(), StopToken()

    def job() -> int:
        try:
            runner = SyncRunner(config)
            runner.stop = interrupt  # set by a second signal only
            monitor = RunMonitor(metrics_file, pushgateway, notify_url)
            try:
                with monitor.watching(runner):  # each run reports itself, as `sync` does
                    with page_progress(sys.stderr.isatty()) as on_page:
                        runner.on_page = on_page
                        result = runner.run()
                    monitor.result = result
            finally:
                runner.engine.dispose()  # no idle connections held between nightly runs
        except EtlError as exc:  # e.g. the database is down tonight: try again next slot
            log.error("sync failed: %s", exc)
            return 2 if isinstance(exc, ConfigError) else 3
        click.echo(render.run_summary(result))
        if result.outcome is RunOutcome.ABORTED:
            log.error("sync aborted: %s", result.error)
        return result.exit_code

    with stop_on_signals(stop, interrupt):
        run_schedule(expr, job, stop=stop, run_now=run_now)
    if interrupt.is_set():  # a second signal interrupted a run: say so as `sync` would
        interrupts.exit_with(interrupted_exit_code(interrupt.signum))


@click.command(name="report")
@database_option
@schema_option
@db_timeout_options
@click.option(
    "--out",
    # A plain str: click.Path turns '' into '.', and its checks' error is four lines long.
    default="report.html",
    show_default=True,
    help="Where to write the HTML page.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1, max=3660),
    default=30,
    show_default=True,
    help="How many UTC days, today included.",
)
@handle_errors
def report_command(database_url: str, schema: str, out: str, days: int) -> None:
    """Write a self-contained HTML report: calls per day and agent, outcomes, durations,
    recent sync runs."""
    target: Path = writable_file(out)  # before the warehouse is read: a bad path is exit 2 at once
    engine = open_existing(database_url, schema)  # read-only: never creates a SQLite file
    current, head = db.current_revision(engine), db.head_revision()
    if current != head:
        raise ConfigError(
            f"the database schema is at {current or 'nothing'}, not {head}: "
            "run `unpod-etl db upgrade` (or a sync) first"
        )
    with engine.connect() as conn:
        html = build_report(conn, days)
    engine.dispose()
    write_text(target, html)
    click.echo(f"report for the last {days} day(s) written to {target}")
