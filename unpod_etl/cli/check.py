"""`unpod-etl check`: is the warehouse fresh? For a monitoring system's script check or a
Kubernetes CronJob: exit 0 healthy, 1 not (one line per finding), 2 bad usage, 3 database
unreachable. Read-only: never creates or migrates anything."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import click

from unpod_etl.cli.durations import DurationParam
from unpod_etl.cli.options import (
    api_options,
    database_option,
    db_timeout_options,
    handle_errors,
    schema_option,
)
from unpod_etl.core import clock
from unpod_etl.core.health import findings
from unpod_etl.pipeline.verify import VerifyConfig, run_verify
from unpod_etl.warehouse.health import health_facts, open_for_reading

DEFAULT_MAX_AGE = "26h"  # a nightly run plus two hours of slack
# sync's --full-walk-every (20h) and a missed night: a full walk should come every day.
DEFAULT_MAX_FULL_WALK_AGE = "50h"


@click.command(name="check")
@database_option
@schema_option
@api_options
@click.option(
    "--verify",
    "with_verify",
    is_flag=True,
    help="Also walk the API read only and compare it with the warehouse (as `verify`); "
    "needs the API options.",
)
@db_timeout_options
@click.option(
    "--max-age",
    type=DurationParam(),
    default=DEFAULT_MAX_AGE,
    show_default=True,
    help="Unhealthy when the last successful run (or an agent's last success) is older.",
)
@click.option(
    "--max-rejected",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Unhealthy when more unresolved rejected records than this are kept.",
)
@click.option(
    "--max-full-walk-age",
    type=DurationParam(),
    default=DEFAULT_MAX_FULL_WALK_AGE,
    show_default=True,
    help="Unhealthy when an agent that syncs ok was not walked to the end of its list within "
    "this long (with sync --walk auto, settled tasks are only as fresh as the last full walk).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for machines.")
@handle_errors
def check_command(
    database_url: str,
    schema: str,
    api_url: str,
    token: str,
    org: str,
    auth_scheme: str,
    with_verify: bool,
    max_age: timedelta,
    max_rejected: int,
    max_full_walk_age: timedelta,
    as_json: bool,
) -> None:
    """Exit 0 when the warehouse is healthy, 1 with one line per finding when not: no
    successful run within --max-age, agents not synced ok within it, agents not walked to
    the end within --max-full-walk-age, runs that died since the last success, unresolved
    rejected records above --max-rejected, and with --verify every agent whose tasks in the
    warehouse differ from the API's."""
    now = clock.now()
    engine = open_for_reading(database_url, schema)
    try:
        facts = health_facts(engine, active_since=now - max_age)
    finally:
        engine.dispose()
    found = findings(facts, now, max_age, max_rejected, max_full_walk_age)
    if with_verify:
        config = VerifyConfig(
            api_url, token, org, database_url, auth_scheme=auth_scheme, schema=schema
        )
        found += run_verify(config).findings()
    if as_json:
        doc = {
            "healthy": not found,
            "checked_at": now.isoformat(),
            "last_success": facts.last_success.isoformat() if facts.last_success else None,
            "open_rejections": facts.open_rejections,
            "findings": [f.as_json() for f in found],
        }
        click.echo(json.dumps(doc, indent=2))
    elif found:
        for finding in found:
            click.echo(finding.message)
    else:
        click.echo("healthy")
    sys.exit(1 if found else 0)
