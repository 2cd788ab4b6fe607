"""The walk over an agent's task pages: offset paging that never trusts one signal alone.

The server's paging is offset paging over a live, newest-first list, and every signal it
gives can be wrong: it may ignore `page_size` (so a short page is not the end), report a
`count` that is off either way (so `count` is a hint and a bound, never the stop), answer
the same page for every page number, and let the list shift under the walk (a task deleted
above the cursor moves an unread task onto a page already read). The rules:

- The length of a full page is learned from the first page: what was asked, or what the
  server served when `count` says more remain. A page shorter than that ends the walk; so
  does an empty page. A page longer than that is a server fault (the agent fails).
- The walk is bounded by `2 * count + EXTRA_PAGES` pages' worth of tasks: a server that keeps
  answering full pages must not keep us forever (the walk is then not complete).
- A page that repeats an earlier page exactly (same ids, same order) is asked again once,
  then the agent fails: the server is not paging. Unless `count` grew by a page or more
  since that page: a full page of tasks created between two requests pushes the page just
  read down onto the next one, which is a shift.
- A shift: `count` differing from the previous page's, or a page whose first tasks were
  already seen. When the count changed and the page did not start with tasks already seen,
  a task may have moved up past the cursor: the page before is read again, once. Unless that
  re-read answers the same count and starts with a task already seen, the walk is not
  complete (an unresolved shift).
- At the end, distinct tasks seen and the last `count` must agree within what the count moved
  during the walk (tasks created or deleted meanwhile); otherwise `count_mismatch`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from unpod_etl.core.errors import ApiError
from unpod_etl.source.rawjson import TaskDoc
from unpod_etl.source.retrying import TransientHttpError
from unpod_etl.source.walk import WalkReport

log = logging.getLogger(__name__)

# Pages past twice the announced count a walk may take: a stale count, tasks created during
# the walk. Beyond that the server is not ending its list and the walk stops, incomplete.
EXTRA_PAGES = 5
# fetch(page, page_size) -> the envelope; raises TransientHttpError like the client does.
Fetch = Callable[[int, int], dict[str, Any]]


@dataclass
class TaskPage:
    """One page of an agent's tasks, already deduplicated against earlier pages."""

    number: int
    page_size: int
    count: int  # the server's total for the agent
    tasks: list[TaskDoc]
    raw_size: int  # documents on the page before deduplication
    reread: bool = False  # the page before, read again after a shift


@dataclass
class _Reply:
    number: int
    size: int
    count: int
    data: list[TaskDoc]

    @property
    def ids(self) -> tuple[str | None, ...]:
        return tuple(doc.task_id for doc in self.data)


class PageWalk:
    """One walk of one agent; iterate `pages()` once. `walk` learns how it ended."""

    def __init__(
        self, fetch: Fetch, what: str, page_size: int, min_page_size: int, walk: WalkReport
    ) -> None:
        self.fetch, self.what, self.walk = fetch, what, walk
        self.asked, self.min_page_size = page_size, min_page_size
        self.full: int | None = None  # the length of a full page, once learned
        self.honours_size = True  # the server serves what is asked
        self.seen: set[str] = set()
        self.idless = 0  # documents without a task_id (the normalizer rejects them)
        # ids of a page -> (its number, the count it came with)
        self.pages_by_ids: dict[tuple[str | None, ...], tuple[int, int]] = {}
        self.counts: list[int] = []

    # -- the loop -------------------------------------------------------------------------

    def pages(self) -> Iterator[TaskPage]:
        offset = 0
        while True:
            size = self.full or self.asked
            number = offset // size + 1
            reply = self._page(number, size)
            start = (reply.number - 1) * reply.size  # a shrunk page renumbers the request
            shifted = self._shift_check(reply, overlap=offset - start)
            yield self._take(reply)
            if shifted:
                reread = self._reread(reply)
                if reread is not None:
                    yield reread
            if not reply.data:
                self._end("empty page")
                return
            if self.full is None:
                if not self._learn(reply):
                    self._end("short page")
                    return
            elif len(reply.data) < self.full:
                self._end("short page")
                return
            elif len(reply.data) > self.full:
                raise ApiError(
                    f"{self._what(reply.number)}: {len(reply.data)} tasks on a page after "
                    f"{self.full} per page before; the server's paging cannot be followed"
                )
            offset = start + len(reply.data)
            bound = 2 * max(self.counts) + EXTRA_PAGES * (self.full or reply.size)
            if offset >= bound:
                log.warning(
                    "%s: stopping after %d tasks, far past the %d the server announced",
                    self._what(reply.number),
                    offset,
                    max(self.counts),
                )
                self._end("past the announced count", complete=False)
                return

    # -- steps ----------------------------------------------------------------------------

    def _page(self, number: int, size: int) -> _Reply:
        """One page; a repeat of an earlier page is asked again once, then fails the agent."""
        reply = self._fetch(number, size)
        earlier = self._repeats(reply)
        if earlier is not None:
            log.warning(
                "%s repeats page %d exactly; asking again once", self._what(number), earlier
            )
            reply = self._fetch(number, size)
            earlier = self._repeats(reply)
            if earlier is not None:
                raise ApiError(
                    f"{self._what(number)}: the server answered the same {len(reply.data)} "
                    f"tasks in the same order as page {earlier}, twice: it is not paging"
                )
        self.pages_by_ids.setdefault(reply.ids, (number, reply.count))
        return reply

    def _fetch(self, number: int, size: int) -> _Reply:
        while True:
            try:
                body = self.fetch(number, size)
                break
            except TransientHttpError as exc:
                # A big page that keeps failing may be a server timeout: ask a smaller one.
                # Useless when the server ignores page_size, or at the smallest size.
                if not exc.shrinkable or not self.honours_size or size <= self.min_page_size:
                    raise
                offset = (number - 1) * size
                size = max(self.min_page_size, size // 2)
                self.asked = size
                if self.full is not None:
                    self.full = size
                number = offset // size + 1  # a smaller page starting at the same offset
                log.warning(
                    "%s kept failing; asking again with page_size %d", self._what(number), size
                )
        data = body.get("data")
        if not isinstance(data, list):
            raise ApiError(f"{self._what(number)}: `data` is not a list")
        count = _as_count(body.get("count"), len(data))
        self.counts.append(count)
        self.walk.api_count = max(self.counts)
        return _Reply(number, size, count, data)

    def _repeats(self, reply: _Reply) -> int | None:
        """The earlier page this one repeats exactly, when that means the server is not
        paging. Not when the count grew by a page or more since: a full page of tasks created
        between two requests pushes the last page read down onto the next (a shift)."""
        if not reply.data:
            return None
        earlier = self.pages_by_ids.get(reply.ids)
        if earlier is None or earlier[0] == reply.number:
            return None
        number, count = earlier
        if reply.count - count >= len(reply.data):
            return None
        return number

    def _learn(self, reply: _Reply) -> bool:
        """Learn a full page's length from the first page; False when it is the last page."""
        served = len(reply.data)
        if served == reply.size:
            self.full = served
            return True
        if served < reply.size and reply.count <= served:
            return False  # a short page and the count agrees: the whole list
        # More than asked, or fewer while `count` says more remain: the server's own size.
        log.info("%s: the server serves %d tasks a page", self.what, served)
        self.full, self.honours_size = served, False
        self.walk.served_page_size = served
        return True

    def _shift_check(self, reply: _Reply, overlap: int) -> bool:
        """Count a shift; True when a task may have moved up past the cursor."""
        if len(self.counts) < 2:
            return False
        count_changed = reply.count != self.counts[-2]
        head = list(reply.data[max(0, overlap) :])
        seen_at_head = bool(head) and head[0].task_id in self.seen
        if not (count_changed or seen_at_head):
            return False
        self.walk.shifts += 1
        log.info(
            "%s: the list shifted under the walk (count %d -> %d%s)",
            self._what(reply.number),
            self.counts[-2],
            reply.count,
            ", first task already seen" if seen_at_head else "",
        )
        return count_changed and not seen_at_head and reply.number > 1

    def _reread(self, reply: _Reply) -> TaskPage | None:
        """Read the page before again, once, to pick up a task the shift moved onto it."""
        before = self._fetch(reply.number - 1, reply.size)
        head = before.data[0].task_id if before.data else None
        resolved = before.count == reply.count and head in self.seen
        page = self._take(before, reread=True)
        if resolved:
            log.info(
                "%s: re-read after the shift found %d more tasks",
                self._what(before.number),
                len(page.tasks),
            )
        else:
            self.walk.unresolved_shifts += 1
            log.warning(
                "%s: the list kept shifting under the walk; a task may have been missed, "
                "so this walk does not count as complete",
                self._what(before.number),
            )
        return page

    def _take(self, reply: _Reply, reread: bool = False) -> TaskPage:
        fresh = []
        for doc in reply.data:
            if doc.task_id is None:
                if not reread:
                    self.idless += 1
                    fresh.append(doc)
                continue
            if doc.task_id not in self.seen:
                self.seen.add(doc.task_id)
                fresh.append(doc)
        return TaskPage(reply.number, reply.size, reply.count, fresh, len(reply.data), reread)

    def _end(self, why: str, complete: bool = True) -> None:
        walk = self.walk
        walk.ended_by = why
        distinct, last = len(self.seen) + self.idless, self.counts[-1]
        moved = max(self.counts) - min(self.counts)  # created or deleted during the walk
        if abs(distinct - last) > moved:
            walk.count_mismatch = True
            log.warning(
                "%s: %d distinct tasks seen but the server counts %d; "
                "this walk does not count as complete",
                self.what,
                distinct,
                last,
            )
        walk.distinct_seen, walk.last_count = distinct, last
        walk.complete = complete and not walk.count_mismatch and not walk.unresolved_shifts

    def _what(self, number: int) -> str:
        return f"{self.what} page {number}"


def _as_count(value: Any, fallback: int) -> int:
    return value if isinstance(value, int) and value >= 0 else fallback
