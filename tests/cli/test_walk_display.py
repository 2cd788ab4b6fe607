"""The adaptive walk made visible: the `sync` summary, `status` (text and --json) and the
metrics file tell per agent how the walk went (full and why, or shallow), how deep it read,
where it found a change, and when the agent's last complete full walk started.

Real syncs against the fake API, at frozen times after its (fixed) data: every task is
old and settled, so with 5 tasks a page the first walk is full (never walked), the next
one shallow after the 2 settled pages --settled-pages asks for."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from click.testing import CliRunner, Result
from prometheus_client.parser import text_string_to_metric_families

from unpod_etl.cli.main import main
from unpod_etl.fakeapi import FakeServer, FakeUnpod

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # a month after the fake's newest task
PAGE_SIZE = 5
TASKS = 40  # 8 pages of 5, and the empty page that ends the list


@pytest.fixture
def fake() -> FakeUnpod:
    return FakeUnpod(agents=2, tasks_per_agent=TASKS, seed=7)  # one published agent


@pytest.fixture
def server(fake: FakeUnpod):  # type: ignore[no-untyped-def]
    with FakeServer(fake) as running:
        yield running


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={}, catch_exceptions=False)


def sync_at(when: datetime, server: FakeServer, fake: FakeUnpod, url: str, *args: str) -> Result:
    argv = ["sync", "--api-url", server.url, "--token", fake.token, "--org", fake.org]
    with time_machine.travel(when, tick=False):
        result = cli(*argv, "--database-url", url, "--page-size", str(PAGE_SIZE), *args)
    assert result.exit_code == 0, result.output
    return result


def rows_of(text: str, first_column: str) -> list[dict[str, str]]:
    """The rows of the render.table whose header starts with `first_column`, cut at the
    header's column offsets (empty cells stay empty instead of shifting the others)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_column + " "))
    header = lines[start]
    offsets = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        bounds = [*offsets[1:], None]
        rows.append({n: line[a:b].strip() for n, a, b in zip(names, offsets, bounds, strict=True)})
    return rows


def summary_row(result: Result, handle: str) -> dict[str, str]:
    return next(r for r in rows_of(result.output, "agent") if r["agent"] == handle)


def test_summary_and_status_show_each_walk(server, fake, any_url):
    (handle,) = fake.published_handles()
    first = summary_row(sync_at(T0, server, fake, any_url), handle)
    assert (first["walk"], first["pages_walked"]) == ("full (never)", "9")
    assert first["deepest_change"] == str(TASKS // PAGE_SIZE)  # every task new: the last page

    second = summary_row(sync_at(T0 + timedelta(hours=1), server, fake, any_url), handle)
    assert (second["walk"], second["pages_walked"], second["deepest_change"]) == (
        "shallow",
        "2",
        "",  # nothing changed
    )
    # A change on page 1 unsettles it: the walk reads 2 settled pages below it.
    fake.move_status(fake.tasks(handle)[0]["task_id"], "in_progress")
    third = summary_row(sync_at(T0 + timedelta(hours=2), server, fake, any_url), handle)
    assert (third["walk"], third["pages_walked"], third["deepest_change"]) == ("shallow", "3", "1")
    assert third["updated"] == "1"

    status = cli("status", "--database-url", any_url)
    assert status.exit_code == 0, status.output
    assert "walks (run 3)" in status.output
    (walk,) = rows_of(status.output, "agent_handle")
    assert walk == {
        "agent_handle": handle,
        "walk": "shallow",
        "pages_walked": "3",
        "deepest_change_page": "1",
        "last_full_walk_started_at": T0.strftime("%Y-%m-%d %H:%M:%S"),  # the shallow ones
    }  # are never complete, so the first run's walk is the one settled tasks date from

    doc = json.loads(cli("status", "--json", "--database-url", any_url).output)
    assert doc["walks"] == [
        {
            "agent_handle": handle,
            "run_id": 3,
            "walk": "shallow",
            "full_walk_reason": None,
            "pages_walked": 3,
            "deepest_change_page": 1,
            "last_full_walk_started_at": T0.isoformat(),
        }
    ]
    by_run = {a["run_id"]: a for a in doc["agents"]}
    assert (by_run[1]["walk"], by_run[1]["full_walk_reason"], by_run[1]["pages_walked"]) == (
        "full",
        "never",
        9,
    )
    assert by_run[1]["deepest_change_page"] == TASKS // PAGE_SIZE


def test_full_walks_say_why(server, fake, sqlite_url):
    (handle,) = fake.published_handles()
    sync_at(T0, server, fake, sqlite_url)
    requested = summary_row(
        sync_at(T0 + timedelta(hours=1), server, fake, sqlite_url, "--walk", "full"), handle
    )
    assert (requested["walk"], requested["deepest_change"]) == ("full (requested)", "")
    due_at = T0 + timedelta(hours=22)  # the default --full-walk-every is 20h after the last one
    due = summary_row(sync_at(due_at, server, fake, sqlite_url), handle)
    assert (due["walk"], due["pages_walked"]) == ("full (due)", "9")

    doc = json.loads(cli("status", "--json", "--database-url", sqlite_url).output)
    (walk,) = doc["walks"]
    assert (walk["walk"], walk["full_walk_reason"]) == ("full", "due")
    assert walk["last_full_walk_started_at"] == due_at.isoformat()


def samples(path: Path) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("agent", "")): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


def test_metrics_tell_the_walk(server, fake, sqlite_url, tmp_path):
    (handle,) = fake.published_handles()
    path = tmp_path / "unpod_etl.prom"
    sync_at(T0, server, fake, sqlite_url, "--metrics-file", str(path))
    full: dict[tuple[str, str], Any] = samples(path)
    assert full[("unpod_etl_last_run_pages_walked", handle)] == 9
    assert full[("unpod_etl_last_run_walk_shallow", handle)] == 0
    sync_at(T0 + timedelta(hours=1), server, fake, sqlite_url, "--metrics-file", str(path))
    shallow = samples(path)
    assert shallow[("unpod_etl_last_run_pages_walked", handle)] == 2
    assert shallow[("unpod_etl_last_run_walk_shallow", handle)] == 1
