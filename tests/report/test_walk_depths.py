"""The report's walk-depth table: each agent's newest walk and, over the report's runs, the
deepest page a change was found on. Real syncs against the fake API at frozen times after
its fixed data (every task old and settled: full, then shallow walks)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import time_machine
from sqlalchemy import Engine

from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.report import build_report, load_report_data
from unpod_etl.warehouse.db import make_engine

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # a month after the fake's newest task


def sync_at(
    when: datetime,
    server: FakeServer,
    fake: FakeUnpod,
    url: str,
    engine: Engine,
    agents: tuple[str, ...] = (),
) -> None:
    config = SyncConfig(server.url, fake.token, fake.org, url, agents=agents, page_size=5)
    with time_machine.travel(when, tick=False):
        SyncRunner(config, engine=engine).run()


def cells(page: str, handle: str) -> list[str]:
    row = re.search(rf'<tr data-agent="{re.escape(handle)}">(.*?)</tr>', page)
    assert row, page[-2000:]
    return [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))]


def test_walk_table_shows_the_last_walk_and_the_deepest_change(any_url):
    fake = FakeUnpod(agents=3, tasks_per_agent=40, seed=7)
    quiet, changing = fake.published_handles()
    engine = make_engine(any_url)
    with FakeServer(fake) as server:
        sync_at(T0, server, fake, any_url, engine)  # full (never): all new, down to page 8
        sync_at(T0 + timedelta(hours=1), server, fake, any_url, engine)  # shallow: 2 pages
        # Page 2's first task changes: the walk reads on to two settled pages below it.
        fake.move_status(fake.tasks(changing)[5]["task_id"], "in_progress")
        sync_at(T0 + timedelta(hours=2), server, fake, any_url, engine)
    with engine.connect() as conn:
        page = build_report(conn, 7, now=T0 + timedelta(hours=2))
        walks = load_report_data(conn, 7, T0 + timedelta(hours=2)).walks
    assert "Walk depth per agent" in page and "last 3 runs" in page
    # agent, last walk, full-walk reason, pages walked, deepest change page, deepest change
    # over the report's runs, most pages walked, shallow / full walks
    assert cells(page, quiet) == [quiet, "shallow (run #3)", "–", "2", "–", "8", "9", "2 / 1"]
    assert cells(page, changing) == [changing, "shallow (run #3)", "–", "4", "2", "8", "9", "2 / 1"]
    assert [a["agent_handle"] for a in walks.agents] == sorted([quiet, changing])


def test_a_run_that_skips_an_agent_keeps_its_last_walk(sqlite_url):
    fake = FakeUnpod(agents=3, tasks_per_agent=40, seed=7)
    kept, synced = fake.published_handles()
    engine = make_engine(sqlite_url)
    with FakeServer(fake) as server:
        sync_at(T0, server, fake, sqlite_url, engine)
        sync_at(T0 + timedelta(hours=1), server, fake, sqlite_url, engine, agents=(synced,))
    with engine.connect() as conn:
        page = build_report(conn, 7, now=T0 + timedelta(hours=1))
    assert cells(page, kept) == [kept, "full (run #1)", "never", "9", "8", "8", "9", "0 / 1"]
    assert cells(page, synced) == [synced, "shallow (run #2)", "–", "2", "–", "8", "9", "1 / 1"]
