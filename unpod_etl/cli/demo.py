"""`unpod-etl demo`: the built-in fake API synced into a local database, no account needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unpod_etl.core import clock
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.results import RunResult
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.warehouse import queries


@dataclass
class DemoOutcome:
    result: RunResult
    examples: list[tuple[str, list[dict[str, Any]]]]
    database: str


def run_demo(database_url: str, agents: int = 4, tasks_per_agent: int = 40) -> DemoOutcome:
    # Data that ends today, so date filters in the example queries find something.
    newest = clock.naive_utc_now()
    fake = FakeUnpod(agents=agents, tasks_per_agent=tasks_per_agent, seed=1, newest=newest)
    with FakeServer(fake) as server:
        config = SyncConfig(server.url, fake.token, fake.org, database_url, page_size=25)
        runner = SyncRunner(config)  # the URL is the one source of the engine
        result = runner.run()
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
