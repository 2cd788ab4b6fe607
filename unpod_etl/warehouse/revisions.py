"""Which schema revisions this code knows, what the database says, and `db downgrade`.

A database stamped with a revision this code does not know (written by a newer unpod-etl, or
hand-edited) must stop every command with one line, before Alembic fails with a traceback of
its own. The check costs one query when the database is at SCHEMA_HEAD (every nightly sync).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from unpod_etl.core.errors import AbortError, ConfigError
from unpod_etl.warehouse import db
from unpod_etl.warehouse.namespace import schema_of

# Alembic's own table, declared here to read it without Alembic (schema_translate_map places it).
_version = Table("alembic_version", MetaData(), Column("version_num", String(32)))
BASE = "base"


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    description: str


def known_revisions() -> list[Revision]:
    """This code's migrations, oldest first (the history is linear)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db._alembic_config())
    found = [
        Revision(str(s.revision), _one(s.down_revision), (s.doc or "").strip().splitlines()[0])
        for s in script.walk_revisions()
    ]
    return found[::-1]


def _one(down: Any) -> str | None:
    if down is None or isinstance(down, str):
        return down
    return ",".join(down)  # a merge point; the shipped history has none


def stamped_revisions(conn: Connection) -> list[str]:
    """The rows of alembic_version (empty when the table is missing or empty)."""
    if not inspect(conn).has_table("alembic_version", schema=schema_of(conn)):
        return []
    return [str(v) for v in conn.execute(select(_version.c.version_num)).scalars()]


def require_known_revision(engine: Engine) -> str | None:
    """The database's revision (None: no schema yet); AbortError when this code does not
    know it, saying what the database has, what this code knows and what to do."""
    try:
        with engine.connect() as conn:
            stamped = stamped_revisions(conn)
    except SQLAlchemyError as exc:
        raise AbortError(f"database unreachable: {db.describe_db_error(exc)}") from None
    if not stamped:
        return None
    if stamped == [db.SCHEMA_HEAD]:  # the usual case: no need to load the scripts
        return db.SCHEMA_HEAD
    known = [r.revision for r in known_revisions()]
    unknown = [r for r in stamped if r not in known]
    if unknown or len(stamped) > 1:
        has = ", ".join(stamped)
        raise AbortError(
            f"the database schema is at revision {has}, which this unpod-etl does not know "
            f"(it knows {known[0]} to {known[-1]}): upgrade unpod-etl to the version that wrote "
            f"it, or run that version's `unpod-etl db downgrade {known[-1]}`"
        )
    return stamped[0]


def migrate(engine: Engine, revision: str = "head") -> None:
    """db.upgrade(), after refusing a revision this code does not know (AbortError). At
    SCHEMA_HEAD it costs the one query db.upgrade's own fast path would have made."""
    if require_known_revision(engine) == db.SCHEMA_HEAD and revision == "head":
        return
    db.upgrade(engine, revision)


def check_downgrade_target(current: str | None, target: str) -> None:
    """ConfigError unless `target` is base or a known revision at or below `current`."""
    order = [BASE, *(r.revision for r in known_revisions())]
    if target not in order:
        raise ConfigError(
            f"unknown revision {target!r}: `unpod-etl db history` lists them (or use base)"
        )
    if current is None:
        raise ConfigError("the database has no schema: nothing to downgrade")
    if order.index(target) > order.index(current):
        raise ConfigError(
            f"revision {target} is newer than the database's {current}: use `unpod-etl db upgrade`"
        )


def downgrade(engine: Engine, target: str) -> None:
    """Run the downgrade scripts from the current revision down to `target` (or base),
    in one transaction: a failing script leaves the schema as it was (PostgreSQL)."""
    from alembic import command
    from alembic.util import CommandError

    check_downgrade_target(require_known_revision(engine), target)
    cfg = db._alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, target)
    except CommandError as exc:
        raise ConfigError(f"cannot downgrade to {target}: {str(exc).splitlines()[0]}") from None
    except SQLAlchemyError as exc:
        raise AbortError(f"database error while downgrading: {db.describe_db_error(exc)}") from None
