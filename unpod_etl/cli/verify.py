"""`unpod-etl verify`: does the warehouse hold what the API holds? (read only)"""

from __future__ import annotations

import json
import sys

import click

from unpod_etl.cli import render
from unpod_etl.cli.options import api_options, database_option, handle_errors
from unpod_etl.pipeline.verify import VerifyConfig, run_verify

COLUMNS = (
    "agent",
    "state",
    "api_tasks",
    "stored_live",
    "missing",
    "different",
    "gone",
    "rejected",
    "unreadable",
)


@click.command(name="verify")
@api_options
@database_option
@click.option(
    "--agent",
    "agents",
    multiple=True,
    metavar="HANDLE",
    help="Verify this agent (repeatable). Default: every listed agent and every stored one.",
)
@click.option("--page-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for machines.")
@handle_errors
def verify_command(
    api_url: str,
    token: str,
    org: str,
    auth_scheme: str,
    database_url: str,
    agents: tuple[str, ...],
    page_size: int,
    as_json: bool,
) -> None:
    """Walk the API read only and compare it with the warehouse, per agent.

    Exit 0 when they agree, 1 when they do not (or an agent could not be walked to the
    end), 2 on bad usage, 3 when the token is refused or the database is unreachable.
    Nothing is written. Run it after an incident, or from monitoring.
    """
    config = VerifyConfig(api_url, token, org, database_url, agents, page_size, auth_scheme)
    result = run_verify(config)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        rows = [a.as_json() for a in result.agents]
        click.echo(render.table(rows, COLUMNS))
        for agent in result.agents:
            if agent.error:
                click.echo(f"{agent.handle}: {agent.error}", err=True)
            for kind, ids in agent.examples.items():
                click.echo(f"{agent.handle}: {kind}, e.g. {', '.join(ids)}")
        verdict = "the warehouse agrees with the API" if result.agrees else "they differ"
        click.echo(verdict)
    sys.exit(result.exit_code)
