"""normalize_task's calls and transcript_lines rows, per kind of call task."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from unpod_etl.normalize import normalize_task
from unpod_etl.normalize.calls import normalize_call

FIXTURES = Path(__file__).parent / "fixtures" / "tasks"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def call_of(doc: dict[str, Any], handle: str = "sales-agent") -> dict[str, Any]:
    call = normalize_task(doc, handle).call
    assert call is not None
    return call


def test_outbound_call_row() -> None:
    doc = load("outbound_call")
    call = call_of(doc)
    assert call["call_id"] == "call_9f8e7d6c"
    assert call["task_id"] == "T4a1b2c3d4e5f60718293a4b5c6d7e8f9"
    assert call["agent_handle"] == "sales-agent"
    assert call["call_id_synthetic"] is False
    assert call["call_type"] == "outbound"
    assert call["call_status"] == "connected"
    assert call["call_end_reason"] == "Customer Ended The Call"
    assert call["start_time"] == datetime(2026, 1, 31, 11, 47, 38, 67021, tzinfo=UTC)
    assert call["end_time"] == datetime(2026, 1, 31, 11, 49, 8, 67021, tzinfo=UTC)
    assert call["duration_seconds"] == 90.0
    assert call["recording_url"] == "https://rec.example.com/call_9f8e7d6c.mp3"
    assert call["assistant_number"] == "+918000000000"
    assert call["customer"] == "Ravi Kumar"
    assert call["contact_number"] == "+919812345678"
    assert call["cost"] == 0.42  # cost null: metadata.cost
    assert call["call_summary"] == "Lead asked for a call back tomorrow."
    assert call["post_call_data"] == doc["output"]["post_call_data"]
    assert call["summary_status"] == "Call Back"
    assert call["summary_text"] == "Wants a call tomorrow at 10."
    assert call["classification_labels"] == ["interested", "callback"]
    assert call["success_score"] == 8.5
    assert call["success_evaluation"] == "8.5"
    assert call["follow_up_required"] is True
    assert call["follow_up_time"] == datetime(2026, 2, 1, 4, 30, tzinfo=UTC)
    assert call["callback_at"] == datetime(2026, 2, 1, 4, 30, tzinfo=UTC)  # 10:00 +05:30
    assert call["is_redial"] is False
    assert call["structured_data"] == {"budget": "50k", "city": "Pune", "interested": True}
    assert call["transcript_line_count"] == 4


def test_outbound_call_transcript_lines() -> None:
    lines = normalize_task(load("outbound_call"), "sales-agent").lines
    assert [(x["seq"], x["role"], x["raw_role"]) for x in lines] == [
        (0, "assistant", "assistant"),
        (1, "user", "user"),
        (2, "assistant", "assistant"),
        (3, "user", "user"),
    ]
    assert [x["content"] for x in lines] == [
        "Hello, this is Asha from Acme.",
        "Hi, who is this?",
        "",  # content null
        "Call me tomorrow.",
    ]
    assert [x["spoken_at"] for x in lines] == [
        datetime(2026, 1, 31, 11, 47, 40, 100000, tzinfo=UTC),
        datetime(2026, 1, 31, 11, 47, 44, 250000, tzinfo=UTC),
        None,
        None,
    ]
    assert lines[0]["user_id"] == "agent-1"
    assert lines[1]["user_id"] is None
    assert {x["call_id"] for x in lines} == {"call_9f8e7d6c"}
    assert {x["task_id"] for x in lines} == {"T4a1b2c3d4e5f60718293a4b5c6d7e8f9"}


def test_inbound_call_with_string_transcript_and_json_string_structured_data() -> None:
    result = normalize_task(load("inbound_legacy_transcript"), "support-agent")
    call = result.call
    assert call is not None
    assert call["call_id"] == "in_5555"
    assert call["call_type"] == "inboundPhoneCall"
    assert call["cost"] == 0.15  # "0.15"
    assert call["recording_url"] is None
    assert call["customer"] == ""
    assert call["duration_seconds"] == 150.0  # no duration: end - start
    assert call["summary_text"] == "Caller wanted the price list."  # a plain string summary
    assert call["summary_status"] is None
    assert call["success_score"] == 7.0
    assert call["success_evaluation"] == "7"
    assert call["follow_up_required"] is False  # "follow_up disabled"
    assert call["follow_up_time"] is None  # "N/A"
    assert call["is_redial"] is None
    assert call["classification_labels"] == ["support"]
    assert call["structured_data"] == {"product": "price list", "channel": "email"}
    assert call["transcript_line_count"] == 3
    assert [(x["role"], x["raw_role"], x["content"]) for x in result.lines] == [
        ("assistant", "AI", "Hello, Acme support."),
        ("user", "User", "Hi, I need the price list.\nplease send it by email"),
        ("assistant", "Agent", "Sure, I will.\nNote: not a speaker"),
    ]
    assert [x["seq"] for x in result.lines] == [0, 1, 2]
    assert all(x["spoken_at"] is None for x in result.lines)


def test_call_with_empty_call_id_but_a_transcript_gets_a_synthetic_id() -> None:
    result = normalize_task(load("call_without_call_id"), "sales-agent")
    call = result.call
    assert call is not None
    assert call["call_id"] == "T6a1b2c3d4e5f60718293a4b5c6d7e8f9"
    assert call["call_id_synthetic"] is True
    assert call["duration_seconds"] == 75.5
    assert call["post_call_data"] == {}
    assert call["summary_status"] is None
    assert call["classification_labels"] is None
    assert call["structured_data"] is None
    assert call["follow_up_required"] is None
    assert call["call_summary"] == ""
    assert [(x["role"], x["raw_role"], x["content"]) for x in result.lines] == [
        ("assistant", "agent", "Good morning!"),
        ("user", "customer", "Morning."),
        (None, None, "stray line without a speaker"),
        (None, None, "42"),  # a bare number is a line with its text; only null is dropped
    ]
    assert {x["call_id"] for x in result.lines} == {"T6a1b2c3d4e5f60718293a4b5c6d7e8f9"}
    assert call["transcript_line_count"] == 4


def test_dispatching_call_without_evidence_has_no_call() -> None:
    doc = load("call_without_call_id")
    doc["output"].update(transcript=[], start_time="None", end_time="", recording_url=None)
    result = normalize_task(doc, "sales-agent")
    assert result.call is None
    assert result.lines == []
    assert result.task["output_kind"] == "other"


@pytest.mark.parametrize(
    "evidence", [{"start_time": "2026-01-25T10:00:00"}, {"recording_url": "https://r/1.mp3"}]
)
def test_other_call_evidence_also_makes_a_call(evidence: dict[str, Any]) -> None:
    doc = load("call_without_call_id")
    doc["output"].update(transcript=[], start_time="None", end_time="", recording_url=None)
    doc["output"].update(evidence)
    call = call_of(doc)
    assert call["call_id_synthetic"] is True
    assert call["transcript_line_count"] == 0


def test_provider_shaped_output() -> None:
    result = normalize_task(load("provider_shaped"), "legacy-agent")
    call = result.call
    assert call is not None
    assert call["call_id"] == "vapi-call-0001"
    assert call["call_id_synthetic"] is False
    assert call["agent_handle"] == "legacy-agent"
    assert call["call_type"] == "outboundPhoneCall"
    assert call["call_status"] == "ended"
    assert call["call_end_reason"] == "customer-ended-call"
    assert call["start_time"] == datetime(2026, 1, 28, 14, 5, tzinfo=UTC)
    assert call["end_time"] == datetime(2026, 1, 28, 14, 6, 40, tzinfo=UTC)
    assert call["duration_seconds"] == 100.0
    assert call["cost"] == 0.2
    assert call["customer"] == "Sam"
    assert call["contact_number"] == "+14155550100"
    assert call["assistant_number"] == "+14155550199"
    assert call["recording_url"] == "https://rec.example.com/vapi-call-0001.wav"
    assert call["call_summary"] == "Short greeting call."
    assert call["summary_text"] == "Short greeting call."
    assert call["structured_data"] == {"outcome": "greeted"}
    assert call["success_evaluation"] == "true"
    assert call["success_score"] is None
    assert call["post_call_data"] is None
    assert [(x["role"], x["raw_role"], x["content"]) for x in result.lines] == [
        ("system", "system", "You are a helpful agent."),
        ("assistant", "bot", "Hi Sam!"),
        ("user", "user", "Hello."),
    ]
    # `time` is epoch milliseconds in provider messages
    assert result.lines[2]["spoken_at"] == datetime(2026, 1, 28, 14, 5, 3, 500000, tzinfo=UTC)


def test_mixed_timestamp_call() -> None:
    result = normalize_task(load("mixed_timestamps"), "sales-agent")
    call = result.call
    assert call is not None
    assert call["start_time"] is None  # "None"
    assert call["end_time"] is None  # ""
    assert call["duration_seconds"] == 12.5  # "12.5"
    assert call["cost"] is None  # "abc"
    assert call["call_type"] == ""
    assert call["call_status"] == "unknown"
    assert call["summary_status"] is None  # "N/A"
    assert call["summary_text"] is None  # "N/A"
    assert call["callback_at"] is None
    assert call["success_score"] is None
    assert call["success_evaluation"] is None
    assert call["follow_up_required"] is False
    assert call["structured_data"] == {"raw": "{not json"}
    assert [(x["role"], x["spoken_at"]) for x in result.lines] == [
        ("assistant", datetime(2026, 1, 31, 11, 47, 38, tzinfo=UTC)),
        ("user", datetime(2026, 1, 31, 11, 47, 40, tzinfo=UTC)),
    ]


@pytest.mark.parametrize(
    ("evaluator", "score", "text"),
    [(9, 9.0, "9"), (" 6.5 ", 6.5, " 6.5 "), ("great", None, "great"), (True, None, "true")],
)
def test_success_evaluator_shapes(evaluator: Any, score: float | None, text: str) -> None:
    doc = load("outbound_call")
    doc["output"]["post_call_data"]["success_evaluator"] = evaluator
    call = call_of(doc)
    assert call["success_score"] == score
    assert call["success_evaluation"] == text


@pytest.mark.parametrize(
    ("structured", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", [1, 2]),
        ("42", {"raw": "42"}),
        ("null", None),
        ("", None),
        (None, None),
    ],
)
def test_structured_data_shapes(structured: Any, expected: Any) -> None:
    doc = load("outbound_call")
    doc["output"]["post_call_data"]["structured_data"] = structured
    assert call_of(doc)["structured_data"] == expected


def test_numeric_call_id_and_string_summary_status() -> None:
    doc = load("outbound_call")
    doc["output"]["call_id"] = 98765
    doc["output"]["post_call_data"]["summary"]["status"] = "n/a"
    call = call_of(doc)
    assert call["call_id"] == "98765"
    assert call["summary_status"] is None


def test_post_call_data_as_a_json_string_is_decoded() -> None:
    doc = load("outbound_call")
    pcd = doc["output"]["post_call_data"]
    as_object = call_of(copy.deepcopy(doc))
    doc["output"]["post_call_data"] = json.dumps(pcd)
    as_string = call_of(doc)
    assert as_string["summary_status"] is not None
    flat = ("summary_status", "summary_text", "classification_labels", "structured_data")
    assert {k: as_string[k] for k in flat} == {k: as_object[k] for k in flat}
    assert as_string["post_call_data"] == as_object["post_call_data"]


@pytest.mark.parametrize(
    ("sent", "stored"), [("", None), ("null", None), ("{oops", {"raw": "{oops"})]
)
def test_post_call_data_strings_that_hold_no_object(sent: str, stored: Any) -> None:
    doc = load("outbound_call")
    doc["output"]["post_call_data"] = sent
    call = call_of(doc)
    assert call["post_call_data"] == stored and call["summary_status"] is None


def test_call_times_as_epoch_milliseconds_and_unreadable_ones() -> None:
    doc = load("outbound_call")
    expected = call_of(copy.deepcopy(doc))
    start = expected["start_time"]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    doc["output"]["start_time"] = (start - epoch) // timedelta(milliseconds=1)
    doc["output"]["end_time"] = "the end"
    unreadable: list[str] = []
    call, _ = normalize_call(doc["output"], task_id="T1", agent_handle="a", unreadable=unreadable)
    assert call is not None
    assert call["start_time"] == start.replace(microsecond=start.microsecond // 1000 * 1000)
    assert call["end_time"] is None
    assert unreadable == ["output.end_time"]
