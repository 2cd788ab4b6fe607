"""Driving the real CLI in this process and asserting the one-line error contract."""

from __future__ import annotations

from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select

from unpod_etl.cli.main import main
from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.warehouse.schema import agents, sync_agent_results, sync_runs

NO_ENV = {
    "UNPOD_API_TOKEN": None,
    "UNPOD_ORG_HANDLE": None,
    "UNPOD_API_URL": None,
    "UNPOD_ETL_DATABASE_URL": None,
    "UNPOD_ETL_SCHEDULE": None,
}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=NO_ENV)


def assert_one_line(result: Result, code: int = 2) -> str:
    """The exit code, exactly one line on stderr, no traceback; returns that line."""
    assert result.exit_code == code, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (agents, sync_runs, sync_agent_results)
            }
    finally:
        engine.dispose()


def api_args(server_url: str, fake: FakeUnpod, *, org: bool = True) -> list[str]:
    return ["--api-url", server_url, "--token", fake.token, *(["--org", fake.org] if org else [])]
