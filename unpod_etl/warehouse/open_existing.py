"""Open a warehouse that must already exist, for the read-only commands (status, report,
db current/history): connecting to a missing SQLite file would create an empty one, and a
mistyped path would then read as "no runs yet" instead of an error."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from unpod_etl.core.errors import ConfigError
from unpod_etl.warehouse.db import normalize_url
from unpod_etl.warehouse.namespace import DEFAULT_SCHEMA, engine_in_schema
from unpod_etl.warehouse.revisions import require_known_revision

MISSING = "no warehouse at {path}: run `unpod-etl sync` or `unpod-etl db upgrade` first"


def missing_sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names, when it does not exist (None otherwise, and for
    in-memory or `file:` URI databases, which SQLite opens by its own rules)."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database or ""
    if name in ("", ":memory:") or name.startswith("file:") or parsed.query.get("uri"):
        return None
    path = Path(name)
    return None if path.exists() else path


def open_existing(url: str, schema: str = DEFAULT_SCHEMA) -> Engine:
    """An engine on an existing warehouse whose schema revision this code knows.

    ConfigError (exit 2) when the SQLite file is missing, without creating it; AbortError
    (exit 3) when the database is stamped with a revision this code does not know.
    """
    missing = missing_sqlite_file(url)
    if missing is not None:
        raise ConfigError(MISSING.format(path=missing))
    engine = engine_in_schema(url, schema)
    require_known_revision(engine)
    return engine
