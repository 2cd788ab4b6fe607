"""The report's walk-depth table: each agent's newest walk, and how deep changes were
found over the report's runs (pipeline/walk_depth.py, sync_agent_results since 0013).

The deepest change page over many runs is what tells whether `--settled-pages` is too few
(changes found near where shallow walks stop) or the full walks too frequent."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from sqlalchemy import Connection, case, func, select

from unpod_etl.warehouse.schema import sync_agent_results

WALK_FIELDS = ("walk", "full_walk_reason", "pages_walked", "deepest_change_page")


@dataclass
class WalkDepths:
    runs: int = 0  # how many runs the per-agent maxima cover
    agents: list[dict[str, Any]] = field(default_factory=list)


def load_walk_depths(conn: Connection, run_ids: list[int]) -> WalkDepths:
    """Per agent: its newest walk in `run_ids` (the last run's, unless that run skipped it or
    aborted) and, over all of them, the deepest change page, the deepest page read and how
    many walks were shallow or full."""
    if not run_ids:
        return WalkDepths()
    sar = sync_agent_results.c
    in_runs = sar.run_id.in_(run_ids) & sar.walk.is_not(None)
    over_runs = select(
        sar.agent_handle,
        func.max(sar.deepest_change_page).label("deepest_change_max"),
        func.max(sar.pages_walked).label("pages_walked_max"),
        func.sum(case((sar.walk == "shallow", 1), else_=0)).label("shallow_walks"),
        func.sum(case((sar.walk == "full", 1), else_=0)).label("full_walks"),
    ).where(in_runs)
    rows: dict[str, dict[str, Any]] = {
        row["agent_handle"]: dict(row)
        for row in conn.execute(over_runs.group_by(sar.agent_handle)).mappings()
    }
    newest = select(sar.agent_handle, sar.run_id, *(sar[name] for name in WALK_FIELDS))
    latest: dict[str, dict[str, Any]] = {}
    for row in conn.execute(newest.where(in_runs).order_by(sar.run_id.desc())).mappings():
        latest.setdefault(row["agent_handle"], dict(row))
    return WalkDepths(len(run_ids), [rows[h] | latest[h] for h in sorted(rows)])


def _num(value: Any) -> str:
    return "–" if value is None else escape(str(value))


def walk_table(depths: WalkDepths) -> str:
    """The table, or nothing when no run walked an agent."""
    if not depths.agents:
        return ""
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "agent",
            "last walk",
            "full-walk reason",
            "pages walked",
            "deepest change page",
            f"deepest change, last {depths.runs} runs",
            "most pages walked",
            "shallow / full walks",
        )
    )
    rows = [
        f'<tr data-agent="{escape(a["agent_handle"])}"><td>{escape(a["agent_handle"])}</td>'
        f"<td>{_num(a['walk'])} (run #{a['run_id']})</td><td>{_num(a['full_walk_reason'])}</td>"
        f'<td class="n">{_num(a["pages_walked"])}</td>'
        f'<td class="n">{_num(a["deepest_change_page"])}</td>'
        f'<td class="n" data-deepest-change="{_num(a["deepest_change_max"])}">'
        f"{_num(a['deepest_change_max'])}</td>"
        f'<td class="n">{_num(a["pages_walked_max"])}</td>'
        f'<td class="n">{int(a["shallow_walks"] or 0)} / {int(a["full_walks"] or 0)}</td></tr>'
        for a in depths.agents
    ]
    note = (
        '<p style="color: var(--muted); font-size: 12px">'
        "How deep each walk read and where it last found a change: "
        "a deepest change page close to where shallow walks stop asks for more "
        "<code>--settled-pages</code>.</p>"
    )
    return (
        f'<h2 style="margin-top:20px">Walk depth per agent</h2>{note}'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
