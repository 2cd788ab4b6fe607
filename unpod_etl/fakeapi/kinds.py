"""Kind-specific parts of a task document: status, output and the times that go with them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from unpod_etl.fakeapi import calls
from unpod_etl.fakeapi.agents import Agent
from unpod_etl.fakeapi.calls import epoch_seconds, hex_id, iso_micro, iso_ms

FAILED_REASON = "Task exceeded maximum retries (3)"

# One block of kinds; ~70% are completed calls as on the live server.
KIND_MIX: dict[str, int] = {
    "call_outbound": 18,
    "call_inbound": 6,
    "call_legacy_string": 2,
    "call_provider_legacy": 1,
    "partially_completed": 2,
    "pending": 3,
    "in_progress": 1,
    "processing": 1,
    "dispatching": 1,
    "scheduled": 1,
    "hold": 1,
    "failed": 2,
    "email": 1,
}


def apply_kind(
    rng: random.Random,
    doc: dict[str, Any],
    agent: Agent,
    kind: str,
    created: datetime,
    started: datetime,
    contact: tuple[str, str],
) -> None:
    name, phone = contact
    agent_name = agent.name or "Unpod assistant"
    if kind == "pending":
        if rng.random() < 0.2:
            doc["execution_type"] = rng.choice(["answer", "tool_call", "dealer", None])
        return
    if kind in ("in_progress", "processing", "hold", "dispatching"):
        doc["status"] = "in_progress" if kind == "dispatching" else kind
        if kind == "dispatching":
            doc["output"] = calls.dispatching_output(rng, name, phone)
        doc["last_status_change"] = iso_micro(started)
        doc["modified"] = iso_ms(started)
        return
    if kind == "scheduled":
        when = (started + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        doc["status"] = "scheduled"
        doc["output"] = {"scheduled_time": when.strftime("%Y-%m-%d %H:%M:%S")}
        doc["scheduled_timestamp"] = int(epoch_seconds(when))
        doc["last_status_change"] = iso_micro(started)
        doc["modified"] = iso_ms(started)
        return
    if kind == "failed":
        doc["status"] = "failed"
        doc["output"] = {"error": FAILED_REASON, "call_end_reason": "customer-did-not-answer"}
        doc["retry_attempt"] = 3
        doc["last_failure_reason"] = FAILED_REASON
        failed_at = started + timedelta(hours=rng.randint(1, 6))
        doc["last_status_change"] = iso_micro(failed_at)
        doc["modified"] = iso_ms(failed_at)
        return
    if kind == "email":
        doc["status"] = "completed"
        doc["execution_type"] = "email"
        doc["output"] = {"email_id": f"<{hex_id(rng, 20)}@mail.unpod.dev>"}
        doc["last_status_change"] = iso_micro(started)
        doc["modified"] = iso_ms(started)
        return
    _apply_call(rng, doc, kind, started, name, phone, agent_name)


def _apply_call(
    rng: random.Random,
    doc: dict[str, Any],
    kind: str,
    started: datetime,
    name: str,
    phone: str,
    agent_name: str,
) -> None:
    count = rng.randint(6, 26)  # median ~16 messages
    if kind == "call_provider_legacy":
        doc["provider"] = "vapi"
        doc["output"] = calls.provider_output(rng, started, name, phone, agent_name, count)
    elif kind == "partially_completed":
        doc["output"] = calls.call_output(
            rng,
            start=started,
            name=name,
            phone=phone,
            agent=agent_name,
            inbound=False,
            message_count=rng.randint(2, 6),
            with_analysis=False,
        )
        doc["output"]["call_status"] = rng.choice(["notConnected", "droped", "failed"])
    else:
        doc["output"] = calls.call_output(
            rng,
            start=started,
            name=name,
            phone=phone,
            agent=agent_name,
            inbound=kind == "call_inbound",
            message_count=count,
            legacy_string=kind == "call_legacy_string",
        )
    doc["status"] = "partially_completed" if kind == "partially_completed" else "completed"
    if rng.random() < 0.1:
        doc["retry_attempt"] = 1
        doc["last_failure_reason"] = "customer-did-not-answer"
    ended = started + timedelta(seconds=count * 10 + 20)
    analysed = ended + timedelta(minutes=rng.randint(1, 240), microseconds=rng.randint(0, 10**6))
    doc["modified"] = iso_ms(analysed)
    # Half the calls were completed by the post-call job, which leaves the marker at the
    # moment the call started; the others by the runner, which moves it.
    doc["last_status_change"] = iso_micro(started if rng.random() < 0.5 else analysed)


def completion_output(
    seed: int, task_id: str, doc: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The output the post-call job writes when it completes a task (deterministic per task)."""
    rng = random.Random(f"{seed}:complete:{task_id}")
    contact = doc.get("input") or {}
    count = rng.randint(6, 26)
    return calls.call_output(
        rng,
        start=now - timedelta(seconds=count * 10 + 30),
        name=str(contact.get("name") or "Unknown"),
        phone=str(contact.get("contact_number") or ""),
        agent=str(doc.get("assignee") or "agent"),
        inbound=False,
        message_count=count,
    )
