"""The calls row of a task: detecting whether a task's output is a call, and flattening it.

A task has a call when its output names one (`call_id` non-empty), is an old provider-shaped
record (`id` + `startedAt`/`messages`/...), or shows that a call happened (a transcript, a start
or end time, a recording) while `call_id` is still "" - the dispatcher writes "" and the post-call
job may never fill it. Such calls get call_id = task_id and call_id_synthetic = True, so their
transcript still has a key.

`post_call_data` may arrive as the object encoded in a JSON string (as `structured_data` inside
it sometimes does): it is decoded the same way before its flat columns are read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from unpod_etl.normalize.coerce import as_mapping, clean_json, to_bool, to_float, to_text
from unpod_etl.normalize.records import RejectedRecord
from unpod_etl.normalize.times import parse_row_time, read_time
from unpod_etl.normalize.transcript import has_transcript, transcript_lines

CALL_ID_MAX, SHORT_MAX, LABEL_MAX = 255, 64, 255
_NOT_APPLICABLE = frozenset({"n/a", "na", "none", "null", ""})
# Keys that, next to `id`, mark an old provider-shaped (Vapi-like) output.
_PROVIDER_KEYS = ("messages", "startedAt", "endedAt", "endedReason", "analysis", "artifact")


def is_provider_shaped(output: Mapping[str, Any]) -> bool:
    return (
        "call_id" not in output
        and bool(to_text(output.get("id")))
        and any(key in output for key in _PROVIDER_KEYS)
    )


def _from_provider(output: Mapping[str, Any]) -> dict[str, Any]:
    """Map a provider-shaped output onto the current field names."""
    analysis = as_mapping(output.get("analysis"))
    customer = output.get("customer")
    customer_map = as_mapping(customer)
    transcript = output["messages"] if "messages" in output else output.get("transcript")
    return {
        "call_id": output.get("id"),
        "start_time": output.get("startedAt"),
        "end_time": output.get("endedAt"),
        "transcript": transcript,
        "call_end_reason": output.get("endedReason"),
        "call_summary": analysis.get("summary", output.get("summary")),
        "recording_url": output.get(
            "recordingUrl", as_mapping(output.get("artifact")).get("recordingUrl")
        ),
        "cost": output.get("cost"),
        "call_type": output.get("type"),
        "call_status": output.get("status"),
        "customer": customer_map.get("name") if customer_map else customer,
        "contact_number": customer_map.get("number"),
        "assistant_number": as_mapping(output.get("phoneNumber")).get("number"),
        "duration": output.get("durationSeconds", output.get("duration")),
        "metadata": output.get("metadata"),
        "post_call_data": output.get("post_call_data"),
    }


def _provider_analysis(output: Mapping[str, Any]) -> Mapping[str, Any]:
    """A post_call_data-shaped view of a provider `analysis`, for the flat columns only."""
    analysis = as_mapping(output.get("analysis"))
    return {
        "summary": analysis.get("summary"),
        "structured_data": analysis.get("structuredData"),
        "success_evaluator": analysis.get("successEvaluation"),
    }


def _has_call_evidence(output: Mapping[str, Any]) -> bool:
    return (
        has_transcript(output.get("transcript"))
        or parse_row_time(output.get("start_time")) is not None
        or parse_row_time(output.get("end_time")) is not None
        or bool((to_text(output.get("recording_url")) or "").strip())
    )


def normalize_call(
    output: Any, *, task_id: str, agent_handle: str, unreadable: list[str] | None = None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(calls row, transcript_lines rows) of a task output; (None, []) when it has no call.

    `unreadable` learns the fields ("output.start_time", ...) whose time could not be read.
    """
    if not isinstance(output, Mapping) or not output:
        return None, []
    flat_source: Mapping[str, Any] | None = None
    if is_provider_shaped(output):
        flat_source = _provider_analysis(output)
        output = _from_provider(output)
    call_id = (to_text(output.get("call_id")) or "").strip()
    synthetic = False
    if not call_id:
        if not _has_call_evidence(output):
            return None, []
        call_id, synthetic = task_id, True
    if len(call_id) > CALL_ID_MAX:
        raise RejectedRecord(f"call_id longer than {CALL_ID_MAX} characters", task_id=task_id)

    lines = transcript_lines(
        output.get("transcript"), call_id=call_id, task_id=task_id, unreadable=unreadable
    )
    start = read_time(output.get("start_time"), "output.start_time", unreadable)
    end = read_time(output.get("end_time"), "output.end_time", unreadable)
    duration = to_float(output.get("duration"))
    if duration is None and start is not None and end is not None and end >= start:
        duration = (end - start).total_seconds()
    cost = to_float(output.get("cost"))
    if cost is None:
        cost = to_float(as_mapping(output.get("metadata")).get("cost"))
    post_call_data = output.get("post_call_data")
    if isinstance(post_call_data, str):
        post_call_data = _structured_data(post_call_data)
    if flat_source is None or isinstance(post_call_data, Mapping):
        flat_source = as_mapping(post_call_data)

    row: dict[str, Any] = {
        "call_id": call_id,
        "task_id": task_id,
        "agent_handle": agent_handle,
        "call_id_synthetic": synthetic,
        "call_type": to_text(output.get("call_type"), SHORT_MAX),
        "call_status": to_text(output.get("call_status"), SHORT_MAX),
        "call_end_reason": to_text(output.get("call_end_reason")),
        "start_time": start,
        "end_time": end,
        "duration_seconds": duration,
        "recording_url": to_text(output.get("recording_url")),
        "assistant_number": to_text(output.get("assistant_number")),
        "customer": to_text(output.get("customer")),
        "contact_number": to_text(output.get("contact_number")),
        "cost": cost,
        "call_summary": to_text(output.get("call_summary")),
        "post_call_data": clean_json(post_call_data),
        **post_call_columns(flat_source),
        "transcript_line_count": len(lines),
    }
    return row, lines


def post_call_columns(pcd: Mapping[str, Any]) -> dict[str, Any]:
    """The flat calls columns read out of post_call_data (all None when it is {})."""
    summary = pcd.get("summary")
    summary_map = as_mapping(summary)
    follow_up = as_mapping(pcd.get("follow_up"))
    evaluator = pcd.get("success_evaluator")
    return {
        "summary_status": _applicable(to_text(summary_map.get("status"), LABEL_MAX)),
        "summary_text": _applicable(
            to_text(summary_map.get("summary") if summary_map else summary)
            if summary_map or isinstance(summary, str)
            else None
        ),
        "classification_labels": _labels(as_mapping(pcd.get("classification")).get("labels")),
        "success_score": to_float(evaluator),
        "success_evaluation": to_text(evaluator),
        "follow_up_required": _follow_up_required(follow_up.get("required")),
        "follow_up_time": parse_row_time(follow_up.get("time")),
        "callback_at": parse_row_time(summary_map.get("callback_datetime")),
        "is_redial": to_bool(pcd.get("is_redial")),
        "structured_data": _structured_data(pcd.get("structured_data")),
    }


def _applicable(text: str | None) -> str | None:
    """None for the LLM's "N/A" (and empty) answers."""
    if text is None or text.strip().lower() in _NOT_APPLICABLE:
        return None
    return text


def _labels(value: Any) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return None
    return [label for label in (to_text(item) for item in value) if label is not None]


def _follow_up_required(value: Any) -> bool | None:
    flag = to_bool(value)
    if flag is None and isinstance(value, str) and "disabled" in value.lower():
        return False  # "follow_up disabled": no follow-up will happen
    return flag


def _structured_data(value: Any) -> Any:
    """The object; a JSON string is decoded, an undecodable one kept as {"raw": text}."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            return {"raw": to_text(value)}
        if decoded is None:
            return None
        value = decoded if isinstance(decoded, dict | list) else {"raw": value}
    return clean_json(value)
