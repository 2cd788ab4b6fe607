"""Database engine and schema migrations (Alembic, run programmatically)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from unpod_etl.core.errors import AbortError, ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

SUPPORTED = ("postgresql", "sqlite")
# The newest migration. Every sync starts by making sure the schema is there; when it already
# is, one query settles it and Alembic is not even imported (a tenth of a second per run).
# tests/test_migrations.py keeps this equal to Alembic's head.
SCHEMA_HEAD = "0012"


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"not a database URL: {_masked(url)}") from None
    backend = parsed.get_backend_name()
    if parsed.drivername in ("postgres", "postgresql"):  # no driver named: psycopg 3
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in SUPPORTED:
        raise ConfigError(f"unsupported database {backend!r}: use postgresql:// or sqlite:///")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, pool_size: int = 5) -> Engine:
    full = normalize_url(url)
    # SQLite's file engine has its own pool; pool_size only applies to server databases.
    extra: dict[str, Any] = {} if full.startswith("sqlite") else {"pool_size": pool_size}
    engine = create_engine(full, pool_pre_ping=True, **extra)
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        # WAL lets `status` read while a sync writes; the busy timeout makes a second
        # writer wait instead of failing at once.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
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
        raise AbortError(f"database error while migrating: {describe_db_error(exc)}") from None


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise AbortError(f"database unreachable: {describe_db_error(exc)}") from None


def _stamped_revision(engine: Engine) -> str | None:
    """The revision recorded in alembic_version, read without Alembic."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError as exc:
        raise AbortError(f"database unreachable: {describe_db_error(exc)}") from None
    return rows[0] if len(rows) == 1 else None


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def describe_db_error(exc: SQLAlchemyError) -> str:
    """First line of the driver's message, without the SQL or parameters SQLAlchemy appends."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _masked(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable>"
