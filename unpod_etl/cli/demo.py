"""`unpod-etl demo`: the built-in fake API synced into a database of its own, no account needed.

The demo never writes where `sync` does: its default is a file of its own, and
UNPOD_ETL_DATABASE_URL is not read (a user who set it for the real warehouse must not find
120 fake tasks mixed into it). A database named with --database-url must hold demo data only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from unpod_etl.core.errors import AbortError, ConfigError
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.results import RunResult
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.warehouse import queries
from unpod_etl.warehouse.db import describe_db_error

DEMO_DATABASE_URL = "sqlite:///unpod_etl_demo.db"
# The fake server binds a free loopback port, so its URL changes from run to run: data
# synced from any loopback address counts as the demo's own (or a local `fake-api`'s).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class DemoOutcome:
    result: RunResult
    examples: list[tuple[str, list[dict[str, Any]]]]
    database: str


def demo_newest(now: datetime | None = None) -> datetime:
    """The creation time of the newest fake task: the start of today (naive UTC).

    Data that ends today, so the example queries' date filters find something; rounded to
    the day, so a second demo on the same day is served the same bytes and reads "unchanged".
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return datetime.combine(moment.date(), time.min)


def foreign_api_urls(api_urls: set[str]) -> list[str]:
    """The URLs among `api_urls` that are not a local fake API, sorted."""
    return sorted(url for url in api_urls if urlsplit(url).hostname not in LOOPBACK_HOSTS)


def _refuse_foreign_data(engine: Engine) -> None:
    """Before any write: a warehouse synced from another API is no place for fake tasks."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            foreign = foreign_api_urls(queries.synced_api_urls(conn))
    except SQLAlchemyError as exc:  # unreachable, unreadable: as `sync` says it (exit 3)
        raise AbortError(f"cannot read the database {where}: {describe_db_error(exc)}") from None
    if foreign:
        raise ConfigError(
            f"{where} holds data synced from {', '.join(foreign)}: the demo only writes to "
            "a database of its own (omit --database-url)"
        )


def run_demo(
    database_url: str | None = None,
    *,
    now: datetime | None = None,
    agents: int = 4,
    tasks_per_agent: int = 40,
) -> DemoOutcome:
    url = database_url or DEMO_DATABASE_URL
    fake = FakeUnpod(
        agents=agents, tasks_per_agent=tasks_per_agent, seed=1, newest=demo_newest(now)
    )
    with FakeServer(fake) as server:
        config = SyncConfig(server.url, fake.token, fake.org, url, page_size=25)
        runner = SyncRunner(config)  # the URL is the one source of the engine
        try:
            _refuse_foreign_data(runner.engine)
            result = runner.run()
        except BaseException:
            runner.engine.dispose()
            raise
    engine = runner.engine
    try:
        with engine.connect() as conn:
            examples = [
                ("tasks by agent and status", queries.tasks_by_status(conn)),
                ("calls by agent and post-call outcome", queries.call_outcomes(conn)),
            ]
        return DemoOutcome(result, examples, engine.url.render_as_string(hide_password=True))
    finally:
        engine.dispose()
