"""Which PostgreSQL schema an engine or connection was scoped to (see namespace.py). Apart
from namespace.py, which builds engines, so the locks can ask without importing db.py."""

from __future__ import annotations

from sqlalchemy import Connection, Engine


def schema_of(bind: Engine | Connection) -> str | None:
    """The schema `bind` was scoped to by in_schema(), or None for the default."""
    mapping = bind.get_execution_options().get("schema_translate_map") or {}
    return mapping.get(None)
