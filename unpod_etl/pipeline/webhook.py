"""The webhook intake: one pushed task document per delivery, through the sync's own path.

A delivery goes where a page's documents go: the normalizer (normalize_task), change detection
(normalize.changes.decide) and the page transaction (page_writes.write_page), so task_changes,
call-id conflicts and rejected_records behave as in `sync`, and a later pull of the same task
finds it unchanged. Before that its datetimes are put in the pull's form (normalize/webhook.py)
and its raw fingerprint is that of the pulled document's compact encoding, so the pull either
skips it untouched or, where the server's page bytes differ, only records its raw fingerprint.

Bookkeeping: one `sync_runs` row per webhook process (`api_url` = "webhook"), `running` while
it serves, `ok` once it stops, with running totals; every delivery's task_changes and
rejected_records rows carry its run_id. On PostgreSQL the process holds that run's liveness
lock, so `status` and the next sync see it alive (`check` leaves webhook rows out).
Deliveries of one process are written one at a time (a lock): two deliveries of one task must
not both decide "insert".
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from unpod_etl.core.errors import AbortError, ConfigError
from unpod_etl.core.outcomes import RunOutcome
from unpod_etl.normalize import NormalizedTask, RejectedRecord, normalize_task
from unpod_etl.normalize.changes import Action, Decision, PageChanges, decide
from unpod_etl.normalize.coerce import to_text
from unpod_etl.pipeline.agent_sync import utcnow
from unpod_etl.pipeline.deliveries import Delivery, DeliveryOutcome, Unusable, read_document
from unpod_etl.pipeline.page_writes import write_page
from unpod_etl.pipeline.pii_mode import PiiRun, warehouse_pii
from unpod_etl.pipeline.results import AgentResult
from unpod_etl.warehouse import intake, liveness, load
from unpod_etl.warehouse.db import describe_db_error, make_engine
from unpod_etl.warehouse.intake import WEBHOOK_SOURCE
from unpod_etl.warehouse.load import StoredMarker
from unpod_etl.warehouse.locks import NamedLock
from unpod_etl.warehouse.revisions import migrate

log = logging.getLogger(__name__)

WEBHOOK_PAGE = 0  # rejected_records.page of a delivery: it came on no page
TOTALS = ("tasks_seen", "tasks_inserted", "tasks_updated", "tasks_unchanged", "tasks_failed")


class WebhookIntake:
    """Writes deliveries into the warehouse at `database_url`; thread-safe."""

    def __init__(self, database_url: str, engine: Engine | None = None) -> None:
        self._owns_engine = engine is None
        self.engine = engine or make_engine(database_url)  # ConfigError on a bad URL
        self.run_id: int | None = None
        self.totals = dict.fromkeys(TOTALS, 0)
        self._lock = threading.Lock()
        self._run_lock: NamedLock | None = None
        self.pii = PiiRun()  # the warehouse's mode, read at start (pipeline/pii_mode.py)

    # -- life -------------------------------------------------------------------------------

    def start(self) -> bool:
        """Migrate and record the run; a database down now is tried again at each delivery."""
        try:
            with self._lock:
                self._ensure_started()
            return True
        except (AbortError, SQLAlchemyError) as exc:
            log.warning("webhook: database not ready (%s); answering 503 until it is", _why(exc))
            return False

    def close(self) -> None:
        with self._lock:
            try:
                if self.run_id is not None:
                    values = {**self.totals, "outcome": RunOutcome.OK, "finished_at": utcnow()}
                    with self.engine.begin() as conn:
                        load.finish_run(conn, self.run_id, values)
            except SQLAlchemyError as exc:
                log.error("webhook: could not record the end of run %s: %s", self.run_id, _why(exc))
            finally:
                if self._run_lock is not None:
                    self._run_lock.release()
                if self._owns_engine:
                    self.engine.dispose()

    def _ensure_started(self) -> None:
        if self.run_id is not None:
            return
        migrate(self.engine)  # refuses a schema newer than this code, as sync does
        self.pii = warehouse_pii(self.engine)
        owner = {"hostname": socket.gethostname(), "pid": os.getpid()}
        with self.engine.begin() as conn:
            run_id = load.start_run(conn, WEBHOOK_SOURCE, utcnow(), owner)
        if self.engine.dialect.name == "postgresql":
            # SQLite's liveness lock is the single sync lock, which a webhook must not hold.
            lock = NamedLock(self.engine, liveness.run_lock_name(self.engine, run_id))
            if lock.try_acquire():
                self._run_lock = lock
        self.run_id = run_id
        log.info("webhook: recording deliveries as run %s", run_id)

    # -- deliveries -------------------------------------------------------------------------

    def deliver(self, body: bytes) -> Delivery:
        """Write one delivery; the answer is 200 only once it is committed."""
        unusable: Unusable | None = None
        try:
            doc, handle = read_document(body)
        except Unusable as bad:
            unusable = bad
        if unusable is not None:
            kept, reason, agent = unusable.kept, unusable.reason, unusable.agent
            done = self._guarded(lambda: self._reject(kept, reason, agent))
        else:
            done = self._guarded(lambda: self._take(doc, handle))
        log.info(
            "webhook delivery: task %r agent %r: %s%s",
            done.task_id,
            done.agent,
            done.outcome,
            f" ({done.reason})" if done.reason else "",
        )
        return done

    def _take(self, doc: dict[str, Any], handle: str) -> Delivery:
        """Under the warehouse's own --pii mode (as the nightly sync wrote it)."""
        if self.pii.is_erased(doc):
            task_id = to_text(doc.get("task_id"), 64)
            return Delivery(200, DeliveryOutcome.ERASED, task_id, handle, "a forgotten contact")
        try:
            item = normalize_task(doc, handle, pii=self.pii.normalize_policy)
        except RejectedRecord as exc:
            return self._reject(doc, exc.reason, handle)
        return self._write(item)

    def _guarded(self, write: Callable[[], Delivery]) -> Delivery:
        try:
            with self._lock:
                self._ensure_started()
                return write()
        except ConfigError as exc:  # e.g. a hash warehouse, and no (or another) key
            log.error("webhook: cannot write: %s", exc)
            return Delivery(503, DeliveryOutcome.UNAVAILABLE, reason="not configured, see log")
        except (AbortError, SQLAlchemyError) as exc:
            log.error("webhook: database unavailable: %s", _why(exc))
            reason = "database unavailable, try again"
            return Delivery(503, DeliveryOutcome.UNAVAILABLE, reason=reason)

    def _write(self, item: NormalizedTask) -> Delivery:
        row, run_id = item.task, self.run_id or 0
        tid, handle = row["task_id"], row["agent_handle"]
        res = AgentResult(handle, seen=1)
        with self.engine.begin() as conn:
            stored = intake.stored_marker(conn, tid, handle)
            rejected = intake.has_open_rejection(conn, handle, tid)
            decision = decide(row["raw_fingerprint"], stored, rejected)
            if decision.action is Action.NORMALIZE:
                decision = decide(row["raw_fingerprint"], stored, rejected, row)
            if _stale(decision, stored, row):
                return Delivery(200, DeliveryOutcome.STALE, tid, handle, "older than stored")
            res.count(decision.action)
            writes = PageChanges()
            writes.add(decision, item)
            if writes:  # an unchanged task costs no write at all
                now = utcnow()
                load.touch_agents(conn, [handle], now)
                write_page(conn, writes, res, run_id, WEBHOOK_PAGE, set(), now)
                # After write_page, which recounts call conflicts and reassignments.
                intake.set_run_totals(conn, run_id, self._plus(res))
            totals = self._plus(res)
        self.totals = totals  # committed
        return Delivery(200, _outcome(res), tid, handle)

    def _reject(self, kept: Any, reason: str, agent: str) -> Delivery:
        res = AgentResult(agent, seen=1, failed=1)
        writes = PageChanges()
        writes.reject(self.pii.rejected_doc(kept), reason)
        totals = self._plus(res)
        with self.engine.begin() as conn:
            write_page(conn, writes, res, self.run_id or 0, WEBHOOK_PAGE, set(), utcnow())
            intake.set_run_totals(conn, self.run_id or 0, totals)
        self.totals = totals
        task_id = kept.get("task_id") if isinstance(kept, dict) else None
        return Delivery(400, DeliveryOutcome.REJECTED, to_text(task_id, 64), agent, reason)

    def _plus(self, res: AgentResult) -> dict[str, int]:
        add = {
            "tasks_seen": res.seen,
            "tasks_inserted": res.inserted,
            "tasks_updated": res.updated + res.reassigned,
            "tasks_unchanged": res.unchanged,
            "tasks_failed": res.failed + res.call_conflicts,
        }
        return {k: self.totals[k] + add[k] for k in TOTALS}


def _stale(decision: Decision, stored: StoredMarker | None, row: dict[str, Any]) -> bool:
    """A late retry of an older state must not roll back what a pull stored since."""
    before, after = (stored.last_status_change if stored else None), row["last_status_change"]
    if decision.action is not Action.MOVE or before is None or after is None:
        return False
    try:
        return bool(after < before)
    except TypeError:  # one naive, one aware: cannot tell, write as the sync would
        return False


def _outcome(res: AgentResult) -> DeliveryOutcome:
    if res.call_conflicts:
        return DeliveryOutcome.CALL_CONFLICT
    if res.reassigned:
        return DeliveryOutcome.REASSIGNED
    if res.inserted:
        return DeliveryOutcome.INSERTED
    if res.updated:
        return DeliveryOutcome.UPDATED
    return DeliveryOutcome.UNCHANGED


def _why(exc: Exception) -> str:
    return describe_db_error(exc) if isinstance(exc, SQLAlchemyError) else str(exc)
