"""The PostgreSQL schema (namespace) the warehouse lives in: `--schema`, default `public`.

Two mechanisms, each covering what the other cannot:
- `schema_translate_map` on the engine's execution options: every Core statement (the tables
  of warehouse/schema.py, Alembic's version table and ops) names the schema explicitly;
- `SET search_path` on every new connection: the raw SQL (the views of migrations 0003/0005,
  the COPY path in load_copy.py, `CREATE TEMP TABLE .. AS SELECT * FROM tasks`) resolves its
  unqualified names there too.
The default schema changes nothing: no map, no SET, exactly the engine make_engine() returns.
The schema travels with the engine (its execution options), so upgrade(engine) and Alembic's
env.py find it there without a new parameter.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, event

from unpod_etl.core.errors import ConfigError
from unpod_etl.warehouse.db import ConnectionSettings, make_engine
from unpod_etl.warehouse.scope import schema_of as schema_of  # re-exported for callers

DEFAULT_SCHEMA = "public"
# Lowercase only: PostgreSQL folds unquoted names, so `Analytics` and `analytics` would name
# two schemas depending on who quotes; pg_* names are reserved by the server.
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def check_schema_name(name: str) -> str:
    if not _NAME.fullmatch(name or "") or name.startswith("pg_"):
        raise ConfigError(
            f"bad schema name {name!r}: use lowercase letters, digits and _ "
            "(at most 63, not starting with a digit or pg_)"
        )
    return name


def engine_in_schema(
    url: str,
    schema: str = DEFAULT_SCHEMA,
    pool_size: int = 5,
    settings: ConnectionSettings | None = None,
) -> Engine:
    """make_engine(url), with every table, view and alembic_version in `schema`."""
    check_schema_name(schema)
    engine = make_engine(url, pool_size=pool_size, settings=settings)
    return in_schema(engine, schema)


def in_schema(engine: Engine, schema: str) -> Engine:
    """`engine` scoped to `schema`; call it before the engine's first connection."""
    check_schema_name(schema)
    if schema == DEFAULT_SCHEMA:
        return engine
    if engine.dialect.name != "postgresql":
        raise ConfigError(f"--schema {schema!r}: schemas are for PostgreSQL only (this is SQLite)")
    quoted = f'"{schema}"'  # validated above: identifier characters only

    # insert=True: runs before the dialect's own first-connect setup, so that setup already
    # sees the path (SQLAlchemy's recipe for "alternate search paths on connect").
    @event.listens_for(engine, "connect", insert=True)
    def _set_search_path(dbapi_conn: Any, _record: Any) -> None:
        # Outside any transaction, so that the rollback the pool does on return keeps it.
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET SESSION search_path TO {quoted}")
        dbapi_conn.autocommit = autocommit

    return engine.execution_options(schema_translate_map={None: schema})
