"""A run's one way to the database: each call its own committed transaction, holding the
run's locks, and every database fault turned into the error the run acts on.

Kept apart from sync.py (which decides the order of things) because it is all about one
question: may this run still write, and if not, why (locks.py, db_faults.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from unpod_etl.core.errors import AbortError
from unpod_etl.core.outcomes import RunOutcome
from unpod_etl.pipeline.agent_sync import utcnow
from unpod_etl.pipeline.db_faults import explain
from unpod_etl.pipeline.results import RunResult
from unpod_etl.warehouse import db_errors, liveness, load
from unpod_etl.warehouse.locks import LockLost, NamedLock, assert_held


class RunDb:
    def __init__(self, engine: Engine, lock_timeout: float, aborting: threading.Event) -> None:
        self.engine, self.lock_timeout, self.aborting = engine, lock_timeout, aborting
        self.guards: list[NamedLock] = []  # the run's locks every write checks (locks.py)
        self.cause: str | None = None  # the first fault: every later refusal repeats it
        self._cause_lock = threading.Lock()
        # PEP 249's base class of the driver's errors: raised by code that uses the raw
        # connection (the COPY path), unwrapped by SQLAlchemy.
        self._driver_error: type[Exception] = getattr(
            engine.dialect.loaded_dbapi, "Error", SQLAlchemyError
        )

    def __call__(self, fn: Callable[[Connection], Any], agent_lock: NamedLock | None = None) -> Any:
        """Run fn in its own committed transaction, holding the run's locks.

        A database failure aborts the run, except a table lock outside the run's own
        bookkeeping tables outlasting --lock-timeout in an agent's write, which fails that
        agent only.
        """
        if self.aborting.is_set():  # another agent lost the database: stop here too
            raise AbortError(self.cause or "run aborted")
        guards = [*self.guards, agent_lock] if agent_lock is not None else self.guards
        try:
            with self.engine.begin() as conn:
                assert_held(conn, [g for g in guards if g.held])
                return fn(conn)
        except LockLost as exc:
            self.abort(exc)
            raise
        except (SQLAlchemyError, self._driver_error) as exc:  # COPY runs on the raw driver
            error = explain(self.engine, exc, self.lock_timeout)
            if agent_lock is None or isinstance(error, AbortError):
                self.abort(error)
                raise (error if isinstance(error, AbortError) else AbortError(str(error))) from None
            raise error from None

    def abort(self, cause: Exception) -> None:
        """Stop every agent; the first cause is the one every later refusal repeats."""
        with self._cause_lock:
            if not self.aborting.is_set():
                self.cause = str(cause)
                self.aborting.set()

    def try_lock(self, lock: NamedLock) -> bool:
        try:
            return lock.try_acquire()
        except SQLAlchemyError as exc:
            raise AbortError(db_errors.describe(exc)) from None

    @contextmanager
    def hold(self, lock: NamedLock, busy: str) -> Iterator[None]:
        if not self.try_lock(lock):
            raise AbortError(f"{busy}: a sync is already running against this database")
        try:
            yield
        finally:
            lock.release()  # never raises: the error that ended the run stays the one shown

    def record_end(self, result: RunResult) -> None:
        def values() -> dict[str, Any]:
            return {
                **result.totals(),
                "finished_at": utcnow(),
                "outcome": result.outcome,
                "error": result.error,
            }

        if result.outcome is not RunOutcome.ABORTED:
            try:
                self(lambda c: load.finish_run(c, result.run_id or 0, values()))
                return
            except AbortError as exc:  # the lock or the database went at the last moment
                result.outcome, result.error = RunOutcome.ABORTED, str(exc)
        # Unguarded: the run may have lost its lock, which is why it ends; only its own row,
        # and only while still `running` (another sync may have recorded it as died).
        try:
            with self.engine.begin() as conn:
                liveness.record_abort(conn, result.run_id or 0, values())
        except SQLAlchemyError:
            result.error = (
                f"{result.error}; the run could not be recorded as aborted (the next sync "
                "records it as died)"
            )
