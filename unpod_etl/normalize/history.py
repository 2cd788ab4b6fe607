"""What a change a sync writes looks like in `task_changes` (pure: rows in, a row out).

`changed_parts` names which parts of the stored document differ, so "how often did the server
fill the post-call data without moving the marker" is one query. Parts are compared on the
stored (secret-free) documents, as the fingerprint is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

# Parts of output with a column of their own in the comparison: the rest of output is "output".
OUTPUT_PARTS = ("transcript", "post_call_data", "recording_url")
PARTS = ("status", "input", "output", *OUTPUT_PARTS, "other")
_WHOLE_KEYS = {"status", "input", "output"}


class ChangeKind(StrEnum):
    NEW = "new"  # the warehouse did not hold the task
    MOVED = "moved"  # last_status_change moved
    CHANGED_UNMOVED = "changed_unmoved"  # the content changed, the marker did not
    DELETED = "deleted"  # absent from two complete walks: deleted_at set
    RESTORED = "restored"  # a deleted task seen again
    REASSIGNED = "reassigned"  # the task now shows under another agent


class Prior(NamedTuple):
    """What the warehouse held of a task before this write."""

    agent_handle: str
    status: str | None
    last_status_change: datetime | None
    document: Any
    referenced_task_id: str | None = None
    followup_count: int | None = None


def changed_parts(before: Any, after: Any) -> list[str]:
    """The parts (in PARTS order) in which two stored documents differ."""
    old = before if isinstance(before, Mapping) else {}
    new = after if isinstance(after, Mapping) else {}
    found = set()
    if old.get("status") != new.get("status"):
        found.add("status")
    if old.get("input") != new.get("input"):
        found.add("input")
    old_out, new_out = _as_dict(old.get("output")), _as_dict(new.get("output"))
    for part in OUTPUT_PARTS:
        if old_out.get(part) != new_out.get(part):
            found.add(part)
    if _without(old_out, OUTPUT_PARTS) != _without(new_out, OUTPUT_PARTS):
        found.add("output")
    if _without(old, _WHOLE_KEYS) != _without(new, _WHOLE_KEYS):
        found.add("other")
    return [p for p in PARTS if p in found]


def written_change(
    kind: ChangeKind, task: Mapping[str, Any], prior: Prior | None
) -> dict[str, Any]:
    """The task_changes row (without run and time) of a task row about to be written."""
    reassigned = prior is not None and prior.agent_handle != task["agent_handle"]
    if reassigned:
        kind = ChangeKind.REASSIGNED
    return {
        "task_id": task["task_id"],
        "agent_handle": task["agent_handle"],
        "agent_before": prior.agent_handle if reassigned and prior else None,
        "kind": kind,
        "status_before": prior.status if prior else None,
        "status_after": task.get("status"),
        "marker_before": prior.last_status_change if prior else None,
        "marker_after": task.get("last_status_change"),
        "changed_parts": changed_parts(prior.document if prior else None, task.get("document"))
        if prior
        else [],
    }


def settled_change(
    kind: ChangeKind, task_id: str, agent_handle: str, status: str | None, marker: Any
) -> dict[str, Any]:
    """The row of a deletion or a restore: the task itself did not change."""
    return {
        "task_id": task_id,
        "agent_handle": agent_handle,
        "agent_before": None,
        "kind": kind,
        "status_before": status,
        "status_after": status,
        "marker_before": marker,
        "marker_after": marker,
        "changed_parts": [],
    }


def _as_dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {"": value}


def _without(doc: Mapping[str, Any], keys: Any) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in keys}
