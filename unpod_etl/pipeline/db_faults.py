"""A database error met during a run, as the error the run acts on.

Most faults end the run (AbortError: the database is gone, read-only, out of space, a
statement_timeout). A table lock held by someone else past --lock-timeout fails only the
agent whose write waited, unless the lock is on the run's own bookkeeping (sync_runs,
sync_agent_results): then the run cannot record itself and ends too.
"""

from __future__ import annotations

from sqlalchemy import Engine

from unpod_etl.core.errors import AbortError, EtlError
from unpod_etl.warehouse import db_errors, waits
from unpod_etl.warehouse.db import application_name
from unpod_etl.warehouse.schema import metadata, sync_agent_results, sync_runs

RUN_TABLES = frozenset({sync_runs.name, sync_agent_results.name})


class TableLocked(EtlError):
    """An agent's write waited --lock-timeout for a lock another session holds."""


def explain(engine: Engine, exc: Exception, lock_timeout: float) -> EtlError:
    fault = db_errors.classify(exc)
    if fault.kind is db_errors.Fault.LOCK_TIMEOUT and engine.dialect.name == "postgresql":
        found = waits.blockers(engine, metadata.tables.keys())
        if found and not any(b.table in RUN_TABLES for b in found):
            return TableLocked(waits.lock_wait_message(found, lock_timeout))
        # On the run's own tables, or a row lock we cannot place: the run cannot go on safely.
        found = found or waits.open_transactions(engine, application_name(engine))
        return AbortError(waits.lock_wait_message(found, lock_timeout))
    if fault.kind is db_errors.Fault.STATEMENT_TIMEOUT:
        value = waits.statement_timeout(engine)
        setting = f" (statement_timeout = {value})" if value else ""
        return AbortError(f"{fault.message()}{setting}")
    return AbortError(fault.message())
