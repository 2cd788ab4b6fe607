"""Shared test helpers: run the real CLI, compare the warehouse with the fake's source."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from sqlalchemy import Engine, func, select, text

from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.normalize import normalize_task
from unpod_etl.pipeline.results import RunResult
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.source.client import UnpodClient
from unpod_etl.warehouse.schema import calls, tasks, transcript_lines


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("UNPOD_")}
    return {**base, **(extra or {})}


def sync_command(server_url: str, fake: FakeUnpod, db_url: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "unpod_etl",
        "sync",
        "--api-url",
        server_url,
        "--token",
        fake.token,
        "--org",
        fake.org,
        "--database-url",
        db_url,
        *args,
    ]


def sync_in_process(
    server: FakeServer,
    fake: FakeUnpod,
    url: str,
    *,
    page_size: int = 100,
    agents: tuple[str, ...] = (),
    engine: Engine | None = None,
    client: UnpodClient | None = None,
    walk: str = "full",
) -> RunResult:
    """One sync of the fake into `url`, in this process: the one way tests run it directly.

    A full walk unless told: these tests change tasks anywhere in the list and expect the
    next sync to see it; the adaptive walk has tests of its own (test_adaptive_walk*.py)."""
    config = SyncConfig(
        server.url, fake.token, fake.org, url, agents=agents, page_size=page_size, walk=walk
    )
    return SyncRunner(config, engine=engine, client=client).run()


def run_sync_cli(
    server_url: str, fake: FakeUnpod, db_url: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sync_command(server_url, fake, db_url, *args),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def expected_rows(fake: FakeUnpod, handles: list[str]) -> dict[str, Any]:
    """What the warehouse must hold for these agents: fingerprints, calls, line counts."""
    fingerprints, call_lines = {}, {}
    for handle in handles:
        for doc in fake.tasks(handle):
            item = normalize_task(doc, handle)
            fingerprints[item.task["task_id"]] = item.task["fingerprint"]
            if item.call is not None:
                call_lines[item.call["call_id"]] = len(item.lines)
    return {"fingerprints": fingerprints, "call_lines": call_lines}


def actual_rows(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        fingerprints = dict(conn.execute(select(tasks.c.task_id, tasks.c.fingerprint)).all())
        line_counts = dict(
            conn.execute(
                select(transcript_lines.c.call_id, func.count()).group_by(
                    transcript_lines.c.call_id
                )
            ).all()
        )
        call_ids = conn.execute(select(calls.c.call_id)).scalars().all()
    return {
        "fingerprints": fingerprints,
        "call_lines": {cid: line_counts.get(cid, 0) for cid in call_ids},
    }


def consistency_problems(engine: Engine) -> dict[str, int]:
    """Counts of rows that break the all-or-nothing rule of a task's write (all must be 0)."""
    checks = {
        "call task without its call": """
            SELECT count(*) FROM tasks t WHERE t.output_kind = 'call'
            AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.task_id = t.task_id)""",
        "call without its task": """
            SELECT count(*) FROM calls c
            WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = c.task_id)""",
        "lines without their call": """
            SELECT count(*) FROM transcript_lines l
            WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.call_id = l.call_id)""",
        "call whose line count is off": """
            SELECT count(*) FROM calls c WHERE c.transcript_line_count <>
            (SELECT count(*) FROM transcript_lines l WHERE l.call_id = c.call_id)""",
        "gap in a transcript's seq": """
            SELECT count(*) FROM calls c WHERE c.transcript_line_count > 0 AND
            (SELECT max(seq) + 1 FROM transcript_lines l WHERE l.call_id = c.call_id)
            <> c.transcript_line_count""",
    }
    with engine.connect() as conn:
        return {name: int(conn.execute(text(sql)).scalar_one()) for name, sql in checks.items()}


def all_table_text(engine: Engine) -> str:
    """Every row of every table as text, for secret scans."""
    from unpod_etl.warehouse.schema import metadata

    parts = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(select(table)))
    return "\n".join(parts)


def assert_consistent(engine: Engine) -> None:
    problems = consistency_problems(engine)
    assert problems == dict.fromkeys(problems, 0), problems
