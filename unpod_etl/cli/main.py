"""The `unpod-etl` command: parses options, calls the package, prints. Nothing else."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from unpod_etl.cli import demo, render
from unpod_etl.cli.check import check_command
from unpod_etl.cli.config_file import config_file_option
from unpod_etl.cli.ops import report_command, schedule_command
from unpod_etl.cli.options import (
    api_options,
    database_option,
    handle_errors,
    monitor_options,
    sync_options,
)
from unpod_etl.cli.progress import LOG_FORMATS, configure_logging, page_progress
from unpod_etl.cli.verify import verify_command
from unpod_etl.cli.webhook import webhook_command
from unpod_etl.core.outcomes import RunOutcome
from unpod_etl.pipeline.monitor import RunMonitor
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.source.client import UnpodClient
from unpod_etl.warehouse import db
from unpod_etl.warehouse.status import load_status


@click.group()
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
@sync_options
@monitor_options
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
    """Fetch every agent's tasks and write what changed."""
    monitor = RunMonitor(metrics_file, pushgateway, notify_url)  # bad paths: exit 2 now
    runner = SyncRunner(SyncConfig(api_url, token, org, database_url, **options))
    with monitor.watching(runner):  # metrics and notification once the run ends, however
        with page_progress(sys.stderr.isatty()) as on_page:
            runner.on_page = on_page
            result = runner.run()
        monitor.result = result
    click.echo(render.run_summary(result))
    if result.outcome is RunOutcome.ABORTED:
        click.echo(f"aborted: {result.error}", err=True)
    sys.exit(result.exit_code)


@main.group(name="db")
def db_group() -> None:
    """Schema migrations."""


@db_group.command()
@database_option
@handle_errors
def upgrade(database_url: str) -> None:
    """Bring the schema up to date (alembic upgrade head)."""
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    click.echo(f"schema at revision {db.current_revision(engine)}")


@db_group.command()
@database_option
@handle_errors
def current(database_url: str) -> None:
    """Show the schema revision of the database."""
    engine = db.make_engine(database_url)
    rev = db.current_revision(engine)
    head = db.head_revision()
    click.echo(f"{rev or '(empty database)'} (head: {head})")


@main.command()
@api_options
@handle_errors
def agents(api_url: str, token: str, org: str) -> None:
    """List the agents the API returns."""
    listed = UnpodClient(api_url, token, org).list_agents()
    cols = ["handle", "name", "type", "state"]
    click.echo(render.table([{c: a.get(c) for c in cols} for a in listed], cols))


@main.command()
@database_option
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for machines.")
@handle_errors
def status(database_url: str, limit: int, as_json: bool) -> None:
    """Show the last sync runs and their per-agent results."""
    snapshot = load_status(db.make_engine(database_url), limit)
    if as_json:
        click.echo(json.dumps(snapshot.as_json(), indent=2))
    else:
        click.echo(render.status(snapshot.runs, snapshot.agents))


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
    from unpod_etl.fakeapi.server import serve

    newest = None if fixed_dates else datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    serve(port, n_agents, tasks_per_agent, seed, host=host, newest=newest)


@main.command(name="demo")
@database_option
@handle_errors
def demo_command(database_url: str) -> None:
    """Sync the built-in fake API into a local database and show a few queries."""
    outcome = demo.run_demo(database_url)
    click.echo(render.run_summary(outcome.result))
    for title, rows in outcome.examples:
        click.echo(f"\n{title}\n{render.table(rows)}")
    click.echo(f"\ndata is in {outcome.database}")


main.add_command(schedule_command, name="schedule")
main.add_command(report_command, name="report")
main.add_command(verify_command, name="verify")
main.add_command(check_command, name="check")
main.add_command(webhook_command, name="webhook")
