"""What `unpod-etl verify` concludes, in one pure place: the API's documents of an agent
against what the warehouse holds of it.

A document agrees with the warehouse when its raw fingerprint equals the stored one, or when
its normalized form has the stored fingerprint. The walk decides nothing else: tasks stored
live but never seen by a complete walk are `gone`; an incomplete walk cannot say that, so it
makes the agent disagree (the comparison is then unproven, not proven wrong).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from unpod_etl.normalize.pii import PiiPolicy
from unpod_etl.normalize.records import RejectedRecord
from unpod_etl.normalize.tasks import normalize_task

EXAMPLES_KEPT = 5  # task ids kept per kind of disagreement, enough to start looking


class StoredTask(NamedTuple):
    agent_handle: str
    fingerprint: str
    raw_fingerprint: str | None
    deleted: bool  # deleted_at is set (soft-deleted)


class Verdict(StrEnum):
    SAME = "same"
    DIFFERENT = "different"  # stored live under this agent, in another form
    MISSING = "missing"  # not stored live under this agent (absent, deleted or elsewhere)
    REJECTED = "rejected"  # cannot be normalized, and kept aside in rejected_records
    UNREADABLE = "unreadable"  # cannot be normalized, and no rejection records it
    ERASED = "erased"  # names a contact `forget` erased: the sync never writes it (agrees)


def judge(
    handle: str,
    document: Any,
    raw_fingerprint: str | None,
    stored: StoredTask | None,
    pii: PiiPolicy | None = None,
) -> Verdict:
    """The verdict on one API document of agent `handle`. A document that cannot be
    normalized is UNREADABLE here; the caller, who can see rejected_records, may call it
    REJECTED when a rejection keeps it."""
    live_here = stored is not None and not stored.deleted and stored.agent_handle == handle
    if (
        stored is not None
        and live_here
        and raw_fingerprint is not None
        and raw_fingerprint == stored.raw_fingerprint
    ):
        return Verdict.SAME  # byte for byte what the sync stored: no need to normalize
    try:
        item = normalize_task(document, handle, raw_fingerprint, pii)
    except RejectedRecord:
        return Verdict.UNREADABLE
    if stored is None or not live_here:
        return Verdict.MISSING
    return Verdict.SAME if item.task["fingerprint"] == stored.fingerprint else Verdict.DIFFERENT


@dataclass
class AgentComparison:
    """One agent's side by side: counts, a few examples, and whether they agree."""

    handle: str
    api_tasks: int = 0
    stored_live: int = 0
    same: int = 0
    different: int = 0
    missing: int = 0
    gone: int = 0  # stored live, absent from a complete walk
    rejected: int = 0
    unreadable: int = 0
    erased: int = 0
    walk_complete: bool = False
    error: str | None = None  # the walk failed: nothing can be concluded
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, verdict: Verdict, task_id: str | None) -> None:
        self.api_tasks += 1
        name = verdict.value
        setattr(self, name, getattr(self, name) + 1)
        if verdict not in (Verdict.SAME, Verdict.REJECTED, Verdict.ERASED):
            self._example(name, task_id)

    def settle(self, seen: set[str], stored_live_ids: Iterable[str], walk_complete: bool) -> None:
        """After the walk: what is stored live but was not seen (only a complete walk tells)."""
        self.walk_complete = walk_complete
        live = list(stored_live_ids)
        self.stored_live = len(live)
        if walk_complete:
            absent = [tid for tid in live if tid not in seen]
            self.gone = len(absent)
            for tid in absent[:EXAMPLES_KEPT]:
                self._example("gone", tid)

    @property
    def agrees(self) -> bool:
        return (
            self.error is None
            and self.walk_complete
            and not (self.different or self.missing or self.gone or self.unreadable)
        )

    @property
    def state(self) -> str:
        if self.error is not None:
            return "failed"
        if not self.walk_complete:
            return "incomplete walk"
        return "agrees" if self.agrees else "differs"

    def as_json(self) -> dict[str, Any]:
        return {
            "agent": self.handle,
            "state": self.state,
            "agrees": self.agrees,
            "api_tasks": self.api_tasks,
            "stored_live": self.stored_live,
            "same": self.same,
            "different": self.different,
            "missing": self.missing,
            "gone": self.gone,
            "rejected": self.rejected,
            "unreadable": self.unreadable,
            "erased": self.erased,
            "walk_complete": self.walk_complete,
            "error": self.error,
            "examples": self.examples,
        }

    def _example(self, kind: str, task_id: str | None) -> None:
        kept = self.examples.setdefault(kind, [])
        if task_id is not None and len(kept) < EXAMPLES_KEPT:
            kept.append(task_id)
