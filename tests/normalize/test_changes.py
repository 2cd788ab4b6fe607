"""The change-detection rule as a decision table: no database, no API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple

import pytest

from unpod_etl.normalize.changes import Action, Decision, PageChanges, decide
from unpod_etl.normalize.records import NormalizedTask

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2025, 3, 1, 13, 0, tzinfo=UTC)


class Stored(NamedTuple):
    last_status_change: datetime | None
    fingerprint: str
    raw_fingerprint: str | None


HELD = Stored(T0, "fp", "raw")
HELD_BEFORE_RAW = Stored(T0, "fp", None)  # stored before raw fingerprints were kept


def row(moved: datetime | None = T0, fp: str = "fp", raw: str = "raw") -> dict[str, Any]:
    return {"task_id": "T1", "last_status_change": moved, "fingerprint": fp, "raw_fingerprint": raw}


@pytest.mark.parametrize(
    ("raw", "stored", "rejected", "action"),
    [
        ("raw", HELD, False, Action.UNTOUCHED),  # byte for byte as stored
        ("raw", HELD, True, Action.NORMALIZE),  # an open rejection: always normalized again
        ("other", HELD, False, Action.NORMALIZE),
        (None, HELD, False, Action.NORMALIZE),  # bytes not kept, value not hashable
        ("raw", None, False, Action.NORMALIZE),  # a task the warehouse does not hold
        (None, None, False, Action.NORMALIZE),
        ("raw", HELD_BEFORE_RAW, False, Action.NORMALIZE),
    ],
)
def test_before_normalizing(raw, stored, rejected, action):
    decision = decide(raw, stored, rejected)
    assert decision.action is action
    assert not decision.heals and not decision.writes_task
    assert decision.reason


@pytest.mark.parametrize(
    ("stored", "task", "action", "writes"),
    [
        (None, row(), Action.INSERT, True),
        (HELD, row(moved=T1), Action.MOVE, True),
        (HELD, row(moved=None), Action.MOVE, True),
        (Stored(None, "fp", "raw"), row(), Action.MOVE, True),
        (HELD, row(moved=T1, fp="new"), Action.MOVE, True),  # moved wins over changed
        (HELD, row(fp="new"), Action.CHANGE, True),
        (HELD, row(fp="new", raw="other"), Action.CHANGE, True),
        (HELD, row(raw="other"), Action.RAW_MOVED, False),  # e.g. keys reordered by the server
        (HELD_BEFORE_RAW, row(), Action.RAW_MOVED, False),
        (HELD, row(), Action.UNCHANGED, False),
    ],
)
@pytest.mark.parametrize("rejected", [False, True])
def test_after_normalizing(stored, task, action, writes, rejected):
    decision = decide(task["raw_fingerprint"], stored, rejected, task)
    assert decision.action is action
    assert decision.writes_task is writes
    assert decision.heals is rejected  # normalized fine: an open rejection is resolved
    assert decision.reason


def test_the_same_instant_in_another_zone_has_not_moved():
    task = row(moved=T0.astimezone(timezone(timedelta(hours=2))))
    assert decide("raw", HELD, False, task).action is Action.UNCHANGED


def item(**fields: Any) -> NormalizedTask:
    return NormalizedTask(task=row(**fields), call=None, lines=[])


def test_a_page_gathers_what_its_decisions_write():
    page = PageChanges()
    assert not page  # an unchanged page writes nothing
    written, raw_only = item(fp="new"), item(raw="other")
    page.add(Decision(Action.CHANGE, "changed"), written)
    page.add(Decision(Action.RAW_MOVED, "raw", heals=True), raw_only)
    page.add(Decision(Action.UNCHANGED, "same"), item())
    page.reject({"task_id": 3}, "task_id is not text")
    assert page.tasks == [written]
    assert page.raw_moved == [("T1", "other")]
    assert page.healed == ["T1"]
    assert page.rejected == [({"task_id": 3}, "task_id is not text")]
    assert page


@pytest.mark.parametrize(
    "decision",
    [Decision(Action.UNCHANGED, "same"), Decision(Action.UNTOUCHED, "same")],
)
def test_nothing_to_write_leaves_the_page_empty(decision):
    page = PageChanges()
    page.add(decision, item())
    assert not page
