"""The report counts every call: one with no start time is dated by its task's creation."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from tests.helpers import sync_in_process
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.report import build_report, load_report_data
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.schema import calls

# The fake's default data ends on 2026-01-31 (fakeapi.generator.NEWEST_CREATED); a report
# made the day after, over 30 days, covers all of it whatever today is.
NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request, tmp_path) -> str:  # type: ignore[no-untyped-def]
    url = (
        f"sqlite:///{tmp_path / 'report.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    fake = FakeUnpod(agents=3, tasks_per_agent=120, seed=5)
    with FakeServer(fake) as server:
        assert sync_in_process(server, fake, url).exit_code == 0
    return url


def test_the_report_counts_every_call(warehouse_url: str) -> None:
    engine = make_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(calls))
            unstarted = conn.scalar(select(func.count()).where(calls.c.start_time.is_(None)))
            data = load_report_data(conn, 30, NOW)
            page = build_report(conn, 30, now=NOW)
    finally:
        engine.dispose()

    assert unstarted, "the fake must serve calls without a start time for this test to bite"
    assert data.totals["calls"] == stored
    assert sum(n for by_day in data.calls_by_agent_day.values() for n in by_day.values()) == stored
    assert sum(n for _, n in data.outcomes) == stored
    assert data.totals["calls_dated_by_task"] == unstarted

    kpi = re.search(r'<div class="kpi"><b>([\d,]+)</b><span>calls</span>', page)
    assert kpi is not None and int(kpi.group(1).replace(",", "")) == stored
    note = re.search(r'<p class="note" data-calls-dated-by-task="(\d+)">([^<]*)</p>', page)
    assert note is not None and int(note.group(1)) == unstarted
    assert f"{unstarted:,} calls have no start time" in note.group(2)
    assert "creation of their task" in note.group(2)


def test_no_note_when_every_call_has_a_start_time(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    fake = FakeUnpod(agents=2, tasks_per_agent=30, seed=5)
    with FakeServer(fake) as server:
        sync_in_process(server, fake, url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:  # keep only the calls that started
            conn.execute(calls.delete().where(calls.c.start_time.is_(None)))
            page = build_report(conn, 30, now=NOW)
            stored = conn.scalar(select(func.count()).select_from(calls))
    finally:
        engine.dispose()
    assert 'class="note"' not in page
    assert f"<b>{stored:,}</b><span>calls</span>" in page
