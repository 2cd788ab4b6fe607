"""What the report shows, read from the analytics views and sync_runs (portable SQL)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, DateTime, Float, String, case, column, func, select, table

from unpod_etl.core import clock
from unpod_etl.warehouse.schema import sync_runs, tasks

from .dating import utc_day
from .walks import WalkDepths, load_walk_depths

# The call_facts view (migration 0003), typed so SQLite's text times come back as datetimes.
call_facts = table(
    "call_facts",
    column("call_id", String),
    column("task_id", String),
    column("agent_handle", String),
    column("call_status", String),
    column("outcome", String),
    column("start_time", DateTime(timezone=True)),
    column("duration_seconds", Float),
)


def _dated_calls() -> Any:
    """call_facts with every call dated: by its start time, else by its task's creation
    (a call that never started, or whose start the API left out, still happened on a day)."""
    when = func.coalesce(call_facts.c.start_time, tasks.c.created_at)
    return (
        select(
            call_facts.c.agent_handle,
            call_facts.c.call_status,
            call_facts.c.outcome,
            call_facts.c.duration_seconds,
            when.label("dated_at"),
            utc_day(when).label("call_day"),
            case((call_facts.c.start_time.is_(None), 1), else_=0).label("undated"),
        )
        .select_from(call_facts.outerjoin(tasks, tasks.c.task_id == call_facts.c.task_id))
        .subquery("dated_calls")
    )


dated_calls = _dated_calls()

# Upper bounds (seconds) of the duration histogram's buckets; the last one is open.
DURATION_BUCKETS = (30, 60, 120, 180, 300, 600)
RECENT_RUNS = 20


@dataclass
class ReportData:
    since: date
    until: date
    calls_by_agent_day: dict[str, dict[date, int]]
    outcomes: list[tuple[str, int]]
    durations: list[tuple[str, int]]
    runs: list[dict[str, Any]]
    totals: dict[str, Any] = field(default_factory=dict)
    walks: WalkDepths = field(default_factory=WalkDepths)  # over `runs` (report/walks.py)

    @property
    def days(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range((self.until - self.since).days + 1)]


def load_report_data(conn: Connection, days: int, now: datetime | None = None) -> ReportData:
    """The last `days` UTC days, today included."""
    until = (now or clock.now()).astimezone(UTC).date()
    since = until - timedelta(days=days - 1)
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    # Bounded on both sides: a call dated after today (clock skew, scheduled data) would
    # count in the totals but fall outside every chart's days.
    in_window = (dated_calls.c.dated_at >= start) & (dated_calls.c.dated_at < end)
    runs = _recent_runs(conn)
    return ReportData(
        since=since,
        until=until,
        calls_by_agent_day=_calls_by_agent_day(conn, in_window),
        outcomes=_outcomes(conn, in_window),
        durations=_durations(conn, in_window),
        runs=runs,
        totals=_totals(conn, in_window),
        walks=load_walk_depths(conn, [r["run_id"] for r in runs]),
    )


def _calls_by_agent_day(conn: Connection, in_window: Any) -> dict[str, dict[date, int]]:
    day, agent = dated_calls.c.call_day, dated_calls.c.agent_handle
    query = select(agent, day, func.count()).where(in_window).group_by(agent, day)
    found: dict[str, dict[date, int]] = defaultdict(dict)
    for handle, on, count in conn.execute(query):
        found[handle][on] = int(count)
    return dict(sorted(found.items()))


def _outcomes(conn: Connection, in_window: Any) -> list[tuple[str, int]]:
    outcome = func.coalesce(dated_calls.c.outcome, "(no analysis)").label("outcome")
    count = func.count().label("calls")
    query = select(outcome, count).where(in_window).group_by(outcome)
    rows = [(str(name), int(n)) for name, n in conn.execute(query)]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def duration_bucket_labels() -> list[str]:
    labels, low = [], 0
    for high in DURATION_BUCKETS:
        labels.append(f"{low}–{high} s")
        low = high
    return [*labels, f"{low}+ s"]


def _durations(conn: Connection, in_window: Any) -> list[tuple[str, int]]:
    seconds = dated_calls.c.duration_seconds
    whens = [(seconds < high, n) for n, high in enumerate(DURATION_BUCKETS)]
    bucket = case(*whens, else_=len(DURATION_BUCKETS)).label("bucket")
    query = select(bucket, func.count()).where(in_window, seconds.is_not(None)).group_by(bucket)
    counts = {int(b): int(n) for b, n in conn.execute(query)}
    return [(label, counts.get(n, 0)) for n, label in enumerate(duration_bucket_labels())]


def _totals(conn: Connection, in_window: Any) -> dict[str, Any]:
    facts = dated_calls.c
    connected = case(
        (
            func.lower(facts.call_status).in_(("connected", "completed"))
            & (facts.duration_seconds > 0),
            1,
        ),
        else_=0,
    )
    query = select(
        func.count(),
        func.coalesce(func.sum(connected), 0),
        func.avg(facts.duration_seconds),
        func.coalesce(func.sum(facts.undated), 0),
    ).where(in_window)
    calls, answered, avg_duration, undated = conn.execute(query).one()
    return {
        "calls": int(calls),
        "calls_dated_by_task": int(undated),  # no start time: dated by the task's creation
        "connected": int(answered),
        "answer_rate": (int(answered) / int(calls)) if calls else None,
        "avg_duration_seconds": float(avg_duration) if avg_duration is not None else None,
    }


def _recent_runs(conn: Connection) -> list[dict[str, Any]]:
    query = select(sync_runs).order_by(sync_runs.c.run_id.desc()).limit(RECENT_RUNS)
    runs = [dict(row) for row in conn.execute(query).mappings()]
    for run in runs:
        for key in ("started_at", "finished_at"):
            value = run[key]
            if value is not None and value.tzinfo is None:  # SQLite: stored as UTC
                run[key] = value.replace(tzinfo=UTC)
    return runs
