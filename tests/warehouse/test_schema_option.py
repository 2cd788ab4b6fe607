"""`--schema NAME` (UNPOD_ETL_SCHEMA) on PostgreSQL: tables, alembic_version and views live in
that schema, through the real CLI; other schemas of the database are left alone. On SQLite a
schema other than the default is a usage error."""

from __future__ import annotations

import json
import subprocess

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, inspect, text

from tests.helpers import cli_env, run_sync_cli, sync_command
from tests.warehouse.test_views import VIEWS
from unpod_etl.cli.main import main
from unpod_etl.core.errors import ConfigError
from unpod_etl.pipeline.sync import SyncConfig, run_sync
from unpod_etl.warehouse.db import SCHEMA_HEAD, make_engine
from unpod_etl.warehouse.locks import NamedLock
from unpod_etl.warehouse.namespace import engine_in_schema
from unpod_etl.warehouse.schema import include_object, metadata

TABLES = {*metadata.tables, "alembic_version"}


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def one_line_error(result: Result, code: int, words: str) -> None:
    assert result.exit_code == code, (result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr


def last_run(url: str, schema: str) -> dict[str, object]:
    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            text(f"SELECT * FROM {schema}.sync_runs ORDER BY run_id DESC LIMIT 1")
        ).mappings()
        found = dict(row.one())
    engine.dispose()
    return found


def test_sync_into_a_schema_of_its_own(fake, fake_server, empty_pg_url, tmp_path):
    first = run_sync_cli(fake_server.url, fake, empty_pg_url, "--schema", "analytics")
    assert first.returncode == 0, first.stderr

    plain = create_engine(empty_pg_url)
    inspector = inspect(plain)
    assert set(inspector.get_table_names(schema="analytics")) == TABLES
    assert sorted(inspector.get_view_names(schema="analytics")) == VIEWS
    assert inspector.get_table_names(schema="public") == []
    assert inspector.get_view_names(schema="public") == []
    with plain.connect() as conn:  # the views read the schema's tables, not public's
        calls = conn.execute(text("SELECT count(*) FROM analytics.calls")).scalar()
        facts = conn.execute(text("SELECT count(*) FROM analytics.call_facts")).scalar()
        daily = conn.execute(text("SELECT sum(tasks_total) FROM analytics.agent_daily")).scalar()
        stored = conn.execute(text("SELECT count(*) FROM analytics.tasks")).scalar()
        conn.execute(text("SELECT count(*) FROM analytics.stuck_tasks")).scalar()
        version = conn.execute(text("SELECT version_num FROM analytics.alembic_version")).scalar()
    assert calls and facts == calls and daily == stored
    assert version == SCHEMA_HEAD

    status = cli("status", "--json", "--schema", "analytics", "--database-url", empty_pg_url)
    assert status.exit_code == 0, status.output
    runs = json.loads(status.stdout)["runs"]
    assert [r["outcome"] for r in runs] == ["ok"]
    # the default schema holds no warehouse: status says so instead of reading analytics
    one_line_error(cli("status", "--database-url", empty_pg_url), 2, "no unpod-etl tables")

    out = tmp_path / "r.html"
    report = cli(
        "report", "--schema", "analytics", "--database-url", empty_pg_url, "--out", str(out)
    )
    assert report.exit_code == 0, report.output
    # the fake's calls are dated January 2026, outside the window: the run table shows it read
    assert f'<td class="n">{stored}</td>' in out.read_text(encoding="utf-8")
    public = cli("report", "--database-url", empty_pg_url, "--out", str(tmp_path / "p.html"))
    one_line_error(public, 2, "the database schema is at nothing")

    health = cli("check", "--json", "--schema", "analytics", "--database-url", empty_pg_url)
    assert health.exit_code in (0, 1), health.output  # judged, not "no unpod-etl tables"
    assert json.loads(health.stdout)["last_success"] is not None
    one_line_error(cli("check", "--database-url", empty_pg_url), 2, "no unpod-etl tables")

    api = ["--api-url", fake_server.url, "--token", fake.token, "--org", fake.org]
    verify = cli("verify", *api, "--schema", "analytics", "--database-url", empty_pg_url)
    assert verify.exit_code == 0, verify.output
    assert verify.stdout.endswith("the warehouse agrees with the API\n")

    current = cli("db", "current", "--schema", "analytics", "--database-url", empty_pg_url)
    assert current.stdout == f"{SCHEMA_HEAD} (head: {SCHEMA_HEAD})\n"
    empty = cli("db", "current", "--database-url", empty_pg_url)
    assert empty.stdout.startswith("(empty database)")

    # the second run, named by the environment variable this time, changes nothing
    second = subprocess.run(
        sync_command(fake_server.url, fake, empty_pg_url),
        env=cli_env({"UNPOD_ETL_SCHEMA": "analytics"}),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert second.returncode == 0, second.stderr
    run = last_run(empty_pg_url, "analytics")
    assert run["run_id"] == 2 and run["outcome"] == "ok"
    assert run["tasks_inserted"] == 0 and run["tasks_updated"] == 0
    assert run["tasks_unchanged"] == run["tasks_seen"] == stored
    assert inspect(plain).get_table_names(schema="public") == []
    plain.dispose()


def test_migrations_down_and_up_inside_a_schema(empty_pg_url):
    args = ["--schema", "warehouse_2", "--database-url", empty_pg_url]
    assert cli("db", "upgrade", *args).exit_code == 0
    history = json.loads(cli("db", "history", "--json", *args).stdout)
    assert history["current"] == SCHEMA_HEAD
    down = cli("db", "downgrade", "base", "--yes", *args)
    assert down.exit_code == 0, down.output
    plain = create_engine(empty_pg_url)
    assert inspect(plain).get_table_names(schema="warehouse_2") == ["alembic_version"]
    assert inspect(plain).get_view_names(schema="warehouse_2") == []
    assert cli("db", "upgrade", *args).exit_code == 0
    assert sorted(inspect(plain).get_view_names(schema="warehouse_2")) == VIEWS
    assert inspect(plain).get_table_names(schema="public") == []
    plain.dispose()

    scoped = engine_in_schema(empty_pg_url, "warehouse_2")
    with scoped.connect() as conn:  # the schema equals the declared one
        # reflected through the search path, as schema None: alembic_version is found there
        opts = {"compare_type": True, "include_object": include_object}
        assert compare_metadata(MigrationContext.configure(conn, opts=opts), metadata) == []
    scoped.dispose()


def test_an_existing_schema_is_used_as_it_is(empty_pg_url):
    plain = create_engine(empty_pg_url)
    with plain.begin() as conn:
        conn.execute(text("CREATE SCHEMA made_by_dba"))
        conn.execute(text("CREATE TABLE made_by_dba.unrelated (id int)"))
    result = cli("db", "upgrade", "--schema", "made_by_dba", "--database-url", empty_pg_url)
    assert result.exit_code == 0, result.output
    assert {"unrelated", *TABLES} == set(inspect(plain).get_table_names(schema="made_by_dba"))
    plain.dispose()


def test_two_schemas_of_one_database_do_not_share_locks(empty_pg_url):
    first = engine_in_schema(empty_pg_url, "one")
    second = engine_in_schema(empty_pg_url, "two")
    held = NamedLock(first, "sync")
    assert held.try_acquire()
    try:
        assert NamedLock(second, "sync").is_free()
        assert not NamedLock(engine_in_schema(empty_pg_url, "one"), "sync").is_free()
    finally:
        held.release()
    first.dispose()
    second.dispose()


@pytest.mark.parametrize(
    "command", [["status"], ["report"], ["db", "upgrade"], ["db", "current"], ["sync"]]
)
def test_a_schema_on_sqlite_is_exit_2(tmp_path, command):
    path = tmp_path / "w.db"
    extra = ["--token", "t", "--org", "o", "--api-url", "http://127.0.0.1:9"] * (
        command == ["sync"]
    )
    if command not in (["db", "upgrade"], ["sync"]):
        path.touch()  # read-only commands first want the file to exist
    result = cli(*command, "--schema", "analytics", "--database-url", f"sqlite:///{path}", *extra)
    one_line_error(result, 2, "schemas are for PostgreSQL only")
    assert not path.exists() or path.stat().st_size == 0


@pytest.mark.parametrize("name", ["Analytics", "a-b", "1x", "pg_x", 'x"; DROP', "", "a" * 64])
def test_a_bad_schema_name_is_exit_2_before_connecting(name):
    url = "postgresql://nobody:pw@127.0.0.1:1/none"  # nothing listens: never reached
    for command in (["status"], ["db", "upgrade"], ["sync", "--token", "t", "--org", "o"]):
        result = cli(*command, "--schema", name, "--database-url", url)
        one_line_error(result, 2, "bad schema name")


def test_an_engine_scoped_elsewhere_is_refused_by_the_python_api(fake, fake_server, pg_url):
    config = SyncConfig(fake_server.url, fake.token, fake.org, pg_url, schema="analytics")
    engine = make_engine(pg_url)  # the default schema, not the one the config names
    with pytest.raises(ConfigError, match="not scoped to schema 'analytics'"):
        run_sync(config, engine=engine)
    assert inspect(engine).get_table_names(schema="analytics") == []
    engine.dispose()
