"""Alembic environment: runs on the connection unpod-etl hands over, or on
UNPOD_ETL_DATABASE_URL (and UNPOD_ETL_SCHEMA) when Alembic is run by hand."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, text

from unpod_etl.warehouse.namespace import DEFAULT_SCHEMA, engine_in_schema, schema_of
from unpod_etl.warehouse.schema import include_object, metadata

config = context.config


def _enter_schema(connection: Connection, schema: str) -> None:
    """Create the schema if missing, and make the raw SQL of the migrations (the views of
    0003/0005) land in it even on a connection that only carries the translate map."""
    found = connection.execute(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
    ).first()
    if found is None:  # checked first: a role may use a schema it may not create
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    connection.execute(text(f'SET LOCAL search_path TO "{schema}"'))


def run_on(connection: Connection) -> None:
    schema = schema_of(connection)
    if schema is not None:
        _enter_schema(connection, schema)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
        version_table_schema=schema,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    url = os.environ.get("UNPOD_ETL_DATABASE_URL", "sqlite:///unpod_etl.db")
    engine = engine_in_schema(url, os.environ.get("UNPOD_ETL_SCHEMA", DEFAULT_SCHEMA))
    with engine.begin() as conn:
        run_on(conn)
