"""`unpod-etl verify`: walk the API read only and compare it with the warehouse, per agent.

Nothing is written, to the warehouse or anywhere: the run is not even recorded in sync_runs,
so verify can run beside a sync, after an incident or from a monitoring system.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from unpod_etl.core.errors import AbortError, ApiError, ConfigError
from unpod_etl.core.handles import check_handle
from unpod_etl.core.health import Finding
from unpod_etl.normalize.comparison import AgentComparison, Verdict, judge
from unpod_etl.pipeline.agent_list import agent_rows
from unpod_etl.pipeline.page_decisions import doc_raw_fingerprint
from unpod_etl.pipeline.pii_mode import PiiRun, warehouse_pii
from unpod_etl.source.auth_answers import DEFAULT_AUTH_SCHEME
from unpod_etl.source.client import UnpodClient
from unpod_etl.source.walk import WalkReport
from unpod_etl.warehouse import verify_reads
from unpod_etl.warehouse.db import SCHEMA_HEAD, current_revision, describe_db_error
from unpod_etl.warehouse.open_existing import open_existing
from unpod_etl.warehouse.rejects import open_rejections, record_key

log = logging.getLogger(__name__)
# Verdicts a rejection explains: a document that cannot be normalized, or one the sync kept
# out because its call_id is another task's call.
KEPT_ASIDE = (Verdict.UNREADABLE, Verdict.MISSING)


@dataclass(frozen=True)
class VerifyConfig:
    api_url: str
    token: str
    org: str
    database_url: str
    agents: tuple[str, ...] = ()  # empty: every listed agent, and every stored one
    page_size: int = 100
    auth_scheme: str = DEFAULT_AUTH_SCHEME
    schema: str = "public"  # PostgreSQL schema of the warehouse (warehouse/namespace.py)

    def __post_init__(self) -> None:
        for handle in self.agents:  # as a sync's: a bad handle is exit 2 before any request
            check_handle(handle)


@dataclass
class VerifyResult:
    agents: list[AgentComparison] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return all(a.agrees for a in self.agents)

    @property
    def exit_code(self) -> int:
        return 0 if self.agrees else 1

    def as_json(self) -> dict[str, Any]:
        return {"agrees": self.agrees, "agents": [a.as_json() for a in self.agents]}

    def findings(self) -> list[Finding]:
        """One `check` finding per agent that does not agree (for `check --verify`)."""
        found = []
        for agent in self.agents:
            if agent.agrees:
                continue
            if agent.error is not None:
                detail = f"could not be verified: {agent.error}"
            elif not agent.walk_complete:
                detail = "could not be walked to the end of its list"
            else:
                counts = ("missing", "different", "gone", "unreadable")
                parts = [f"{n} {getattr(agent, n)}" for n in counts if getattr(agent, n)]
                detail = "the warehouse differs from the API (" + ", ".join(parts) + ")"
            found.append(Finding("verify", f"agent {agent.handle}: {detail}", agent.handle))
        return found


def run_verify(
    config: VerifyConfig, engine: Engine | None = None, client: UnpodClient | None = None
) -> VerifyResult:
    """Compare every agent (or the named ones); raises ConfigError/AbortError as sync does."""
    client = client or UnpodClient(
        config.api_url, config.token, config.org, auth_scheme=config.auth_scheme
    )
    if not config.org and not config.agents:
        raise ConfigError("set UNPOD_ORG_HANDLE (--org) or name agents with --agent")
    own_engine = engine is None
    # read only: a missing SQLite file is exit 2 (never created), an unknown revision exit 3
    engine = engine or open_existing(config.database_url, config.schema)
    try:
        revision = current_revision(engine)
        if revision != SCHEMA_HEAD:
            raise ConfigError(
                f"the warehouse schema is at {revision or 'nothing'}, not {SCHEMA_HEAD}: "
                "run `unpod-etl sync` (or `unpod-etl db upgrade`) first"
            )
        pii = _warehouse_pii(engine)
        result = VerifyResult()
        for handle in _handles(config, engine, client):
            result.agents.append(_compare_agent(engine, client, handle, config.page_size, pii))
        return result
    finally:
        if own_engine:
            engine.dispose()


def _handles(config: VerifyConfig, engine: Engine, client: UnpodClient) -> list[str]:
    if config.agents:
        return list(dict.fromkeys(config.agents))
    handles = [row["handle"] for row in agent_rows(client)]
    # An agent the API no longer lists still has to answer for its stored tasks.
    stored = _read(engine, verify_reads.agents_with_live_tasks)
    return list(dict.fromkeys([*handles, *stored]))


def _warehouse_pii(engine: Engine) -> PiiRun:
    """The --pii mode the warehouse was written in, to normalize as the sync did."""
    try:
        return _read(engine, lambda _c: warehouse_pii(engine))
    except ConfigError as exc:  # a hash warehouse, and no key here: raw fingerprints only
        log.warning("verify: %s; changed tasks may show as different", exc)
        return PiiRun()


def _compare_agent(
    engine: Engine, client: UnpodClient, handle: str, page_size: int, pii: PiiRun
) -> AgentComparison:
    stored = _read(engine, lambda c: verify_reads.stored_tasks(c, handle))
    kept_aside = _read(engine, lambda c: open_rejections(c, handle))
    comparison = AgentComparison(handle)
    seen: set[str] = set()
    walk = WalkReport()
    try:
        for page in client.iter_task_pages(handle, page_size, walk):
            for doc in page.tasks:
                if doc.task_id is not None:
                    seen.add(doc.task_id)
                known = stored.get(doc.task_id) if doc.task_id is not None else None
                if pii.is_erased(doc.value):  # `forget`: the sync never writes it again
                    comparison.add(Verdict.ERASED, doc.task_id)
                    continue
                raw = doc_raw_fingerprint(doc)
                verdict = judge(handle, doc.value, raw, known, pii.normalize_policy)
                if verdict in KEPT_ASIDE and record_key(doc.value)[0] in kept_aside:
                    verdict = Verdict.REJECTED
                comparison.add(verdict, doc.task_id)
    except AbortError:
        raise
    except ApiError as exc:
        comparison.error = str(exc)
        log.error("agent %s: cannot verify: %s", handle, exc)
    live = (tid for tid, task in stored.items() if not task.deleted)
    comparison.settle(seen, live, walk.complete and comparison.error is None)
    return comparison


def _read(engine: Engine, fn: Any) -> Any:
    try:
        with engine.connect() as conn:
            return fn(conn)
    except SQLAlchemyError as exc:
        raise AbortError(describe_db_error(exc)) from None
