"""The command line contract: options, environment variables, exit codes, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import cli_env, run_sync_cli
from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.warehouse.db import head_revision


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: str | None = None):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "unpod_etl", *args],
        env=cli_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def assert_clean_error(proc, code: int, words: str) -> None:  # type: ignore[no-untyped-def]
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert words in proc.stderr


def test_sync_exit_0_via_environment(fake, fake_server, pg_url):
    proc = run_cli(
        "sync",
        "--page-size",
        "9",
        env={
            "UNPOD_API_URL": fake_server.url,
            "UNPOD_API_TOKEN": fake.token,
            "UNPOD_ORG_HANDLE": fake.org,
            "UNPOD_ETL_DATABASE_URL": pg_url,
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert "TOTAL" in proc.stdout
    assert fake.token not in proc.stdout + proc.stderr
    for handle in fake.published_handles():
        assert handle in proc.stdout


def test_sync_exit_1_when_an_agent_fails(fake, fake_server, pg_url):
    handle = fake.published_handles()[0]
    fake.access.refuse(handle, 206)
    proc = run_sync_cli(fake_server.url, fake, pg_url)
    assert proc.returncode == 1, proc.stderr
    assert "206" in proc.stdout and handle in proc.stdout


def test_missing_token_exit_2(pg_url):
    proc = run_cli("sync", "--database-url", pg_url)
    assert_clean_error(proc, 2, "no API token")


@pytest.mark.parametrize("url", ["ftp://example.com", "not a url", "http://"])
def test_bad_api_url_exit_2(url, pg_url):
    proc = run_cli("sync", "--api-url", url, "--token", "x", "--database-url", pg_url)
    assert_clean_error(proc, 2, "API URL")


def test_bad_database_url_exit_2():
    proc = run_cli("sync", "--token", "x", "--database-url", "mysql://u@h/db")
    assert_clean_error(proc, 2, "unsupported database")


def test_refused_token_exit_3_without_printing_it(fake, fake_server, pg_url):
    secret = "tok-definitely-wrong-123"
    proc = run_cli(
        "sync",
        "--api-url",
        fake_server.url,
        "--token",
        secret,
        "--org",
        fake.org,
        "--database-url",
        pg_url,
    )
    assert_clean_error(proc, 3, "refused the token")
    assert secret not in proc.stdout + proc.stderr


def test_unreachable_database_exit_3(fake, fake_server):
    proc = run_cli(
        "sync",
        "--api-url",
        fake_server.url,
        "--token",
        fake.token,
        "--org",  # without one the run stops earlier, at exit 2 (no org, no --agent)
        fake.org,
        "--database-url",
        "postgresql://nobody:pw-secret@127.0.0.1:1/none",
    )
    assert_clean_error(proc, 3, "database")
    assert "pw-secret" not in proc.stderr


def test_db_upgrade_and_current(empty_pg_url):
    up = run_cli("db", "upgrade", "--database-url", empty_pg_url)
    assert up.returncode == 0, up.stderr
    cur = run_cli("db", "current", "--database-url", empty_pg_url)
    assert cur.returncode == 0 and cur.stdout.startswith(str(head_revision()))


def test_agents_lists_published_agents(fake, fake_server):
    proc = run_cli("agents", "--api-url", fake_server.url, "--token", fake.token, "--org", fake.org)
    assert proc.returncode == 0, proc.stderr
    for handle in fake.published_handles():
        assert handle in proc.stdout
    hidden = set(fake.all_handles()) - set(fake.published_handles())
    assert not any(h in proc.stdout for h in hidden)


def test_status_shows_runs(fake, fake_server, pg_url):
    assert run_sync_cli(fake_server.url, fake, pg_url).returncode == 0
    proc = run_cli("status", "--database-url", pg_url)
    assert proc.returncode == 0, proc.stderr
    assert "recent runs" in proc.stdout and " ok " in proc.stdout
    assert fake.published_handles()[0] in proc.stdout


def test_demo_on_embedded_default(tmp_path):
    proc = run_cli("demo", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "unpod_etl_demo.db").exists()  # a file of its own, not the warehouse's
    assert not (tmp_path / "unpod_etl.db").exists()
    assert "calls by agent and post-call outcome" in proc.stdout
    assert "TOTAL" in proc.stdout
    assert FakeUnpod().token not in proc.stdout


def test_status_json_for_machines(fake, fake_server, pg_url):
    import json

    handles = fake.published_handles()
    fake.access.refuse(handles[0], 404)
    assert run_sync_cli(fake_server.url, fake, pg_url).returncode == 1
    proc = run_cli("status", "--json", "--database-url", pg_url)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [r["outcome"] for r in doc["runs"]] == ["partial"]
    assert doc["runs"][0]["agents_failed"] == 1
    by_agent = {a["agent_handle"]: a for a in doc["agents"]}
    assert by_agent[handles[0]]["outcome"] == "failed" and "404" in by_agent[handles[0]]["error"]
    assert by_agent[handles[1]]["tasks_inserted"] == len(fake.tasks(handles[1]))
    assert doc["runs"][0]["started_at"].endswith("+00:00")


def test_status_json_times_carry_their_zone_on_sqlite_too(fake, fake_server, sqlite_url):
    # SQLite stores no zone; UtcTime gives every time back as aware UTC all the same.
    assert run_sync_cli(fake_server.url, fake, sqlite_url).returncode == 0
    proc = run_cli("status", "--json", "--database-url", sqlite_url)
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)["runs"][0]
    assert run["started_at"].endswith("+00:00") and run["finished_at"].endswith("+00:00")


def test_status_on_a_database_without_tables_is_a_clear_error(empty_pg_url):
    proc = run_cli("status", "--database-url", empty_pg_url)
    assert_clean_error(proc, 2, "no unpod-etl tables")


def test_log_format_json_writes_one_object_per_line(fake, fake_server, pg_url):
    import json

    fake.access.refuse(fake.published_handles()[0], 206)  # makes the sync log an error
    proc = run_cli(
        "--log-format",
        "json",
        "sync",
        "--api-url",
        fake_server.url,
        "--token",
        fake.token,
        "--org",
        fake.org,
        "--database-url",
        pg_url,
    )
    assert proc.returncode == 1
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    assert records, "no log records"
    assert {"ts", "level", "logger", "message"} <= set(records[0])
    assert any(r["level"] == "ERROR" and "206" in r["message"] for r in records)
