"""Plain-text rendering of results for the terminal (no colour, fits a log file)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # an annotation only: `status` need not load the sync pipeline
    from unpod_etl.pipeline.results import AgentResult, RunResult

SUMMARY_COLUMNS = (
    "agent",
    "outcome",
    "seen",
    "inserted",
    "updated",
    "moved",
    "changed_unmoved",
    "unchanged",
    "failed",
    "deleted",
    "restored",
    "reassigned",
    "shifts",
)
# The adaptive walk (pipeline/walk_depth.py), after the counters and left out of TOTAL: how
# the walk went and how deep it read, against how deep something actually changed.
WALK_SUMMARY_COLUMNS = ("walk", "pages_walked", "deepest_change")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "(no rows)"
    cols = list(columns or rows[0].keys())
    cells = [[_cell(row.get(c)) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def run_summary(result: RunResult) -> str:
    rows: list[dict[str, Any]] = [
        {
            "agent": a.handle,
            "outcome": a.outcome,
            "seen": a.seen,
            "inserted": a.inserted,
            "updated": a.updated,
            "moved": a.moved,
            "changed_unmoved": a.changed_unmoved,
            "unchanged": a.unchanged,
            "failed": a.failed,
            "deleted": a.deleted,
            "restored": a.restored,
            "reassigned": a.reassigned,
            "shifts": a.shifts,
            **_walk_cells(a),
        }
        for a in result.agents
    ]
    totals = {c: sum(r[c] for r in rows) for c in SUMMARY_COLUMNS[2:]}
    rows.append({"agent": "TOTAL", "outcome": result.outcome, **totals})
    head = f"sync run {result.run_id}: {result.outcome}"
    errors = [f"  {a.handle}: {a.error}" for a in result.agents if a.error]
    errors += [
        f"  {a.handle}: {a.deletes_held} deletions held back by --max-delete-fraction"
        for a in result.agents
        if a.deletes_held
    ]
    errors += [
        f"  {a.handle}: {a.call_conflicts} task(s) kept aside in rejected_records: "
        "their call_id is another task's call"
        for a in result.agents
        if a.call_conflicts
    ]
    errors += [
        f"  {a.handle}: {a.duplicate_listing} listed tasks owned by another agent, not written "
        "(duplicate_listing)"
        for a in result.agents
        if a.duplicate_listing
    ]
    errors += [f"  {a.handle}: {warning}" for a in result.agents for warning in a.warnings]
    if result.error:
        errors.insert(0, f"  run: {result.error}")
    body = table(rows, SUMMARY_COLUMNS + WALK_SUMMARY_COLUMNS)
    return "\n".join([head, body, *(["errors:", *errors] if errors else [])])


def walk_label(walk: str | None, reason: str | None) -> str | None:
    """`full (due)`, `shallow`: the walk with why it was full; None when there was no walk."""
    if walk is None:
        return None
    return f"{walk} ({reason})" if walk == "full" and reason else walk


def _walk_cells(agent: AgentResult) -> dict[str, Any]:
    if agent.walk is None:  # skipped, or failed before its first page
        return {}
    return {
        "walk": walk_label(agent.walk, agent.full_walk_reason),
        "pages_walked": agent.pages_walked,
        "deepest_change": agent.deepest_change_page,
    }


RUN_COLUMNS = (
    "run_id",
    "started_at",
    "finished_at",
    "outcome",
    "agents_total",
    "agents_failed",
    "tasks_seen",
    "tasks_inserted",
    "tasks_updated",
    "tasks_unchanged",
    "tasks_failed",
)
AGENT_COLUMNS = (
    "run_id",
    "agent_handle",
    "outcome",
    "pages",
    "tasks_seen",
    "tasks_inserted",
    "tasks_moved",
    "tasks_changed_unmoved",
    "tasks_unchanged",
    "tasks_failed",
    "reassigned",
    "call_conflicts",
    "duplicate_listing",
    "deleted",
    "restored",
    "shifts",
    "walk_complete",
    "error",
)


WALK_COLUMNS = (
    "agent_handle",
    "walk",
    "pages_walked",
    "deepest_change_page",
    "last_full_walk_started_at",
)


def status(
    runs: Sequence[dict[str, Any]],
    results: Sequence[dict[str, Any]],
    walks: Sequence[dict[str, Any]] = (),
) -> str:
    if not runs:
        return "no sync runs recorded yet"
    lines = [
        "recent runs",
        table(runs, RUN_COLUMNS),
        "",
        "per agent",
        table(results, AGENT_COLUMNS),
    ]
    if walks:  # warehouse/status.py walk_rows: the last run's walks, each agent's last full one
        rows = [{**w, "walk": walk_label(w["walk"], w["full_walk_reason"])} for w in walks]
        lines += ["", f"walks (run {runs[0]['run_id']})", table(rows, WALK_COLUMNS)]
    return "\n".join(lines)
