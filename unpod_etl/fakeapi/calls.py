"""The `output` of call tasks: transcripts, post-call analysis and the legacy shapes.

Every function takes the caller's `random.Random` so a document stays a pure function of
(seed, agent, task); the order of draws is therefore part of the contract of determinism.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

from unpod_etl.fakeapi import words

# Shapes in which the server writes times inside `output`, with rough frequencies.
TIME_SHAPES = ("space", "space", "space", "t", "t", "z", "z", "offset", "empty", "none")


def format_time(moment: datetime, shape: str) -> str:
    """Render a naive-UTC moment in one of the shapes the server emits."""
    if shape == "space":
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    if shape == "t":
        return moment.isoformat(timespec="microseconds")
    if shape == "z":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if shape == "offset":
        return moment.isoformat(timespec="microseconds") + "+00:00"
    if shape == "empty":
        return ""
    return "None"


EPOCH = datetime(1970, 1, 1)


def epoch_seconds(moment: datetime) -> float:
    """Seconds since the epoch of a naive-UTC moment (datetime.timestamp() would use local time)."""
    return (moment - EPOCH).total_seconds()


def iso_ms(moment: datetime) -> str:
    """`created`/`modified` style: millisecond precision, no fraction when it is zero."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000).isoformat()


def iso_micro(moment: datetime) -> str:
    """`last_status_change` style: naive ISO, always with microseconds."""
    return moment.isoformat(timespec="microseconds")


def hex_id(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def uuid_like(rng: random.Random) -> str:
    digits = hex_id(rng, 32)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _line(rng: random.Random, lines: tuple[str, ...], name: str, agent: str, phone: str) -> str:
    # random() and indexing instead of choice(): transcripts dominate generation time
    return lines[int(rng.random() * len(lines))].format(name=name, agent=agent, phone=phone)


def transcript_messages(
    rng: random.Random, count: int, start: datetime, name: str, agent: str, phone: str
) -> list[dict[str, Any]]:
    """A list transcript; roles, timestamp shape and optional keys vary per call."""
    bot, human = rng.choice(words.ROLE_PAIRS)
    stamp_shape = rng.choice(("space", "t", "z", "offset", "missing", "missing", "empty", "none"))
    with_ids = rng.random() < 0.3
    moment = start
    messages: list[dict[str, Any]] = []
    for position in range(count):
        speaking_bot = position % 2 == 0
        role = bot if speaking_bot else human
        lines = words.ASSISTANT_LINES if speaking_bot else words.USER_LINES
        message: dict[str, Any] = {"role": role, "content": _line(rng, lines, name, agent, phone)}
        moment += timedelta(seconds=2 + rng.random() * 7.999999)  # < 10 s a message
        if stamp_shape != "missing":
            message["timestamp"] = format_time(moment, stamp_shape)
        if with_ids:
            message["user_id"] = "agent" if speaking_bot else f"sip_{phone[-4:]}"
            message["participant"] = agent if speaking_bot else name
        messages.append(message)
    return messages


def transcript_string(rng: random.Random, count: int, name: str, agent: str, phone: str) -> str:
    """The legacy transcript: one string, one message a line, prefixed by the speaker."""
    rows = []
    for position in range(count):
        if position % 2 == 0:
            rows.append("AI: " + _line(rng, words.ASSISTANT_LINES, name, agent, phone))
        else:
            rows.append("User: " + _line(rng, words.USER_LINES, name, agent, phone))
    return "\n".join(rows)


def post_call_data(rng: random.Random, name: str, phone: str, ended: datetime) -> dict[str, Any]:
    """Post-call analysis; `{}` when that job failed, older shapes for some records."""
    if rng.random() < 0.12:
        return {}
    status = rng.choice(words.SUMMARY_STATUSES)
    callback = ended + timedelta(hours=rng.randint(2, 72))
    wants_callback = status == "Call Back"
    summary: Any = {
        "status": status,
        "summary": f"{name} was reached; outcome: {status.lower()}.",
        "name": name,
        "contact": phone,
        "callback_datetime": callback.strftime("%Y-%m-%d %H:%M:%S") if wants_callback else "N/A",
        "hours_from_now": str(rng.randint(2, 72)) if wants_callback else "N/A",
    }
    if rng.random() < 0.15:  # older data kept the summary as plain text
        summary = summary["summary"]
    structured = {"interested": status == "Interested", "budget": rng.choice([None, 500, 1200])}
    structured_data: Any = structured
    roll = rng.random()
    if roll < 0.25:  # the same object, JSON-encoded
        structured_data = json.dumps(structured)
    elif roll < 0.35:
        structured_data = None
    data: dict[str, Any] = {
        "classification": {
            "labels": rng.sample(list(words.LABELS), rng.randint(0, 2)),
            "summary": f"Call with {name}",
        },
        "summary": summary,
        "success_evaluator": rng.choice(["true", "false", 7, 8.5, None, "Pass"]),
        "follow_up": {
            "required": rng.choice(["true", "false", "follow_up disabled"]),
            "time": callback.strftime("%Y-%m-%d %H:%M:%S") if wants_callback else "N/A",
            "reason": "Customer asked for a callback" if wants_callback else "N/A",
            "status": rng.choice(["pending", "scheduled", "N/A"]),
        },
        "call_evaluation": {
            "session_id": hex_id(rng, 16),
            "evaluation_results": [{"metric": "greeting", "passed": rng.random() < 0.8}],
            "quality_metrics": {"latency_ms": rng.randint(400, 1800)},
            "audio_file_path": f"/recordings/{hex_id(rng, 12)}.wav",
        },
        "profile_summary": None
        if rng.random() < 0.2
        else {
            "tone": rng.choice(["friendly", "neutral", "annoyed"]),
            "engagement": rng.choice(["high", "medium", "low"]),
            "interest_level": rng.choice(["high", "medium", "low", "none"]),
            "objections": rng.sample(["price", "timing", "trust"], rng.randint(0, 2)),
            "questions_asked": ["How much does it cost?"] if rng.random() < 0.5 else [],
            "pain_points": [],
            "outcome": status,
            "next_action": "callback" if wants_callback else "none",
            "callback_requested": wants_callback,
            "callback_time": callback.strftime("%Y-%m-%d %H:%M:%S") if wants_callback else None,
            "summary_text": f"{name}: {status}",
        },
        "structured_data": structured_data,
    }
    if rng.random() < 0.3:
        data["is_redial"] = rng.random() < 0.5
    return data


def call_output(
    rng: random.Random,
    *,
    start: datetime,
    name: str,
    phone: str,
    agent: str,
    inbound: bool,
    message_count: int,
    legacy_string: bool = False,
    with_analysis: bool = True,
) -> dict[str, Any]:
    """A completed (or partially completed) call as the current server stores it."""
    shape = rng.choice(TIME_SHAPES)
    if legacy_string:
        transcript: Any = transcript_string(rng, message_count, name, agent, phone)
    else:
        transcript = transcript_messages(rng, message_count, start, name, agent, phone)
    duration = message_count * 10 + rng.randint(0, 20)  # messages step <10 s: all fit inside
    ended = start + timedelta(seconds=duration, microseconds=rng.randint(0, 999_999))
    cost = round(duration * 0.0021, 4) if rng.random() < 0.85 else None
    output: dict[str, Any] = {
        "call_id": uuid_like(rng),
        "customer": name,
        "contact_number": phone,
        "call_end_reason": rng.choice(words.END_REASONS),
        "recording_url": rng.choice(
            ["", None, f"https://recordings.unpod.dev/{hex_id(rng, 20)}.mp3"]
        ),
        "transcript": transcript,
        "start_time": format_time(start, shape),
        "end_time": format_time(ended, shape),
        "assistant_number": "+1415555" + f"{rng.randint(0, 9999):04d}",
        "call_summary": None if rng.random() < 0.15 else f"Spoke with {name} about the offer.",
        "duration": duration,
        "cost": cost,
        "post_call_data": post_call_data(rng, name, phone, ended) if with_analysis else {},
        "call_type": rng.choice(words.INBOUND_TYPES if inbound else words.OUTBOUND_TYPES),
        "call_status": rng.choice(words.CALL_STATUSES),
        "metadata": {
            "cost": cost,
            "type": "inboundPhoneCall" if inbound else "outboundPhoneCall",
            "usage": {"llm_tokens": rng.randint(300, 9000), "tts_characters": duration * 14},
        },
    }
    if rng.random() < 0.15:  # older records did not store the duration
        del output["duration"]
    if rng.random() < 0.1:
        output["notes"] = "Customer prefers WhatsApp."
    return output


def dispatching_output(rng: random.Random, name: str, phone: str) -> dict[str, Any]:
    """A call handed to the provider that has no call id yet."""
    return {
        "call_id": "",
        "customer": name,
        "contact_number": phone,
        "call_type": rng.choice(words.OUTBOUND_TYPES),
        "call_status": "",
        "start_time": "",
        "end_time": "",
        "transcript": [],
        "post_call_data": {},
        "status_update": "dispatching",
    }


def provider_output(
    rng: random.Random, start: datetime, name: str, phone: str, agent: str, count: int
) -> dict[str, Any]:
    """A legacy record whose output is the call provider's own payload (Vapi-like)."""
    ended = start + timedelta(seconds=count * 7)
    moment = start
    messages = []
    for position in range(count):
        moment += timedelta(seconds=rng.randint(2, 6))
        bot = position % 2 == 0
        messages.append(
            {
                "role": "bot" if bot else "user",
                "message": _line(
                    rng, words.ASSISTANT_LINES if bot else words.USER_LINES, name, agent, phone
                ),
                "time": int(epoch_seconds(moment) * 1000),
                "secondsFromStart": (moment - start).total_seconds(),
            }
        )
    return {
        "id": uuid_like(rng),
        "type": "outboundPhoneCall",
        "startedAt": format_time(start, "z"),
        "endedAt": format_time(ended, "z"),
        "messages": messages,
        "endedReason": rng.choice(words.END_REASONS),
        "analysis": {"summary": f"Spoke with {name}.", "successEvaluation": "true"},
        "cost": round(count * 0.013, 4),
        "customer": {"number": phone, "name": name},
    }
