"""Bad input is decided before any request or write: exit 2, one line on stderr, no traceback.

Each case drives the real CLI (click's runner in this process, or a subprocess where the
command would otherwise serve forever) against the fake API, and checks that the fake saw
no request and the warehouse no row.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select, text

from tests.helpers import cli_env
from unpod_etl.cli.main import main
from unpod_etl.core.errors import ConfigError
from unpod_etl.core.handles import HANDLE_MAX, check_handle
from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.pipeline.schedule import parse_cron
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


# -- output paths --------------------------------------------------------------------------


def test_report_to_an_unwritable_path_is_exit_2_before_reading(tmp_path: Path) -> None:
    db_file = tmp_path / "w.db"
    (tmp_path / "file").write_text("x")
    bad = ["/proc/nope/r.html", "", "   ", str(tmp_path), str(tmp_path / "missing" / "r.html"),
           str(tmp_path / "file" / "r.html"), "x" * 5000, "a\x00b"]  # fmt: skip
    for out in bad:
        result = invoke("report", "--out", out, "--database-url", f"sqlite:///{db_file}")
        line = assert_one_line(result)
        assert line.startswith("error: "), out
    assert not db_file.exists()  # refused before the warehouse was opened


def test_report_write_failure_after_the_check_is_one_line(pg_url: str) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    result = invoke("report", "--out", "/dev/full", "--database-url", pg_url)
    assert "/dev/full" in assert_one_line(result)


def test_fake_api_on_a_port_in_use_is_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "unpod_etl", "fake-api", "--port", str(port)],
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert f"127.0.0.1:{port}" in proc.stderr


# -- credentials in URLs -------------------------------------------------------------------


def test_token_header_wins_over_url_and_netrc_credentials(
    fake, fake_server, sqlite_url, tmp_path, monkeypatch
):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login carol password netrcpw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    url = fake_server.url.replace("http://", "http://bob:s3cretpw@")
    result = CliRunner().invoke(
        main,
        [
            "-v",
            "sync",
            "--api-url",
            url,
            "--token",
            fake.token,
            "--org",
            fake.org,
            "--database-url",
            sqlite_url,
        ],  # fmt: skip
        env=NO_ENV,
    )
    assert result.exit_code == 0, result.output
    sent = {r.headers.get("Authorization") for r in fake.access.requests}
    assert sent == {f"Token {fake.token}"}  # never Basic from the URL or ~/.netrc
    assert "s3cretpw" not in result.output
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        stored = conn.execute(select(sync_runs.c.api_url)).scalars().all()
    engine.dispose()
    assert stored == [url.replace("s3cretpw", "***")]


def test_database_password_never_printed_by_db_commands() -> None:
    url = "postgresql://bob:s3cretpw@127.0.0.1:1/warehouse"  # nothing listens on port 1
    for args in (["db", "current"], ["db", "upgrade"], ["status"]):
        result = invoke(*args, "--database-url", url)
        assert result.exit_code in (2, 3), result.output
        assert "Traceback" not in result.output
        assert "s3cretpw" not in result.output


def test_file_errors_of_a_command_are_one_line_and_other_oserrors_keep_their_traceback(
    tmp_path: Path,
) -> None:
    import click

    from unpod_etl.cli.options import handle_errors

    @click.command()
    @click.argument("path")
    @handle_errors
    def write(path: str) -> None:
        if path == "socket":
            raise ConnectionResetError("not a file error: a bug to see whole")
        Path(path).write_text("x")  # what a future command might do without writable_file

    result = CliRunner().invoke(write, [str(tmp_path / "missing" / "out.txt")])
    assert "missing" in assert_one_line(result)
    result = CliRunner().invoke(write, [str(tmp_path)])
    assert "Is a directory" in assert_one_line(result)
    result = CliRunner().invoke(write, ["socket"])
    assert isinstance(result.exception, ConnectionResetError)  # not hidden behind exit 2


def test_a_reader_that_leaves_early_is_no_traceback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert invoke("db", "upgrade", "--database-url", url).exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "unpod_etl", "status", "--json", "--database-url", url],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # `unpod-etl status --json | head -0`: gone before the first line
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert stderr == ""


def test_verify_refuses_a_bad_handle_before_any_request(fake, fake_server, pg_url):
    result = invoke("verify", *api_args(fake_server.url, fake), "--database-url", pg_url,
                    "--agent", "../x")  # fmt: skip
    assert "'../x'" in assert_one_line(result)
    assert fake.access.requests == []
