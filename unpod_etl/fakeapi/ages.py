"""Realistic ages for generated tasks (optional; FakeUnpod(ages=AgeProfile(...))).

By default tasks step back 37 minutes each from a fixed instant and every age holds the
server's whole mix of kinds, pending ones included. A live account looks otherwise: its
tasks spread over months, and only the recent ones are still moving; an old task is settled
(completed, failed) except the few that got stuck. An adaptive walk is only measurable on
data like that, so a profile spreads `created` evenly over the last `days` days and settles
older tasks, keeping about `stuck_fraction` of all older tasks unsettled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from unpod_etl.fakeapi.kinds import KIND_MIX

# Kinds whose task is still moving: a walk keeps watching them.
UNSETTLED_KINDS = frozenset(
    {"pending", "in_progress", "processing", "dispatching", "scheduled", "hold"}
)
# What an old unsettled task became, weighted as in the mix: completed calls or failed.
SETTLED_KINDS = ("call_outbound", "call_inbound", "failed")
_SETTLED_WEIGHTS = tuple(KIND_MIX[kind] for kind in SETTLED_KINDS)
_UNSETTLED_SHARE = sum(KIND_MIX[kind] for kind in UNSETTLED_KINDS) / sum(KIND_MIX.values())


@dataclass(frozen=True)
class AgeProfile:
    days: float = 90.0  # tasks spread evenly over this many days before `newest`
    recent: timedelta = timedelta(days=2)  # younger tasks keep the server's mix of kinds
    stuck_fraction: float = 0.01  # of all older tasks, this share stays unsettled

    def __post_init__(self) -> None:
        if self.days <= 0 or self.recent < timedelta(0):
            raise ValueError("AgeProfile needs days > 0 and recent >= 0")
        if not 0 <= self.stuck_fraction <= _UNSETTLED_SHARE:
            raise ValueError(f"stuck_fraction must lie in [0, {_UNSETTLED_SHARE:g}]")

    def spread(self, tasks_per_agent: int) -> Spread:
        return Spread(self, self.days * 86_400 / max(1, tasks_per_agent))


@dataclass(frozen=True)
class Spread:
    """A profile applied to an agent's number of tasks: what the generator asks of it."""

    profile: AgeProfile
    step_seconds: float  # between consecutive tasks of an agent

    def __post_init__(self) -> None:
        # Whole seconds keep `created` strictly falling once milliseconds are added.
        if self.step_seconds < 1:
            raise ValueError("AgeProfile: more than one task per second; raise days")

    def back(self, task_index: int, drawn: int, drawn_max: int) -> timedelta:
        """How far before the agent's newest instant task `task_index` was created; `drawn`
        (0..drawn_max) is the task's jitter draw, scaled to stay below one step."""
        room = max(0, int(self.step_seconds) - 1)
        return timedelta(seconds=int(task_index * self.step_seconds) + drawn * room // drawn_max)

    def kind(self, seed: int, agent_index: int, task_index: int, kind: str, age: timedelta) -> str:
        """The kind a task of the mix has at `age` (before the newest task)."""
        if age <= self.profile.recent or kind not in UNSETTLED_KINDS:
            return kind
        rng = random.Random(f"{seed}:age:{agent_index}:{task_index}")
        # Unsettled kinds are _UNSETTLED_SHARE of the mix: keeping each with this chance
        # leaves stuck_fraction of all older tasks stuck.
        if rng.random() < self.profile.stuck_fraction / _UNSETTLED_SHARE:
            return kind
        return rng.choices(SETTLED_KINDS, weights=_SETTLED_WEIGHTS)[0]
