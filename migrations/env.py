"""Alembic environment: runs on the connection unpod-etl hands over, or on
UNPOD_ETL_DATABASE_URL when Alembic is run by hand."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.schema import include_object, metadata

config = context.config


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    url = os.environ.get("UNPOD_ETL_DATABASE_URL", "sqlite:///unpod_etl.db")
    engine = make_engine(url)
    with engine.begin() as conn:
        run_on(conn)
