"""One rule for "insert, or update what may change", whichever way the rows are sent.

Every upsert in the warehouse goes through here (as sqlite-utils routes all of its upserts
through one method): the ORM-free statement for PostgreSQL and SQLite, and the column list
the COPY path's hand-written INSERT ... SELECT uses, so both update exactly the same columns.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from unpod_etl.core.errors import ConfigError

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def conflict_key(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def updated_columns(
    columns: Iterable[str], keep: Collection[str], key: Collection[str]
) -> list[str]:
    """The columns an upsert overwrites: all it writes, except the key and those to keep."""
    return [c for c in columns if c not in keep and c not in key]


def insert_for(dialect: str, table: Table) -> Insert:
    """The dialect's INSERT that knows ON CONFLICT; other databases are refused, not guessed."""
    make = _INSERTS.get(dialect)
    if make is None:
        raise ConfigError(
            f"unsupported database {dialect!r}: unpod-etl writes PostgreSQL or SQLite"
        )
    return make(table)


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keep: Collection[str] = (),
    key: Sequence[str] | None = None,
) -> None:
    """Insert rows; on a key conflict overwrite every written column but `keep`."""
    if not rows:
        return
    stmt: Any = insert_for(conn.dialect.name, table)
    key = list(key) if key is not None else conflict_key(table)
    changing = updated_columns(rows[0], keep, key)
    stmt = stmt.on_conflict_do_update(
        index_elements=key, set_={c: getattr(stmt.excluded, c) for c in changing}
    )
    conn.execute(stmt, list(rows))
