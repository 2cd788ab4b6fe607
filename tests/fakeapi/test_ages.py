"""Realistic ages (FakeUnpod(ages=AgeProfile(...))): months of tasks, only the recent moving."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest

from unpod_etl.fakeapi import AgeProfile, FakeUnpod
from unpod_etl.fakeapi import generator as gen

NEWEST = datetime(2026, 3, 10, 9, 30, 0)
PROFILE = AgeProfile(days=90, recent=timedelta(days=2), stuck_fraction=0.01)
SETTLED = {"completed", "partially_completed", "failed"}


def created(doc: dict) -> datetime:
    return datetime.fromisoformat(doc["created"])


@pytest.fixture(scope="module")
def aged() -> FakeUnpod:
    return FakeUnpod(4, 2_000, seed=5, newest=NEWEST, ages=PROFILE)


def test_without_a_profile_the_documents_are_todays():
    # Digest of the default documents before ages existed: every other test relies on them.
    digest = hashlib.sha256()
    fake = FakeUnpod()
    for handle in fake.all_handles():
        digest.update(fake.page_json(handle, 1, 40)[1])
    assert digest.hexdigest() == "4aa2b90444e1c0224582ad1ab336eb58428ac72904a8ccc4fc138d3c3052c713"


def test_created_spreads_evenly_over_the_days_newest_first(aged: FakeUnpod):
    step = timedelta(days=90) / 2_000
    for agent, handle in enumerate(aged.all_handles()):
        times = [created(doc) for doc in aged.tasks(handle)]
        assert all(a > b for a, b in zip(times, times[1:], strict=False))
        top = NEWEST - agent * gen.AGENT_OFFSET
        assert top - step < times[0] <= top + timedelta(seconds=1)
        assert top - timedelta(days=90) - step < times[-1] < top - timedelta(days=89)
        gaps = [a - b for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) > timedelta(0) and max(gaps) < 2 * step


def test_recent_tasks_keep_the_mix_and_older_ones_settle_but_the_stuck(aged: FakeUnpod):
    plain_kinds = FakeUnpod(4, 2_000, seed=5, newest=NEWEST)  # same draws, default ages
    recent_unsettled = older = stuck = 0
    for handle in aged.all_handles():
        plain = plain_kinds.tasks(handle)
        for n, doc in enumerate(aged.tasks(handle)):
            if NEWEST - created(doc) <= PROFILE.recent:
                assert doc["status"] == plain[n]["status"]  # the server's mix, unchanged
                recent_unsettled += doc["status"] not in SETTLED
            else:
                older += 1
                stuck += doc["status"] not in SETTLED
    assert recent_unsettled > 0
    assert older > 7_800
    assert 0.5 * older / 100 < stuck < 1.5 * older / 100  # about 1% of all older tasks


def test_settled_old_tasks_are_completed_calls_or_failed(aged: FakeUnpod):
    plain = FakeUnpod(4, 2_000, seed=5, newest=NEWEST)
    moved = 0
    for handle in aged.all_handles():
        before = plain.tasks(handle)
        for n, doc in enumerate(aged.tasks(handle)):
            was = before[n]["status"]
            old = NEWEST - created(doc) > PROFILE.recent
            if old and was not in SETTLED and doc["status"] in SETTLED:
                moved += 1
                assert doc["status"] in {"completed", "failed"}
                if doc["status"] == "completed":
                    assert doc["output"].get("call_id")
    assert moved > 1_000


def test_documents_are_a_pure_function_of_seed_profile_and_newest(aged: FakeUnpod):
    again = FakeUnpod(4, 2_000, seed=5, newest=NEWEST, ages=PROFILE)
    handle = aged.all_handles()[2]
    assert again.page_json(handle, 3, 50) == aged.page_json(handle, 3, 50)
    later = FakeUnpod(4, 2_000, seed=5, newest=NEWEST + timedelta(hours=5), ages=PROFILE)
    shifted = later.tasks(handle)[:100]
    for doc, same in zip(aged.tasks(handle)[:100], shifted, strict=True):
        assert created(same) - created(doc) == timedelta(hours=5)
        assert same["task_id"] == doc["task_id"]
    other_seed = FakeUnpod(4, 2_000, seed=6, newest=NEWEST, ages=PROFILE)
    assert other_seed.tasks(other_seed.all_handles()[2])[0]["task_id"] != shifted[0]["task_id"]


def test_mutations_find_aged_tasks_and_new_ones_list_first():
    fake = FakeUnpod(2, 300, seed=3, newest=NEWEST, ages=AgeProfile(days=30))
    handle = fake.all_handles()[0]
    old = fake.tasks(handle)[250]
    fake.move_status(old["task_id"], "pending", marker=False)
    assert fake.task(old["task_id"])["status"] == "pending"
    added = fake.add_task(handle)
    assert fake.tasks(handle)[0]["task_id"] == added["task_id"]
    assert fake.count(handle) == 301


def test_a_profile_refuses_what_it_cannot_generate():
    with pytest.raises(ValueError, match="days"):
        AgeProfile(days=0)
    with pytest.raises(ValueError, match="stuck_fraction"):
        AgeProfile(stuck_fraction=0.9)
    with pytest.raises(ValueError, match="one task per second"):
        FakeUnpod(1, 200_000, newest=NEWEST, ages=AgeProfile(days=1))
