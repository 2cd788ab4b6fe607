"""Syncing one agent: walk its task pages, keep what changed, write page by page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from unpod_etl.core.errors import AbortError, EtlError
from unpod_etl.normalize import NormalizedTask, RejectedRecord, normalize_task, raw_fingerprint
from unpod_etl.pipeline.results import AgentResult
from unpod_etl.source.client import TaskPage, UnpodClient
from unpod_etl.source.rawjson import TaskDoc
from unpod_etl.source.walk import WalkReport
from unpod_etl.warehouse import deletions, load, rejects

log = logging.getLogger(__name__)

Markers = dict[str, load.StoredMarker]
DbRunner = Callable[[Callable[[Connection], Any]], Any]
ProgressHook = Callable[[AgentResult, TaskPage], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands timestamps back naive; they were stored as UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def classify(item: NormalizedTask, stored: load.StoredMarker | None) -> str:
    """new | moved | changed_unmoved | unchanged (see README, "Change detection")."""
    if stored is None:
        return "new"
    if _as_utc(stored.last_status_change) != item.task["last_status_change"]:
        return "moved"
    if stored.fingerprint != item.task["fingerprint"]:
        return "changed_unmoved"
    return "unchanged"


def received_fingerprint(doc: TaskDoc) -> str | None:
    """The document's raw fingerprint: of the bytes received, else of its decoded value."""
    digest = doc.received_digest()
    if digest is not None:
        return digest
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
    ) -> None:
        self.client, self.db, self.run_id = client, db, run_id
        self.page_size, self.on_page = page_size, on_page
        self.result = AgentResult(handle)
        self.walk = WalkReport()  # how the walk ended (complete or not), once run() returns
        self.seen_ids: set[str] = set()  # every task id the walk yielded, for deletions
        self.max_delete_fraction = max_delete_fraction

    def run(self) -> AgentResult:
        res, handle = self.result, self.result.handle
        stored, rejected = self.db(self._start)
        try:
            for page in self.client.iter_task_pages(handle, self.page_size, self.walk):
                self._write_page(page, stored, rejected)
                if self.on_page:
                    self.on_page(res, page)
            res.outcome = "ok"
            if self.walk.complete:  # only a complete walk stands for the whole list
                self.db(self._settle_deletions)
        except AbortError:
            res.outcome, res.error = "failed", "run aborted"
            self._record_end()
            raise
        except EtlError as exc:
            res.outcome, res.error = "failed", str(exc)
            log.error("agent %s failed: %s", handle, exc)
        self._record_end()
        return res

    def _start(self, conn: Connection) -> tuple[Markers, set[str]]:
        """One transaction: the agent's run row, then the stored state pages are compared with."""
        handle = self.result.handle
        load.start_agent(conn, self.run_id, handle, utcnow())
        return load.stored_markers(conn, handle), rejects.open_rejections(conn, handle)

    def _settle_deletions(self, conn: Connection) -> None:
        res = self.result
        done = deletions.settle_agent(
            conn, res.handle, self.seen_ids, utcnow(), self.max_delete_fraction
        )
        res.deleted, res.restored, res.deletes_held = done.deleted, done.restored, done.held_back
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
        values = {**res.counters(), "outcome": res.outcome, "error": res.error}
        self.db(
            lambda c: load.update_agent(
                c, self.run_id, res.handle, {**values, "finished_at": utcnow()}
            )
        )

    def _write_page(self, page: TaskPage, stored: Markers, rejected: set[str]) -> None:
        res = self.result
        changed: list[NormalizedTask] = []
        healed: list[str] = []  # rejected before, normalized fine now
        bad: list[tuple[Any, str]] = []
        raw_moved: list[tuple[str, str]] = []  # same stored form, new raw form
        for doc in page.tasks:
            res.seen += 1
            if doc.task_id is not None:
                self.seen_ids.add(doc.task_id)
            known = stored.get(doc.task_id) if doc.task_id is not None else None
            digest = received_fingerprint(doc)
            # Byte for byte what was stored last time: no need to decode or normalize it.
            untouched = digest is not None and known is not None and digest == known.raw_fingerprint
            if untouched and doc.task_id not in rejected:
                res.unchanged += 1
                continue
            try:
                item = normalize_task(doc.value, res.handle, digest)
            except RejectedRecord as exc:
                res.failed += 1
                bad.append((doc.value, exc.reason))
                log.warning(
                    "agent %s page %d: rejected a task: %s", res.handle, page.number, exc.reason
                )
                continue
            task_id = item.task["task_id"]
            if task_id in rejected:
                healed.append(task_id)
            kind = classify(item, stored.get(task_id))
            if kind == "unchanged":
                res.unchanged += 1
                if stored[task_id].raw_fingerprint != item.task["raw_fingerprint"]:
                    raw_moved.append((task_id, item.task["raw_fingerprint"]))
                continue
            if kind == "new":
                res.inserted += 1
            elif kind == "moved":
                res.moved += 1
            else:
                res.changed_unmoved += 1
            changed.append(item)
        res.pages += 1
        if not (changed or bad or healed or raw_moved):
            return  # nothing to write: an unchanged page costs no transaction at all
        now = utcnow()

        def write(conn: Connection) -> None:
            load.set_raw_fingerprints(conn, raw_moved)
            load.write_tasks(conn, changed, self.run_id, now)
            for doc, reason in bad:
                key = rejects.save_rejection(
                    conn, res.handle, doc, reason, page.number, self.run_id, now
                )
                rejected.add(key)
            rejects.resolve_rejections(conn, res.handle, healed, now)
            load.update_agent(conn, self.run_id, res.handle, res.counters())

        self.db(write)
        # Only once committed does the stored state move on.
        for item in changed:
            row = item.task
            stored[row["task_id"]] = load.StoredMarker(
                row["last_status_change"], row["fingerprint"], row["raw_fingerprint"]
            )
        rejected.difference_update(healed)
