"""Bad input is decided before any request or write: exit 2, one line on stderr, no traceback.

Each case drives the real CLI (click's runner in this process) against the fake API, and
checks that the fake saw no request and the warehouse no row. Output paths, ports and
credentials in URLs are in test_output_paths.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text

from tests.cli.one_line import api_args, assert_one_line, invoke, row_counts
from unpod_etl.core.errors import ConfigError
from unpod_etl.core.handles import HANDLE_MAX, check_handle
from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.pipeline.schedule import parse_cron
from unpod_etl.warehouse.schema import agents, sync_agent_results

# -- agent handles -------------------------------------------------------------------------

BAD_HANDLES = ["", "../x", "sales agent", "x\ny", "a" * 300, "x/y", "a..b", ".hidden", "x\t"]


@pytest.mark.parametrize("handle", BAD_HANDLES, ids=repr)
def test_bad_agent_handle_is_exit_2_before_any_request_or_write(fake, fake_server, pg_url, handle):
    result = invoke("sync", *api_args(fake_server.url, fake), "--database-url", pg_url,
                    "--agent", fake.unpublished_handles()[0], "--agent", handle)  # fmt: skip
    line = assert_one_line(result)
    assert line.startswith("error: agent handle ")
    assert repr(handle[:20]).rstrip("'") in line  # the line names the handle
    assert fake.access.requests == []
    assert row_counts(pg_url) == {"agents": 0, "sync_runs": 0, "sync_agent_results": 0}


def test_bad_agent_handle_creates_no_sqlite_file(fake, fake_server, tmp_path):
    db_file = tmp_path / "w.db"
    result = invoke("sync", *api_args(fake_server.url, fake), "--database-url",
                    f"sqlite:///{db_file}", "--agent", "../x")  # fmt: skip
    assert_one_line(result)
    assert not db_file.exists()
    assert fake.access.requests == []


def test_schedule_refuses_a_bad_handle_at_start(fake, fake_server, tmp_path):
    db_file = tmp_path / "w.db"
    result = invoke("schedule", *api_args(fake_server.url, fake), "--database-url",
                    f"sqlite:///{db_file}", "--agent", "sales agent")  # fmt: skip
    assert "'sales agent'" in assert_one_line(result)
    assert fake.access.requests == []
    assert not db_file.exists()


def test_handle_rule_takes_every_handle_the_fake_makes_and_no_more() -> None:
    fake = FakeUnpod(agents=12, seed=3)
    for handle in fake.published_handles() + fake.unpublished_handles():
        assert check_handle(handle) == handle
    for good in ["a", "calm-assistant-1", "Sales_Bot.v2", "x" * HANDLE_MAX]:
        assert check_handle(good) == good
    for bad in [*BAD_HANDLES, "x" * (HANDLE_MAX + 1), "-x", "agent\n", "ag\u00e9nt", "a?b", "a#b"]:
        with pytest.raises(ConfigError):
            check_handle(bad)


def test_a_handle_the_api_does_not_know_fails_and_leaves_no_agents_row(fake, fake_server, pg_url):
    known = fake.unpublished_handles()[0]
    refused = fake.published_handles()[0]
    fake.access.refuse(refused, 404)
    result = invoke("sync", *api_args(fake_server.url, fake), "--database-url", pg_url,
                    "--agent", "no-such-agent", "--agent", refused, "--agent", known)  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        stored = conn.execute(select(agents.c.handle, agents.c.published)).all()
        outcomes = dict(
            conn.execute(
                select(sync_agent_results.c.agent_handle, sync_agent_results.c.outcome)
            ).all()
        )
        errors = conn.execute(text("SELECT error FROM sync_agent_results")).scalars().all()
    engine.dispose()
    assert stored == [(known, False)]  # the named agent the API answered for, and only it
    assert outcomes == {"no-such-agent": "failed", refused: "failed", known: "ok"}
    assert sum("404" in (e or "") for e in errors) == 2


# -- token and org -------------------------------------------------------------------------


def test_token_with_a_trailing_newline_is_stripped(fake, fake_server, sqlite_url):
    args = ["--api-url", fake_server.url, "--token", f"  {fake.token}\n", "--org", fake.org]
    result = invoke("sync", *args, "--database-url", sqlite_url)
    assert result.exit_code == 0, result.output
    sent = {r.headers.get("Authorization") for r in fake.access.requests}
    assert sent == {f"Token {fake.token}"}


@pytest.mark.parametrize(
    "token", ["fake-token\u20ac", "fake\ntoken", "fake\x00token", "tok\u00e9\u4e2d"], ids=repr
)
def test_token_a_header_cannot_carry_is_exit_2_and_never_echoed(fake, fake_server, tmp_path, token):
    db_file = tmp_path / "w.db"
    for command in ("sync", "agents"):
        args = ["--api-url", fake_server.url, "--token", token, "--org", fake.org]
        if command == "sync":
            args += ["--database-url", f"sqlite:///{db_file}"]
        line = assert_one_line(invoke(command, *args))
        assert "cannot carry" in line
        assert "token" in line and "fake" not in line and token not in line
    assert fake.access.requests == []
    assert not db_file.exists()


@pytest.mark.parametrize("command", ["sync", "agents", "schedule"])
def test_no_org_and_no_agent_is_exit_2_before_any_request(fake, fake_server, tmp_path, command):
    db_file = tmp_path / "w.db"
    args = api_args(fake_server.url, fake, org=False)
    if command != "agents":
        args += ["--database-url", f"sqlite:///{db_file}"]
    line = assert_one_line(invoke(command, *args))
    assert "UNPOD_ORG_HANDLE" in line
    assert fake.access.requests == []
    assert not db_file.exists()


# -- schedule --cron -----------------------------------------------------------------------

BAD_CRONS = [
    "* * * * * *",  # seconds: a sync every second
    "0 2 * * * 2027",  # a year field
    "0 2 30 2 *",  # never fires: February has no 30th
    "0 0 31 4 *",  # never fires: April has 30 days
    "0 2 L * *",
    "0 2 * * 1#2",
    "0 2 ? * *",
    "@daily",
    "",
    "61 2 * * *",
    "every night at two",
]


@pytest.mark.parametrize("cron", BAD_CRONS, ids=repr)
def test_bad_cron_is_exit_2_at_start(fake, fake_server, tmp_path, cron):
    db_file = tmp_path / "w.db"
    result = invoke("schedule", "--cron", cron, *api_args(fake_server.url, fake),
                    "--database-url", f"sqlite:///{db_file}")  # fmt: skip
    line = assert_one_line(result)
    assert "cron expression" in line
    assert fake.access.requests == []
    assert not db_file.exists()


def test_never_firing_cron_is_named_as_such() -> None:
    with pytest.raises(ConfigError, match="never fires"):
        parse_cron("0 2 30 2 *")


@pytest.mark.parametrize(
    "cron", ["0 2 * * *", "*/15 * * * *", "0 2 * jan,jul mon-fri", "0 0 29 2 *", "5 4 * * 7"]
)
def test_standard_five_field_crons_are_taken(cron: str) -> None:
    assert parse_cron(f"  {cron} ") == cron


def test_verify_refuses_a_bad_handle_before_any_request(fake, fake_server, pg_url):
    result = invoke("verify", *api_args(fake_server.url, fake), "--database-url", pg_url,
                    "--agent", "../x")  # fmt: skip
    assert "'../x'" in assert_one_line(result)
    assert fake.access.requests == []
