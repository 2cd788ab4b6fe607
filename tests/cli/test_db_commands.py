"""`db` commands and the read-only contract, through the real CLI on real databases:
a missing SQLite file is never created, an unknown schema revision is one line and exit 3,
`db history` marks the current revision, `db downgrade` asks first and every migration's
downgrade really undoes it (head -> base -> head gives the declared schema again)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner, Result
from sqlalchemy import Engine, inspect, text

from tests.helpers import cli_env, run_sync_cli
from tests.warehouse.test_views import VIEWS
from unpod_etl.cli import db_commands
from unpod_etl.cli.main import main
from unpod_etl.warehouse.db import SCHEMA_HEAD, current_revision, make_engine, upgrade
from unpod_etl.warehouse.revisions import known_revisions
from unpod_etl.warehouse.schema import include_object, metadata

REVS = [r.revision for r in known_revisions()]  # oldest first
PREV = REVS[-2]  # one step below head
UNKNOWN = "the database schema is at revision 9999, which this unpod-etl does not know"


def cli(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin)


def one_line_error(result: Result, code: int, words: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr


def diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_object": include_object}
        return list(compare_metadata(MigrationContext.configure(conn, opts=opts), metadata))


def stamp(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


@pytest.fixture
def migrated_sqlite(sqlite_url: str) -> str:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    return sqlite_url


# -- read-only commands never create a database -------------------------------------------


VERIFY = ["verify", "--token", "t", "--org", "o", "--api-url", "http://127.0.0.1:9"]


@pytest.mark.parametrize(
    "command",
    [["status"], ["status", "--json"], ["report"], ["db", "current"], ["db", "history"], VERIFY],
)
def test_a_missing_sqlite_file_is_exit_2_and_stays_missing(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)  # report's default --out lands here, if anywhere
    path = tmp_path / "nope" / "typo.db"
    path.parent.mkdir()
    result = cli(*command, "--database-url", f"sqlite:///{path}")
    one_line_error(result, 2, f"no warehouse at {path}: run `unpod-etl sync`")
    assert list(path.parent.iterdir()) == []  # no database, no -wal/-shm
    assert not (tmp_path / "report.html").exists()


def test_a_missing_sqlite_file_is_refused_by_downgrade_too(tmp_path):
    path = tmp_path / "typo.db"
    one_line_error(
        cli("db", "downgrade", "base", "--yes", "--database-url", f"sqlite:///{path}"),
        2,
        "no warehouse at",
    )
    assert not path.exists()


def test_db_upgrade_still_creates_the_database(tmp_path):
    path = tmp_path / "new.db"
    result = cli("db", "upgrade", "--database-url", f"sqlite:///{path}")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"schema at revision {SCHEMA_HEAD}\n"
    assert path.is_file()


# -- a revision this code does not know ----------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["report"],
        ["db", "current"],
        ["db", "history"],
        ["db", "upgrade"],
        ["db", "downgrade", PREV, "--yes"],
        VERIFY,
        ["check"],
    ],
)
def test_an_unknown_revision_is_exit_3_one_line(migrated_sqlite, tmp_path, command):
    engine = make_engine(migrated_sqlite)
    stamp(engine, "9999")
    out = ["--out", str(tmp_path / "r.html")] if command == ["report"] else []
    result = cli(*command, "--database-url", migrated_sqlite, *out)
    one_line_error(result, 3, UNKNOWN)
    assert f"it knows 0001 to {SCHEMA_HEAD}" in result.stderr
    assert "db downgrade" in result.stderr and "upgrade unpod-etl" in result.stderr
    with engine.connect() as conn:  # nothing was touched
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999"
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sync_on_an_unknown_revision_is_exit_3_before_any_request(
    backend, fake, fake_server, migrated_sqlite, pg_url
):
    url = migrated_sqlite if backend == "sqlite" else pg_url
    engine = make_engine(url)
    stamp(engine, "9999")
    proc = run_sync_cli(fake_server.url, fake, url)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and "CommandError" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"aborted: {proc.stderr.strip()[9:]}"]
    assert UNKNOWN in proc.stderr
    assert fake.access.requests == []
    assert current_revision(engine) == "9999"
    engine.dispose()


# -- db history --------------------------------------------------------------------------


def test_history_marks_the_current_revision(migrated_sqlite):
    result = cli("db", "history", "--database-url", migrated_sqlite)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line[3:7] for line in lines[:-1]] == REVS[::-1]
    assert lines[0].startswith(f"-> {SCHEMA_HEAD}")
    assert not any(x.startswith("->") for x in lines[1:])
    assert known_revisions()[-1].description in lines[0]
    assert lines[-1] == f"database at {SCHEMA_HEAD}; -> current, . not applied"


def test_history_json_after_a_downgrade(migrated_sqlite):
    assert cli("db", "downgrade", "0003", "--yes", "--database-url", migrated_sqlite).exit_code == 0
    result = cli("db", "history", "--json", "--database-url", migrated_sqlite)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["current"] == "0003" and doc["head"] == SCHEMA_HEAD
    by_rev = {r["revision"]: r for r in doc["revisions"]}
    assert [r["revision"] for r in doc["revisions"]] == REVS[::-1]
    assert [rev for rev, r in by_rev.items() if r["current"]] == ["0003"]
    assert {rev for rev, r in by_rev.items() if r["applied"]} == {"0001", "0002", "0003"}
    assert by_rev["0002"]["down_revision"] == "0001" and by_rev["0001"]["down_revision"] is None


def test_history_on_an_empty_database(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()  # an existing, empty SQLite file
    result = cli("db", "history", "--json", "--database-url", f"sqlite:///{path}")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["current"] is None and not any(r["applied"] for r in doc["revisions"])


# -- db downgrade ------------------------------------------------------------------------


def test_downgrade_without_yes_and_without_a_terminal_is_refused(migrated_sqlite):
    result = cli("db", "downgrade", PREV, "--database-url", migrated_sqlite)
    one_line_error(result, 2, "pass --yes")
    assert current_revision(make_engine(migrated_sqlite)) == SCHEMA_HEAD


def test_downgrade_asks_and_a_no_changes_nothing(migrated_sqlite, monkeypatch):
    monkeypatch.setattr(db_commands, "_interactive", lambda: True)
    result = cli("db", "downgrade", PREV, "--database-url", migrated_sqlite, stdin="n\n")
    assert result.exit_code == 1
    assert f"Downgrade the schema from {SCHEMA_HEAD} to {PREV}?" in result.stderr
    assert "downgrade cancelled: nothing changed" in result.stderr
    engine = make_engine(migrated_sqlite)
    assert current_revision(engine) == SCHEMA_HEAD
    assert diff(engine) == []


def test_downgrade_asks_and_a_yes_downgrades(migrated_sqlite, monkeypatch):
    monkeypatch.setattr(db_commands, "_interactive", lambda: True)
    result = cli("db", "downgrade", PREV, "--database-url", migrated_sqlite, stdin="y\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"schema at revision {PREV}\n")
    engine = make_engine(migrated_sqlite)
    assert current_revision(engine) == PREV
    assert diff(engine) != []  # what head added is gone


@pytest.mark.parametrize(
    ("target", "words"),
    [("0042", "unknown revision '0042'"), ("000", "unknown revision '000'"), ("head", "unknown")],
)
def test_downgrade_to_an_unknown_revision_is_exit_2(migrated_sqlite, target, words):
    result = cli("db", "downgrade", target, "--yes", "--database-url", migrated_sqlite)
    one_line_error(result, 2, words)
    assert current_revision(make_engine(migrated_sqlite)) == SCHEMA_HEAD


def test_downgrade_to_a_newer_revision_is_exit_2(migrated_sqlite):
    assert cli("db", "downgrade", "0002", "--yes", "--database-url", migrated_sqlite).exit_code == 0
    result = cli("db", "downgrade", PREV, "--yes", "--database-url", migrated_sqlite)
    one_line_error(result, 2, f"revision {PREV} is newer than the database's 0002")


def test_downgrade_to_the_current_revision_changes_nothing(migrated_sqlite):
    result = cli("db", "downgrade", SCHEMA_HEAD, "--database-url", migrated_sqlite)
    assert result.exit_code == 0, result.output  # no prompt needed: nothing to drop
    assert "nothing to do" in result.stdout


def _round_trip(url: str) -> Engine:
    engine = make_engine(url)
    down = cli("db", "downgrade", "base", "--yes", "--database-url", url)
    assert down.exit_code == 0, down.output
    assert down.stdout == "schema at revision (empty database)\n"
    inspector = inspect(engine)
    assert inspector.get_table_names() == ["alembic_version"]
    assert inspector.get_view_names() == []
    up = cli("db", "upgrade", "--database-url", url)
    assert up.exit_code == 0, up.output
    assert current_revision(engine) == SCHEMA_HEAD
    inspector = inspect(engine)
    assert set(metadata.tables) | {"alembic_version"} == set(inspector.get_table_names())
    assert sorted(inspector.get_view_names()) == VIEWS
    return engine


def test_every_downgrade_works_head_base_head_on_postgres(fake, fake_server, pg_url):
    assert run_sync_cli(fake_server.url, fake, pg_url).returncode == 0  # with data in it
    engine = _round_trip(pg_url)
    assert diff(engine) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM call_facts")).scalar() == 0
        indexes = {i["name"] for i in inspect(conn).get_indexes("transcript_lines")}
        assert "ix_transcript_lines_content_tsv" in indexes
    engine.dispose()


def test_every_downgrade_works_head_base_head_on_sqlite(fake, fake_server, migrated_sqlite):
    assert run_sync_cli(fake_server.url, fake, migrated_sqlite).returncode == 0
    engine = _round_trip(migrated_sqlite)
    assert diff(engine) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM agent_daily")).scalar() == 0


def test_each_single_step_down_and_up_again_on_postgres(empty_pg_url):
    engine = make_engine(empty_pg_url)
    upgrade(engine)
    for target in REVS[-2::-1]:
        result = cli("db", "downgrade", target, "--yes", "--database-url", empty_pg_url)
        assert result.exit_code == 0, result.output
        assert current_revision(engine) == target
    upgrade(engine)
    assert diff(engine) == []
    engine.dispose()


def test_downgrade_on_a_real_terminal_asks_and_proceeds_on_yes(migrated_sqlite):
    leader, follower = pty.openpty()
    args = [sys.executable, "-m", "unpod_etl", "db", "downgrade", PREV]
    proc = subprocess.Popen(
        [*args, "--database-url", migrated_sqlite],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
        text=True,
    )
    os.close(follower)
    os.write(leader, b"y\n")  # the terminal buffers the answer until the prompt reads it
    out, err = proc.communicate(timeout=120)
    os.close(leader)
    assert proc.returncode == 0, err
    assert f"Downgrade the schema from {SCHEMA_HEAD} to {PREV}?" in err
    assert out == f"schema at revision {PREV}\n"
    assert current_revision(make_engine(migrated_sqlite)) == PREV
