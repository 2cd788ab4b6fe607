"""How deep one agent's walk goes: the adaptive walk's rule (README, "The adaptive walk").

The server has no "changed since" filter, so a sync must read pages, newest first. But old
tasks settle: a completed or failed call whose post-call data has arrived rarely changes
again. With `--walk auto` a walk may stop an agent once

- it has read `settled_pages` consecutive pages in which every task is unchanged (its raw
  fingerprint as stored) and was created more than `settle_window` ago, and
- it has passed every stored task that is still *watched*: unsettled and created within
  `watch_window` (warehouse/walk_state.py). The warehouse knows where those sit (`created`),
  so the walk knows how deep it must go before it starts;
- and the server's `count` agrees with the stored tasks, give or take those new in this walk
  (else something changed below: a deletion, a task moved in).

Everything below the stopping point is assumed unchanged until the next full walk, which
`auto` makes when the agent was never walked fully, or its last complete full walk started
more than `full_walk_every` ago. Deletions are decided on full walks only (a shallow walk is
never complete). Pages whose tasks were all seen before (a shift of the live list) neither
count towards the settled pages nor break their run, so head inserts cannot end a walk early;
likewise a page that the inserts left only part fresh counts for the part: the settled run is
measured in tasks, `settled_pages` full pages' worth of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from unpod_etl.warehouse.walk_state import LastFullWalk

log = logging.getLogger(__name__)

WALK_MODES = ("auto", "full")


@dataclass(frozen=True)
class WalkSettings:
    """The CLI's --walk, --settled-pages, --settle-window, --watch-window, --full-walk-every."""

    mode: str = "auto"
    settled_pages: int = 2
    settle_window: timedelta = timedelta(hours=48)
    watch_window: timedelta = timedelta(days=7)
    full_walk_every: timedelta = timedelta(hours=20)


@dataclass(frozen=True)
class StoredList:
    """What the warehouse knew of the agent's list when its walk started."""

    last_full: LastFullWalk | None
    watched: dict[str, datetime]  # task_id -> created, of the watched tasks
    live: int  # live (not deleted) tasks stored for the agent


class PageLook:
    """What one page's fresh tasks showed, told by agent_sync task by task."""

    def __init__(self, settle_cutoff: datetime) -> None:
        self.cutoff = settle_cutoff
        self.settled = 0  # unchanged and old enough
        self.unsettled = 0  # changed, or too young to have settled
        self.new = 0  # tasks the warehouse did not hold for the agent
        self.skips = 0  # tasks neither settled nor unsettled (skipped)
        self.seen: list[tuple[str, datetime | None]] = []

    def task(
        self, task_id: str | None, created: datetime | None, *, unchanged: bool, new: bool
    ) -> None:
        """A task the walk judged: unchanged or not, with its `created`."""
        self.new += new
        if task_id is not None:
            self.seen.append((task_id, created))
        if unchanged and created is not None and created < self.cutoff:
            self.settled += 1
        else:
            self.unsettled += 1

    def skipped(self, *, new: bool) -> None:
        """A task not for this agent to judge (another's duplicate, an erased contact, a
        rejected document): it neither settles the page nor unsettles it."""
        self.new += new
        self.skips += 1

    @property
    def size(self) -> int:
        """The fresh tasks the page was told of."""
        return self.settled + self.unsettled + self.skips


class _NoLook(PageLook):
    """The look of a walk that is full from the start: it stops nowhere, so nothing a page
    shows need be kept (a full walk of a large org tells this of millions of tasks)."""

    def task(
        self, task_id: str | None, created: datetime | None, *, unchanged: bool, new: bool
    ) -> None:
        pass

    def skipped(self, *, new: bool) -> None:
        pass


class WalkDepth:
    """One agent's walk: whether it must be full and, if not, when it may stop."""

    def __init__(self, settings: WalkSettings, stored: StoredList, now: datetime) -> None:
        self.settings, self.stored = settings, stored
        self.settle_cutoff = now - settings.settle_window
        self.full_reason = first_full_reason(settings, stored.last_full, now)
        # Known before the first page: then tasks' ages never matter (see _NoLook).
        self.full_from_start = self.full_reason is not None
        self._watched = dict(stored.watched)  # the watched tasks not passed yet
        self._oldest_seen: datetime | None = None
        # Settled tasks just read in a row: a page of them counts only for its fresh ones, so
        # a shift of the list under the walk (head inserts) cannot stand in for list depth.
        self._settled_run = 0
        self._page_len = 0  # the longest page served: what a full page holds
        self._counts: list[int] = []
        self.new = 0
        self.pages_walked = 0  # the deepest page number read
        self.deepest_change_page: int | None = None
        self.stopped = False  # the walk stopped early: shallow

    def look(self) -> PageLook:
        return (_NoLook if self.full_from_start else PageLook)(self.settle_cutoff)

    def end_page(
        self, number: int, count: int, look: PageLook, changed: bool, served: int | None = None
    ) -> None:
        """After a page: `served` is how many tasks it held, duplicates included (when not
        told, its fresh tasks)."""
        self.pages_walked = max(self.pages_walked, number)
        self._page_len = max(self._page_len, look.size if served is None else served)
        self._counts.append(count)
        self.new += look.new
        if changed:
            self.deepest_change_page = max(self.deepest_change_page or 0, number)
        for task_id, created in look.seen:
            self._watched.pop(task_id, None)
            if created is not None and (self._oldest_seen is None or created < self._oldest_seen):
                self._oldest_seen = created
        if look.unsettled:
            self._settled_run = 0
        else:  # a page with nothing fresh (all seen before) adds nothing and breaks nothing
            self._settled_run += look.settled

    def may_stop(self) -> bool:
        """After a page: True when the walk may end here (then it is shallow)."""
        needed = self.settings.settled_pages * max(self._page_len, 1)
        if self.full_reason is not None or self._settled_run < needed:
            return False
        if not self._passed_watched():
            return False
        if self._count_disagrees():
            self.full_reason = "count"
            return False
        self.stopped = True
        return True

    def finish(self, reached_end: bool) -> None:
        """The walk ended: an auto walk that read to the end of the list without stopping
        was a full walk."""
        if reached_end and not self.stopped and self.full_reason is None:
            self.full_reason = "end"

    @property
    def walk(self) -> str:
        """`full` when the walk was to be, or turned out, full (complete only if it also
        ended well); else `shallow`: it stopped early, or failed before it could tell."""
        return "full" if self.full_reason is not None else "shallow"

    def _passed_watched(self) -> bool:
        """Every watched task seen, or one older than each not seen (deleted, moved away)."""
        if not self._watched:
            return True
        oldest = self._oldest_seen
        return oldest is not None and all(oldest < c for c in self._watched.values())

    def _count_disagrees(self) -> bool:
        last = self.stored.last_full
        # Listed tasks the warehouse does not hold as the agent's live tasks (another agent's
        # duplicates, rejected documents, erased contacts) as the last full walk measured.
        offset = 0
        if last is not None and last.api_count is not None and last.stored_tasks is not None:
            offset = last.api_count - last.stored_tasks
        expected = self.stored.live + offset
        off_by = min(abs(c - expected) for c in self._counts) if self._counts else 0
        if off_by > self.new:
            log.info(
                "the server counts %d tasks where %d are expected (%d new in this walk): "
                "walking to the end",
                min(self._counts, key=lambda c: abs(c - expected)),
                expected,
                self.new,
            )
            return True
        return False


def first_full_reason(
    settings: WalkSettings, last: LastFullWalk | None, now: datetime
) -> str | None:
    """Why this walk must be full from the start; None: it may be shallow."""
    if settings.mode == "full":
        return "requested"
    if last is None:
        return "never"
    if now - last.started_at > settings.full_walk_every:
        return "due"
    return None
