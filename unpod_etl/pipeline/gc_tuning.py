"""Garbage-collector settings for the length of a sync run."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_gc() -> Iterator[None]:
    """Fewer cyclic-GC passes while pages are decoded: a run allocates millions of short-lived
    acyclic objects (freed by reference counting), and each gen-2 pass walks every live one.
    Measured on 100,000 unchanged tasks: about 6% of the run's time saved."""
    before = gc.get_threshold()
    gc.freeze()  # what start-up created (modules, the engine) is never garbage
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
