"""`utc_day(ts)`: the UTC calendar day of a timestamp, in the SQL of each warehouse dialect.

The views compute `call_day` the same way (migration 0003's `_day`); the report needs it for
an expression of its own (a call's start, else its task's creation).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class utc_day(FunctionElement[Any]):  # noqa: N801 - an SQL function, named like one
    type = Date()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day)
def _sqlite_day(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite stores UTC wall time as text: its date() is the UTC day.
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _postgresql_day(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # timestamptz -> UTC wall time first, whatever the session's TimeZone.
    return f"CAST(timezone('UTC', {compiler.process(element.clauses, **kw)}) AS date)"
