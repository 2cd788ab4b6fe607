"""Stopping a sync cleanly when asked to (SIGINT, SIGTERM): the stop token.

The CLI's signal handler calls `StopToken.request`. From then on no new page or agent
starts; a page being written commits (its transaction is short) and a page being fetched is
abandoned: the HTTP read may take a minute on a slow API, and nothing of it has reached the
database yet. The run is then recorded as `interrupted` with the counts of what landed.

How a fetch is abandoned: Python runs signal handlers in the main thread, between bytecodes
or when a blocking read is interrupted (EINTR). While the main thread waits on the network
(`abandonable()`), the handler raises Interrupted right there. Everywhere else it only sets
the flag, so a database transaction is never cut by an exception; the code checks the flag
at its safe points (`check()`, `writing()`). Workers in other threads stop between pages; the
main thread, waiting on them in an abandonable region, records the run without waiting for
their network reads (the CLI then exits without joining them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long an interrupted run waits for the pages being written to commit before it records
# the run anyway; a page write takes well under a second.
WRITE_GRACE_SECONDS = 3.0


class Interrupted(BaseException):  # noqa: N818 - a signal, like KeyboardInterrupt
    """Leave the sync at a safe point: a stop was requested. A BaseException, as
    KeyboardInterrupt is, so no `except Exception` on the way (retries, HTTP libraries)
    swallows it."""


class StopToken:
    """Set once a stop is requested; tells the sync where it may stop.

    `request` is called from signal handlers: it takes no lock (a handler may run while the
    main thread holds one) and only raises when the main thread waits on the network.
    """

    def __init__(self) -> None:
        self.signum: int | None = None  # the first signal that asked to stop
        self._requested = False
        self._abandon_here = False  # the main thread waits on the network right now
        self._writes = 0  # page transactions under way, in any thread
        self._cond = threading.Condition()

    def is_set(self) -> bool:
        return self._requested

    def request(self, signum: int | None = None) -> None:
        """Ask the run to stop; in a signal handler, abandons a network wait of the main
        thread by raising Interrupted."""
        if self.signum is None:
            self.signum = signum
        self._requested = True
        if self._abandon_here and threading.current_thread() is threading.main_thread():
            self._abandon_here = False  # raise once: the code that follows records the end
            raise Interrupted

    def check(self) -> None:
        """A safe point: raise Interrupted if a stop was requested."""
        if self._requested:
            raise Interrupted

    @contextmanager
    def abandonable(self) -> Iterator[None]:
        """Around a wait that may be given up at any moment (an HTTP request, waiting on
        worker threads): nothing in it writes to the database."""
        self.check()
        main = threading.current_thread() is threading.main_thread()
        try:
            if main:
                self._abandon_here = True
            self.check()  # a request that came between the first check and the flag
            yield
        finally:
            if main:
                self._abandon_here = False

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around a page's transaction: refused (Interrupted) once a stop was requested, and
        counted, so the run's end waits for the writes under way (wait_idle)."""
        with self._cond:
            if self._requested:
                raise Interrupted
            self._writes += 1
        try:
            yield
        finally:
            with self._cond:
                self._writes -= 1
                self._cond.notify_all()

    def wait_idle(self, timeout: float = WRITE_GRACE_SECONDS) -> bool:
        """Wait for the page transactions under way to end; no new one starts once a stop
        was requested. False if some were still running after `timeout` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._writes == 0, timeout)


def run_all(
    fn: Callable[[T], Any],
    items: Sequence[T],
    workers: int,
    stop: StopToken,
    on_interrupt: Callable[[], None],
) -> None:
    """Call fn on every item, `workers` at a time, until a stop is requested (Interrupted).

    With one worker the calls run in this thread, stopping between items. With more, the
    calling thread only waits, abandonably: on a stop it waits for the page writes under
    way, calls `on_interrupt` (record what the workers could not) and raises, leaving the
    workers still in a network read behind.
    """
    if workers == 1:
        for item in items:
            fn(item)
            stop.check()
        return
    pool = ThreadPoolExecutor(workers, "agent")
    try:
        with stop.abandonable():  # a signal leaves the wait at once
            list(pool.map(fn, items))
    except Interrupted:
        pool.shutdown(wait=False, cancel_futures=True)
        if not stop.wait_idle():
            log.warning("page writes still under way; recording the interrupted run anyway")
        on_interrupt()
        raise
    except BaseException:
        # An agent aborted the run: the others stop at their next write (the run refuses it),
        # and the run's end is recorded only once none of them can still write.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
