"""Local faults around a command: unwritable output paths, a port in use, a reader that
leaves, credentials in URLs. One line and exit 2 (never a traceback), secrets never shown."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select

from tests.cli.one_line import NO_ENV, assert_one_line, invoke
from tests.helpers import cli_env
from unpod_etl.cli.main import main
from unpod_etl.warehouse.schema import sync_runs

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
