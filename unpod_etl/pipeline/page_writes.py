"""The one transaction of a page with changes: history, tasks, rejections, counters.

Order matters: call claims are settled first (a task whose call_id is another task's call is
kept aside, not written), then the prior state of the tasks is read for `task_changes`, then
the tasks are written. Everything commits together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from unpod_etl.normalize.changes import Action, PageChanges
from unpod_etl.normalize.history import ChangeKind, Prior, written_change
from unpod_etl.pipeline.results import COUNTERS, AgentResult
from unpod_etl.warehouse import call_claims, history, load, rejects

KINDS = {
    Action.INSERT: ChangeKind.NEW,
    Action.MOVE: ChangeKind.MOVED,
    Action.CHANGE: ChangeKind.CHANGED_UNMOVED,
}


def write_page(
    conn: Connection,
    writes: PageChanges,
    res: AgentResult,
    run_id: int,
    page_number: int,
    rejected: set[str],
    now: datetime,
) -> None:
    """Write one page's changes; `writes` is narrowed to what was really written."""
    _keep_calls_apart(conn, writes, res, run_id, page_number, rejected, now)
    prior = history.prior_states(conn, [item.task["task_id"] for item in writes.tasks])
    changes, moved_in = [], []
    for item, action in zip(writes.tasks, writes.actions, strict=True):
        before = prior.get(item.task["task_id"])
        _keep_followup_link(item.task, before)
        change = written_change(KINDS[action], item.task, before)
        if change["kind"] is ChangeKind.REASSIGNED:
            moved_in.append(item.task["task_id"])
            _uncount(res, action)
            res.reassigned += 1
        changes.append(change)
    history.record(conn, changes, run_id, now)
    load.set_raw_fingerprints(conn, writes.raw_moved)
    load.write_tasks(conn, writes.tasks, run_id, now)
    history.clear_absence(conn, moved_in)  # the old agent's walk must not delete it here
    for doc, reason in writes.rejected:
        rejected.add(
            rejects.save_rejection(conn, res.handle, doc, reason, page_number, run_id, now)
        )
    rejects.resolve_rejections(conn, res.handle, writes.healed, now)
    load.update_agent(conn, run_id, res.handle, res.counters())


def _keep_calls_apart(
    conn: Connection,
    writes: PageChanges,
    res: AgentResult,
    run_id: int,
    page_number: int,
    rejected: set[str],
    now: datetime,
) -> None:
    conflicts = call_claims.claimed_elsewhere(conn, writes.tasks)
    if not conflicts:
        return
    kept, actions = [], []
    for item, action in zip(writes.tasks, writes.actions, strict=True):
        reason = conflicts.get(item.task["task_id"])
        if reason is None:
            kept.append(item)
            actions.append(action)
            continue
        key = rejects.save_rejection(
            conn, res.handle, item.task["document"], reason, page_number, run_id, now
        )
        rejected.add(key)
        _uncount(res, action)
        res.call_conflicts += 1
    writes.tasks, writes.actions = kept, actions
    writes.healed = [tid for tid in writes.healed if tid not in conflicts]


def _keep_followup_link(task: dict[str, Any], before: Prior | None) -> None:
    """A follow-up stays one once seen: when it runs, the server replaces its output (and the
    `referenced_task` in it) with the call's, but the chain in call_attempts must hold."""
    if before is not None and before.referenced_task_id and not task.get("referenced_task_id"):
        task["referenced_task_id"] = before.referenced_task_id
        task["followup_count"] = before.followup_count


def _uncount(res: AgentResult, action: Action) -> None:
    name = COUNTERS[action]
    setattr(res, name, getattr(res, name) - 1)
