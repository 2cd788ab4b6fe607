"""What a sync run reports: per-agent counters and the run's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from unpod_etl.core.outcomes import EXIT_CODES, AgentOutcome, RunOutcome, interrupted_exit_code
from unpod_etl.normalize.changes import Action

# The AgentResult counter each change-detection action adds one to.
COUNTERS: dict[Action, str] = {
    Action.NORMALIZE: "seen",  # never counted: decided again once normalized
    Action.UNTOUCHED: "unchanged",
    Action.UNCHANGED: "unchanged",
    Action.RAW_MOVED: "unchanged",
    Action.INSERT: "inserted",
    Action.MOVE: "moved",
    Action.CHANGE: "changed_unmoved",
}


@dataclass
class AgentResult:
    handle: str
    outcome: AgentOutcome = AgentOutcome.RUNNING
    pages: int = 0
    seen: int = 0
    inserted: int = 0
    moved: int = 0  # rewritten because last_status_change moved
    changed_unmoved: int = 0  # rewritten because the content changed, marker unmoved
    unchanged: int = 0
    failed: int = 0  # documents that could not be normalized (see rejected_records)
    deleted: int = 0  # stored tasks absent from two complete walks: deleted_at set
    restored: int = 0  # deleted tasks the walk saw again
    deletes_held: int = 0  # deletions the --max-delete-fraction guard refused
    reassigned: int = 0  # tasks that moved here from another agent (row, call and lines)
    call_conflicts: int = 0  # tasks kept aside: their call_id is another task's call
    duplicate_listing: int = 0  # listed tasks another agent owns (pipeline/ownership.py)
    erased: int = 0  # tasks of a contact `forget` erased: skipped, never written
    shifts: int = 0  # times the live list shifted under the walk (source/paging.py)
    walk_complete: bool | None = None  # the walk stands for the whole list (None: no walk)
    count_mismatch: bool = False  # distinct tasks seen and the server's count disagree
    unreadable_times: dict[str, int] = field(default_factory=dict)  # field -> values nulled
    # The adaptive walk (pipeline/walk_depth.py): full or shallow, why full, how deep.
    walk: str | None = None
    full_walk_reason: str | None = None
    pages_walked: int = 0  # the deepest page number read
    deepest_change_page: int | None = None  # the deepest page on which something was written
    api_count: int | None = None  # the largest count the server announced
    stored_tasks: int | None = None  # live tasks stored once the walk ended
    warnings: list[str] = field(default_factory=list)  # for the summary, besides `error`
    error: str | None = None

    def count(self, action: Action) -> None:
        """Count one document by what change detection decided for it."""
        name = COUNTERS[action]
        setattr(self, name, getattr(self, name) + 1)

    def walk_columns(self) -> dict[str, Any]:
        """The sync_agent_results columns of the walk (migration 0013)."""
        return {
            "walk": self.walk,
            "full_walk_reason": self.full_walk_reason,
            "pages_walked": self.pages_walked if self.walk else None,
            "deepest_change_page": self.deepest_change_page,
            "api_count": self.api_count,
            "stored_tasks": self.stored_tasks,
        }

    @property
    def updated(self) -> int:
        return self.moved + self.changed_unmoved

    def counters(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "tasks_seen": self.seen,
            "tasks_inserted": self.inserted,
            "tasks_updated": self.updated,
            "tasks_moved": self.moved,
            "tasks_changed_unmoved": self.changed_unmoved,
            "tasks_unchanged": self.unchanged,
            "tasks_failed": self.failed,
            "reassigned": self.reassigned,
            "call_conflicts": self.call_conflicts,
            "duplicate_listing": self.duplicate_listing,
            "deleted": self.deleted,
            "restored": self.restored,
            "deletes_held": self.deletes_held,
            "shifts": self.shifts,
        }


@dataclass
class RunResult:
    run_id: int | None
    outcome: RunOutcome
    agents: list[AgentResult] = field(default_factory=list)
    error: str | None = None
    signal: int | None = None  # the signal that interrupted the run (outcome interrupted)

    @property
    def exit_code(self) -> int:
        if self.outcome is RunOutcome.INTERRUPTED:
            return interrupted_exit_code(self.signal)
        return EXIT_CODES[self.outcome]

    def total(self, name: str) -> int:
        return sum(getattr(a, name) for a in self.agents)

    def totals(self) -> dict[str, Any]:
        """The sync_runs columns that sum the agents."""
        return {
            "agents_total": len(self.agents),
            "agents_failed": sum(a.outcome is AgentOutcome.FAILED for a in self.agents),
            "tasks_seen": self.total("seen"),
            "tasks_inserted": self.total("inserted"),
            "tasks_updated": self.total("updated"),
            "tasks_unchanged": self.total("unchanged"),
            "tasks_failed": self.total("failed"),
        }
