"""Syncing one agent: walk its task pages, keep what changed, write page by page."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from unpod_etl.core.clock import now as utcnow
from unpod_etl.core.errors import AbortError, EtlError
from unpod_etl.core.outcomes import AgentOutcome
from unpod_etl.normalize.history import ChangeKind
from unpod_etl.pipeline.interrupts import Interrupted, StopToken
from unpod_etl.pipeline.ownership import DbRunner, TaskOwners
from unpod_etl.pipeline.page_decisions import Markers, PageDecider
from unpod_etl.pipeline.page_writes import write_page
from unpod_etl.pipeline.pii_mode import PiiRun
from unpod_etl.pipeline.results import AgentResult
from unpod_etl.pipeline.walk_depth import StoredList, WalkDepth, WalkSettings, first_full_reason
from unpod_etl.source.client import TaskPage, UnpodClient
from unpod_etl.source.walk import WalkReport
from unpod_etl.warehouse import deletions, history, load, rejects, run_counts, walk_state

log = logging.getLogger(__name__)

ProgressHook = Callable[[AgentResult, TaskPage], None]
# Pages with nothing to write cost no transaction; their counts are written with the next
# page that writes, or after this many seconds, so `status` follows a long no-change walk.
COUNTS_FLUSH_SECONDS = 5.0
# AgentResult's fields that a page adds to (see _absorb).
PAGE_FIELDS = (
    "pages", "seen", "inserted", "moved", "changed_unmoved", "unchanged", "failed",
    "reassigned", "call_conflicts", "duplicate_listing", "erased",
)  # fmt: skip


class AgentSync:
    """One agent in one run. `db` runs a function in its own committed transaction."""

    def __init__(
        self,
        client: UnpodClient,
        db: DbRunner,
        run_id: int,
        handle: str,
        page_size: int,
        on_page: ProgressHook | None = None,
        max_delete_fraction: float = 0.2,
        owners: TaskOwners | None = None,
        stop: StopToken | None = None,
        pii: PiiRun | None = None,
        walk: WalkSettings | None = None,
    ) -> None:
        self.client, self.db, self.run_id = client, db, run_id
        self.page_size, self.on_page = page_size, on_page
        self.result = AgentResult(handle)
        self.walk = WalkReport()  # how the walk ended (complete or not), once run() returns
        self.seen_ids: set[str] = set()  # every task id the walk yielded, for deletions
        self.max_delete_fraction = max_delete_fraction
        self.owners = owners or TaskOwners([handle])  # shared by the run's agents
        self.stop = stop or StopToken()
        self._written: dict[str, int] = {}  # the counters the database holds for this agent
        self._written_at = time.monotonic()
        # The end is recorded once, by the worker or, if it is stuck in a read, by interrupt().
        self._end_lock, self._ended = threading.Lock(), False
        self.pii = pii or PiiRun()  # --pii policy and `forget` erasures (pipeline/pii_mode.py)
        self.walk_settings = walk or WalkSettings()
        self.depth: WalkDepth | None = None  # how deep the walk goes, once started (_start)
        self.decider = PageDecider(
            handle, self.owners, self.pii, db, self.seen_ids, self.result.unreadable_times
        )

    def run(self) -> AgentResult:
        res, handle = self.result, self.result.handle
        stored, rejected = self.db(self._start)
        try:
            pages = iter(self.client.iter_task_pages(handle, self.page_size, self.walk))
            while True:
                with self.stop.abandonable():  # a stop abandons the page being fetched
                    page = next(pages, None)
                if page is None:
                    break
                self._write_page(page, stored, rejected)
                if self.on_page:
                    self.on_page(res, page)
                if self.depth is not None and self.depth.may_stop():
                    self.walk.ended_by = "settled"  # shallow: never complete, no deletions
                    break
            res.outcome = AgentOutcome.OK
            if res.duplicate_listing:
                log.warning(
                    "agent %s lists %d tasks another agent owns: not written (duplicate_listing)",
                    handle,
                    res.duplicate_listing,
                )
            if res.erased:
                log.info("agent %s: %d tasks of erased contacts skipped", handle, res.erased)
            self._read_walk()
            with self.stop.writing():
                self.db(self._settle_deletions)  # a no-op unless the walk was complete
        except Interrupted:
            res.outcome, res.error = AgentOutcome.INTERRUPTED, "the run was interrupted"
        except AbortError:
            res.outcome, res.error = AgentOutcome.FAILED, "run aborted"
            self._read_walk()
            self._record_end()
            raise
        except EtlError as exc:
            res.outcome, res.error = AgentOutcome.FAILED, str(exc)
            log.error("agent %s failed: %s", handle, exc)
            self._read_walk()
        self._record_end()
        return res

    def _read_walk(self) -> None:
        """What the walk learned about itself, onto the result (source/walk.py)."""
        res, walk = self.result, self.walk
        if self.depth is not None:
            depth = self.depth
            depth.finish(reached_end=res.outcome is AgentOutcome.OK and not depth.stopped)
            res.walk, res.full_walk_reason = depth.walk, depth.full_reason
            res.pages_walked = depth.pages_walked
            res.deepest_change_page = depth.deepest_change_page
            res.api_count = walk.api_count
        res.shifts, res.count_mismatch = walk.shifts, walk.count_mismatch
        res.walk_complete = res.outcome is AgentOutcome.OK and walk.complete
        res.warnings.extend(walk.problems())
        for name, n in sorted(res.unreadable_times.items()):
            res.warnings.append(f"{n} unreadable {name} value(s) stored as NULL")

    def _start(self, conn: Connection) -> tuple[Markers, set[str]]:
        """One transaction: the agent's run row, then the stored state pages are compared with."""
        handle, now = self.result.handle, utcnow()
        load.start_agent(conn, self.run_id, handle, now)
        settings, last = self.walk_settings, walk_state.last_full_walk(conn, handle)
        stored = StoredList(last, {}, 0)
        if first_full_reason(settings, last, now) is None:  # may stop early: where, and when
            since = now - settings.watch_window
            watched = walk_state.watched_tasks(conn, handle, since)
            stored = StoredList(last, watched, walk_state.live_tasks(conn, handle))
        self.depth = WalkDepth(settings, stored, now)
        if self.depth.full_reason is not None:
            log.info("agent %s: full walk (%s)", handle, self.depth.full_reason)
        markers = load.stored_markers(conn, handle, with_created=not self.depth.full_from_start)
        return markers, rejects.open_rejections(conn, handle)

    def _settle_deletions(self, conn: Connection) -> None:
        res = self.result
        done = deletions.settle_agent(
            conn,
            res.handle,
            self.seen_ids,
            utcnow(),
            self.max_delete_fraction,
            walk_complete=bool(res.walk_complete),
        )
        res.deleted, res.restored, res.deletes_held = done.deleted, done.restored, done.held_back
        res.stored_tasks = walk_state.live_tasks(conn, res.handle)  # for the next shallow walk
        now = utcnow()
        for kind, ids in (
            (ChangeKind.DELETED, done.deleted_ids),
            (ChangeKind.RESTORED, done.restored_ids),
        ):
            history.record_settled(conn, kind, res.handle, ids, self.run_id, now)
        if done.held_back:
            log.warning(
                "agent %s: %d stored tasks absent twice, more than --max-delete-fraction %s "
                "of its tasks; deleting none",
                res.handle,
                done.held_back,
                self.max_delete_fraction,
            )

    def _record_end(self) -> None:
        res = self.result
        with self._end_lock:
            if self._ended:
                return
            counters = res.counters()
            values = {
                **res.walk_columns(),
                "walk_complete": res.walk_complete,
                "count_mismatch": res.count_mismatch,
                "outcome": res.outcome,
                "error": res.error,
                "finished_at": utcnow(),
            }

            def end(conn: Connection) -> None:
                run_counts.record_progress(conn, self.run_id, res.handle, counters, self._written)
                load.update_agent(conn, self.run_id, res.handle, values)

            self._ended = True  # even if the write fails: the run's end says what it can
            self.db(end)
            self._written = counters

    def interrupt(self) -> None:
        """Record the agent as interrupted, on behalf of a worker left in a network read
        (the caller waited for the writes under way: the counters are those that landed)."""
        with self._end_lock:
            if self._ended or self.result.outcome is not AgentOutcome.RUNNING:
                return
            self.result.outcome = AgentOutcome.INTERRUPTED
            self.result.error = "the run was interrupted"
        self._record_end()

    def _write_page(self, page: TaskPage, stored: Markers, rejected: set[str]) -> None:
        # The page counts into a result of its own, added to the agent's once committed:
        # the agent's counters are always those of what landed.
        agent = self.result
        depth = self.depth
        assert depth is not None  # set by _start, before the first page
        look = depth.look()
        res, writes = self.decider.decide(page, stored, rejected, look)
        depth.end_page(page.number, page.count, look, changed=bool(writes), served=page.raw_size)
        res.pages += 1
        if not writes and time.monotonic() - self._written_at < COUNTS_FLUSH_SECONDS:
            self.stop.check()
            _absorb(agent, res)
            return  # nothing to write: an unchanged page costs no transaction at all
        now = utcnow()

        def write(conn: Connection) -> dict[str, int]:
            if writes:  # else only the counters are due (COUNTS_FLUSH_SECONDS)
                write_page(conn, writes, res, self.run_id, page.number, rejected, now)
            # After write_page, which may count a task again (reassigned, a call conflict).
            counters = _sum(agent.counters(), res.counters())
            run_counts.record_progress(conn, self.run_id, res.handle, counters, self._written)
            return counters

        with self.stop.writing():  # refused once a stop is requested: the page is dropped
            counters = self.db(write)
            _absorb(agent, res)
            self._written, self._written_at = counters, time.monotonic()
        # Only once committed does the stored state move on.
        for item in writes.tasks:
            row = item.task
            stored[row["task_id"]] = load.StoredMarker(
                row["last_status_change"], row["fingerprint"], row["raw_fingerprint"]
            )
        rejected.difference_update(writes.healed)


def _sum(a: dict[str, Any], b: dict[str, Any]) -> dict[str, int]:
    return {name: a[name] + b[name] for name in a}


def _absorb(into: AgentResult, page: AgentResult) -> None:
    for name in PAGE_FIELDS:
        setattr(into, name, getattr(into, name) + getattr(page, name))
