"""Database engine and schema migrations (Alembic, run programmatically)."""

from __future__ import annotations

import contextlib
import math
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from unpod_etl.core.errors import AbortError, ConfigError
from unpod_etl.warehouse import db_errors

if TYPE_CHECKING:
    from alembic.config import Config

SUPPORTED = ("postgresql", "sqlite")
# The newest migration. Every sync starts by making sure the schema is there; when it already
# is, one query settles it and Alembic is not even imported (a tenth of a second per run).
# tests/test_migrations.py keeps this equal to Alembic's head.
SCHEMA_HEAD = "0013"


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick psycopg 3."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError(f"not a database URL: {_masked(url)}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite" and (parsed.username or parsed.password or parsed.host):
        raise ConfigError(
            f"not a SQLite URL: {_masked(url)} (a file is sqlite:///relative.db or "
            "sqlite:////absolute/path.db, with no user, password or host)"
        )
    if parsed.drivername in ("postgres", "postgresql"):  # no driver named: psycopg 3
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in SUPPORTED:
        raise ConfigError(f"unsupported database {backend!r}: use postgresql:// or sqlite:///")
    return parsed.render_as_string(hide_password=False)


APP_NAME = "unpod-etl"


@dataclass(frozen=True)
class ConnectionSettings:
    """Bounds on waiting for the database, applied to every connection an engine makes.

    connect_timeout: seconds to establish a connection (libpq's connect_timeout, at least 2);
    lock_timeout: seconds a statement waits for a lock another session holds (PostgreSQL
    lock_timeout; SQLite's busy timeout, for a database file another program locked).
    """

    connect_timeout: float = 10.0
    lock_timeout: float = 60.0


_defaults = ConnectionSettings()
# Engines made here, and the application_name their connections should carry.
_app_names: weakref.WeakKeyDictionary[Engine, list[str]] = weakref.WeakKeyDictionary()


def set_connection_defaults(**values: float) -> None:
    """The settings make_engine uses when none are given (the CLI's --*-timeout options)."""
    global _defaults
    _defaults = replace(_defaults, **values)


def connection_defaults() -> ConnectionSettings:
    return _defaults


def make_engine(url: str, pool_size: int = 5, settings: ConnectionSettings | None = None) -> Engine:
    full = normalize_url(url)
    s = settings or _defaults
    if full.startswith("sqlite"):  # SQLite's file engine has its own pool
        engine = create_engine(full, pool_pre_ping=True)
        _tune_sqlite(engine, s)
        return engine
    query = make_url(full).query
    options = str(query.get("options", ""))
    connect_args: dict[str, Any] = {
        "connect_timeout": max(2, math.ceil(s.connect_timeout)),
        # The user's own options (from the URL) come after ours, so theirs win.
        "options": f"-c lock_timeout={max(1, round(s.lock_timeout * 1000))} {options}".strip(),
    }
    if "application_name" not in query:
        connect_args["application_name"] = APP_NAME
    # pre-ping: a connection idle in the pool is checked before use, so a server restart
    # between two runs (schedule, a long-lived worker) costs one reconnect, not a failure.
    engine = create_engine(full, pool_pre_ping=True, pool_size=pool_size, connect_args=connect_args)
    if "application_name" not in query:
        _app_names[engine] = wanted = [APP_NAME]

        @event.listens_for(engine, "checkout")
        def _on_checkout(dbapi_conn, record, _proxy):  # type: ignore[no-untyped-def]
            # Once per connection and name: a pooled connection made before the run id was
            # known is renamed the first time it is used after.
            if record.info.get("unpod_app", APP_NAME) == wanted[0]:
                return
            try:
                with dbapi_conn.cursor() as cur:
                    cur.execute("SELECT set_config('application_name', %s, false)", (wanted[0],))
                dbapi_conn.commit()
            except Exception:  # noqa: BLE001 - a name is cosmetic; the caller's use reports
                with contextlib.suppress(Exception):  # a dead connection with its real cause
                    dbapi_conn.rollback()
                return
            record.info["unpod_app"] = wanted[0]

    return engine


def name_connections(engine: Engine, suffix: str) -> None:
    """Give this engine's connections application_name `unpod-etl <suffix>` (e.g. the run id),
    so an operator can tell them apart in pg_stat_activity and pg_terminate_backend one."""
    if engine in _app_names:
        _app_names[engine][0] = f"{APP_NAME} {suffix}"[:63]


def application_name(engine: Engine) -> str:
    """The application_name this engine's connections carry now."""
    return _app_names[engine][0] if engine in _app_names else APP_NAME


def _tune_sqlite(engine: Engine, settings: ConnectionSettings) -> None:
    busy_ms = max(1, round(settings.lock_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        # WAL lets `status` read while a sync writes; the busy timeout makes a writer wait
        # (at most --lock-timeout) for a file another program locked instead of failing.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


def migrations_dir() -> Path:
    """The Alembic scripts: inside the package when installed from a wheel, else the repo's."""
    package = Path(__file__).resolve().parent.parent  # unpod_etl/
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigError("the migration scripts are missing from this installation")


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def upgrade(engine: Engine, revision: str = "head", lock_wait: float | None = None) -> None:
    """Bring the schema up to `revision` (idempotent), one process at a time.

    The migration lock is held around Alembic; a process that waited for it finds the schema
    migrated by the other and Alembic has nothing left to do. `lock_wait`: seconds to wait for
    the lock (default migration_lock.WAIT_SECONDS), then AbortError.
    """
    if revision == "head" and _stamped_revision(engine) == SCHEMA_HEAD:
        return
    from alembic import command

    from unpod_etl.warehouse.migration_lock import WAIT_SECONDS, migrating_transaction

    cfg = _alembic_config()
    wait = WAIT_SECONDS if lock_wait is None else lock_wait

    def done() -> bool:
        return revision == "head" and _stamped_revision(engine) == SCHEMA_HEAD

    try:
        with migrating_transaction(engine, wait, done) as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise AbortError(f"migrating the schema: {describe_db_error(exc)}") from None


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise AbortError(describe_db_error(exc)) from None


def _stamped_revision(engine: Engine) -> str | None:
    """The revision recorded in alembic_version, read without Alembic."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError as exc:
        raise AbortError(describe_db_error(exc)) from None
    return rows[0] if len(rows) == 1 else None


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def describe_db_error(exc: SQLAlchemyError) -> str:
    """One line naming the cause (db_errors.py), without the SQL or parameters."""
    return db_errors.describe(exc)


def _masked(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable>"
