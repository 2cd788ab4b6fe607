"""The fake Unpod API over real HTTP: auth, routes, paging, refusals, documents, mutations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from unpod_etl.fakeapi import FakeServer, FakeUnpod

API = "/api/v2/platform"
AUTH = {"Authorization": "Token fake-token", "Org-Handle": "acme"}
HEX24 = re.compile(r"^[0-9a-f]{24}$")


@pytest.fixture
def fake() -> FakeUnpod:
    return FakeUnpod()


@pytest.fixture
def server(fake: FakeUnpod) -> Iterator[FakeServer]:
    with FakeServer(fake, port=0) as running:
        yield running


def fetch(
    url: str, headers: dict[str, str], params: dict[str, Any] | None = None
) -> requests.Response:
    return requests.get(url, headers=headers, params=params, timeout=10)


def get_tasks(server: FakeServer, handle: str, **params: Any) -> requests.Response:
    return fetch(f"{server.url}{API}/agents/{handle}/tasks/", headers=AUTH, params=params)


def kind_of(doc: dict[str, Any]) -> str:
    """Classify a document by the shape the sync has to handle."""
    output, status = doc["output"], doc["status"]
    if "email_id" in output:
        return "email"
    if "scheduled_time" in output:
        return "scheduled"
    if "error" in output:
        return "failed"
    if "messages" in output and "startedAt" in output:
        return "provider_legacy"
    if output.get("call_id") == "":
        return "dispatching"
    if status == "partially_completed":
        return "partially_completed"
    if isinstance(output.get("transcript"), str):
        return "legacy_string"
    if isinstance(output.get("transcript"), list):
        return "call_" + ("inbound" if "inbound" in output["call_type"] else "outbound")
    return status  # pending, in_progress, processing, hold


def test_server_binds_loopback_and_reports_its_url(server: FakeServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
    assert not server.url.endswith(":0")


def test_missing_or_wrong_token_is_401(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    missing = fetch(f"{server.url}{API}/agents/", headers={"Org-Handle": "acme"})
    wrong = fetch(
        f"{server.url}{API}/agents/{handle}/tasks/", headers={"Authorization": "Token nope"}
    )
    bearer = fetch(f"{server.url}{API}/agents/", headers={"Authorization": "Bearer fake-token"})
    for response in (wrong, bearer):  # Bearer: this account's token is a Token one
        assert response.status_code == 401
        assert response.json() == {"message": "Invalid token.", "status_code": 401}
    assert missing.status_code == 401
    assert missing.json() == {
        "message": "Authentication credentials were not provided.",
        "status_code": 401,
    }


def test_revoked_token_is_401_expired(server: FakeServer, fake: FakeUnpod) -> None:
    assert fetch(f"{server.url}{API}/agents/", headers=AUTH).status_code == 200
    fake.access.revoke_token()
    response = fetch(f"{server.url}{API}/agents/", headers=AUTH)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized Access", "error": "Expired Auth Token"}
    fake.access.restore_token()
    assert fetch(f"{server.url}{API}/agents/", headers=AUTH).status_code == 200


def test_agents_needs_org_handle(server: FakeServer) -> None:
    response = fetch(f"{server.url}{API}/agents/", headers={"Authorization": "Token fake-token"})
    assert response.status_code == 400
    assert response.json() == {
        "status_code": 400,
        "message": "Organization handle is required in Org-Handle header",
        "data": {},
    }


def test_agents_unknown_org_is_404(server: FakeServer) -> None:
    headers = {**AUTH, "Org-Handle": "globex"}
    response = fetch(f"{server.url}{API}/agents/", headers=headers)
    assert response.status_code == 404
    assert response.json() == {"message": "Organization not found"}


def test_agents_lists_only_published(server: FakeServer, fake: FakeUnpod) -> None:
    body = fetch(f"{server.url}{API}/agents/", headers=AUTH).json()
    assert body["status_code"] == 200
    assert body["count"] == 2
    assert [agent["handle"] for agent in body["data"]] == fake.published_handles()
    assert len(fake.all_handles()) == 3
    hidden = fake.all_handles()[2]
    assert hidden not in fake.published_handles()
    for agent in body["data"]:
        assert set(agent) == {"handle", "name", "type", "state", "description", "purpose"}
    # an unpublished agent's tasks are still served by handle
    tasks = get_tasks(server, hidden)
    assert tasks.status_code == 200
    assert tasks.json()["count"] == 40


def test_paging_is_newest_first_and_covers_every_task(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    seen: list[dict[str, Any]] = []
    for page in (1, 2, 3):
        body = get_tasks(server, handle, page=page, page_size=15).json()
        assert body["count"] == 40
        seen.extend(body["data"])
    assert len(seen) == 40
    assert [doc["task_id"] for doc in seen] == [doc["task_id"] for doc in fake.tasks(handle)]
    created = [datetime.fromisoformat(doc["created"]) for doc in seen]
    assert created == sorted(created, reverse=True)
    assert len(set(created)) == 40


def test_default_page_size_and_past_last_page(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[1]
    first = get_tasks(server, handle).json()
    assert len(first["data"]) == 20
    past = get_tasks(server, handle, page=9, page_size=20)
    assert past.status_code == 200
    assert past.json() == {
        "count": 40,
        "status_code": 200,
        "message": "Tasks fetched successfully",
        "data": [],
    }
    # no maximum page size, and unknown parameters are ignored
    everything = get_tasks(server, handle, page_size=5000, status="failed", since="2026-01-01")
    assert len(everything.json()["data"]) == 40


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": -1},
        {"page": "abc"},
        {"page": ""},
        {"page_size": 0},
        {"page_size": "x"},
    ],
)
def test_bad_paging_values_give_html_500(
    server: FakeServer, fake: FakeUnpod, params: dict[str, Any]
) -> None:
    response = get_tasks(server, fake.published_handles()[0], **params)
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Server Error (500)" in response.text


def test_unknown_agent_is_404(server: FakeServer) -> None:
    response = get_tasks(server, "no-such-agent")
    assert response.status_code == 404
    assert response.json() == {"message": "Agent not found"}


def test_tasks_route_ignores_org_handle(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    url = f"{server.url}{API}/agents/{handle}/tasks/"
    response = fetch(url, headers={"Authorization": "Token fake-token"})
    assert response.status_code == 200
    assert response.json()["count"] == 40


def test_refusals(server: FakeServer, fake: FakeUnpod) -> None:
    first, second = fake.published_handles()
    fake.access.refuse(first, 206)
    no_access = get_tasks(server, first)
    assert no_access.status_code == 206
    assert no_access.json() == {
        "status_code": 206,
        "message": "You Don't have Access to this Agent's Space",
        "data": {},
    }
    fake.access.refuse(first, 206, fetch_failed=True)
    failed = get_tasks(server, first).json()
    assert failed["status_code"] == 206
    assert failed["message"] == "Tasks Fetch Failed"
    assert failed["errors"] == failed["data"]["errors"] != ""
    fake.access.refuse(second, 404)
    gone = get_tasks(server, second)
    assert gone.status_code == 404
    assert gone.json() == {"message": "Agent not found"}
    fake.access.allow(first)
    assert get_tasks(server, first).status_code == 200
    with pytest.raises(ValueError):
        fake.access.refuse(first, 500)


def test_injected_failures_and_gateway_timeout(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    fake.faults.inject("429", times=1, retry_after=3)
    limited = get_tasks(server, handle)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "3"
    assert get_tasks(server, handle).status_code == 200
    fake.access.max_page_size = 10
    timed_out = get_tasks(server, handle, page_size=11)
    assert timed_out.status_code == 504
    assert timed_out.headers["Content-Type"].startswith("text/html")
    assert get_tasks(server, handle, page_size=10).status_code == 200


def test_schema_route(server: FakeServer) -> None:
    response = fetch(f"{server.url}{API}/schema/", headers=AUTH)
    assert response.status_code == 200
    assert "/api/v2/platform/agents/{agent_handle}/tasks/" in response.json()["paths"]


def test_requests_are_recorded(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    get_tasks(server, handle, page=2, page_size=7)
    record = fake.access.requests[-1]
    assert record.method == "GET"
    assert record.path == f"{API}/agents/{handle}/tasks/"
    assert record.query == {"page": "2", "page_size": "7"}
    assert record.headers["Authorization"] == "Token fake-token"
    assert record.headers["Org-Handle"] == "acme"


def test_same_seed_same_documents_other_seed_differs() -> None:
    one, two, other = FakeUnpod(seed=7), FakeUnpod(seed=7), FakeUnpod(seed=8)
    assert one.all_handles() == two.all_handles()
    handle = one.all_handles()[0]
    assert one.tasks(handle) == two.tasks(handle)
    ids = {doc["task_id"] for doc in one.tasks(handle)}
    other_ids = {doc["task_id"] for h in other.all_handles() for doc in other.tasks(h)}
    assert not ids & other_ids


def test_served_documents_equal_fake_documents(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    served = get_tasks(server, handle, page_size=40).json()["data"]
    assert served == fake.tasks(handle)
    assert fake.task(served[5]["task_id"]) == served[5]


def test_every_kind_of_task_is_present(fake: FakeUnpod) -> None:
    docs = [doc for handle in fake.all_handles() for doc in fake.tasks(handle)]
    kinds = {kind_of(doc) for doc in docs}
    assert kinds == {
        "pending",
        "in_progress",
        "processing",
        "hold",
        "dispatching",
        "scheduled",
        "failed",
        "email",
        "partially_completed",
        "legacy_string",
        "provider_legacy",
        "call_inbound",
        "call_outbound",
    }
    calls = [doc for doc in docs if doc["status"] == "completed" and "call_id" in doc["output"]]
    assert 0.6 <= len(calls) / len(docs) <= 0.75
    failed = next(doc for doc in docs if kind_of(doc) == "failed")
    assert failed["output"] == {
        "error": "Task exceeded maximum retries (3)",
        "call_end_reason": "customer-did-not-answer",
    }
    assert failed["retry_attempt"] == 3
    scheduled = next(doc for doc in docs if kind_of(doc) == "scheduled")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:00:00", scheduled["output"]["scheduled_time"])
    assert isinstance(scheduled["scheduled_timestamp"], int)
    email = next(doc for doc in docs if kind_of(doc) == "email")
    assert email["execution_type"] == "email"


def test_document_fields_and_quirks() -> None:
    f = FakeUnpod(agents=2, tasks_per_agent=200)
    docs = [doc for handle in f.all_handles() for doc in f.tasks(handle)]
    for doc in docs:
        assert HEX24.match(doc["_id"])
        assert re.fullmatch(r"T[0-9a-f]{32}", doc["task_id"])
        assert re.fullmatch(r"R[0-9a-f]{32}", doc["run_id"])
        assert doc["failure_count"] == 0
        assert doc["assignee"] in f.all_handles()
        for key in ("space_id", "user", "user_org_id", "created", "modified", "provider"):
            assert key in doc
        fraction = doc["created"].partition(".")[2]
        assert fraction == "" or (len(fraction) == 6 and fraction.endswith("000"))
        assert doc["modified"] >= doc["created"]
    assert any(doc["created"].count(".") == 0 for doc in docs)
    assert any(doc["last_status_change"] is None for doc in docs)
    assert any(doc["user_info"] == {} for doc in docs)
    assert any(doc["user_info"].get("user_token", "").startswith("utk_") for doc in docs)
    transcripts = [
        d["output"]["transcript"] for d in docs if isinstance(d["output"].get("transcript"), list)
    ]
    lengths = sorted(len(t) for t in transcripts if t)
    assert 12 <= lengths[len(lengths) // 2] <= 20
    roles = {message["role"] for t in transcripts for message in t}
    assert {"assistant", "user"} <= roles and roles & {"agent", "customer", "AI", "User"}
    stamps = {message.get("timestamp", "<missing>") for t in transcripts for message in t}
    assert {"", "None", "<missing>"} <= stamps
    starts = [d["output"]["start_time"] for d in docs if "start_time" in d["output"]]
    assert any(s.endswith("Z") for s in starts) and any(s.endswith("+00:00") for s in starts)
    assert any(" " in s for s in starts) and "None" in starts
    structured = [d["output"]["post_call_data"].get("structured_data", 0) for d in docs
                  if d["output"].get("post_call_data")]  # fmt: skip
    assert any(isinstance(s, str) and isinstance(json.loads(s), dict) for s in structured)
    assert any(isinstance(s, dict) for s in structured) and None in structured


def test_secret_values_hold_every_user_token(fake: FakeUnpod) -> None:
    secrets = fake.secret_values()
    assert "fake-token" in secrets
    tokens = {
        doc["user_info"]["user_token"]
        for handle in fake.all_handles()
        for doc in fake.tasks(handle)
        if "user_token" in doc["user_info"]
    }
    assert tokens and tokens | {"fake-token"} == secrets
    assert all(re.fullmatch(r"utk_[0-9a-f]{40}", token) for token in tokens)


def test_move_status_moves_the_marker(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    before = fake.tasks(handle)[30]
    fake.move_status(before["task_id"], "failed")
    after = get_tasks(server, handle, page=2, page_size=30).json()["data"][0]
    assert after["task_id"] == before["task_id"]
    assert after["status"] == "failed"
    assert after["last_status_change"] is not None
    assert datetime.fromisoformat(after["last_status_change"]) > datetime(2026, 1, 31, 12)
    assert after["modified"] > before["modified"]
    quiet = fake.tasks(handle)[31]
    fake.move_status(quiet["task_id"], "pending", marker=False)
    moved = fake.task(quiet["task_id"])
    assert moved["status"] == "pending"
    assert moved["last_status_change"] == quiet["last_status_change"]


def test_complete_without_marker_leaves_the_marker(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    pending = next(doc for doc in fake.tasks(handle) if doc["status"] == "pending")
    fake.complete_without_marker(pending["task_id"])
    served = {doc["task_id"]: doc for doc in get_tasks(server, handle, page_size=40).json()["data"]}
    done = served[pending["task_id"]]
    assert done["status"] == "completed"
    assert done["last_status_change"] == pending["last_status_change"]
    assert done["modified"] > pending["modified"]
    assert done["output"]["call_id"] != ""
    assert len(done["output"]["transcript"]) >= 6
    assert "post_call_data" in done["output"]
    assert done["created"] == pending["created"]


def test_set_transcript_replaces_it(fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    call = next(doc for doc in fake.tasks(handle) if kind_of(doc) == "call_outbound")
    fake.set_transcript(call["task_id"], [{"role": "assistant", "content": "Hi"}])
    assert fake.task(call["task_id"])["output"]["transcript"] == [
        {"role": "assistant", "content": "Hi"}
    ]
    assert fake.task(call["task_id"])["output"]["call_id"] == call["output"]["call_id"]


def test_add_task_comes_first_and_shifts_pages(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[1]
    old_first = get_tasks(server, handle, page=1, page_size=20).json()["data"][0]
    old_twentieth = get_tasks(server, handle, page=1, page_size=20).json()["data"][19]
    added = fake.add_task(handle, input={"name": "New Lead", "contact_number": "+15550001"})
    body = get_tasks(server, handle, page=1, page_size=20).json()
    assert body["count"] == 41
    assert body["data"][0]["task_id"] == added["task_id"]
    assert body["data"][0]["input"] == {"name": "New Lead", "contact_number": "+15550001"}
    assert body["data"][1]["task_id"] == old_first["task_id"]
    assert added["status"] == "pending" and added["output"] == {}
    assert added["created"] > old_first["created"]
    # offset paging over a live list: the old 20th task is now first on page 2
    assert (
        get_tasks(server, handle, page=2).json()["data"][0]["task_id"] == old_twentieth["task_id"]
    )
    assert fake.task(added["task_id"])["assignee"] == handle


def test_remove_task(server: FakeServer, fake: FakeUnpod) -> None:
    handle = fake.published_handles()[0]
    victim = fake.tasks(handle)[3]
    fake.remove_task(victim["task_id"])
    body = get_tasks(server, handle, page_size=100).json()
    assert body["count"] == 39
    assert victim["task_id"] not in {doc["task_id"] for doc in body["data"]}
    with pytest.raises(KeyError):
        fake.task(victim["task_id"])


def test_mutations_while_serving_in_parallel(server: FakeServer, fake: FakeUnpod) -> None:
    from concurrent.futures import ThreadPoolExecutor

    handle = fake.published_handles()[0]

    def crawl(_: int) -> int:
        return len(get_tasks(server, handle, page_size=40).json()["data"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        pages = pool.map(crawl, range(30))
        added = [fake.add_task(handle)["task_id"] for _ in range(10)]
        sizes = list(pages)
    assert all(size == 40 for size in sizes)
    assert [doc["task_id"] for doc in fake.tasks(handle)[:10]] == added[::-1]
    assert fake.count(handle) == 50
