"""`unpod-etl check` on warehouses built by real syncs of the fake API, with a frozen clock
moved forward: healthy, stale, died, rejected; usage and unreachable-database exits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from click.testing import CliRunner

from tests.helpers import sync_in_process
from unpod_etl.cli.main import main
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)  # after the fake's January 2026 data


def check(url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["check", "--database-url", url, *args], env={})


@pytest.fixture
def traveller():  # type: ignore[no-untyped-def]
    with time_machine.travel(T0, tick=False) as frozen:
        yield frozen


def test_healthy_after_a_good_run_then_stale_a_day_later(fake, fake_server, sqlite_url, traveller):
    assert sync_in_process(fake_server, fake, sqlite_url).outcome == "ok"
    traveller.move_to(T0 + timedelta(hours=25))
    healthy = check(sqlite_url)
    assert healthy.exit_code == 0, healthy.output
    assert healthy.output.strip() == "healthy"

    traveller.move_to(T0 + timedelta(hours=27))
    stale = check(sqlite_url)
    assert stale.exit_code == 1
    lines = stale.stdout.strip().splitlines()
    assert lines[0].startswith("no successful sync run within 1d 2h (last one 1d 3h ago)")
    assert sorted(lines[1:]) == sorted(
        f"agent {h}: last synced ok 1d 3h ago (more than 1d 2h)" for h in fake.published_handles()
    )
    # A longer --max-age (in any unit) makes the same warehouse healthy again.
    assert check(sqlite_url, "--max-age", "2d").exit_code == 0
    assert check(sqlite_url, "--max-age", "1700m").exit_code == 0
    assert check(sqlite_url, "--max-age", "90m").exit_code == 1


def test_one_agent_failing_every_night_is_named(fake, fake_server, pg_url, traveller):
    bad, *good = fake.published_handles()
    assert sync_in_process(fake_server, fake, pg_url).outcome == "ok"
    fake.access.refuse(bad, 206)
    for day in (1, 2):  # two partial nights: the run-level check is satisfied by neither
        traveller.move_to(T0 + timedelta(days=day))
        assert sync_in_process(fake_server, fake, pg_url).outcome == "partial"
    proc = check(pg_url, "--json")
    assert proc.exit_code == 1
    doc = json.loads(proc.stdout)
    assert doc["healthy"] is False
    kinds = {(f["kind"], f["subject"]) for f in doc["findings"]}
    assert kinds == {("stale_run", None), ("stale_agent", bad)}
    assert doc["last_success"] == T0.isoformat()


@pytest.mark.parametrize("database", ["sqlite_url", "pg_url"])
def test_a_run_that_died_since_the_last_success(fake, fake_server, database, request, traveller):
    url = request.getfixturevalue(database)
    assert sync_in_process(fake_server, fake, url).outcome == "ok"
    traveller.move_to(T0 + timedelta(hours=1))

    def killed(_result, _page):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt  # the process goes away mid-run: the row stays `running`

    config = SyncConfig(fake_server.url, fake.token, fake.org, url)
    runner = SyncRunner(config)
    runner.on_page = killed
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    runner.engine.dispose()
    traveller.move_to(T0 + timedelta(hours=2))
    proc = check(url)
    assert proc.exit_code == 1
    assert proc.stdout.strip().splitlines() == ["run 2 (started 2026-02-01 13:00 UTC) died"]

    # The next good run clears it: the death is before the last success now.
    assert sync_in_process(fake_server, fake, url).outcome == "ok"
    assert check(url).exit_code == 0


def test_a_run_under_way_is_not_a_death(fake, fake_server, sqlite_url, traveller):
    assert sync_in_process(fake_server, fake, sqlite_url).outcome == "ok"
    traveller.move_to(T0 + timedelta(hours=1))
    during: list[tuple[int, str]] = []

    def look(_result, _page):  # type: ignore[no-untyped-def]
        if not during:  # the check a monitoring system runs while the night's sync goes on
            proc = check(sqlite_url)
            during.append((proc.exit_code, proc.output))

    runner = SyncRunner(SyncConfig(fake_server.url, fake.token, fake.org, sqlite_url))
    runner.on_page = look
    assert runner.run().outcome == "ok"
    runner.engine.dispose()
    assert during == [(0, "healthy\n")]


def test_unresolved_rejected_records_above_the_threshold(fake, fake_server, sqlite_url, traveller):
    handle = fake.published_handles()[0]
    fake.add_task(handle, task_id=None)  # cannot be normalized: kept in rejected_records
    assert sync_in_process(fake_server, fake, sqlite_url).outcome == "ok"
    proc = check(sqlite_url)
    assert proc.exit_code == 1
    assert proc.stdout.strip() == (
        "1 unresolved rejected record(s) (more than 0): see the rejected_records table"
    )
    assert check(sqlite_url, "--max-rejected", "1").exit_code == 0


def test_never_creates_a_database(tmp_path: Path):
    path = tmp_path / "nothing.db"
    proc = check(f"sqlite:///{path}")
    assert proc.exit_code == 2
    assert "no SQLite warehouse" in proc.stderr
    assert not path.exists()


def test_an_empty_database_is_a_usage_error_and_stays_empty(empty_pg_url):
    proc = check(empty_pg_url)
    assert proc.exit_code == 2
    assert "no unpod-etl tables" in proc.stderr
    again = check(empty_pg_url)  # nothing was migrated by the first call
    assert again.exit_code == 2


def test_unreachable_database_exit_3():
    proc = check("postgresql://nobody:secret@127.0.0.1:1/none")
    assert proc.exit_code == 3
    assert "unreachable" in proc.stderr and "secret" not in proc.stderr


@pytest.mark.parametrize("value", ["26", "h", "0h", "-3h", "26 hours", "2x"])
def test_bad_max_age_exit_2(sqlite_url, value):
    proc = check(sqlite_url, "--max-age", value)
    assert proc.exit_code == 2
    assert "duration" in proc.stderr
    assert "Traceback" not in proc.output


def test_verify_adds_a_finding_per_agent_that_differs(fake, fake_server, pg_url, traveller):
    assert sync_in_process(fake_server, fake, pg_url).outcome == "ok"
    api = ["--api-url", fake_server.url, "--token", fake.token, "--org", fake.org]
    agreed = check(pg_url, "--verify", *api)
    assert agreed.exit_code == 0, agreed.output
    assert agreed.output.strip() == "healthy"
    handle = fake.published_handles()[1]
    fake.remove_task(fake.tasks(handle)[0]["task_id"])
    fake.add_task(handle)
    differs = check(pg_url, "--verify", "--json", *api)
    assert differs.exit_code == 1
    found = json.loads(differs.stdout)["findings"]
    assert found == [
        {
            "kind": "verify",
            "subject": handle,
            "message": f"agent {handle}: the warehouse differs from the API (missing 1, gone 1)",
        }
    ]
    assert check(pg_url).exit_code == 0  # without --verify the API is not asked


def test_an_agent_not_walked_fully_within_the_bound_is_a_finding(
    fake, fake_server, sqlite_url, traveller
):
    # Full walk at T0; then, with --full-walk-every far off, only shallow walks: the agents
    # sync ok but what lies below where the walks stop is as old as the full walk.
    assert sync_in_process(fake_server, fake, sqlite_url).outcome == "ok"
    traveller.move_to(T0 + timedelta(days=3))
    config = SyncConfig(
        fake_server.url,
        fake.token,
        fake.org,
        sqlite_url,
        page_size=7,
        full_walk_every=timedelta(days=30),
    )
    shallow = SyncRunner(config).run()
    assert shallow.outcome == "ok" and {a.walk for a in shallow.agents} == {"shallow"}
    found = check(sqlite_url, "--json")
    assert found.exit_code == 1, found.output
    doc = json.loads(found.stdout)
    stale = [f for f in doc["findings"] if f["kind"] == "stale_full_walk"]
    assert sorted(f["subject"] for f in stale) == sorted(fake.published_handles())
    assert [f["kind"] for f in doc["findings"]] == ["stale_full_walk"] * len(stale)
    assert "last complete full walk 3d ago (more than 2d 2h)" in stale[0]["message"]
    assert check(sqlite_url, "--max-full-walk-age", "4d").exit_code == 0
    # A full walk puts it right.
    assert sync_in_process(fake_server, fake, sqlite_url).outcome == "ok"
    assert check(sqlite_url).exit_code == 0
