"""What `unpod-etl status` shows: recent runs with per-agent results, dead runs named so."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from unpod_etl.core.errors import AbortError, ConfigError
from unpod_etl.core.outcomes import AgentOutcome, RunOutcome
from unpod_etl.core.urls import mask_url
from unpod_etl.warehouse import liveness, queries
from unpod_etl.warehouse.db import describe_db_error


@dataclass
class StatusSnapshot:
    runs: list[dict[str, Any]]
    agents: list[dict[str, Any]]
    walks: list[dict[str, Any]] = field(default_factory=list)  # walk_rows()

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": [_jsonable(r) for r in self.runs],
            "agents": [_jsonable(a) for a in self.agents],
            "walks": [_jsonable(w) for w in self.walks],
        }


def load_status(engine: Engine, limit: int) -> StatusSnapshot:
    try:
        if not inspect(engine).has_table("sync_runs"):
            raise ConfigError(
                "no unpod-etl tables in this database: run `unpod-etl sync` "
                "(or `unpod-etl db upgrade`) first"
            )
        with engine.connect() as conn:
            runs, agents = queries.runs_with_agents(conn, limit)
            last_full = queries.last_full_walks(conn)
        dead = liveness.dead_run_ids(engine, runs)
    except SQLAlchemyError as exc:
        raise AbortError(describe_db_error(exc)) from None
    # A run still marked running whose lock is free was killed: say so.
    for run in runs:
        if run.get("api_url"):  # rows written before URLs were masked
            run["api_url"] = mask_url(run["api_url"])
        if run["run_id"] in dead:
            run["outcome"] = RunOutcome.DIED
    for agent in agents:
        if agent["run_id"] in dead and agent["outcome"] == AgentOutcome.RUNNING:
            agent["outcome"] = AgentOutcome.DIED
    return StatusSnapshot(runs, agents, walk_rows(runs, agents, last_full))


WALK_FIELDS = ("walk", "full_walk_reason", "pages_walked", "deepest_change_page")


def walk_rows(
    runs: list[dict[str, Any]], agents: list[dict[str, Any]], last_full: dict[str, Any]
) -> list[dict[str, Any]]:
    """Per agent ever synced: how its walk went in the last run (blank if it took no part)
    and when its last complete full walk started, the age of what shallow walks skip."""
    last_run = runs[0]["run_id"] if runs else None
    in_last = {a["agent_handle"]: a for a in agents if a["run_id"] == last_run}
    return [
        {
            "agent_handle": handle,
            "run_id": last_run if handle in in_last else None,
            **{name: in_last.get(handle, {}).get(name) for name in WALK_FIELDS},
            "last_full_walk_started_at": last_full.get(handle),
        }
        for handle in sorted(in_last.keys() | last_full.keys())
    ]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    # UtcTime columns come back aware on both databases, so isoformat() carries the zone.
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
