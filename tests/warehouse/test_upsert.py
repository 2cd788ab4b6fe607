"""The one upsert rule, on both databases the warehouse runs on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select

from unpod_etl.core.errors import ConfigError
from unpod_etl.warehouse import load
from unpod_etl.warehouse.db import upgrade
from unpod_etl.warehouse.schema import agents, tasks
from unpod_etl.warehouse.upsert import insert_for, updated_columns, upsert

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = create_engine(f"sqlite:///{tmp_path}/w.db")
        upgrade(eng)
        yield eng
        eng.dispose()
    else:
        yield request.getfixturevalue("pg_engine")


def test_updated_columns_leave_out_the_key_and_the_kept_ones() -> None:
    cols = ["handle", "name", "published", "first_seen_at", "last_seen_at"]
    assert updated_columns(cols, {"first_seen_at"}, ["handle"]) == [
        "name",
        "published",
        "last_seen_at",
    ]


def test_a_database_without_on_conflict_is_refused_not_guessed() -> None:
    with pytest.raises(ConfigError, match="unsupported database 'oracle'"):
        insert_for("oracle", agents)


def test_upsert_inserts_then_overwrites_all_but_the_kept_columns(engine) -> None:
    first = {"handle": "a", "name": "A", "published": True, "first_seen_at": T0, "last_seen_at": T0}
    later = T0 + timedelta(days=1)
    with engine.begin() as conn:
        upsert(conn, agents, [first], keep={"first_seen_at"})
        upsert(
            conn,
            agents,
            [{**first, "name": "A2", "first_seen_at": later, "last_seen_at": later}],
            keep={"first_seen_at"},
        )
        row = conn.execute(select(agents).where(agents.c.handle == "a")).mappings().one()
    assert (row["name"], row["first_seen_at"], row["last_seen_at"]) == ("A2", T0, later)


def test_touching_a_listed_agent_keeps_it_published(engine) -> None:
    listed = {"handle": "a", "name": "A"}
    later = T0 + timedelta(hours=3)
    with engine.begin() as conn:
        load.upsert_agents(conn, [listed], T0, published=True)
        load.touch_agents(conn, ["a", "b"], later)
        rows = {r["handle"]: r for r in conn.execute(select(agents)).mappings()}
        assert conn.execute(select(tasks)).first() is None
    assert rows["a"]["published"] is True and rows["a"]["first_seen_at"] == T0
    assert rows["a"]["last_seen_at"] == later
    assert rows["b"]["published"] is False and rows["b"]["first_seen_at"] == later
