"""One sync run, end to end: API -> client -> normalize -> load -> database.

The only module that knows the order of things: migrate, lock, record the run, list the
agents, sync each agent (agent_sync.py), record the end. Progress commits page by page, so a
run killed half-way keeps what it wrote and the next run carries on from the stored state.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Engine

from unpod_etl.core.clock import now as utcnow
from unpod_etl.core.errors import AbortError, ConfigError, EtlError
from unpod_etl.core.outcomes import AgentOutcome, RunOutcome
from unpod_etl.core.urls import mask_url
from unpod_etl.pipeline.agent_list import listed_agents, named_agents
from unpod_etl.pipeline.agent_sync import AgentSync, ProgressHook
from unpod_etl.pipeline.gc_tuning import bulk_gc
from unpod_etl.pipeline.interrupts import Interrupted, StopToken, run_all
from unpod_etl.pipeline.ownership import TaskOwners
from unpod_etl.pipeline.pii_mode import PiiRun, prepare
from unpod_etl.pipeline.results import AgentResult, RunResult
from unpod_etl.pipeline.run_db import RunDb
from unpod_etl.pipeline.sync_config import SyncConfig, shard_of
from unpod_etl.source.client import UnpodClient
from unpod_etl.warehouse import liveness, load
from unpod_etl.warehouse.db import ConnectionSettings, connection_defaults, name_connections
from unpod_etl.warehouse.locks import NamedLock
from unpod_etl.warehouse.namespace import engine_in_schema, schema_of
from unpod_etl.warehouse.revisions import migrate

__all__ = ["AgentResult", "RunResult", "SyncConfig", "SyncRunner", "run_sync", "shard_of"]
log = logging.getLogger(__name__)


class SyncRunner:
    def __init__(
        self, config: SyncConfig, engine: Engine | None = None, client: UnpodClient | None = None
    ) -> None:
        self.config = config
        self.client = client or UnpodClient(
            config.api_url,
            config.token,
            config.org,
            auth_scheme=config.auth_scheme,
            max_requests_per_second=config.max_requests_per_second,
        )
        # Each worker holds a connection for writes and one for its agent's lock.
        pool = 2 * config.workers + 3
        self.engine = engine or engine_in_schema(
            config.database_url, config.schema, pool, settings=self._settings()
        )
        if (schema_of(self.engine) or "public") != config.schema:  # would write elsewhere
            raise ConfigError(f"the engine given is not scoped to schema {config.schema!r}")
        # After the URLs' checks, before any request or write: the server would answer 400.
        if not config.org and not config.agents:
            raise ConfigError("set UNPOD_ORG_HANDLE (--org) or name agents with --agent")
        self.on_page: ProgressHook | None = None
        self._hook_lock = threading.Lock()
        self._aborting = threading.Event()
        self.db = RunDb(self.engine, self._settings().lock_timeout, self._aborting)
        self.owners = TaskOwners(())  # who owns a task listed twice; set once agents are known
        # The CLI hands in the token its signal handlers set; nobody sets this default one.
        self.stop = StopToken()
        self._jobs: dict[str, AgentSync] = {}  # the agents started, for an interrupted end
        self._results: dict[str, AgentResult] = {}  # every agent's result, by handle
        self.pii = PiiRun(config.pii_policy())  # checked against the warehouse in _run

    def _settings(self) -> ConnectionSettings:
        base = connection_defaults()
        return ConnectionSettings(
            connect_timeout=self.config.connect_timeout or base.connect_timeout,
            lock_timeout=self.config.lock_timeout or base.lock_timeout,
        )

    def run(self) -> RunResult:
        with bulk_gc():
            return self._run()

    def _run(self) -> RunResult:
        migrate(self.engine)  # refuses a schema newer than this code (exit 3)
        k, n = self.config.shard
        sqlite = self.engine.dialect.name == "sqlite"
        name = liveness.SQLITE_SYNC_LOCK if sqlite or n == 1 else f"sync:{k}/{n}"
        scope = NamedLock(self.engine, name)
        with self._hold(scope, f"another sync holds the lock {name!r}"):
            self.db.guards = [scope]
            self.pii = prepare(self._db, self.pii.policy, self.config.rewrite_pii)
            run_id, run_lock = self._start_run()
            name_connections(self.engine, f"run {run_id}")
            if run_lock is not None:
                self.db.guards.append(run_lock)
            result = RunResult(run_id=run_id, outcome=RunOutcome.RUNNING)
            try:
                self._run_agents(result)
            finally:
                if run_lock is not None:
                    run_lock.release()
        return result

    # -- steps ------------------------------------------------------------------------------

    def _start_run(self) -> tuple[int, NamedLock | None]:
        """Record the run, holding its liveness lock before the row becomes visible."""
        sqlite = self.engine.dialect.name == "sqlite"

        def start(conn: Connection) -> tuple[int, NamedLock | None]:
            stale = liveness.running_run_ids(conn)
            if not sqlite:  # other shards' runs may be alive: ask their locks
                stale = [r for r in stale if not liveness.is_alive(self.engine, r)]
            liveness.mark_died(conn, stale)
            owner = {"hostname": socket.gethostname(), "pid": os.getpid()}
            run_id = load.start_run(conn, mask_url(self.config.api_url), utcnow(), owner)
            if sqlite:  # the single sync lock we hold is this run's liveness lock
                return run_id, None
            run_lock = NamedLock(self.engine, liveness.run_lock_name(self.engine, run_id))
            if not self._try(run_lock):
                raise AbortError(f"could not take the lock of run {run_id}")
            return run_id, run_lock

        run_id, run_lock = self._db(start)
        return int(run_id), run_lock

    def _run_agents(self, result: RunResult) -> None:
        handles: list[str] = []
        self._jobs.clear()
        self._results.clear()
        try:
            with self.stop.abandonable():  # listing the agents is a request too
                handles = self._agent_handles(result)
            self._sync_agents(result, handles)
            results = list(self._results.values())
            failed = any(a.outcome is AgentOutcome.FAILED for a in results)
            # A run that synced no agent at all (each skipped) did not do its job.
            none = bool(results) and all(a.outcome is AgentOutcome.SKIPPED for a in results)
            result.outcome = RunOutcome.PARTIAL if failed or none else RunOutcome.OK
            if self.stop.is_set():
                raise Interrupted
        except AbortError as exc:
            result.outcome, result.error = RunOutcome.ABORTED, str(exc)
        except Interrupted:
            result.outcome, result.signal = RunOutcome.INTERRUPTED, self.stop.signum
            result.error = (
                f"stopped by {_signal_name(self.stop.signum)}; the pages written are kept"
            )
        # Skipped out-of-shard agents first, then the run's own in their listed order.
        order = [h for h in self._results if h not in handles] + handles
        result.agents.extend(self._results[h] for h in order if h in self._results)
        self.db.record_end(result)

    def _sync_agents(self, result: RunResult, handles: list[str]) -> None:
        def interrupt_jobs() -> None:  # for workers left in a network read
            for job in list(self._jobs.values()):
                job.interrupt()

        run_all(
            lambda h: self._sync_agent(result, h),
            handles,
            self.config.workers,
            self.stop,
            interrupt_jobs,
        )

    def _agent_handles(self, result: RunResult) -> list[str]:
        """The agents this run syncs; named agents outside its shard are skipped, said so."""
        if self.config.agents:
            agents = named_agents(self.config.agents, self.config.shard)
        else:
            now = utcnow()

            def store(rows: list[dict[str, Any]]) -> None:
                self._db(lambda c: load.upsert_agents(c, rows, now, published=True))

            agents = listed_agents(self.client, self.config.shard, store)
        self.owners = agents.owners
        for handle, why in agents.skipped:
            self._skipped(result, handle, why)
        return agents.handles

    def _sync_agent(self, result: RunResult, handle: str) -> AgentResult | None:
        """The agent's result, also kept in self._results; None when a stop came first."""
        if self.stop.is_set():
            return None  # never started: no row, not counted
        if self._aborting.is_set():  # queued behind an agent that aborted the run
            res = AgentResult(handle, outcome=AgentOutcome.FAILED, error="run aborted")
            self._results[handle] = res
            return res
        lock = NamedLock(self.engine, f"agent:{handle}")
        if self.engine.dialect.name != "sqlite" and not self._try(lock):
            log.warning("agent %s is being synced by another worker; skipped", handle)
            return self._skipped(result, handle, "another worker holds it")
        try:
            job = AgentSync(
                self.client,
                lambda fn: self._db(fn, agent_lock=lock),
                result.run_id or 0,
                handle,
                self.config.page_size,
                self._progress,
                max_delete_fraction=self.config.max_delete_fraction,
                owners=self.owners,
                stop=self.stop,
                pii=self.pii,
                walk=self.config.walk_settings(),
            )
            self._jobs[handle], self._results[handle] = job, job.result
            return job.run()
        except AbortError as exc:
            self.db.abort(exc)  # workers still queued must not start their agents
            raise
        except EtlError as exc:  # e.g. a table lock that outlasted --lock-timeout at its start
            log.error("agent %s failed: %s", handle, exc)
            res = AgentResult(handle, outcome=AgentOutcome.FAILED, error=str(exc))
            self._results[handle] = res
            return res
        finally:
            lock.release()

    def _skipped(self, result: RunResult, handle: str, why: str) -> AgentResult:
        """A `skipped` row for an agent this run leaves alone, so `status` shows it."""
        now, run_id = utcnow(), result.run_id or 0
        values = {"outcome": AgentOutcome.SKIPPED, "error": why, "finished_at": now}

        def record(conn: Connection) -> None:
            load.start_agent(conn, run_id, handle, now)
            load.update_agent(conn, run_id, handle, values)

        self._db(record)
        res = self._results[handle] = AgentResult(handle, AgentOutcome.SKIPPED, error=why)
        return res

    def _progress(self, res: AgentResult, page: Any) -> None:
        if self.config.agents and res.pages == 1:  # the API knows this named agent
            self._db(lambda c: load.touch_agents(c, [res.handle], utcnow()))
        if self.on_page:
            with self._hook_lock:  # hooks draw on one terminal
                self.on_page(res, page)

    # -- plumbing ---------------------------------------------------------------------------

    def _try(self, lock: NamedLock) -> bool:
        return self.db.try_lock(lock)

    def _hold(self, lock: NamedLock, busy: str) -> AbstractContextManager[None]:
        return self.db.hold(lock, busy)

    def _db(self, fn: Callable[[Connection], Any], agent_lock: NamedLock | None = None) -> Any:
        """Run fn in its own committed transaction, holding the run's locks (run_db.py)."""
        return self.db(fn, agent_lock)


def _signal_name(signum: int | None) -> str:
    return signal.Signals(signum).name if signum else "a stop request"


def run_sync(config: SyncConfig, engine: Engine | None = None) -> RunResult:
    """Run one sync, as `unpod-etl sync` does, and return its result.

    The result says how the run ended (`outcome`: ok, partial, aborted; `exit_code` as the
    command's) and carries the counts per agent. A run that cannot start at all (the database
    unreachable, another sync holding the lock) raises AbortError; bad settings raise
    ConfigError. Pass `engine` to reuse a pool of your own; without one, the engine made
    here is disposed before returning, so a long-lived worker process keeps no connections.
    """
    runner = SyncRunner(config, engine=engine)
    try:
        return runner.run()
    finally:
        if engine is None:
            runner.engine.dispose()
