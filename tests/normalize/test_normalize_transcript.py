"""Transcript parsing in isolation (role aliases, legacy strings, odd items)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from unpod_etl.normalize.transcript import normalize_role, transcript_lines


def lines(transcript: Any) -> list[tuple[Any, Any, Any]]:
    rows = transcript_lines(transcript, call_id="c1", task_id="T1")
    assert [r["seq"] for r in rows] == list(range(len(rows)))
    return [(r["role"], r["raw_role"], r["content"]) for r in rows]


@pytest.mark.parametrize(
    ("raw", "role"),
    [
        ("assistant", "assistant"),
        ("Agent", "assistant"),
        ("AI", "assistant"),
        ("BOT", "assistant"),
        ("user", "user"),
        ("Customer", "user"),
        ("HUMAN", "user"),
        ("Moderator", "moderator"),
        (None, None),
    ],
)
def test_role_aliases(raw: Any, role: str | None) -> None:
    assert normalize_role(raw) == role


def test_legacy_string_lines_and_continuations() -> None:
    text = "preamble\nAI: Hi\nthere\nUser:Yes: I agree\r\nassistant :  Ok  "
    assert lines(text) == [
        (None, None, "preamble"),
        ("assistant", "AI", "Hi\nthere"),
        ("user", "User", "Yes: I agree"),
        ("assistant", "assistant", "Ok"),
    ]


def test_json_encoded_list_transcript() -> None:
    assert lines('[{"role": "AI", "content": "Hi"}]') == [("assistant", "AI", "Hi")]


@pytest.mark.parametrize("transcript", [None, "", "  \n ", [], {}, 5, [None, None]])
def test_empty_transcripts(transcript: Any) -> None:
    assert lines(transcript) == []


def test_scalar_items_become_lines_with_their_text() -> None:
    transcript = [{"role": "user", "content": "Hi"}, 42, None, 3.5, True, [2], "plain"]
    assert lines(transcript) == [
        ("user", "user", "Hi"),
        (None, None, "42"),
        (None, None, "3.5"),
        (None, None, "true"),
        (None, None, "[2]"),
        (None, None, "plain"),
    ]


def test_message_times_by_magnitude_and_unreadable_ones_counted() -> None:
    unreadable: list[str] = []
    rows = transcript_lines(
        [
            {"role": "user", "content": "a", "timestamp": 1769940000},
            {"role": "user", "content": "b", "timestamp": 1769940000250},
            {"role": "user", "content": "c", "time": 1769940000250000},
            {"role": "user", "content": "d", "timestamp": "half past ten"},
            {"role": "user", "content": "e", "timestamp": ""},
        ],
        call_id="c1",
        task_id="T1",
        unreadable=unreadable,
    )
    base = datetime(2026, 2, 1, 10, tzinfo=UTC)
    assert [r["spoken_at"] for r in rows] == [
        base,
        base + timedelta(milliseconds=250),
        base + timedelta(milliseconds=250),
        None,
        None,
    ]
    assert unreadable == ["transcript.timestamp"]  # "" means no time; prose is unreadable


def test_odd_message_values() -> None:
    assert lines(
        [
            {"role": "user", "content": {"text": "structured"}},
            {"role": 7, "content": 12},
            {"content": "no role"},
            {"role": "AI", "text": "from text"},
        ]
    ) == [
        ("user", "user", '{"text": "structured"}'),
        ("7", "7", "12"),
        (None, None, "no role"),
        ("assistant", "AI", "from text"),
    ]


def test_long_roles_fit_their_columns() -> None:
    rows = transcript_lines([{"role": "R" * 100, "content": "x"}], call_id="c", task_id="T")
    assert rows[0]["raw_role"] == "R" * 64
    assert rows[0]["role"] == "r" * 64
