"""One sync run, end to end: API -> client -> normalize -> load -> database.

The only module that knows the order of things. Progress commits page by page, so a run
killed half-way keeps what it wrote and the next run carries on from the stored state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from . import load
from .client import TaskPage, UnpodClient
from .db import describe_db_error, make_engine, upgrade
from .errors import AbortError, ApiError, EtlError
from .normalize import NormalizedTask, RejectedRecord, normalize_agent, normalize_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncConfig:
    api_url: str
    token: str
    org: str
    database_url: str
    agents: tuple[str, ...] = ()
    page_size: int = 100


@dataclass
class AgentResult:
    handle: str
    outcome: str = "running"  # ok | failed
    pages: int = 0
    seen: int = 0
    inserted: int = 0
    moved: int = 0  # rewritten because last_status_change moved
    changed_unmoved: int = 0  # rewritten because the content changed, marker unmoved
    unchanged: int = 0
    failed: int = 0  # documents that could not be normalized
    error: str | None = None

    @property
    def updated(self) -> int:
        return self.moved + self.changed_unmoved

    def counters(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "tasks_seen": self.seen,
            "tasks_inserted": self.inserted,
            "tasks_updated": self.updated,
            "tasks_moved": self.moved,
            "tasks_changed_unmoved": self.changed_unmoved,
            "tasks_unchanged": self.unchanged,
            "tasks_failed": self.failed,
        }


@dataclass
class RunResult:
    run_id: int | None
    outcome: str  # ok | partial | aborted
    agents: list[AgentResult] = field(default_factory=list)
    error: str | None = None

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "partial": 1}.get(self.outcome, 3)

    def total(self, name: str) -> int:
        return sum(getattr(a, name) for a in self.agents)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands timestamps back naive; they were stored as UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def classify(item: NormalizedTask, stored: tuple[datetime | None, str] | None) -> str:
    """new | moved | changed_unmoved | unchanged (see README, "Change detection")."""
    if stored is None:
        return "new"
    stored_marker, stored_fingerprint = stored
    marker_moved = _as_utc(stored_marker) != item.task["last_status_change"]
    if marker_moved:
        return "moved"
    if stored_fingerprint != item.task["fingerprint"]:
        return "changed_unmoved"
    return "unchanged"


ProgressHook = Callable[[AgentResult, TaskPage], None]


class SyncRunner:
    def __init__(
        self, config: SyncConfig, engine: Engine | None = None, client: UnpodClient | None = None
    ) -> None:
        self.config = config
        self.client = client or UnpodClient(config.api_url, config.token, config.org)
        self.engine = engine or make_engine(config.database_url)
        self.on_page: ProgressHook | None = None

    def run(self) -> RunResult:
        upgrade(self.engine)
        run_id = self._db(lambda c: load.start_run(c, self.config.api_url, utcnow()))
        result = RunResult(run_id=run_id, outcome="running")
        try:
            handles = self._agent_handles()
            for handle in handles:
                result.agents.append(self._sync_agent(run_id, handle))
            failed = sum(a.outcome != "ok" for a in result.agents)
            result.outcome = "partial" if failed else "ok"
        except AbortError as exc:
            result.outcome, result.error = "aborted", str(exc)
        self._finish(result)
        return result

    # -- steps ------------------------------------------------------------------------------

    def _agent_handles(self) -> list[str]:
        now = utcnow()
        if self.config.agents:
            handles = list(dict.fromkeys(self.config.agents))
            self._db(lambda c: load.touch_agents(c, handles, now))
            return handles
        try:
            listed = self.client.list_agents()
        except ApiError as exc:
            if isinstance(exc, AbortError):
                raise
            raise AbortError(f"cannot list agents: {exc}") from None
        rows = []
        for doc in listed:
            try:
                rows.append(normalize_agent(doc))
            except RejectedRecord as exc:
                log.warning("skipping an agent entry: %s", exc.reason)
        self._db(lambda c: load.upsert_agents(c, rows, now, published=True))
        return [r["handle"] for r in rows]

    def _sync_agent(self, run_id: int, handle: str) -> AgentResult:
        res = AgentResult(handle)
        self._db(lambda c: load.start_agent(c, run_id, handle, utcnow()))
        stored = self._db(lambda c: load.stored_markers(c, handle))
        try:
            for page in self.client.iter_task_pages(handle, self.config.page_size):
                self._write_page(run_id, res, page, stored)
                if self.on_page:
                    self.on_page(res, page)
            res.outcome = "ok"
        except AbortError:
            res.outcome, res.error = "failed", "run aborted"
            self._db(lambda c: load.update_agent(c, run_id, handle, self._agent_end(res)))
            raise
        except EtlError as exc:
            res.outcome, res.error = "failed", str(exc)
            log.error("agent %s failed: %s", handle, exc)
        self._db(lambda c: load.update_agent(c, run_id, handle, self._agent_end(res)))
        return res

    def _write_page(
        self,
        run_id: int,
        res: AgentResult,
        page: TaskPage,
        stored: dict[str, tuple[datetime | None, str]],
    ) -> None:
        changed: list[NormalizedTask] = []
        for doc in page.tasks:
            res.seen += 1
            try:
                item = normalize_task(doc, res.handle)
            except RejectedRecord as exc:
                res.failed += 1
                log.warning(
                    "agent %s page %d: rejected a task: %s", res.handle, page.number, exc.reason
                )
                continue
            kind = classify(item, stored.get(item.task["task_id"]))
            if kind == "unchanged":
                res.unchanged += 1
                continue
            if kind == "new":
                res.inserted += 1
            elif kind == "moved":
                res.moved += 1
            else:
                res.changed_unmoved += 1
            changed.append(item)
            stored[item.task["task_id"]] = (
                item.task["last_status_change"],
                item.task["fingerprint"],
            )
        res.pages += 1
        now = utcnow()

        def write(conn: Any) -> None:
            load.write_tasks(conn, changed, run_id, now)
            load.update_agent(conn, run_id, res.handle, res.counters())

        self._db(write)

    def _agent_end(self, res: AgentResult) -> dict[str, Any]:
        return {
            **res.counters(),
            "outcome": res.outcome,
            "error": res.error,
            "finished_at": utcnow(),
        }

    def _finish(self, result: RunResult) -> None:
        values = {
            "finished_at": utcnow(),
            "outcome": result.outcome,
            "agents_total": len(result.agents),
            "agents_failed": sum(a.outcome != "ok" for a in result.agents),
            "tasks_seen": result.total("seen"),
            "tasks_inserted": result.total("inserted"),
            "tasks_updated": result.total("updated"),
            "tasks_unchanged": result.total("unchanged"),
            "tasks_failed": result.total("failed"),
            "error": result.error,
        }
        try:
            self._db(lambda c: load.finish_run(c, result.run_id or 0, values))
        except AbortError:
            log.error("could not record the end of run %s", result.run_id)

    def _db(self, fn: Callable[[Any], Any]) -> Any:
        """Run fn in its own committed transaction; a database failure aborts the run."""
        try:
            with self.engine.begin() as conn:
                return fn(conn)
        except SQLAlchemyError as exc:
            raise AbortError(f"database error: {describe_db_error(exc)}") from None


def run_sync(config: SyncConfig, engine: Engine | None = None) -> RunResult:
    return SyncRunner(config, engine=engine).run()
