"""`unpod-etl db ...`: schema migrations for operators (upgrade, current, history, downgrade).

A click group of its own; cli/main.py registers it with add_command.
"""

from __future__ import annotations

import json
import sys

import click

from unpod_etl.cli.options import (
    database_option,
    db_timeout_options,
    handle_errors,
    schema_option,
)
from unpod_etl.core.errors import ConfigError
from unpod_etl.warehouse import db, revisions
from unpod_etl.warehouse.namespace import engine_in_schema
from unpod_etl.warehouse.open_existing import open_existing


def _interactive() -> bool:
    """A person can answer the prompt (a function, so tests can say there is one)."""
    return sys.stdin.isatty()


@click.group(name="db")
def db_group() -> None:
    """Schema migrations: upgrade, current, history, downgrade.

    Exit codes: 0 ok, 1 a downgrade declined at its prompt, 2 bad usage (unknown revision,
    missing SQLite file), 3 the database is unreachable or stamped with a revision this
    unpod-etl does not know.
    """


@db_group.command()
@database_option
@db_timeout_options
@schema_option
@handle_errors
def upgrade(database_url: str, schema: str) -> None:
    """Bring the schema up to date (alembic upgrade head); creates the database if missing."""
    engine = engine_in_schema(database_url, schema)
    revisions.migrate(engine)
    click.echo(f"schema at revision {db.current_revision(engine)}")


@db_group.command()
@database_option
@db_timeout_options
@schema_option
@handle_errors
def current(database_url: str, schema: str) -> None:
    """Show the schema revision of the database (read-only)."""
    engine = open_existing(database_url, schema)
    rev = db.current_revision(engine)
    click.echo(f"{rev or '(empty database)'} (head: {db.head_revision()})")


@db_group.command()
@database_option
@db_timeout_options
@schema_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for machines.")
@handle_errors
def history(database_url: str, schema: str, as_json: bool) -> None:
    """List the schema revisions this unpod-etl knows, newest first, the database's marked
    (read-only)."""
    engine = open_existing(database_url, schema)
    rev = db.current_revision(engine)
    known = revisions.known_revisions()
    names = [r.revision for r in known]
    applied = set(names[: names.index(rev) + 1]) if rev else set()
    rows = [
        {
            "revision": r.revision,
            "down_revision": r.down_revision,
            "description": r.description,
            "applied": r.revision in applied,
            "current": r.revision == rev,
        }
        for r in reversed(known)
    ]
    if as_json:
        doc = {"current": rev, "head": known[-1].revision, "revisions": rows}
        click.echo(json.dumps(doc, indent=2))
        return
    for row in rows:
        mark = "->" if row["current"] else ("  " if row["applied"] else " .")
        click.echo(f"{mark} {row['revision']}  {row['description']}")
    click.echo(f"database at {rev or '(empty database)'}; -> current, . not applied")


@db_group.command()
@click.argument("revision")
@database_option
@db_timeout_options
@schema_option
@click.option("--yes", is_flag=True, help="Do not ask first (needed without a terminal).")
@handle_errors
def downgrade(revision: str, database_url: str, schema: str, yes: bool) -> None:
    """Undo migrations down to REVISION (`base`: drop every unpod-etl table and view).

    The tables and columns added after REVISION are dropped with their data. Asks first
    unless --yes; without a terminal and without --yes it refuses (exit 2).
    """
    engine = open_existing(database_url, schema)
    rev = db.current_revision(engine)
    revisions.check_downgrade_target(rev, revision)
    if rev == revision:
        click.echo(f"schema already at revision {rev}: nothing to do")
        return
    if not yes:
        if not _interactive():
            raise ConfigError("db downgrade drops data: pass --yes (no terminal to confirm on)")
        question = (
            f"Downgrade the schema from {rev} to {revision}? What was added after {revision} "
            "is dropped with its data"
        )
        if not click.confirm(question, default=False, err=True):
            click.echo("downgrade cancelled: nothing changed", err=True)
            sys.exit(1)
    revisions.downgrade(engine, revision)
    click.echo(f"schema at revision {db.current_revision(engine) or '(empty database)'}")
