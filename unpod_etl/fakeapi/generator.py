"""Deterministic agents and task documents, shaped like the raw documents Unpod serves.

A task document is a pure function of (seed, agent index, task index, and the newest
instant and age profile when given; ages.py): nothing is stored
until a test mutates it, so 100,000 tasks cost no memory. Kinds of task follow a fixed
mix per block of 40 tasks (shuffled by seed), so every agent with 40 tasks holds every kind.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from unpod_etl.fakeapi import words
from unpod_etl.fakeapi.agents import Agent, make_agent
from unpod_etl.fakeapi.ages import AgeProfile, Spread
from unpod_etl.fakeapi.calls import hex_id, iso_micro, iso_ms
from unpod_etl.fakeapi.kinds import FAILED_REASON, KIND_MIX, apply_kind, completion_output

# The newest generated task of agent 0; older tasks step back from it. Fixed by default so
# the same seed gives the same documents on any day.
NEWEST_CREATED = datetime(2026, 1, 31, 12, 0, 0)
TASK_SPACING = timedelta(minutes=37)
AGENT_OFFSET = timedelta(minutes=3)
MAX_JITTER_SECONDS = 30 * 60  # below TASK_SPACING, so `created` strictly falls with the index

KINDS = tuple(KIND_MIX)
__all__ = [
    "FAILED_REASON",
    "KIND_MIX",
    "AgeProfile",
    "Agent",
    "Spread",
    "build_task",
    "completion_output",
    "iso_micro",
    "iso_ms",
    "make_agent",
    "make_task",
    "task_head",
]
BLOCK = sum(KIND_MIX.values())


@lru_cache(maxsize=4096)
def _kind_block(seed: int, agent_index: int, block: int) -> tuple[str, ...]:
    kinds = [kind for kind, weight in KIND_MIX.items() for _ in range(weight)]
    random.Random(f"{seed}:kinds:{agent_index}:{block}").shuffle(kinds)
    return tuple(kinds)


def task_kind(seed: int, agent_index: int, task_index: int) -> str:
    return _kind_block(seed, agent_index, task_index // BLOCK)[task_index % BLOCK]


def task_rng(seed: int, agent_index: int, task_index: int) -> random.Random:
    return random.Random(f"{seed}:{agent_index}:{task_index}")


def _head(
    rng: random.Random,
    agent_index: int,
    task_index: int,
    newest: datetime,
    spread: Spread | None = None,
) -> tuple[str, datetime]:
    """The first draws of a task: its id and `created` (cheap, for lookups and ordering)."""
    task_id = "T" + hex_id(rng, 32)
    drawn = rng.randint(0, MAX_JITTER_SECONDS)
    millis = 0 if rng.random() < 0.1 else rng.randint(0, 999)
    if spread is None:
        back = task_index * TASK_SPACING + timedelta(seconds=drawn)
    else:
        back = spread.back(task_index, drawn, MAX_JITTER_SECONDS)
    created = newest - agent_index * AGENT_OFFSET - back
    return task_id, created.replace(microsecond=millis * 1000)


def task_head(
    seed: int,
    agent_index: int,
    task_index: int,
    newest: datetime = NEWEST_CREATED,
    spread: Spread | None = None,
) -> tuple[str, datetime]:
    """`spread`: an AgeProfile applied to the agent's task count (AgeProfile.spread)."""
    return _head(task_rng(seed, agent_index, task_index), agent_index, task_index, newest, spread)


def make_task(
    seed: int,
    agent: Agent,
    task_index: int,
    newest: datetime = NEWEST_CREATED,
    spread: Spread | None = None,
) -> dict[str, Any]:
    rng = task_rng(seed, agent.index, task_index)
    task_id, created = _head(rng, agent.index, task_index, newest, spread)
    kind = task_kind(seed, agent.index, task_index)
    if spread is not None:
        kind = spread.kind(seed, agent.index, task_index, kind, newest - created)
    return build_task(rng, agent, task_id, created, kind)


def _contact(rng: random.Random) -> tuple[str, str, str]:
    first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
    phone = rng.choice(["+91", "+1", "+44"]) + f"{rng.randint(10**9, 10**10 - 1)}"
    local = f"{first}.{last}".lower().encode("ascii", "ignore").decode()
    return f"{first} {last}", phone, f"{local}@example.com"


def _user_info(rng: random.Random, name: str, email: str) -> dict[str, Any]:
    if rng.random() < 0.4:
        return {}
    info: dict[str, Any] = {
        "id": rng.randint(1000, 99999),
        "email": email,
        "full_name": name,
        "user_token": "utk_" + hex_id(rng, 40),  # a credential: leak tests look for it
    }
    if rng.random() < 0.7:
        city, state, country, zone, zipcode, lat, lng = rng.choice(words.CITIES)
        info["location"] = {
            "zip": zipcode,
            "city": city,
            "state": state,
            "country": country,
            "timezone": zone,
            "ip_address": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            "lat": lat,
            "lng": lng,
        }
    return info


def _input(rng: random.Random, agent: Agent, name: str, phone: str, email: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "contact_number": phone,
        "email": email,
        "token": agent.space_token,
        "quality": rng.choice(words.QUALITIES),
        "labels": rng.sample(list(words.LABELS), rng.randint(0, 3)),
    }
    if rng.random() < 0.3:
        doc["company"] = rng.choice(["Acme Corp", "Globex", "Initech", ""])
    if rng.random() < 0.2:
        doc["language"] = rng.choice(["en", "hi", "en-IN"])
    return doc


def _attachments(rng: random.Random) -> list[Any]:
    roll = rng.random()
    if roll < 0.95:
        return []
    if roll < 0.975:
        return [f"https://files.unpod.dev/{hex_id(rng, 12)}.pdf"]
    return [{"name": "brochure.pdf", "url": f"https://files.unpod.dev/{hex_id(rng, 12)}.pdf"}]


def build_task(
    rng: random.Random, agent: Agent, task_id: str, created: datetime, kind: str
) -> dict[str, Any]:
    """Assemble one task document of the given kind; `created` is naive UTC."""
    name, phone, email = _contact(rng)
    doc: dict[str, Any] = {
        "_id": hex_id(rng, 24),
        "task_id": task_id,
        "run_id": "R" + hex_id(rng, 32),
        "space_id": agent.space_id if rng.random() < 0.95 else rng.choice(["", None]),
        "user": agent.user if rng.random() < 0.95 else rng.choice(["", None]),
        "user_org_id": agent.user_org_id,
        "user_info": _user_info(rng, name, email),
        "thread_id": rng.choice([hex_id(rng, 24), hex_id(rng, 24), "", None]),
        "collection_ref": agent.collection_ref,
        "task": {"objective": rng.choice(words.OBJECTIVES)} if rng.random() < 0.8 else {},
        "input": _input(rng, agent, name, phone, email),
        "output": {},
        "attachments": _attachments(rng),
        "assignee": agent.handle,
        "status": "pending",
        "execution_type": rng.choice(words.EXECUTION_TYPES_CALL),
        "ref_id": None if rng.random() < 0.6 else "ref_" + hex_id(rng, 12),
        "failure_count": 0,  # the server never increments it
        "last_failure_reason": None,
        "retry_attempt": 0,
        "last_status_change": iso_micro(created),
        "scheduled_timestamp": None,
        "provider": agent.provider if rng.random() < 0.9 else rng.choice(words.PROVIDERS),
        "created": iso_ms(created),
        "modified": iso_ms(created),
    }
    started = created + timedelta(seconds=rng.randint(30, 7200), microseconds=rng.randint(0, 10**6))
    apply_kind(rng, doc, agent, kind, created, started, (name, phone))
    if rng.random() < 0.08:  # some writers never set the marker
        doc["last_status_change"] = None
    if rng.random() < 0.05:
        key, value = rng.choice(words.EXTRA_FIELDS)
        doc[key] = value
    return doc
