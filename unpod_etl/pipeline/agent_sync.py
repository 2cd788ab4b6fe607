"""Syncing one agent: walk its task pages, keep what changed, write page by page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from unpod_etl.core.errors import AbortError, EtlError
from unpod_etl.core.outcomes import AgentOutcome
from unpod_etl.normalize import RejectedRecord, normalize_task, raw_fingerprint
from unpod_etl.normalize.changes import Action, PageChanges, decide
from unpod_etl.normalize.history import ChangeKind
from unpod_etl.pipeline.ownership import TaskOwners
from unpod_etl.pipeline.page_writes import write_page
from unpod_etl.pipeline.pii_mode import PiiRun
from unpod_etl.pipeline.results import AgentResult
from unpod_etl.source.client import TaskPage, UnpodClient
from unpod_etl.source.rawjson import TaskDoc
from unpod_etl.source.walk import WalkReport
from unpod_etl.warehouse import deletions, history, load, rejects

log = logging.getLogger(__name__)

Markers = dict[str, load.StoredMarker]
DbRunner = Callable[[Callable[[Connection], Any]], Any]
ProgressHook = Callable[[AgentResult, TaskPage], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


def doc_raw_fingerprint(doc: TaskDoc) -> str | None:
    """The document's raw fingerprint: of the bytes received, else of its decoded value."""
    received = doc.raw_fingerprint()
    if received is not None:
        return received
    if not isinstance(doc.value, dict):
        return None  # not a task: the normalizer rejects it
    try:
        return raw_fingerprint(doc.value)
    except (TypeError, ValueError):  # not JSON-encodable: let the normalizer judge it
        return None


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
        pii: PiiRun | None = None,
    ) -> None:
        self.client, self.db, self.run_id = client, db, run_id
        self.page_size, self.on_page = page_size, on_page
        self.result = AgentResult(handle)
        self.walk = WalkReport()  # how the walk ended (complete or not), once run() returns
        self.seen_ids: set[str] = set()  # every task id the walk yielded, for deletions
        self.max_delete_fraction = max_delete_fraction
        self.owners = owners or TaskOwners([handle])  # shared by the run's agents
        self.pii = pii or PiiRun()  # --pii policy and `forget` erasures (pipeline/pii_mode.py)

    def run(self) -> AgentResult:
        res, handle = self.result, self.result.handle
        stored, rejected = self.db(self._start)
        try:
            for page in self.client.iter_task_pages(handle, self.page_size, self.walk):
                self._write_page(page, stored, rejected)
                if self.on_page:
                    self.on_page(res, page)
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
            self.db(self._settle_deletions)  # a no-op unless the walk was complete
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
        res.shifts, res.count_mismatch = walk.shifts, walk.count_mismatch
        res.walk_complete = res.outcome is AgentOutcome.OK and walk.complete
        res.warnings.extend(walk.problems())
        for name, n in sorted(res.unreadable_times.items()):
            res.warnings.append(f"{n} unreadable {name} value(s) stored as NULL")

    def _start(self, conn: Connection) -> tuple[Markers, set[str]]:
        """One transaction: the agent's run row, then the stored state pages are compared with."""
        handle = self.result.handle
        load.start_agent(conn, self.run_id, handle, utcnow())
        return load.stored_markers(conn, handle), rejects.open_rejections(conn, handle)

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
        values = {
            **res.counters(),
            "walk_complete": res.walk_complete,
            "count_mismatch": res.count_mismatch,
            "outcome": res.outcome,
            "error": res.error,
        }
        self.db(
            lambda c: load.update_agent(
                c, self.run_id, res.handle, {**values, "finished_at": utcnow()}
            )
        )

    def _count_unreadable(self, fields: tuple[str, ...]) -> None:
        """Count times stored NULL because unreadable; log once per agent and field."""
        counts = self.result.unreadable_times
        for name in fields:
            if name not in counts:
                log.warning(
                    "agent %s: a %s value could not be read as a time; stored NULL (the raw "
                    "value stays in document); further ones are counted in the summary",
                    self.result.handle,
                    name,
                )
            counts[name] = counts.get(name, 0) + 1

    def _write_page(self, page: TaskPage, stored: Markers, rejected: set[str]) -> None:
        res = self.result
        writes = PageChanges()
        owners = self.owners.page(res.handle, (d.task_id for d in page.tasks), stored, self.db)
        for doc in page.tasks:
            res.seen += 1
            tid = doc.task_id
            if tid is not None:
                self.seen_ids.add(tid)
            raw = doc_raw_fingerprint(doc)
            known = stored.get(tid) if tid is not None else None
            decision = decide(raw, known, tid in rejected)
            if decision.action is Action.NORMALIZE:
                if tid is not None and not owners.owns(tid, doc.value):
                    res.duplicate_listing += 1  # its owner writes it (pipeline/ownership.py)
                    continue
                if self.pii.is_erased(doc.value):
                    res.erased += 1  # `forget` erased this contact: never written again
                    continue
                try:
                    item = normalize_task(doc.value, res.handle, raw, self.pii.normalize_policy)
                except RejectedRecord as exc:
                    res.failed += 1
                    writes.reject(self.pii.rejected_doc(doc.value), exc.reason)
                    log.warning(
                        "agent %s page %d: rejected a task: %s", res.handle, page.number, exc.reason
                    )
                    continue
                if item.unreadable_times:
                    self._count_unreadable(item.unreadable_times)
                tid = item.task["task_id"]
                decision = decide(raw, stored.get(tid), tid in rejected, item.task)
                writes.add(decision, item)
            res.count(decision.action)
        res.pages += 1
        if not writes:
            return  # nothing to write: an unchanged page costs no transaction at all
        now = utcnow()
        self.db(lambda c: write_page(c, writes, res, self.run_id, page.number, rejected, now))
        # Only once committed does the stored state move on.
        for item in writes.tasks:
            row = item.task
            stored[row["task_id"]] = load.StoredMarker(
                row["last_status_change"], row["fingerprint"], row["raw_fingerprint"]
            )
        rejected.difference_update(writes.healed)
