"""Signals for the CLI: SIGINT (Ctrl-C) and SIGTERM (cron, systemd, Kubernetes) stop a sync
cleanly through the pipeline's stop token (pipeline/interrupts.py); the run is recorded as
`interrupted` and the process exits 130 or 143, as a shell expects of a signalled process."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

from unpod_etl.pipeline.interrupts import StopToken

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)
Handler = Callable[[int, FrameType | None], None]


def stopping_handler(token: StopToken) -> Handler:
    """A handler that asks the run to stop (and abandons a network wait at once)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if token.is_set():
            log.warning("%s received: already stopping", name)
        else:
            log.warning("%s received: stopping the sync (pages written so far are kept)", name)
        token.request(signum)

    return handler


@contextmanager
def handling(handler: Handler) -> Iterator[None]:
    """Install `handler` for SIGINT and SIGTERM; the previous handlers come back on exit."""
    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def exit_with(code: int) -> NoReturn:
    """sys.exit, unless an interrupted run left worker threads in network reads: joining
    them at exit could take a minute, and what they hold was never going to be written."""
    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    if code < 128 or not any(not t.daemon for t in stuck):
        sys.exit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
