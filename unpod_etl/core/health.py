"""What `unpod-etl check` decides, from facts read out of the warehouse: pure, no I/O.

The facts (HealthFacts) come from warehouse/health.py; `findings` turns them, a "now" and the
thresholds into the list of things wrong, empty when healthy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from unpod_etl.core.errors import ConfigError

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """'26h', '90m', '2d', '1d12h', '45s', '1w' -> timedelta; anything else is a ConfigError."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ConfigError(f"{text!r} is not a duration like 26h, 90m or 2d")
    total = timedelta()
    for number, unit in parts:
        total += timedelta(**{_UNITS[unit]: int(number)})
    if total <= timedelta():
        raise ConfigError(f"{text!r}: a duration must be more than zero")
    return total


def describe_duration(delta: timedelta) -> str:
    """A short human form, e.g. 1d 3h or 45m."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{mins}m"] * bool(mins)
    return " ".join(parts[:2]) or "0m"


@dataclass(frozen=True)
class DiedRun:
    run_id: int
    started_at: datetime


@dataclass(frozen=True)
class HealthFacts:
    last_success: datetime | None  # when the newest `ok` run finished
    agents: dict[str, datetime | None]  # active agents -> when each last synced ok
    died: list[DiedRun] = field(default_factory=list)  # runs that died since the last success
    open_rejections: int = 0  # rejected_records rows not resolved yet
    # active agents -> when their last complete (full) walk started: what a shallow walk
    # leaves unread is only as fresh as that (pipeline/walk_depth.py)
    full_walks: dict[str, datetime | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    kind: str  # stale_run | stale_agent | stale_full_walk | died_run | rejected_records
    message: str
    subject: str | None = None  # the agent handle or run id the finding is about

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "message": self.message}


def findings(
    facts: HealthFacts,
    now: datetime,
    max_age: timedelta,
    max_rejected: int,
    max_full_walk_age: timedelta | None = None,
) -> list[Finding]:
    found: list[Finding] = []
    age = describe_duration(max_age)
    if facts.last_success is None:
        found.append(Finding("stale_run", "no sync run has ever succeeded"))
    elif now - facts.last_success > max_age:
        ago = describe_duration(now - facts.last_success)
        found.append(
            Finding("stale_run", f"no successful sync run within {age} (last one {ago} ago)")
        )
    for handle, last in sorted(facts.agents.items()):
        if last is None:
            found.append(Finding("stale_agent", f"agent {handle}: never synced ok", handle))
        elif now - last > max_age:
            ago = describe_duration(now - last)
            message = f"agent {handle}: last synced ok {ago} ago (more than {age})"
            found.append(Finding("stale_agent", message, handle))
    if max_full_walk_age is not None:
        found += _stale_full_walks(facts, now, max_full_walk_age)
    for run in facts.died:
        message = f"run {run.run_id} (started {run.started_at:%Y-%m-%d %H:%M} UTC) died"
        found.append(Finding("died_run", message, str(run.run_id)))
    if facts.open_rejections > max_rejected:
        message = (
            f"{facts.open_rejections} unresolved rejected record(s) (more than {max_rejected}): "
            "see the rejected_records table"
        )
        found.append(Finding("rejected_records", message))
    return found


def _stale_full_walks(facts: HealthFacts, now: datetime, bound: timedelta) -> list[Finding]:
    """Agents that sync ok but whose lists were not read to the end within `bound`: shallow
    walks go on, and changes to settled tasks and deletions wait for a full walk."""
    found = []
    for handle, last in sorted(facts.full_walks.items()):
        if facts.agents.get(handle) is None:
            continue  # never synced ok: stale_agent says so already
        if last is None:
            message = f"agent {handle}: never walked to the end of its list (no full walk)"
        elif now - last > bound:
            ago, limit = describe_duration(now - last), describe_duration(bound)
            message = f"agent {handle}: last complete full walk {ago} ago (more than {limit})"
        else:
            continue
        found.append(Finding("stale_full_walk", message, handle))
    return found
