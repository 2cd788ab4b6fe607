"""`unpod-etl demo` keeps to a database of its own and reads "unchanged" the second time."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, update

from tests.helpers import sync_in_process
from unpod_etl.cli.demo import demo_newest, run_demo
from unpod_etl.cli.main import main
from unpod_etl.warehouse.schema import sync_runs, tasks

# One fixed instant: the demo dates its data by the day it runs on.
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _count(url: str, what) -> int:  # type: ignore[no-untyped-def]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(what)) or 0)
    finally:
        engine.dispose()


def test_demo_ignores_the_warehouse_env_var(tmp_path, monkeypatch, fake, fake_server) -> None:
    real = tmp_path / "real.db"
    real_url = f"sqlite:///{real}"
    sync_in_process(fake_server, fake, real_url)  # the user's warehouse, with its data
    before, real_tasks = _digest(real), _count(real_url, tasks)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)

    result = CliRunner().invoke(main, ["demo"], env={"UNPOD_ETL_DATABASE_URL": real_url})

    assert result.exit_code == 0, result.output
    assert _digest(real) == before
    assert _count(real_url, tasks) == real_tasks
    demo_db = work / "unpod_etl_demo.db"
    assert _count(f"sqlite:///{demo_db}", tasks) == 120  # 3 published agents x 40 tasks
    assert "unpod_etl_demo.db" in result.stdout


def test_demo_refuses_a_warehouse_of_another_api(tmp_path, fake, fake_server) -> None:
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    sync_in_process(fake_server, fake, url)
    engine = create_engine(url)
    with engine.begin() as conn:  # as if synced from the real platform
        conn.execute(update(sync_runs).values(api_url="https://unpod.dev"))
    engine.dispose()
    runs, stored = _count(url, sync_runs), _count(url, tasks)

    result = CliRunner().invoke(main, ["demo", "--database-url", url])

    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "https://unpod.dev" in lines[0] and "Traceback" not in result.output
    assert (_count(url, sync_runs), _count(url, tasks)) == (runs, stored)


def test_demo_accepts_its_own_database_named_explicitly(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    first = run_demo(url, now=NOON)
    second = run_demo(url, now=NOON)  # the earlier run came from a loopback fake: its own
    assert first.result.total("inserted") == second.result.total("seen") == 120


def test_a_second_demo_reads_unchanged(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    run_demo(url, now=NOON)
    again = run_demo(url, now=NOON.replace(hour=23, minute=59)).result  # later the same day

    assert again.exit_code == 0
    assert again.total("seen") == 120
    assert again.total("unchanged") == 120
    assert (again.total("inserted"), again.total("moved"), again.total("changed_unmoved")) == (
        0,
        0,
        0,
    )


def test_demo_data_ends_at_the_start_of_its_day() -> None:
    assert demo_newest(NOON) == datetime(2026, 3, 10)
    assert demo_newest(NOON.replace(hour=0, minute=0)) == demo_newest(NOON.replace(hour=23))


def test_demo_on_an_unreachable_database_is_one_line(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    result = CliRunner().invoke(main, ["demo", "--database-url", url])
    assert result.exit_code == 3
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("aborted: cannot read the database")
