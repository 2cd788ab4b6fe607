"""Syncing one agent: walk its task pages, keep what changed, write page by page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from . import load, rejects
from .client import TaskPage, UnpodClient
from .errors import AbortError, EtlError
from .normalize import NormalizedTask, RejectedRecord, normalize_task
from .results import AgentResult

log = logging.getLogger(__name__)

Markers = dict[str, tuple[datetime | None, str]]
DbRunner = Callable[[Callable[[Connection], Any]], Any]
ProgressHook = Callable[[AgentResult, TaskPage], None]


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
    if _as_utc(stored_marker) != item.task["last_status_change"]:
        return "moved"
    if stored_fingerprint != item.task["fingerprint"]:
        return "changed_unmoved"
    return "unchanged"


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
    ) -> None:
        self.client, self.db, self.run_id = client, db, run_id
        self.page_size, self.on_page = page_size, on_page
        self.result = AgentResult(handle)

    def run(self) -> AgentResult:
        res, handle = self.result, self.result.handle
        self.db(lambda c: load.start_agent(c, self.run_id, handle, utcnow()))
        stored: Markers = self.db(lambda c: load.stored_markers(c, handle))
        rejected: set[str] = self.db(lambda c: rejects.open_rejections(c, handle))
        try:
            for page in self.client.iter_task_pages(handle, self.page_size):
                self._write_page(page, stored, rejected)
                if self.on_page:
                    self.on_page(res, page)
            res.outcome = "ok"
        except AbortError:
            res.outcome, res.error = "failed", "run aborted"
            self._record_end()
            raise
        except EtlError as exc:
            res.outcome, res.error = "failed", str(exc)
            log.error("agent %s failed: %s", handle, exc)
        self._record_end()
        return res

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
        for doc in page.tasks:
            res.seen += 1
            try:
                item = normalize_task(doc, res.handle)
            except RejectedRecord as exc:
                res.failed += 1
                bad.append((doc, exc.reason))
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
                continue
            if kind == "new":
                res.inserted += 1
            elif kind == "moved":
                res.moved += 1
            else:
                res.changed_unmoved += 1
            changed.append(item)
        res.pages += 1
        now = utcnow()

        def write(conn: Connection) -> None:
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
            stored[item.task["task_id"]] = (
                item.task["last_status_change"],
                item.task["fingerprint"],
            )
        rejected.difference_update(healed)
