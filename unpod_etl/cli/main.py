"""The `unpod-etl` command: parses options, calls the package, prints. Nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from unpod_etl.cli.config_file import config_file_option
from unpod_etl.cli.lazy import LazyGroup
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
from unpod_etl.cli.progress import LOG_FORMATS, configure_logging
from unpod_etl.cli.walk_options import walk_options

# Start-up stays light: each command imports the pipeline, the HTTP client, SQLAlchemy or the
# fake API in its own body, so `--help` (and `status`) load only what they use.
LAZY_COMMANDS = {
    "schedule": (
        "unpod_etl.cli.ops:schedule_command",
        "Stay running and sync on a cron schedule (one run at a time; missed slots skipped).",
    ),
    "report": (
        "unpod_etl.cli.ops:report_command",
        "Write a self-contained HTML report: calls per day and agent, outcomes, durations, "
        "recent sync runs.",
    ),
    "verify": (
        "unpod_etl.cli.verify:verify_command",
        "Walk the API read only and compare it with the warehouse, per agent.",
    ),
    "db": (
        "unpod_etl.cli.db_commands:db_group",
        "Schema migrations: upgrade, current, history, downgrade.",
    ),
    "forget": (
        "unpod_etl.cli.forget:forget_command",
        "Delete every task, call and transcript line of one contact and record the erasure "
        "(its hash only), so later syncs skip that person's tasks.",
    ),
    "check": (
        "unpod_etl.cli.check:check_command",
        "Exit 0 when the warehouse is healthy, 1 with one line per finding when not: no "
        "successful run within --max-age, agents not synced ok within it, agents not walked "
        "to the end within --max-full-walk-age, runs that died since the last success, "
        "unresolved rejected records above --max-rejected.",
    ),
    "webhook": (
        "unpod_etl.cli.webhook:webhook_command",
        "Serve POST /unpod/tasks for Unpod's task webhook until interrupted.",
    ),
}


@click.group(cls=LazyGroup, lazy=LAZY_COMMANDS)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    envvar="UNPOD_ETL_LOG_FORMAT",
    show_default=True,
    help="json: one object per line, for log shippers [UNPOD_ETL_LOG_FORMAT].",
)
@click.version_option(package_name="unpod-etl")
@config_file_option
def main(verbose: bool, log_format: str) -> None:
    """Keep a SQL warehouse in step with the Unpod voice-agent platform."""
    configure_logging(log_format, verbose)


@main.command()
@api_options
@database_option
@schema_option
@db_timeout_options
@sync_options
@walk_options
@monitor_options
@pii_options
@handle_errors
def sync(
    api_url: str,
    token: str,
    org: str,
    database_url: str,
    metrics_file: Path | None,
    pushgateway: str | None,
    notify_url: str | None,
    **options: Any,
) -> None:
    """Fetch every agent's tasks and write what changed.

    SIGINT or SIGTERM stops it cleanly: the run is recorded as interrupted (exit 130/143)."""
    from unpod_etl.cli import interrupts, render
    from unpod_etl.cli.progress import page_progress
    from unpod_etl.core.outcomes import RunOutcome
    from unpod_etl.pipeline.interrupts import StopToken
    from unpod_etl.pipeline.monitor import RunMonitor
    from unpod_etl.pipeline.sync import SyncConfig, SyncRunner

    monitor = RunMonitor(metrics_file, pushgateway, notify_url)  # bad paths: exit 2 now
    runner = SyncRunner(SyncConfig(api_url, token, org, database_url, **options))
    runner.stop = StopToken()
    stopping = interrupts.stopping_handler(runner.stop)
    with interrupts.handling(stopping), monitor.watching(runner):  # metrics, however it ends
        with page_progress(sys.stderr.isatty()) as on_page:
            runner.on_page = on_page
            result = runner.run()
        monitor.result = result
    click.echo(render.run_summary(result))
    if result.outcome in (RunOutcome.ABORTED, RunOutcome.INTERRUPTED):
        click.echo(f"{result.outcome}: {result.error}", err=True)
    interrupts.exit_with(result.exit_code)


@main.command()
@api_options
@handle_errors
def agents(api_url: str, token: str, org: str, auth_scheme: str) -> None:
    """List the agents the API returns."""
    from unpod_etl.cli import render
    from unpod_etl.source.client import UnpodClient

    listed = UnpodClient(api_url, token, org, auth_scheme=auth_scheme).list_agents()
    cols = ["handle", "name", "type", "state"]
    click.echo(render.table([{c: a.get(c) for c in cols} for a in listed], cols))


@main.command()
@database_option
@schema_option
@db_timeout_options
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for machines.")
@handle_errors
def status(database_url: str, schema: str, limit: int, as_json: bool) -> None:
    """Show the last sync runs and their per-agent results (read-only)."""
    import json

    from unpod_etl.cli import render
    from unpod_etl.warehouse.open_existing import open_existing
    from unpod_etl.warehouse.status import load_status

    snapshot = load_status(open_existing(database_url, schema), limit)
    if as_json:
        click.echo(json.dumps(snapshot.as_json(), indent=2))
    else:
        click.echo(render.status(snapshot.runs, snapshot.agents, snapshot.walks))


@main.command(name="fake-api")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--agents", "n_agents", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--tasks-per-agent", type=click.IntRange(min=0), default=40, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (0.0.0.0 inside a container).",
)
@click.option(
    "--fixed-dates",
    is_flag=True,
    help="Date the data as in the tests (January 2026) instead of ending now.",
)
@handle_errors
def fake_api(
    port: int, n_agents: int, tasks_per_agent: int, seed: int, host: str, fixed_dates: bool
) -> None:
    """Serve the built-in fake Unpod API until interrupted."""
    import errno
    import socket

    from unpod_etl.core import clock
    from unpod_etl.core.errors import ConfigError
    from unpod_etl.fakeapi.server import serve

    newest = None if fixed_dates else clock.naive_utc_now().replace(microsecond=0)
    try:
        serve(port, n_agents, tasks_per_agent, seed, host=host, newest=newest)
    except OSError as exc:  # binding: port in use, address not ours, unknown host
        binding = {errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES}
        if not isinstance(exc, socket.gaierror) and exc.errno not in binding:
            raise
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@main.command(name="demo")
@click.option(
    "--database-url",
    default=None,
    metavar="URL",
    # No envvar on purpose: UNPOD_ETL_DATABASE_URL names the real warehouse.
    help="SQLAlchemy URL of a database for the demo alone (refused if it holds data from "
    "another API)  [default: sqlite:///unpod_etl_demo.db; UNPOD_ETL_DATABASE_URL is ignored]",
)
@db_timeout_options
@handle_errors
def demo_command(database_url: str | None) -> None:
    """Sync the built-in fake API into a database of its own and show a few queries."""
    from unpod_etl.cli import demo, render  # the fake API loads for this command only

    outcome = demo.run_demo(database_url)
    click.echo(render.run_summary(outcome.result))
    for title, rows in outcome.examples:
        click.echo(f"\n{title}\n{render.table(rows)}")
    click.echo(f"\ndata is in {outcome.database}")
    sys.exit(outcome.result.exit_code)  # the README's table, as for `sync`
