"""The benchmark's walk phases: their page bound, the tasks they change, the pages they count."""

from __future__ import annotations

from datetime import datetime, timedelta

from bench import walks
from unpod_etl.fakeapi import AgeProfile, FakeUnpod, respond

NEWEST = datetime(2026, 5, 20, 8, 0, 0)
AUTH = {"Authorization": "Token fake-token", "Org-Handle": "acme"}


def aged() -> FakeUnpod:
    # 30 days over 300 tasks: 2.4 h apart, so the 7-day watch window holds the newest ~70.
    return FakeUnpod(2, 300, seed=9, newest=NEWEST, ages=AgeProfile(days=30))


def brute_oldest_watched_page(fake: FakeUnpod, handle: str, page_size: int) -> int:
    pages = [
        n // page_size + 1
        for n, doc in enumerate(fake.tasks(handle))
        if walks.unsettled(doc)
        and NEWEST - datetime.fromisoformat(doc["created"]) <= walks.WATCH_WINDOW
    ]
    return max(pages, default=0)


def test_unsettled_is_the_walks_watched_status():
    fake = aged()
    handle = fake.all_handles()[0]
    docs = fake.tasks(handle)
    call = next(d for d in docs if d["status"] == "completed" and d["output"].get("call_id"))
    assert not walks.unsettled(call)
    fake.set_interim(call["task_id"])
    assert walks.unsettled(fake.task(call["task_id"]))  # completed, the real output to come
    assert walks.unsettled({"status": "pending", "output": {}})
    assert walks.unsettled({"status": "retrying"})  # an unknown status is not settled
    assert not walks.unsettled({"status": "failed", "output": {"error": "x"}})


def test_oldest_watched_page_follows_the_documents():
    fake = aged()
    for handle in fake.all_handles():
        want = brute_oldest_watched_page(fake, handle, 20)
        assert want >= 1
        assert walks.oldest_watched_page(fake, handle, 20, NEWEST) == want
    handle = fake.all_handles()[1]
    young_settled = [d for d in fake.tasks(handle)[:65] if not walks.unsettled(d)]
    deep = young_settled[-1]  # on page 3 or 4, within the window
    fake.move_status(deep["task_id"], "pending", marker=False)
    page = fake.tasks(handle).index(fake.task(deep["task_id"])) // 20 + 1
    assert page >= 3
    assert walks.oldest_watched_page(fake, handle, 20, NEWEST) == page
    # Old unsettled tasks (the stuck, or one set back now) are past the window: not watched.
    fake.move_status(fake.tasks(handle)[250]["task_id"], "pending")
    assert walks.oldest_watched_page(fake, handle, 20, NEWEST) == page
    # Seen from later, the window holds fewer pages.
    later = walks.oldest_watched_page(fake, handle, 20, NEWEST + timedelta(days=6))
    assert later < page


def test_page_bound_adds_k_plus_one_per_agent():
    fake = aged()
    handles = fake.all_handles()
    deepest = [walks.oldest_watched_page(fake, h, 25, NEWEST) for h in handles]
    assert walks.page_bound(fake, handles, 25, NEWEST) == sum(deepest) + 3 * len(handles)
    assert walks.SETTLED_PAGES == 2


def test_pick_newest_takes_one_percent_among_each_agents_newest_five():
    fake = aged()
    handles = fake.all_handles()
    picked = walks.pick_newest(fake, handles)
    assert picked == walks.pick_newest(fake, handles)  # deterministic
    assert len(picked) == 2 * 3  # 1% of 300, per agent
    assert len({p[0] for p in picked}) == len(picked)
    for task_id, status, at, index in picked:
        assert index < 15  # the newest 5% of 300
        doc = fake.tasks(handles[at])[index]
        assert (doc["task_id"], doc["status"]) == (task_id, status)


def test_mutate_moves_the_marker_of_half():
    fake = aged()
    picked = walks.pick_newest(fake, fake.all_handles())
    before = {task_id: fake.task(task_id) for task_id, _, _, _ in picked}
    walks.mutate(fake, picked)
    moved = 0
    for task_id, doc in before.items():
        after = fake.task(task_id)
        assert after != doc and after["modified"] != doc["modified"]
        moved += after["last_status_change"] != doc["last_status_change"]
    assert moved == len(picked) // 2


def test_task_pages_counts_task_page_requests_after_a_point():
    fake = aged()
    handle = fake.all_handles()[0]
    respond(fake, "GET", f"/api/v2/platform/agents/{handle}/tasks/?page=1&page_size=10", AUTH)
    since = len(fake.access.requests)
    respond(fake, "GET", "/api/v2/platform/agents/", AUTH)
    for page in (1, 2, 3):
        path = f"/api/v2/platform/agents/{handle}/tasks/?page={page}&page_size=10"
        respond(fake, "GET", path, AUTH)
    assert walks.task_pages(fake, since) == 3
    assert walks.task_pages(fake, 0) == 4
