"""The warehouse facts `unpod-etl check` judges (core/health.py decides). Read-only.

`open_for_reading` never creates anything: a missing SQLite file or a database without the
unpod-etl tables is a usage error, not something to set up. Functions take a Connection.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, func, inspect, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from unpod_etl.core.errors import AbortError, ConfigError
from unpod_etl.core.health import DiedRun, HealthFacts
from unpod_etl.core.outcomes import AgentOutcome, RunOutcome
from unpod_etl.warehouse import liveness
from unpod_etl.warehouse.db import describe_db_error, normalize_url
from unpod_etl.warehouse.intake import IS_PULL
from unpod_etl.warehouse.open_existing import open_existing
from unpod_etl.warehouse.queries import last_full_walks
from unpod_etl.warehouse.schema import agents, rejected_records, sync_agent_results, sync_runs

NO_TABLES = "no unpod-etl tables in this database: run `unpod-etl sync` first"


def open_for_reading(database_url: str, schema: str = "public") -> Engine:
    """An engine on an existing warehouse (ConfigError if there is none, AbortError if down)."""
    url = make_url(normalize_url(database_url))
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if on_disk and not Path(str(url.database)).is_file():  # connecting would create the file
        raise ConfigError(f"no SQLite warehouse at {url.database}")
    engine = open_existing(database_url, schema)  # an unknown schema revision: exit 3
    try:
        if not inspect(engine).has_table("sync_runs"):
            engine.dispose()
            raise ConfigError(NO_TABLES)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise AbortError(describe_db_error(exc)) from None
    return engine


def last_success(conn: Connection) -> datetime | None:
    query = select(func.max(sync_runs.c.finished_at)).where(
        sync_runs.c.outcome == RunOutcome.OK, IS_PULL
    )
    return conn.execute(query).scalar()


def agents_last_success(conn: Connection) -> dict[str, datetime | None]:
    """Every agent a run ever worked on -> when it last synced ok (None: never)."""
    ok = func.max(sync_agent_results.c.finished_at).filter(
        sync_agent_results.c.outcome == AgentOutcome.OK
    )
    query = select(sync_agent_results.c.agent_handle, ok).group_by(
        sync_agent_results.c.agent_handle
    )
    return {handle: last for handle, last in conn.execute(query).all()}


def agent_last_success(conn: Connection, active_since: datetime) -> dict[str, datetime | None]:
    """When each active agent last synced ok (None: never). Active: published, or part of a
    run started since `active_since` (agents named with --agent are not published)."""
    per_agent = agents_last_success(conn)
    recent = (
        select(sync_agent_results.c.agent_handle)
        .join(sync_runs, sync_runs.c.run_id == sync_agent_results.c.run_id)
        .where(sync_runs.c.started_at >= active_since)
    )
    published = select(agents.c.handle).where(agents.c.published.is_(True))
    active = set(conn.execute(recent).scalars()) | set(conn.execute(published).scalars())
    return {handle: per_agent.get(handle) for handle in active}


def previous_outcome(conn: Connection, run_id: int) -> str | None:
    """How the newest finished run before `run_id` ended (None: there is none)."""
    query = (
        select(sync_runs.c.outcome)
        .where(sync_runs.c.run_id < run_id, sync_runs.c.outcome != RunOutcome.RUNNING, IS_PULL)
        .order_by(sync_runs.c.run_id.desc())
        .limit(1)
    )
    return conn.execute(query).scalar()


def died_since(engine: Engine, conn: Connection, since: datetime | None) -> list[DiedRun]:
    """Runs recorded as died, or still `running` with their liveness lock free, that started
    after `since` (all of them when None)."""
    query = select(sync_runs.c.run_id, sync_runs.c.started_at, sync_runs.c.outcome).where(
        or_(sync_runs.c.outcome == RunOutcome.DIED, sync_runs.c.outcome == RunOutcome.RUNNING),
        IS_PULL,
    )
    if since is not None:
        query = query.where(sync_runs.c.started_at > since)
    rows = conn.execute(query.order_by(sync_runs.c.run_id)).all()
    dead = liveness.dead_run_ids(engine, [dict(r._mapping) for r in rows])
    return [
        DiedRun(r.run_id, r.started_at)
        for r in rows
        if r.outcome == RunOutcome.DIED or r.run_id in dead
    ]


def open_rejections(conn: Connection) -> int:
    query = select(func.count()).select_from(rejected_records)
    return int(conn.execute(query.where(rejected_records.c.resolved_at.is_(None))).scalar_one())


def health_facts(engine: Engine, active_since: datetime) -> HealthFacts:
    try:
        with engine.connect() as conn:
            success = last_success(conn)
            # Runs that died after the last good one started: since its start, not its end.
            success_start = None
            if success is not None:
                query = select(func.max(sync_runs.c.started_at)).where(
                    sync_runs.c.outcome == RunOutcome.OK, IS_PULL
                )
                success_start = conn.execute(query).scalar()
            active = agent_last_success(conn, active_since)
            full_walks = last_full_walks(conn)
            return HealthFacts(
                last_success=success,
                agents=active,
                died=died_since(engine, conn, success_start),
                open_rejections=open_rejections(conn),
                full_walks={handle: full_walks.get(handle) for handle in active},
            )
    except SQLAlchemyError as exc:
        raise AbortError(describe_db_error(exc)) from None
