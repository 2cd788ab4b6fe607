"""The report's one HTML page: inline CSS, inline SVG, every text value escaped."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from . import charts
from .data import ReportData
from .walks import walk_table

CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
       Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #f5f7fa; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 12px; }
.sub { color: var(--muted); margin: 0 0 20px; }
.note { color: var(--muted); margin: -8px 0 20px; font-size: 12px; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 20px; }
.kpi { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px;
       min-width: 150px; }
.kpi b { display: block; font-size: 22px; }
.kpi span { color: var(--muted); font-size: 12px; text-transform: uppercase; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px;
          margin-bottom: 20px; max-width: 760px; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font-size: 11px; fill: var(--muted); }
svg .value { fill: var(--ink); }
svg .empty { font-size: 14px; }
svg .grid { stroke: var(--line); stroke-width: 1; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin-top: 8px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 5px;
            border-radius: 2px; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin-top: 12px; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
"""
CSS += "".join(f".outcome-{o} {{ color: {c}; }}\n" for o, c in charts.RUN_TEXT_COLORS.items())


def _legend(colors: dict[str, str]) -> str:
    items = "".join(
        f'<span><i style="background:{color}"></i>{escape(name)}</span>'
        for name, color in colors.items()
    )
    return f'<div class="legend">{items}</div>'


def _kpis(data: ReportData) -> str:
    totals = data.totals
    rate = totals.get("answer_rate")
    avg = totals.get("avg_duration_seconds")
    last = data.runs[0] if data.runs else None
    tiles = [
        ("calls", f"{totals.get('calls', 0):,}"),
        ("answered", "–" if rate is None else f"{rate:.0%}"),
        ("avg duration", "–" if avg is None else f"{avg:.0f} s"),
        ("last sync", "never" if last is None else str(last["outcome"])),
    ]
    return (
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><b>{escape(value)}</b><span>{escape(name)}</span></div>'
            for name, value in tiles
        )
        + "</div>"
    )


def _dating_note(data: ReportData) -> str:
    """Says how many calls are dated by their task, so a reader can tell the charts apart
    from what the calls' own start times would show."""
    undated = int(data.totals.get("calls_dated_by_task", 0))
    if not undated:
        return ""
    told = (
        "1 call has no start time and is"
        if undated == 1
        else f"{undated:,} calls have no start time and are"
    )
    return (
        f'<p class="note" data-calls-dated-by-task="{undated}">{told} dated by the creation '
        "of their task.</p>"
    )


def _when(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _runs_table(runs: list[dict[str, Any]]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("run", "started", "took", "outcome", "agents failed", "seen", "new",
                  "updated", "failed", "error")
    )  # fmt: skip
    rows = []
    for run in runs:
        took = "–"
        if run["finished_at"] is not None:
            took = f"{(run['finished_at'] - run['started_at']).total_seconds():.0f} s"
        outcome = escape(str(run["outcome"]))
        error = escape(str(run["error"] or "")[:160])
        rows.append(
            f"<tr><td>#{run['run_id']}</td><td>{_when(run['started_at'])}</td>"
            f'<td class="n">{took}</td><td class="outcome-{outcome}">{outcome}</td>'
            f'<td class="n">{run["agents_failed"]}/{run["agents_total"]}</td>'
            f'<td class="n">{run["tasks_seen"]}</td><td class="n">{run["tasks_inserted"]}</td>'
            f'<td class="n">{run["tasks_updated"]}</td><td class="n">{run["tasks_failed"]}</td>'
            f"<td>{error}</td></tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_page(data: ReportData, generated_at: datetime) -> str:
    days = [d.isoformat() for d in data.days]
    per_agent = {
        agent: [by_day.get(day, 0) for day in data.days]
        for agent, by_day in data.calls_by_agent_day.items()
    }
    agent_colors = charts.series_colors(list(per_agent))
    calls_chart = charts.stacked_columns(days, per_agent, "calls per day per agent", agent_colors)
    oldest_first = list(reversed(data.runs))
    sections = [
        ("Calls per day, by agent", calls_chart + _legend(agent_colors)),
        (
            "Post-call outcomes",
            charts.horizontal_bars(data.outcomes, "calls by outcome", charts.OUTCOME_COLOR),
        ),
        (
            "Call duration",
            charts.columns(data.durations, "calls by duration", charts.DURATION_COLOR),
        ),
        (
            f"Recent sync runs (last {len(data.runs)})",
            charts.run_strip(oldest_first, "tasks seen per run")
            + _legend(charts.run_colors())
            + _runs_table(data.runs)
            + walk_table(data.walks),
        ),
    ]
    body = "".join(f"<section><h2>{escape(title)}</h2>{html}</section>" for title, html in sections)
    period = f"{data.since.isoformat()} – {data.until.isoformat()} (UTC)"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Unpod calls report {escape(period)}</title><style>{CSS}</style></head>"
        f"<body><h1>Unpod calls report</h1>"
        f'<p class="sub">{escape(period)} · generated {_when(generated_at)}</p>'
        f"{_kpis(data)}{_dating_note(data)}{body}</body></html>\n"
    )
