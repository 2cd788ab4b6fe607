"""One webhook delivery's body read as a task document, and how a delivery ends.

Reading is pure apart from decoding: a body that cannot be a task (not JSON, not an object,
no task_id, no assignee) raises Unusable with what may be kept of it, secret-free, in
rejected_records; a usable one comes back in the pull's form (normalize/webhook.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from unpod_etl.normalize import strip_secrets
from unpod_etl.normalize.coerce import to_text
from unpod_etl.normalize.webhook import as_pulled
from unpod_etl.source.rawjson import UndecodableJson, decode_json

UNKNOWN_AGENT = "(webhook)"  # rejected_records.agent_handle of a body naming no usable agent
HANDLE_MAX = 255


class DeliveryOutcome(StrEnum):
    INSERTED = "inserted"
    UPDATED = "updated"
    REASSIGNED = "reassigned"  # the task now shows under another agent
    UNCHANGED = "unchanged"  # the warehouse already held this (nothing written)
    STALE = "stale"  # older than the stored task (last_status_change went back): not written
    CALL_CONFLICT = "call_conflict"  # its call_id is another task's call: kept aside
    REJECTED = "rejected"  # unusable body, kept in rejected_records
    UNAVAILABLE = "unavailable"  # the database is down: Unpod should try again
    ERASED = "erased"  # names a contact `forget` erased: never written again


@dataclass(frozen=True)
class Delivery:
    """How one delivery ended, and the HTTP status to answer it with."""

    status: int
    outcome: DeliveryOutcome
    task_id: str | None = None
    agent: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        doc = {"outcome": str(self.outcome), "task_id": self.task_id, "agent": self.agent}
        return {**doc, "reason": self.reason} if self.reason else doc


class Unusable(ValueError):
    """A body that cannot be a task: what to keep of it (secret-free) and why."""

    def __init__(self, kept: Any, reason: str, agent: str = UNKNOWN_AGENT) -> None:
        super().__init__(reason)
        self.kept, self.reason, self.agent = kept, reason, agent


def read_document(body: bytes) -> tuple[dict[str, Any], str]:
    """(the task document in the pull's form, its agent handle); Unusable if it is no task."""
    try:
        value = decode_json(body)
    except UndecodableJson:
        # Its text may hold tokens that cannot be found without parsing it: keep only a digest.
        digest = hashlib.sha256(body).hexdigest()
        raise Unusable({"webhook_body": "not JSON", "bytes": len(body), "sha256": digest},
                       "the body is not JSON") from None  # fmt: skip
    if not isinstance(value, dict):
        raise Unusable(_secret_free(value), "the body is not a JSON object")
    assignee = value.get("assignee")
    handle = to_text(assignee) if isinstance(assignee, str) else None
    usable = handle is not None and bool(handle.strip()) and len(handle) <= HANDLE_MAX
    task_id = value.get("task_id")
    agent = handle if usable else None
    if not isinstance(task_id, str) or not task_id.strip():
        raise Unusable(value, "the task document has no task_id", agent or UNKNOWN_AGENT)
    if agent is None:
        raise Unusable(value, "the task document has no usable assignee (agent handle)")
    return as_pulled(value), agent


def _secret_free(value: Any) -> Any:
    if isinstance(value, dict):
        return strip_secrets(value)
    if isinstance(value, list):
        return [_secret_free(v) for v in value]
    return value
