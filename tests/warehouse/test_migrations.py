"""The migrations build exactly the tables declared in unpod_etl.schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from unpod_etl.warehouse.db import current_revision, head_revision, make_engine, upgrade
from unpod_etl.warehouse.schema import include_object, metadata


def _diff(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        return compare_metadata(ctx, metadata)


def test_upgrade_on_postgres_matches_declared_schema(empty_pg_url):
    engine = make_engine(empty_pg_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _diff(engine) == []
    upgrade(engine)  # a second upgrade is a no-op
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_upgrade_on_sqlite_creates_every_table(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    assert current_revision(engine) == head_revision()


def test_tasks_document_is_jsonb_on_postgres(pg_engine):
    columns = {c["name"]: c for c in inspect(pg_engine).get_columns("tasks")}
    assert type(columns["document"]["type"]).__name__ == "JSONB"
    assert columns["last_status_change"]["type"].timezone is True


def test_schema_head_constant_is_alembic_head():
    from unpod_etl.warehouse.db import SCHEMA_HEAD

    assert head_revision() == SCHEMA_HEAD


def test_upgrade_runs_pending_migrations_even_when_stamped_older(empty_pg_url):
    engine = make_engine(empty_pg_url)
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    upgrade(engine)  # the fast path must not skip a database behind head
    assert current_revision(engine) == head_revision()
    assert _diff(engine) == []
    engine.dispose()
