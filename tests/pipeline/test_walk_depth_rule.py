"""The adaptive walk's rule on its own (pipeline/walk_depth.py): pages told task by task,
no server and no database. The walks against the fake API are in test_adaptive_walk*.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from unpod_etl.pipeline.walk_depth import StoredList, WalkDepth, WalkSettings
from unpod_etl.warehouse.walk_state import LastFullWalk

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=10)  # settled age
YOUNG = NOW - timedelta(hours=3)  # inside the 48h settle window
RECENT_FULL = LastFullWalk(NOW - timedelta(hours=2), api_count=100, stored_tasks=100)


def depth(
    *, watched: dict[str, datetime] | None = None, live: int = 100, **settings: object
) -> WalkDepth:
    stored = StoredList(RECENT_FULL, watched or {}, live)
    return WalkDepth(WalkSettings(**settings), stored, NOW)  # type: ignore[arg-type]


def page(
    walk: WalkDepth,
    number: int,
    tasks: list[tuple[str, datetime | None, bool]],
    *,
    count: int = 100,
    new: int = 0,
) -> bool:
    """One page of (task_id, created, unchanged); True when the walk may stop after it."""
    look = walk.look()
    for n, (task_id, created, unchanged) in enumerate(tasks):
        look.task(task_id, created, unchanged=unchanged, new=n < new)
    walk.end_page(number, count, look, changed=any(not u for _t, _c, u in tasks))
    return walk.may_stop()


def settled(prefix: str, created: datetime = OLD) -> list[tuple[str, datetime | None, bool]]:
    return [(f"{prefix}{i}", created - timedelta(minutes=i), True) for i in range(5)]


def test_stops_after_k_settled_pages_below_a_young_head() -> None:
    walk = depth()
    assert not page(walk, 1, [("y1", YOUNG, True)])  # too young to have settled
    assert not page(walk, 2, settled("a"))
    assert page(walk, 3, settled("b"))
    assert (walk.walk, walk.full_reason, walk.pages_walked) == ("shallow", None, 3)


def test_a_change_breaks_the_run_of_settled_pages() -> None:
    walk = depth()
    assert not page(walk, 1, settled("a"))
    assert not page(walk, 2, [*settled("b")[:4], ("c", OLD, False)])  # one task changed
    assert not page(walk, 3, settled("d"))
    assert page(walk, 4, settled("e"))
    assert walk.deepest_change_page == 2


def test_a_task_of_unknown_age_is_not_settled() -> None:
    walk = depth(settled_pages=1)
    assert not page(walk, 1, [("a", None, True)])
    assert page(walk, 2, settled("b"))


def test_pages_of_tasks_seen_before_neither_count_nor_break_the_run() -> None:
    walk = depth()
    assert not page(walk, 1, settled("a"))
    assert not page(walk, 2, [])  # a shift: every task on it was read on page 1
    assert page(walk, 3, settled("b"))


def test_a_walk_reads_past_every_watched_task() -> None:
    deep = OLD - timedelta(days=2)
    walk = depth(watched={"w": deep})
    assert not page(walk, 1, settled("a"))
    assert not page(walk, 2, settled("b"))  # settled twice over, but "w" is further down
    assert not page(walk, 3, settled("c", OLD - timedelta(days=1)))
    assert page(walk, 4, [("w", deep, True), *settled("d", deep)[1:]])


def test_a_watched_task_gone_from_the_list_is_passed_by_an_older_one() -> None:
    walk = depth(watched={"gone": OLD - timedelta(days=1)}, settled_pages=1)
    assert not page(walk, 1, settled("a"))
    assert page(walk, 2, settled("b", OLD - timedelta(days=2)))  # older than "gone" was


def test_a_count_that_disagrees_walks_to_the_end() -> None:
    walk = depth(settled_pages=1, live=100)
    assert not page(walk, 1, settled("a"), count=99)  # one task less than stored: deleted below
    assert walk.full_reason == "count"
    assert not page(walk, 2, settled("b"), count=99)
    walk.finish(reached_end=True)
    assert (walk.walk, walk.full_reason) == ("full", "count")


def test_new_tasks_explain_a_higher_count() -> None:
    walk = depth(settled_pages=1, live=100)
    assert not page(walk, 1, [("n1", YOUNG, False), ("n2", YOUNG, False)], count=102, new=2)
    assert page(walk, 2, settled("a"), count=102)


def test_the_last_full_walk_calibrates_what_the_count_should_be() -> None:
    # The last full walk saw 103 listed for 100 stored (say, three of another agent's tasks).
    stored = StoredList(LastFullWalk(NOW - timedelta(hours=1), 103, 100), {}, 100)
    walk = WalkDepth(WalkSettings(settled_pages=1), stored, NOW)
    assert page(walk, 1, settled("a"), count=103)


@pytest.mark.parametrize(
    ("mode", "last", "reason"),
    [
        ("full", RECENT_FULL, "requested"),
        ("auto", None, "never"),
        ("auto", LastFullWalk(NOW - timedelta(hours=21), 100, 100), "due"),
        ("auto", LastFullWalk(NOW - timedelta(hours=19), 100, 100), None),
    ],
)
def test_why_a_walk_is_full_from_the_start(
    mode: str, last: LastFullWalk | None, reason: str | None
) -> None:
    walk = WalkDepth(WalkSettings(mode=mode), StoredList(last, {}, 100), NOW)
    assert walk.full_reason == reason
    if reason is not None:  # a full walk never stops early, however settled its pages
        assert not any(page(walk, n, settled(f"p{n}")) for n in range(1, 6))


def test_an_auto_walk_that_reaches_the_end_was_full_and_a_failed_one_was_not() -> None:
    short = depth()
    page(short, 1, [("y", YOUNG, True)])
    short.finish(reached_end=True)
    assert (short.walk, short.full_reason) == ("full", "end")
    failed = depth()
    page(failed, 1, [("y", YOUNG, True)])
    failed.finish(reached_end=False)
    assert (failed.walk, failed.full_reason) == ("shallow", None)


def test_a_page_part_seen_before_counts_for_its_fresh_tasks_only() -> None:
    walk = depth()
    # Pages of 5 served; tasks created at the head during the walk push 3 of each page's
    # tasks onto the next: 2 fresh settled tasks a page, not a page's worth.
    assert not page(walk, 1, settled("a"))
    stops = []
    for number in (2, 3, 4):
        look = walk.look()
        for task_id, created, _ in settled(f"p{number}-")[:2]:
            look.task(task_id, created, unchanged=True, new=False)
        walk.end_page(number, 100, look, changed=False, served=5)
        stops.append(walk.may_stop())
    # Two pages' worth (10) of settled tasks only once page 4 is read: 5 + 2 + 2 + 2.
    assert stops == [False, False, True]
