"""A database URL that cannot be one is exit 2 and one line, for every command that opens
the warehouse, and the password in it is never printed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from unpod_etl.cli.main import main

BAD_URLS = [
    "postgresql://bob:s3cret-pw@host:notaport/x",  # a port that is not a number
    "postgresql://bob:s3cret-pw@[::1/x",  # an unclosed IPv6 host
    "sqlite://bob:s3cret-pw@/x.db",  # a SQLite URL with a user and password
]
COMMANDS = [
    ["sync", "--token", "t", "--org", "o"],
    ["status"],
    ["report"],
    ["check"],
    ["db", "current"],
]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize(
    "command", COMMANDS, ids=lambda c: c[0] if len(c) == 1 else " ".join(c[:2])
)
def test_a_bad_database_url_is_one_line(url, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, [*command, "--database-url", url], env={"UNPOD_ETL_CONFIG": None}
    )
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "s3cret-pw" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing created
