"""analytics views, BI indexes and transcript full-text search

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 22:00:00

Views: call_facts, agent_daily, stuck_tasks (docs/analytics.md describes every column).
The SQL differs per dialect only where it must: day of a timestamp, the 90th percentile
(percentile_cont on PostgreSQL, the same interpolation with window functions on SQLite),
and "now". Full-text search (a generated tsvector column + GIN index) is PostgreSQL only.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = ("stuck_tasks", "agent_daily", "call_facts")  # drop order

# name -> (table, columns); schema.py declares the same Index objects
INDEXES = {
    "ix_calls_agent_handle_start_time": ("calls", ["agent_handle", "start_time"]),
    "ix_tasks_agent_handle_created_at": ("tasks", ["agent_handle", "created_at"]),
    "ix_tasks_status_last_status_change": ("tasks", ["status", "last_status_change"]),
}
FTS_INDEX = "ix_transcript_lines_content_tsv"

TASK_STATUSES = (
    "completed",
    "partially_completed",
    "failed",
    "pending",
    "in_progress",
    "processing",
    "scheduled",
    "hold",
)
# column suffix -> summary_status value (compared case-insensitively)
OUTCOMES = {
    "interested": "interested",
    "call_back": "call back",
    "not_interested": "not interested",
    "send_details": "send details",
    "not_connected": "not connected",
    "abandoned": "abandoned",
    "dropped": "dropped",
}
STUCK_STATUSES = ("pending", "in_progress", "processing")


def _day(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"CAST(timezone('UTC', {column}) AS date)"
    return f"date({column})"  # SQLite stores UTC wall time as text


def _call_facts(dialect: str) -> str:
    return f"""
CREATE VIEW call_facts AS
SELECT c.call_id, c.task_id, c.agent_handle, a.name AS agent_name,
       t.status AS task_status, t.execution_type, c.call_type, c.call_status,
       c.summary_status AS outcome, c.call_end_reason, c.start_time,
       {_day(dialect, "c.start_time")} AS call_day,
       c.duration_seconds, c.cost, c.success_score, c.transcript_line_count
FROM calls c
LEFT JOIN tasks t ON t.task_id = c.task_id
LEFT JOIN agents a ON a.handle = c.agent_handle
"""


def _p90_sqlite() -> str:
    """A subquery (agent_handle, day, p90) over the calls with a known duration."""
    dialect = "sqlite"
    # percentile_cont's linear interpolation: position 1 + 0.9 (n - 1) between rows lo, lo+1
    return f"""
    SELECT agent_handle, day,
           SUM(CASE WHEN rn = lo THEN d * (1 - frac)
                    WHEN rn = lo + 1 THEN d * frac ELSE 0 END) AS p90
    FROM (
        SELECT agent_handle, day, d, rn,
               CAST(0.9 * (n - 1) AS INTEGER) + 1 AS lo,
               0.9 * (n - 1) - CAST(0.9 * (n - 1) AS INTEGER) AS frac
        FROM (
            SELECT t.agent_handle, {_day(dialect, "t.created_at")} AS day,
                   c.duration_seconds AS d,
                   ROW_NUMBER() OVER (w ORDER BY c.duration_seconds) AS rn,
                   COUNT(*) OVER w AS n
            FROM calls c JOIN tasks t ON t.task_id = c.task_id
            WHERE c.duration_seconds IS NOT NULL
            WINDOW w AS (PARTITION BY t.agent_handle, {_day(dialect, "t.created_at")})
        ) ranked
    ) positioned
    GROUP BY agent_handle, day"""


def _agent_daily(dialect: str) -> str:
    status_sums = ",\n           ".join(
        f"SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END) AS tasks_{s}" for s in TASK_STATUSES
    )
    outcome_sums = ",\n           ".join(
        f"SUM(CASE WHEN lower(c.summary_status) = '{v}' THEN 1 ELSE 0 END) AS outcome_{k}"
        for k, v in OUTCOMES.items()
    )
    known = ", ".join(f"'{v}'" for v in OUTCOMES.values())
    status_cols = ", ".join(f"ta.tasks_{s}" for s in TASK_STATUSES)
    outcome_cols = ", ".join(f"COALESCE(ca.outcome_{k}, 0) AS outcome_{k}" for k in OUTCOMES)
    day = _day(dialect, "t.created_at")
    if dialect == "postgresql":  # in the same aggregate pass as the other call figures
        p90_agg = (
            ",\n           percentile_cont(0.9) WITHIN GROUP (ORDER BY c.duration_seconds) AS p90"
        )
        p90_col, p90_join = "ca.p90", ""
    else:
        p90_agg, p90_col = "", "p.p90"
        p90_join = (
            f"LEFT JOIN ({_p90_sqlite()}\n) p "
            "ON p.agent_handle = ta.agent_handle AND p.day = ta.day"
        )
    return f"""
CREATE VIEW agent_daily AS
SELECT ta.agent_handle, ta.day, ta.tasks_total, {status_cols},
       ta.tasks_total - ({" + ".join(f"ta.tasks_{s}" for s in TASK_STATUSES)}) AS tasks_other,
       COALESCE(ca.calls, 0) AS calls,
       COALESCE(ca.calls_connected, 0) AS calls_connected,
       CASE WHEN ca.calls > 0
            THEN CAST(ca.calls_connected AS DOUBLE PRECISION) / ca.calls END AS answer_rate,
       ca.avg_duration_seconds,
       CAST({p90_col} AS DOUBLE PRECISION) AS p90_duration_seconds,
       {outcome_cols},
       COALESCE(ca.outcome_other, 0) AS outcome_other,
       COALESCE(ca.outcome_none, 0) AS outcome_none
FROM (
    SELECT agent_handle, day, COUNT(*) AS tasks_total,
           {status_sums}
    FROM (SELECT t.agent_handle, {day} AS day, t.status FROM tasks t) task_days
    GROUP BY agent_handle, day
) ta
LEFT JOIN (
    SELECT t.agent_handle, {day} AS day, COUNT(*) AS calls,
           SUM(CASE WHEN lower(c.call_status) IN ('connected', 'completed')
                     AND c.duration_seconds > 0 THEN 1 ELSE 0 END) AS calls_connected,
           AVG(c.duration_seconds) AS avg_duration_seconds,
           {outcome_sums},
           SUM(CASE WHEN c.summary_status IS NOT NULL
                     AND lower(c.summary_status) NOT IN ({known}) THEN 1 ELSE 0 END)
               AS outcome_other,
           SUM(CASE WHEN c.summary_status IS NULL THEN 1 ELSE 0 END) AS outcome_none{p90_agg}
    FROM calls c JOIN tasks t ON t.task_id = c.task_id
    GROUP BY 1, 2
) ca ON ca.agent_handle = ta.agent_handle AND ca.day = ta.day
{p90_join}
"""


def _stuck_tasks(dialect: str) -> str:
    statuses = ", ".join(f"'{s}'" for s in STUCK_STATUSES)
    since = "COALESCE(t.last_status_change, t.modified_at)"
    if dialect == "postgresql":
        age = f"EXTRACT(EPOCH FROM (now() - {since})) / 3600.0"
        old = f"{since} < now() - interval '1 day'"
    else:
        age = f"(julianday('now') - julianday({since})) * 24.0"
        old = f"julianday({since}) < julianday('now') - 1"
    return f"""
CREATE VIEW stuck_tasks AS
SELECT t.task_id, t.agent_handle, t.status, t.execution_type, t.created_at,
       t.modified_at, t.last_status_change, {since} AS stuck_since,
       CAST({age} AS DOUBLE PRECISION) AS age_hours,
       t.retry_attempt, t.last_failure_reason
FROM tasks t
WHERE t.status IN ({statuses}) AND {old}
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)
    if dialect == "postgresql":
        op.execute(
            "ALTER TABLE transcript_lines ADD COLUMN content_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', coalesce(content, ''))) STORED"
        )
        op.execute(f"CREATE INDEX {FTS_INDEX} ON transcript_lines USING gin (content_tsv)")
    op.execute(_call_facts(dialect))
    op.execute(_agent_daily(dialect))
    op.execute(_stuck_tasks(dialect))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    if dialect == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {FTS_INDEX}")
        op.execute("ALTER TABLE transcript_lines DROP COLUMN IF EXISTS content_tsv")
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
