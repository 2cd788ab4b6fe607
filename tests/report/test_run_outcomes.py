"""Every run outcome is drawn: a coloured column in the runs chart and a styled table cell."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select, update

from unpod_etl.core.outcomes import EXIT_CODES, RunOutcome
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.report import build_report
from unpod_etl.report.charts import RUN_COLORS, RUN_TEXT_COLORS, run_strip
from unpod_etl.report.page import CSS
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.schema import sync_runs


def test_every_run_outcome_has_a_colour_a_text_style_and_an_exit_code():
    assert set(RUN_COLORS) == set(RunOutcome)
    assert set(RUN_TEXT_COLORS) == set(RunOutcome)
    assert set(EXIT_CODES) == set(RunOutcome)
    assert len(set(RUN_COLORS.values())) == len(RunOutcome)  # told apart at a glance
    for outcome in RunOutcome:
        assert f".outcome-{outcome.value} {{ color: {RUN_TEXT_COLORS[outcome]}; }}" in CSS


def test_the_run_strip_draws_one_column_per_run_whatever_its_outcome():
    runs = [
        {"run_id": n, "outcome": outcome.value, "tasks_seen": 10 * n}
        for n, outcome in enumerate(RunOutcome, start=1)
    ]
    svg = run_strip(runs, "runs")
    fills = re.findall(r'<rect class="bar"[^>]* fill="([^"]+)"><title>run #(\d+) · (\w+)', svg)
    assert [(int(n), o) for _, n, o in fills] == [(r["run_id"], r["outcome"]) for r in runs]
    assert [fill for fill, _, _ in fills] == [RUN_COLORS[o] for o in RunOutcome]


def test_a_died_run_is_a_coloured_column_and_a_styled_cell_in_the_report(sqlite_url):
    now = datetime.now(UTC)
    fake = FakeUnpod(agents=2, tasks_per_agent=20, seed=5, newest=now.replace(tzinfo=None))
    engine = make_engine(sqlite_url)
    with FakeServer(fake) as server:
        SyncRunner(SyncConfig(server.url, fake.token, fake.org, sqlite_url), engine=engine).run()
    with engine.begin() as conn:  # as liveness.mark_died leaves a run whose process was killed
        run_id, seen = conn.execute(select(sync_runs.c.run_id, sync_runs.c.tasks_seen)).one()
        conn.execute(update(sync_runs).values(outcome=RunOutcome.DIED, finished_at=None))
    with engine.connect() as conn:
        page = build_report(conn, 7, now=now)
    died = RUN_COLORS[RunOutcome.DIED]
    assert re.search(rf'fill="{died}"><title>run #{run_id} · died · {seen} tasks seen', page)
    assert '<td class="outcome-died">died</td>' in page
    assert ".outcome-died {" in page
