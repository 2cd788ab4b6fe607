"""What one page of an agent's tasks means for the warehouse: each document compared with
the stored state (normalize/changes.py), normalized only when that cannot tell, and counted.
No writes here: agent_sync.py commits what this decides, and walk_depth.py learns from the
same look whether the page had settled."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from unpod_etl.normalize import RejectedRecord, normalize_task, raw_fingerprint
from unpod_etl.normalize.changes import Action, PageChanges, decide
from unpod_etl.pipeline.ownership import DbRunner, TaskOwners
from unpod_etl.pipeline.pii_mode import PiiRun
from unpod_etl.pipeline.results import AgentResult
from unpod_etl.pipeline.walk_depth import PageLook
from unpod_etl.source.client import TaskPage
from unpod_etl.source.rawjson import TaskDoc
from unpod_etl.warehouse import load

log = logging.getLogger(__name__)

Markers = dict[str, load.StoredMarker]  # task_id -> what change detection compares


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


@dataclass
class PageDecider:
    """Decides the pages of one agent in one run; `seen_ids` gathers every task id listed
    (for deletions), `unreadable` the times stored NULL because unreadable, per field."""

    handle: str
    owners: TaskOwners
    pii: PiiRun
    db: DbRunner
    seen_ids: set[str]
    unreadable: dict[str, int]

    def decide(
        self, page: TaskPage, stored: Markers, rejected: set[str], look: PageLook
    ) -> tuple[AgentResult, PageChanges]:
        """The page's own counters and what it writes."""
        res, writes = AgentResult(self.handle), PageChanges()
        owners = self.owners.page(self.handle, (d.task_id for d in page.tasks), stored, self.db)
        for doc in page.tasks:
            res.seen += 1
            tid = doc.task_id
            if tid is not None:
                self.seen_ids.add(tid)
            raw = doc_raw_fingerprint(doc)
            known = stored.get(tid) if tid is not None else None
            new = known is None
            decision = decide(raw, known, tid in rejected)
            if decision.action is Action.NORMALIZE:
                if tid is not None and not owners.owns(tid, doc.value):
                    res.duplicate_listing += 1  # its owner writes it (pipeline/ownership.py)
                    look.skipped(new=new)
                    continue
                if self.pii.is_erased(doc.value):
                    res.erased += 1  # `forget` erased this contact: never written again
                    look.skipped(new=new)
                    continue
                try:
                    item = normalize_task(doc.value, res.handle, raw, self.pii.normalize_policy)
                except RejectedRecord as exc:
                    res.failed += 1
                    writes.reject(self.pii.rejected_doc(doc.value), exc.reason)
                    look.skipped(new=new)
                    log.warning(
                        "agent %s page %d: rejected a task: %s", res.handle, page.number, exc.reason
                    )
                    continue
                if item.unreadable_times:
                    self._count_unreadable(item.unreadable_times)
                tid = item.task["task_id"]
                decision = decide(raw, stored.get(tid), tid in rejected, item.task)
                writes.add(decision, item)
                unchanged = decision.action is Action.UNCHANGED
                look.task(tid, item.task.get("created_at"), unchanged=unchanged, new=new)
            else:  # untouched: byte for byte as stored, so its stored `created` is its own
                look.task(tid, known.created if known else None, unchanged=True, new=new)
            res.count(decision.action)
        return res, writes

    def _count_unreadable(self, fields: tuple[str, ...]) -> None:
        """Count times stored NULL because unreadable; log once per agent and field."""
        counts = self.unreadable
        for name in fields:
            if name not in counts:
                log.warning(
                    "agent %s: a %s value could not be read as a time; stored NULL (the raw "
                    "value stays in document); further ones are counted in the summary",
                    self.handle,
                    name,
                )
            counts[name] = counts.get(name, 0) + 1
