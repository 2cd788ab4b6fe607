"""Fuzzing normalize_task: any JSON-shaped document gives loadable rows or a RejectedRecord."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Float, Integer, String, Table

from unpod_etl.normalize import NormalizedTask, RejectedRecord, fingerprint, normalize_task
from unpod_etl.warehouse import schema

USER_SECRET, SPACE_SECRET = "S3CR3T-USER-TOKEN-x9", "S3CR3T-SPACE-TOKEN-q7"

# Strings the real API uses, so the fuzzer reaches the interesting branches.
INTERESTING = st.sampled_from(
    [
        "",
        "None",
        "null",
        "N/A",
        "true",
        "false",
        "follow_up disabled",
        "3",
        "12.5",
        "abc",
        "2026-01-31 11:47:38.067021",
        "2026-01-31T11:47:38.067Z",
        "2026-01-31T11:47:38+05:30",
        "0001-01-01T00:00:00",
        "AI: Hello\nUser: Hi\nmore",
        '{"a": 1}',
        "[1, 2",
        '[{"role": "AI", "content": "x"}]',
        "assistant",
        "customer",
        "a\x00b",
        "x" * 300,
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | INTERESTING
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def some(keys: list[str], values: st.SearchStrategy[Any] = JSON) -> st.SearchStrategy[Any]:
    """An object with any subset of `keys` (arbitrary values), plus arbitrary extra keys."""
    return st.builds(
        lambda known, extra: {**extra, **known},
        st.fixed_dictionaries({}, optional=dict.fromkeys(keys, values)),
        st.dictionaries(st.text(max_size=6), JSON, max_size=2),
    )


MESSAGE = some(["role", "content", "timestamp", "user_id", "message", "time"]) | SCALARS
POST_CALL = some(
    ["summary", "classification", "success_evaluator", "follow_up", "structured_data", "is_redial"],
    JSON | some(["status", "summary", "callback_datetime", "labels", "required", "time"]),
)
CALL_KEYS = ["call_id", "start_time", "end_time", "duration", "cost", "call_type", "call_status"]
CALL_KEYS += ["recording_url", "customer", "contact_number", "call_summary", "metadata", "error"]
CALL_OUTPUT = st.builds(
    lambda base, transcript, pcd: {**base, "transcript": transcript, "post_call_data": pcd},
    some(CALL_KEYS),
    st.lists(MESSAGE, max_size=4) | JSON,
    POST_CALL | JSON,
)
PROVIDER_OUTPUT = st.builds(
    lambda base, messages: {**base, "messages": messages},
    some(["id", "startedAt", "endedAt", "endedReason", "analysis", "customer", "durationSeconds"]),
    st.lists(MESSAGE, max_size=3) | JSON,
)
TASK_ID = st.text(min_size=1, max_size=64).filter(lambda s: s.strip() and "\x00" not in s)
DOCUMENT = st.builds(
    lambda base, user_info, inp: {**base, "user_info": user_info, "input": inp},
    some(
        ["_id", "run_id", "status", "execution_type", "created", "modified", "retry_attempt"]
        + ["last_status_change", "scheduled_timestamp", "task", "failure_count", "user"],
    ).flatmap(
        lambda base: st.builds(
            lambda task_id, output: {**base, "task_id": task_id, "output": output},
            TASK_ID | JSON,
            CALL_OUTPUT | PROVIDER_OUTPUT | JSON,
        )
    ),
    st.builds(lambda d: {**d, "user_token": USER_SECRET}, some(["email", "full_name"])),
    st.builds(lambda d: {**d, "token": SPACE_SECRET}, some(["name", "contact_number", "email"])),
)


def check_row(row: dict[str, Any], table: Table) -> None:
    """The row would load: types, lengths and ranges PostgreSQL enforces."""
    for column in table.columns:
        if column.name not in row:
            continue
        value = row[column.name]
        if value is None:
            assert column.nullable, column.name
            continue
        if isinstance(column.type, String) and column.type.length:
            assert isinstance(value, str) and len(value) <= column.type.length, column.name
        if isinstance(column.type, Integer):
            assert isinstance(value, int) and -(2**31) <= value < 2**31, column.name
        if isinstance(column.type, Float):
            assert isinstance(value, float) and math.isfinite(value), column.name
    check_values(row)


def check_values(value: Any) -> None:
    if isinstance(value, str):
        assert "\x00" not in value
        value.encode("utf-8")  # no lone surrogates
    elif isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, datetime):
        assert value.utcoffset() == timedelta(0)
    elif isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            check_values(key)
            check_values(item)
    elif isinstance(value, list):
        for item in value:
            check_values(item)


def check_result(result: NormalizedTask) -> None:
    check_row(result.task, schema.tasks)
    for column in schema.tasks.columns:
        if not column.nullable and column.name in result.task:
            assert result.task[column.name] is not None, column.name
    json.dumps(result.task["document"], allow_nan=False)
    assert result.task["fingerprint"] == fingerprint(result.task["document"])
    if result.call is not None:
        check_row(result.call, schema.calls)
        assert result.call["transcript_line_count"] == len(result.lines)
    else:
        assert result.lines == []
    for seq, line in enumerate(result.lines):
        check_row(line, schema.transcript_lines)
        assert line["seq"] == seq
    rendered = str(result.task) + str(result.call) + str(result.lines)
    assert USER_SECRET not in rendered
    assert SPACE_SECRET not in rendered


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENT)
def test_task_shaped_documents(doc: dict[str, Any]) -> None:
    try:
        result = normalize_task(doc, "fuzz-agent")
    except RejectedRecord as rejected:
        assert USER_SECRET not in rejected.reason and SPACE_SECRET not in rejected.reason
        # The catch-all in normalize_task would hide a bug as a rejection: none is expected.
        assert not rejected.reason.startswith("unexpected"), rejected.reason
        return
    check_result(result)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_arbitrary_json(doc: Any) -> None:
    try:
        result = normalize_task(doc, "fuzz-agent")
    except RejectedRecord:
        return
    check_result(result)
