"""Agents of the fake organisation: handle, listing fields and per-agent constants."""

from __future__ import annotations

import random
from dataclasses import dataclass

from unpod_etl.fakeapi import words
from unpod_etl.fakeapi.calls import hex_id


@dataclass(frozen=True)
class Agent:
    index: int
    handle: str
    name: str
    type: str
    state: str
    description: str
    purpose: str
    published: bool
    space_id: str
    user: str
    user_org_id: str
    space_token: str
    provider: str
    collection_ref: str

    def listing(self) -> dict[str, str]:
        """The agent object as GET /agents/ serves it (no id, no timestamps)."""
        return {
            "handle": self.handle,
            "name": self.name,
            "type": self.type,
            "state": self.state,
            "description": self.description,
            "purpose": self.purpose,
        }


def make_agent(seed: int, index: int, published: bool) -> Agent:
    rng = random.Random(f"{seed}:agent:{index}")
    noun = rng.choice(words.AGENT_NOUNS)
    handle = f"{rng.choice(words.AGENT_ADJECTIVES)}-{noun}-{index}"
    return Agent(
        index=index,
        handle=handle,
        name="" if rng.random() < 0.15 else f"{noun.title()} Agent {index}",
        type=rng.choice(words.AGENT_TYPES),
        state="published" if published else "draft",
        description="" if rng.random() < 0.3 else f"Handles {noun} calls for Acme.",
        purpose=rng.choice(words.AGENT_PURPOSES),
        published=published,
        space_id=hex_id(rng, 24),
        user=hex_id(rng, 24),
        user_org_id=hex_id(rng, 24),
        space_token="spt_" + hex_id(rng, 24),
        provider=rng.choice(words.PROVIDERS),
        collection_ref="" if rng.random() < 0.3 else f"collection_{hex_id(rng, 10)}",
    )
