"""`unpod-etl forget` through the real CLI, after real syncs of the fake API."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, func, select

from tests.helpers import cli_env, sync_command
from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.warehouse.schema import calls, erasures, tasks, transcript_lines

KEY = "test-only pii key"


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def forget(url: str, contact: str, *extra: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    cmd = [sys.executable, "-m", "unpod_etl", "forget", "--database-url", url]
    return run([*cmd, "--contact", contact, *extra], env)


def a_contact(fake: FakeUnpod) -> tuple[str, set[str]]:
    """A phone number of the source and the ids of the tasks that carry it."""
    docs = [d for h in fake.published_handles() for d in fake.tasks(h)]
    phone = next(d["input"]["contact_number"] for d in docs if isinstance(d.get("output"), dict))
    ids = {d["task_id"] for d in docs if phone in json.dumps(d)}
    return phone, ids


def counts(url: str, ids: set[str]) -> list[int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = [
            conn.execute(select(func.count()).select_from(t).where(t.c.task_id.in_(ids))).scalar()
            for t in (tasks, calls, transcript_lines)
        ]
    engine.dispose()
    return [int(n or 0) for n in found]


@pytest.mark.parametrize("mode", ["keep", "hash"])
def test_forget_deletes_records_and_keeps_the_person_out(fake, fake_server, pg_url, mode):
    env = {"UNPOD_ETL_PII_KEY": KEY}
    done = run(sync_command(fake_server.url, fake, pg_url, "--pii", mode), env)
    assert done.returncode == 0, done.stderr
    phone, ids = a_contact(fake)
    assert counts(pg_url, ids)[0] == len(ids) > 0
    spaced = f"{phone[:3]} {phone[3:6]} {phone[6:]}"  # another spelling of the same number
    out = forget(pg_url, spaced, "--yes", "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["tasks"] == len(ids) and report["erasure_recorded"] is True
    assert report["scheme"] == ("hmac" if mode == "hash" else "sha256")
    assert counts(pg_url, ids) == [0, 0, 0]
    assert report["calls"] >= 1 and report["transcript_lines"] >= 0
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        recorded = conn.execute(select(erasures)).mappings().all()
        remaining = conn.execute(select(func.count()).select_from(tasks)).scalar()
    engine.dispose()
    assert len(recorded) == 1 and phone not in json.dumps([dict(r) for r in recorded], default=str)
    assert phone[1:] not in json.dumps([dict(r) for r in recorded], default=str)
    # The next sync sees the person's tasks again and writes none of them.
    config = SyncConfig(fake_server.url, fake.token, fake.org, pg_url, pii=mode, pii_key=KEY)
    result = SyncRunner(config).run()
    assert result.outcome == "ok" and result.total("erased") == len(ids)
    assert result.total("inserted") == 0
    assert counts(pg_url, ids) == [0, 0, 0]
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tasks)).scalar() == remaining
    engine.dispose()


def test_forget_by_email_on_sqlite_prints_what_went(fake, fake_server, sqlite_url):
    assert run(sync_command(fake_server.url, fake, sqlite_url)).returncode == 0
    doc = fake.tasks(fake.published_handles()[0])[0]
    email = doc["input"]["email"]
    ids = {
        d["task_id"]
        for h in fake.published_handles()
        for d in fake.tasks(h)
        if email.lower() in json.dumps(d).lower()
    }
    out = forget(sqlite_url, email.upper(), "--yes")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"forgot one email contact: {len(ids)} tasks,")
    assert counts(sqlite_url, ids)[0] == 0


def test_forget_refuses_without_confirmation_or_key(fake, fake_server, sqlite_url):
    env = {"UNPOD_ETL_PII_KEY": KEY}
    assert (
        run(sync_command(fake_server.url, fake, sqlite_url, "--pii", "hash"), env).returncode == 0
    )
    phone, ids = a_contact(fake)
    no_tty = forget(sqlite_url, phone, env=env)
    assert no_tty.returncode == 2 and "--yes" in no_tty.stderr
    assert len(no_tty.stderr.strip().splitlines()) == 1
    no_key = forget(sqlite_url, phone, "--yes")
    assert no_key.returncode == 2 and "UNPOD_ETL_PII_KEY" in no_key.stderr
    assert "Traceback" not in no_key.stderr
    wrong = forget(sqlite_url, phone, "--yes", env={"UNPOD_ETL_PII_KEY": "other"})
    assert wrong.returncode == 2 and "not the key" in wrong.stderr
    assert counts(sqlite_url, ids)[0] == len(ids)  # nothing deleted by any of them


def test_sync_cli_refuses_a_mode_change_in_one_line(fake, fake_server, sqlite_url):
    assert run(sync_command(fake_server.url, fake, sqlite_url)).returncode == 0
    env = {"UNPOD_ETL_PII_KEY": KEY}
    refused = run(sync_command(fake_server.url, fake, sqlite_url, "--pii", "hash"), env)
    assert refused.returncode == 2 and "--rewrite-pii" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    missing = run(sync_command(fake_server.url, fake, sqlite_url, "--pii", "hash"))
    assert missing.returncode == 2 and "UNPOD_ETL_PII_KEY" in missing.stderr
    rewrite = [*sync_command(fake_server.url, fake, sqlite_url, "--pii", "hash"), "--rewrite-pii"]
    done = run(rewrite, env)
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stderr + done.stdout
