"""A sync killed with SIGKILL at any moment leaves a consistent warehouse; the next run heals it."""

from __future__ import annotations

import signal
import subprocess
import time

from sqlalchemy import select

from tests.helpers import (
    actual_rows,
    assert_consistent,
    cli_env,
    expected_rows,
    run_sync_cli,
    sync_command,
)
from unpod_etl.warehouse.schema import sync_runs


def task_requests(fake) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for r in fake.access.requests if r.path.endswith("/tasks/"))


def kill_after_requests(fake, server_url: str, db_url: str, n: int) -> int:  # type: ignore[no-untyped-def]
    """Start a real sync, SIGKILL it once the fake has served n more task pages."""
    start = task_requests(fake)
    proc = subprocess.Popen(
        sync_command(server_url, fake, db_url, "--page-size", "3", "--workers", "2"),
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while task_requests(fake) - start < n and proc.poll() is None:
        assert time.monotonic() < deadline, "the sync made no progress"
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=30)


def test_sigkill_at_several_moments_then_heal(fake, fake_server, pg_url, pg_engine):
    handles = fake.published_handles()
    codes = []
    for n in (1, 5, 12, 20):
        # Change the source between crashes so later runs rewrite as well as insert.
        pending = [t for t in fake.tasks(handles[n % len(handles)]) if t["status"] == "pending"]
        if pending:
            fake.complete_without_marker(pending[0]["task_id"])
        codes.append(kill_after_requests(fake, fake_server.url, pg_url, n))
        assert_consistent(pg_engine)
    assert any(code == -signal.SIGKILL for code in codes), codes

    with pg_engine.connect() as conn:
        outcomes = conn.execute(select(sync_runs.c.outcome)).scalars().all()
    assert "running" in outcomes  # the killed runs are recorded as not finished

    status = subprocess.run(
        [*sync_command(fake_server.url, fake, pg_url)[:3], "status", "--database-url", pg_url],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0 and "died" in status.stdout, status.stdout + status.stderr

    healed = run_sync_cli(fake_server.url, fake, pg_url, "--page-size", "3")
    assert healed.returncode == 0, healed.stderr
    assert actual_rows(pg_engine) == expected_rows(fake, handles)
    assert_consistent(pg_engine)
    with pg_engine.connect() as conn:
        outcomes = conn.execute(select(sync_runs.c.outcome)).scalars().all()
    assert "running" not in outcomes and outcomes.count("died") >= 1
    assert outcomes[-1] == "ok"


def test_sigkill_on_sqlite_then_heal(fake, fake_server, sqlite_url):
    from unpod_etl.warehouse.db import make_engine

    kill_after_requests(fake, fake_server.url, sqlite_url, 4)
    engine = make_engine(sqlite_url)
    assert_consistent(engine)
    healed = run_sync_cli(fake_server.url, fake, sqlite_url, "--page-size", "3")
    assert healed.returncode == 0, healed.stderr
    assert actual_rows(engine) == expected_rows(fake, fake.published_handles())
