"""Task and agent documents to warehouse rows.

Only RejectedRecord leaves normalize_task: it is run over every document the API returns, and one
odd document must cost one task, not the sync. Lenient everywhere else: a value of the wrong type
becomes NULL in its column and survives unchanged in `document`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unpod_etl.normalize import fingerprints
from unpod_etl.normalize.calls import normalize_call
from unpod_etl.normalize.coerce import as_mapping, to_int, to_text
from unpod_etl.normalize.pii import PiiPolicy
from unpod_etl.normalize.pii_rows import apply_policy
from unpod_etl.normalize.records import NormalizedTask, RejectedRecord
from unpod_etl.normalize.secrets import stored_document
from unpod_etl.normalize.times import parse_row_time, read_time

TASK_ID_MAX, HANDLE_MAX, ID_MAX, SHORT_MAX = 64, 255, 255, 64


def normalize_task(
    doc: Mapping[str, Any],
    agent_handle: str,
    raw_fingerprint: str | None = None,
    pii: PiiPolicy | None = None,
) -> NormalizedTask:
    """The tasks/calls/transcript_lines rows of one task document; RejectedRecord if unusable.

    `raw_fingerprint`: the sha256 of the bytes the document came in, when the caller kept them
    (rawjson.TaskDoc); else the decoded document is hashed (fingerprints.raw_fingerprint).
    `pii`: hash or redact contact values in every row (normalize/pii.py); the fingerprint is
    then that of the transformed document, the raw fingerprint still that of the bytes.
    """
    task_id = _task_id(doc)
    if not isinstance(agent_handle, str) or not agent_handle.strip():
        raise RejectedRecord("agent handle missing", task_id=task_id)
    try:
        handle = to_text(agent_handle, HANDLE_MAX) or agent_handle
        item = _normalize(doc, task_id, handle, raw_fingerprint)
        return apply_policy(item, pii) if pii is not None else item
    except RejectedRecord:
        raise
    except Exception as exc:  # a document shape nobody foresaw; never the whole sync
        # The message of exc may quote document values (secrets included): only its type goes.
        raise RejectedRecord(
            f"unexpected {type(exc).__name__} while normalizing", task_id=task_id
        ) from exc


def normalize_agent(doc: Mapping[str, Any]) -> dict[str, Any]:
    """An agents row (handle, name, type, state, description, purpose); the loader adds the rest."""
    if not isinstance(doc, Mapping):
        raise RejectedRecord("agent document is not an object")
    handle = doc.get("handle")
    if not isinstance(handle, str) or not handle.strip():
        raise RejectedRecord("agent document has no handle")
    handle = to_text(handle) or ""
    if len(handle) > HANDLE_MAX or not handle:
        raise RejectedRecord(f"agent handle longer than {HANDLE_MAX} characters")
    return {
        "handle": handle,
        "name": to_text(doc.get("name")),
        "type": to_text(doc.get("type"), SHORT_MAX),
        "state": to_text(doc.get("state"), SHORT_MAX),
        "description": to_text(doc.get("description")),
        "purpose": to_text(doc.get("purpose")),
    }


def _task_id(doc: Any) -> str:
    if not isinstance(doc, Mapping):
        raise RejectedRecord("task document is not an object")
    task_id = doc.get("task_id")
    if not isinstance(task_id, str) or not task_id.strip():
        raise RejectedRecord("task document has no task_id")
    if "\x00" in task_id or len(task_id) > TASK_ID_MAX:
        # Cleaning or truncating a primary key could merge two tasks into one row.
        raise RejectedRecord("task_id is not a usable key (NUL or too long)")
    return task_id


def _normalize(
    doc: Mapping[str, Any], task_id: str, agent_handle: str, raw_fingerprint: str | None
) -> NormalizedTask:
    document = stored_document(doc)
    raw_input, raw_output = doc.get("input"), doc.get("output")
    input_map, output_map = as_mapping(raw_input), as_mapping(raw_output)
    user_info = as_mapping(doc.get("user_info"))

    bad: list[str] = []  # fields whose time could not be read (never a silent NULL)
    call, lines = normalize_call(
        raw_output, task_id=task_id, agent_handle=agent_handle, unreadable=bad
    )
    task = {
        "task_id": task_id,
        "agent_handle": agent_handle,
        "doc_id": _doc_id(doc.get("_id")),
        "run_id": to_text(doc.get("run_id"), TASK_ID_MAX),
        "status": to_text(doc.get("status"), SHORT_MAX),
        "execution_type": to_text(doc.get("execution_type"), SHORT_MAX),
        "thread_id": to_text(doc.get("thread_id"), ID_MAX),
        "ref_id": to_text(doc.get("ref_id"), ID_MAX),
        "space_id": to_text(doc.get("space_id"), ID_MAX),
        "user_ref": to_text(doc.get("user"), ID_MAX),
        "user_org_id": to_text(doc.get("user_org_id"), ID_MAX),
        "collection_ref": to_text(doc.get("collection_ref"), ID_MAX),
        "provider": to_text(doc.get("provider"), SHORT_MAX),
        "last_status_change": read_time(doc.get("last_status_change"), "last_status_change", bad),
        "created_at": read_time(doc.get("created"), "created", bad),
        "modified_at": read_time(doc.get("modified"), "modified", bad),
        "scheduled_at": _scheduled_at(doc.get("scheduled_timestamp"), output_map, bad),
        "retry_attempt": to_int(doc.get("retry_attempt")),
        "failure_count": to_int(doc.get("failure_count")),
        "last_failure_reason": to_text(doc.get("last_failure_reason")),
        "objective": to_text(as_mapping(doc.get("task")).get("objective")),
        "user_email": to_text(user_info.get("email")),
        "user_full_name": to_text(user_info.get("full_name")),
        "contact_name": to_text(input_map.get("name")),
        "contact_number": to_text(input_map.get("contact_number")),
        "contact_email": to_text(input_map.get("email")),
        "output_kind": output_kind(raw_output, has_call=call is not None),
        "output_error": to_text(output_map.get("error")),
        # A follow-up is a new task naming the original (see the API notes).
        "referenced_task_id": _referenced(output_map.get("referenced_task")),
        "followup_count": to_int(output_map.get("followup_count")),
        # The same (secret-free, cleaned) objects as inside `document`, not copies.
        "input": document.get("input"),
        "output": document.get("output"),
        "document": document,
        "fingerprint": fingerprints.fingerprint_stored(document),
        "raw_fingerprint": raw_fingerprint or fingerprints.raw_fingerprint(doc),
    }
    return NormalizedTask(task=task, call=call, lines=lines, unreadable_times=tuple(bad))


# The post-call flow's placeholder: `completed`, but the call's output is still to come.
INTERIM_MARK = "will be available soon"


def output_kind(output: Any, *, has_call: bool) -> str:
    """none | call | email | failed | scheduled | interim | other - what the output holds."""
    if output is None or output == {}:
        return "none"
    if has_call:
        return "call"
    if not isinstance(output, Mapping):
        return "other"
    if (to_text(output.get("error")) or "").strip():
        return "failed"
    if output.get("email_id"):
        return "email"
    if output.get("scheduled_time"):
        return "scheduled"
    data = output.get("data")
    if isinstance(data, str) and INTERIM_MARK in data.lower():
        return "interim"
    return "other"


def _referenced(value: Any) -> str | None:
    """A task id, or None: anything else in the field is no reference (kept in `output`)."""
    if isinstance(value, str) and value.strip() and len(value) <= TASK_ID_MAX:
        return value
    return None


def _doc_id(value: Any) -> str | None:
    if isinstance(value, Mapping) and "$oid" in value:  # Mongo extended JSON exports
        value = value["$oid"]
    return to_text(value, TASK_ID_MAX)


def _scheduled_at(timestamp: Any, output: Mapping[str, Any], bad: list[str]) -> Any:
    """scheduled_timestamp; for a scheduled follow-up without one, output.scheduled_time."""
    scheduled = read_time(timestamp, "scheduled_timestamp", bad)
    if scheduled is None and timestamp is None:
        scheduled = parse_row_time(output.get("scheduled_time"))
    return scheduled
