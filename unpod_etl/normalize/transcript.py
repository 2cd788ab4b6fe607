"""Transcript rows from the shapes a call transcript comes in.

Normal: a list of messages {role, content, timestamp?, user_id?, participant?}. Legacy: one string
"AI: Hello\\nUser: Hi", one message per line with a speaker prefix. Provider-shaped (Vapi-like)
records use `message` for the text and `time` in epoch milliseconds. An item that is a bare
number (or another scalar) is a line with its text and no speaker: it never vanishes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from unpod_etl.normalize.coerce import to_text
from unpod_etl.normalize.times import read_time

_ROLE_ALIASES = {
    "assistant": "assistant",
    "agent": "assistant",
    "ai": "assistant",
    "bot": "assistant",
    "ai agent": "assistant",
    "user": "user",
    "customer": "user",
    "human": "user",
    "caller": "user",
}
# "Speaker: text" at the start of a legacy line; only known speakers count as a new message,
# so a line such as "Note: ..." continues the previous message.
_PREFIX = re.compile(r"^\s*([A-Za-z][A-Za-z _-]{0,20}?)\s*:\s?(.*)$", re.DOTALL)

ROLE_MAX, USER_ID_MAX = 64, 255


def normalize_role(raw: Any) -> str | None:
    """assistant | user for the known aliases (any case); other roles kept, lowercased."""
    text = to_text(raw)
    if text is None:
        return None
    key = text.strip().lower()
    return _ROLE_ALIASES.get(key, key)[:ROLE_MAX]


def transcript_lines(
    transcript: Any, *, call_id: str, task_id: str, unreadable: list[str] | None = None
) -> list[dict[str, Any]]:
    """schema.transcript_lines rows for one call, seq from 0; null items are skipped.

    `unreadable` learns "transcript.timestamp" once per message whose time could not be read.
    """
    messages = _messages(transcript, unreadable)
    return [
        {
            "call_id": call_id,
            "seq": seq,
            "task_id": task_id,
            "role": normalize_role(raw_role),
            "raw_role": to_text(raw_role, ROLE_MAX),
            "content": to_text(content) or "",
            "spoken_at": spoken_at,
            "user_id": to_text(user_id, USER_ID_MAX),
        }
        for seq, (raw_role, content, spoken_at, user_id) in enumerate(messages)
    ]


def has_transcript(transcript: Any) -> bool:
    """True when the transcript holds at least one message (call evidence)."""
    return bool(_messages(transcript, None))


_Message = tuple[Any, Any, Any, Any]  # raw_role, content, spoken_at, user_id


def _messages(transcript: Any, unreadable: list[str] | None) -> list[_Message]:
    if isinstance(transcript, str):
        stripped = transcript.strip()
        if stripped.startswith("["):  # a JSON-encoded list of messages
            try:
                decoded = json.loads(stripped)
            except (ValueError, RecursionError):
                decoded = None
            if isinstance(decoded, list):
                return _from_list(decoded, unreadable)
        return _from_text(transcript)
    if isinstance(transcript, list | tuple):
        return _from_list(transcript, unreadable)
    return []


def _from_list(items: list[Any] | tuple[Any, ...], unreadable: list[str] | None) -> list[_Message]:
    messages: list[_Message] = []
    for item in items:
        if isinstance(item, Mapping):
            messages.append(_from_dict(item, unreadable))
        elif item is not None:
            # A bare string, number or boolean (or a nested list, as JSON text) is content
            # without a speaker: kept as a line, never dropped. Only null carries nothing.
            messages.append((None, item, None, None))
    return messages


def _from_dict(item: Mapping[str, Any], unreadable: list[str] | None) -> _Message:
    content = _first_present(item, "content", "message", "text")
    # `time` is the provider shape's epoch milliseconds: read by magnitude like any epoch.
    key = "timestamp" if "timestamp" in item else "time"
    spoken_at = read_time(item.get(key), f"transcript.{key}", unreadable)
    return (item.get("role"), content, spoken_at, item.get("user_id"))


def _first_present(item: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if item.get(key) is not None:
            return item[key]
    return None


def _from_text(text: str) -> list[_Message]:
    messages: list[list[Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _PREFIX.match(line)
        if match and match.group(1).strip().lower() in _ROLE_ALIASES:
            messages.append([match.group(1).strip(), match.group(2).strip()])
        elif messages:
            messages[-1][1] = f"{messages[-1][1]}\n{line.strip()}"
        else:  # text before any speaker prefix
            messages.append([None, line.strip()])
    return [(role, content, None, None) for role, content in messages]
