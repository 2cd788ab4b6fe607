"""normalize_task's tasks row, one JSON fixture per kind of task; normalize_agent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from unpod_etl.normalize import (
    NormalizedTask,
    RejectedRecord,
    fingerprint,
    normalize_agent,
    normalize_task,
    strip_secrets,
)
from unpod_etl.warehouse import schema

FIXTURES = Path(__file__).parent / "fixtures" / "tasks"
ALL_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json"))
# Filled by the loader and the deletion rule, not by normalize.
LOADER_COLUMNS = {
    "first_synced_at",
    "last_synced_at",
    "last_sync_run_id",
    "missing_since",
    "deleted_at",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def run(name: str, handle: str = "sales-agent") -> NormalizedTask:
    return normalize_task(load(name), handle)


def secrets_of(doc: Any) -> list[str]:
    """Every user_token value at any depth, and input.token."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "user_token":
                    found.append(str(item))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(doc)
    if isinstance(doc.get("input"), dict) and "token" in doc["input"]:
        found.append(str(doc["input"]["token"]))
    return found


def test_fixture_set_is_complete() -> None:
    assert len(ALL_FIXTURES) == 10


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_rows_have_exactly_the_schema_columns(name: str) -> None:
    result = run(name)
    assert set(result.task) == {c.name for c in schema.tasks.columns} - LOADER_COLUMNS
    if result.call is not None:
        assert set(result.call) == {c.name for c in schema.calls.columns}
    for line in result.lines:
        assert set(line) == {c.name for c in schema.transcript_lines.columns}


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_no_secret_reaches_any_row(name: str) -> None:
    doc = load(name)
    secrets = secrets_of(doc)
    result = normalize_task(doc, "sales-agent")
    rendered = str(result.task) + str(result.call) + str(result.lines)
    for secret in secrets:
        assert secret not in rendered


def test_fixtures_do_carry_secrets() -> None:
    # Guards the test above: it must have secrets to look for.
    assert secrets_of(load("pending")) == [
        "SECRET-USER-TOKEN-pending-7f3a",
        "SECRET-SPACE-TOKEN-pending-91bc",
    ]
    assert secrets_of(load("unknown_status")) == ["SECRET-USER-TOKEN-nested-1919"]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_document_and_fingerprint(name: str) -> None:
    doc = load(name)
    task = normalize_task(doc, "sales-agent").task
    assert task["document"] == strip_secrets(doc)
    assert task["fingerprint"] == fingerprint(doc)
    assert task["fingerprint"] == fingerprint(task["document"])
    assert len(task["fingerprint"]) == 64


def test_pending_task_row() -> None:
    result = run("pending", handle="sales-agent")
    task = result.task
    assert result.call is None and result.lines == []
    assert task["task_id"] == "T0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    assert task["agent_handle"] == "sales-agent"  # the argument, not `assignee`
    assert task["doc_id"] == "67a1b2c3d4e5f60718293a4b"
    assert task["run_id"] == "R11112222333344445555666677778888"
    assert task["user_ref"] == "u_1001"
    assert task["user_org_id"] == "org_42"
    assert task["space_id"] == "sp_alpha"
    assert task["collection_ref"] == "coll_9"
    assert task["thread_id"] == ""
    assert task["ref_id"] is None
    assert task["provider"] == "livekit"
    assert task["status"] == "pending"
    assert task["execution_type"] == "call"
    assert task["objective"] == "Call the lead and qualify interest"
    assert task["user_email"] == "ops@example.com"
    assert task["user_full_name"] == "Olivia Ops"
    assert task["contact_name"] == "Ravi Kumar"
    assert task["contact_number"] == "+919812345678"
    assert task["contact_email"] == "ravi@example.com"
    assert task["output_kind"] == "none"
    assert task["output_error"] is None
    assert task["output"] == {}
    assert task["input"] == {
        "name": "Ravi Kumar",
        "contact_number": "+919812345678",
        "email": "ravi@example.com",
        "quality": "high",
        "labels": ["lead", "north"],
    }
    assert task["created_at"] == datetime(2026, 1, 31, 11, 47, 38, tzinfo=UTC)
    assert task["modified_at"] == datetime(2026, 1, 31, 11, 48, 14, 220513, tzinfo=UTC)
    assert task["last_status_change"] == datetime(2026, 1, 31, 11, 48, 14, 220513, tzinfo=UTC)
    assert task["scheduled_at"] is None
    assert task["retry_attempt"] == 0
    assert task["failure_count"] == 0
    assert task["document"]["assignee"] == "sales-agent-other"
    assert task["document"]["user_info"]["location"]["city"] == "Pune"


def test_scheduled_follow_up() -> None:
    result = run("scheduled_followup")
    assert result.call is None
    assert result.task["output_kind"] == "scheduled"
    assert result.task["status"] == "scheduled"
    assert result.task["scheduled_at"] == datetime(2026, 2, 1, 10, tzinfo=UTC)
    assert result.task["last_status_change"] == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert result.task["contact_number"] == "919800000001"  # a number in the source
    assert result.task["ref_id"] == "T0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    assert result.task["user_email"] is None


def test_scheduled_time_fills_scheduled_at_when_timestamp_is_null() -> None:
    doc = load("scheduled_followup")
    doc["scheduled_timestamp"] = None
    assert normalize_task(doc, "a").task["scheduled_at"] == datetime(2026, 2, 1, 10, tzinfo=UTC)


def test_failed_task() -> None:
    result = run("failed")
    task = result.task
    assert result.call is None and result.lines == []
    assert task["output_kind"] == "failed"
    assert task["output_error"] == "Task exceeded maximum retries (3)"
    assert task["last_failure_reason"] == "customer-did-not-answer"
    assert task["retry_attempt"] == 3  # "3" in the source
    assert task["objective"] is None  # task: {}
    assert task["last_status_change"] == datetime(2026, 1, 30, 9, 15, 0, 500000, tzinfo=UTC)


def test_email_task() -> None:
    result = run("email", handle="mail-agent")
    assert result.call is None
    assert result.task["output_kind"] == "email"
    assert result.task["execution_type"] == "email"
    assert result.task["contact_email"] == "lena@example.com"
    assert result.task["contact_number"] is None
    assert result.task["user_ref"] == ""
    assert result.task["user_org_id"] is None
    assert result.task["document"]["attachments"] == [
        "brochure.pdf",
        {"name": "price.pdf", "size": 1200},
    ]


def test_call_tasks_have_output_kind_call() -> None:
    for name in ("outbound_call", "inbound_legacy_transcript", "call_without_call_id"):
        assert run(name).task["output_kind"] == "call", name
    assert run("provider_shaped").task["output_kind"] == "call"


def test_null_last_status_change_and_mixed_timestamps() -> None:
    task = run("mixed_timestamps").task
    assert task["last_status_change"] is None
    assert task["created_at"] == datetime(2026, 1, 31, 11, 47, 38, 67000, tzinfo=UTC)
    assert task["modified_at"] == datetime(2026, 1, 31, 11, 50, tzinfo=UTC)  # from +05:30
    assert task["scheduled_at"] == datetime(2026, 2, 2, 9, 30, tzinfo=UTC)  # string shape
    assert task["retry_attempt"] is None  # "abc"
    assert task["failure_count"] == 0  # "0"


def test_unknown_status_and_execution_type_are_kept() -> None:
    result = run("unknown_status", handle="router-agent")
    task = result.task
    assert result.call is None
    assert task["status"] == "escalated_to_human"
    assert task["execution_type"] == "whatsapp_flow"
    assert task["output_kind"] == "other"
    assert task["output"] == {"routed_to": "billing", "confidence": 0.93}
    assert task["input"] == {"ticket": 551, "nested": {"keep": "me"}}
    assert task["document"]["priority"] == "urgent"
    assert task["document"]["workflow"] == {"step": 3, "history": ["new", "triage"]}


def test_nul_characters_are_removed_everywhere() -> None:
    doc = load("outbound_call")
    doc["status"] = "comp\x00leted"
    doc["input"]["name"] = "Ra\x00vi"
    doc["output"]["transcript"][0]["content"] = "Hel\x00lo"
    doc["output"]["post_call_data"]["structured_data"] = {"k\x00": ["v\x00"]}
    doc["weird\x00key"] = {"deep": ["x\x00y"]}
    result = normalize_task(doc, "sales-agent")
    assert "\\x00" not in repr((result.task, result.call, result.lines))
    assert result.task["status"] == "completed"
    assert result.task["contact_name"] == "Ravi"
    assert result.task["input"]["name"] == "Ravi"
    assert result.lines[0]["content"] == "Hello"
    assert result.call is not None
    assert result.call["structured_data"] == {"k": ["v"]}
    assert result.task["document"]["weirdkey"] == {"deep": ["xy"]}


def test_varchar_columns_are_truncated_to_fit() -> None:
    doc = load("unknown_status")
    doc["status"] = "s" * 100
    assert normalize_task(doc, "a").task["status"] == "s" * 64


def test_implausible_created_becomes_null_not_rejected() -> None:
    doc = load("pending")
    doc["created"] = "0001-01-01T00:00:00"
    doc["modified"] = "9999-12-31T23:59:59"
    task = normalize_task(doc, "a").task
    assert task["created_at"] is None
    assert task["modified_at"] is None
    assert task["document"]["created"] == "0001-01-01T00:00:00"


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (["not", "an", "object"], "task document is not an object"),
        ("T123", "task document is not an object"),
        ({"status": "pending"}, "task document has no task_id"),
        ({"task_id": ""}, "task document has no task_id"),
        ({"task_id": "   "}, "task document has no task_id"),
        ({"task_id": 12345}, "task document has no task_id"),
        ({"task_id": None}, "task document has no task_id"),
        ({"task_id": "T" * 65}, "task_id is not a usable key (NUL or too long)"),
    ],
)
def test_rejected_documents(doc: Any, reason: str) -> None:
    with pytest.raises(RejectedRecord) as caught:
        normalize_task(doc, "sales-agent")
    assert caught.value.reason == reason


def test_missing_agent_handle_is_rejected() -> None:
    with pytest.raises(RejectedRecord) as caught:
        normalize_task(load("pending"), "")
    assert caught.value.reason == "agent handle missing"
    assert caught.value.task_id == "T0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def test_minimal_document_normalizes() -> None:
    result = normalize_task({"task_id": "Tmin"}, "a")
    assert result.task["task_id"] == "Tmin"
    assert result.task["output_kind"] == "none"
    assert result.task["input"] is None
    assert result.task["document"] == {"task_id": "Tmin"}
    assert result.call is None


def test_normalize_agent() -> None:
    row = normalize_agent(
        {
            "handle": "sales-agent",
            "name": "Sales",
            "type": "Voice",
            "state": "published",
            "description": "",
            "purpose": "Qualify leads",
            "extra": 1,
        }
    )
    assert row == {
        "handle": "sales-agent",
        "name": "Sales",
        "type": "Voice",
        "state": "published",
        "description": "",
        "purpose": "Qualify leads",
    }


@pytest.mark.parametrize("doc", [{}, {"handle": ""}, {"handle": None}, {"handle": 5}, "x"])
def test_normalize_agent_without_handle(doc: Any) -> None:
    with pytest.raises(RejectedRecord):
        normalize_agent(doc)


def test_interim_output_and_follow_up_reference() -> None:
    base = {"task_id": "T" + "1" * 32, "status": "completed", "created": "2026-01-31T10:00:00"}
    interim = normalize_task(
        {**base, "output": {"call_status": "completed", "data": "call completed evaluated "
                            "data will be available soon"}},
        "agent-a",
    ).task  # fmt: skip
    assert interim["output_kind"] == "interim"
    follow = normalize_task(
        {**base, "status": "scheduled", "output": {"scheduled_time": "2026-02-01 10:00:00+00:00",
         "followup_count": 2, "referenced_task": "T" + "2" * 32}},
        "agent-a",
    ).task  # fmt: skip
    assert follow["output_kind"] == "scheduled"
    assert (follow["referenced_task_id"], follow["followup_count"]) == ("T" + "2" * 32, 2)
    odd = normalize_task({**base, "output": {"referenced_task": {"id": 1}, "data": "x"}}, "a")
    assert odd.task["referenced_task_id"] is None and odd.task["output_kind"] == "other"
