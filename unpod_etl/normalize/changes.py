"""The change-detection rule, in one pure place (README, "Change detection").

For each task document of a page, `decide` says what the sync does with it, from the document's
raw fingerprint (and, once normalized, its row), what the warehouse holds of the task, and
whether the task has an open rejection. It is called twice at most per document: first with the
raw fingerprint alone (a document byte for byte as stored needs no normalizing), then, when that
answered NORMALIZE, with the normalized row. The page loop only counts and writes (PageChanges).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from unpod_etl.normalize.records import NormalizedTask


class StoredState(Protocol):
    """What the warehouse holds of a task, as change detection compares it."""

    @property
    def last_status_change(self) -> datetime | None: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def raw_fingerprint(self) -> str | None: ...


class Action(StrEnum):
    NORMALIZE = "normalize"  # the raw fingerprint cannot tell: normalize, then decide again
    UNTOUCHED = "untouched"  # byte for byte as stored: nothing to do, not even normalizing
    UNCHANGED = "unchanged"  # the stored form is the same, and so is the raw fingerprint
    RAW_MOVED = "raw_moved"  # the stored form is the same: only the raw fingerprint is written
    INSERT = "insert"  # a task the warehouse does not hold
    MOVE = "move"  # last_status_change moved: the task is rewritten
    CHANGE = "change"  # the content changed with last_status_change unmoved: rewritten


WRITES_TASK = frozenset({Action.INSERT, Action.MOVE, Action.CHANGE})


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    heals: bool = False  # the task had an open rejection, and now normalizes fine

    @property
    def writes_task(self) -> bool:
        return self.action in WRITES_TASK


def decide(
    raw_fingerprint: str | None,
    stored: StoredState | None,
    rejected: bool,
    task: Mapping[str, Any] | None = None,
) -> Decision:
    """What to do with one document. `task`: its normalized row, None before normalizing."""
    if task is None:
        if rejected:
            return Decision(Action.NORMALIZE, "the task has an open rejection")
        if stored is None:
            return Decision(Action.NORMALIZE, "the warehouse does not hold the task")
        if raw_fingerprint is None:
            return Decision(Action.NORMALIZE, "no raw fingerprint to compare")
        if raw_fingerprint != stored.raw_fingerprint:
            return Decision(Action.NORMALIZE, "the raw fingerprint differs from the stored one")
        return Decision(Action.UNTOUCHED, "the raw fingerprint equals the stored one")
    if stored is None:
        return Decision(Action.INSERT, "the warehouse does not hold the task", rejected)
    if stored.last_status_change != task["last_status_change"]:
        return Decision(Action.MOVE, "last_status_change moved", rejected)
    if stored.fingerprint != task["fingerprint"]:
        return Decision(Action.CHANGE, "the stored form changed", rejected)
    if stored.raw_fingerprint != task["raw_fingerprint"]:
        return Decision(Action.RAW_MOVED, "only the raw form changed", rejected)
    return Decision(Action.UNCHANGED, "the stored form and raw fingerprint are unchanged", rejected)


@dataclass
class PageChanges:
    """What one page writes, gathered from its decisions."""

    tasks: list[NormalizedTask] = field(default_factory=list)  # inserted or rewritten
    actions: list[Action] = field(default_factory=list)  # what decided each of `tasks`
    raw_moved: list[tuple[str, str]] = field(default_factory=list)  # (task_id, raw_fingerprint)
    healed: list[str] = field(default_factory=list)  # task_ids whose rejection is resolved
    rejected: list[tuple[Any, str]] = field(default_factory=list)  # (document, reason)

    def add(self, decision: Decision, item: NormalizedTask) -> None:
        task_id = item.task["task_id"]
        if decision.heals:
            self.healed.append(task_id)
        if decision.writes_task:
            self.tasks.append(item)
            self.actions.append(decision.action)
        elif decision.action is Action.RAW_MOVED:
            self.raw_moved.append((task_id, item.task["raw_fingerprint"]))

    def reject(self, document: Any, reason: str) -> None:
        self.rejected.append((document, reason))

    def __bool__(self) -> bool:
        return bool(self.tasks or self.raw_moved or self.healed or self.rejected)
