"""`unpod-etl forget --contact NUMBER_OR_EMAIL`: an erasure request (pipeline/forget.py)."""

from __future__ import annotations

import json
import sys

import click

from unpod_etl.cli.options import database_option, handle_errors


@click.command(name="forget")
@database_option
@click.option(
    "--contact",
    required=True,
    metavar="NUMBER_OR_EMAIL",
    help="The person's phone number (any format; read in the warehouse's --pii-region when "
    "it has no leading +) or e-mail address.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a TTY).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for machines.")
@handle_errors
def forget_command(database_url: str, contact: str, yes: bool, as_json: bool) -> None:
    """Delete every task, call and transcript line of one contact and record the erasure
    (its hash only), so later syncs skip that person's tasks. In a --pii hash warehouse,
    UNPOD_ETL_PII_KEY must be set. Exit 0 done, 2 bad input or not confirmed, 3 database
    unreachable or a sync running."""
    from unpod_etl.pipeline.forget import forget_contact
    from unpod_etl.warehouse import db

    if not yes:
        if not sys.stdin.isatty():
            click.echo(
                "error: forget deletes data: pass --yes (no terminal to confirm on)", err=True
            )
            sys.exit(2)
        if not click.confirm("Delete every task, call and transcript line of this contact?"):
            click.echo("error: not confirmed; nothing deleted", err=True)
            sys.exit(2)
    result = forget_contact(db.make_engine(database_url), contact)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
        return
    click.echo(
        f"forgot one {result.kind} contact: {result.tasks} tasks, {result.calls} calls, "
        f"{result.transcript_lines} transcript lines, {result.rejected_records} rejected "
        f"records deleted; erasure recorded ({result.scheme})"
    )
