"""Start-up: a command that does little loads only what it needs (checked in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from tests.helpers import cli_env, sync_in_process
from unpod_etl.cli.main import LAZY_COMMANDS, main

# Runs the real CLI entry point in a fresh interpreter, then prints the modules it loaded.
PROBE = """
import json, sys
sys.argv = ["unpod-etl", *sys.argv[1:]]
from unpod_etl.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""
HEAVY = ("sqlalchemy", "requests", "tqdm", "alembic", "psycopg", "croniter", "msgspec")
NOT_FOR_STATUS = (
    "requests",
    "tqdm",
    "unpod_etl.fakeapi",
    "unpod_etl.report",
    "unpod_etl.pipeline.sync",
    # the HTTP side; the option vocabulary (source.auth_answers: plain constants) may load
    "unpod_etl.source.client",
    "unpod_etl.source.paging",
    "unpod_etl.source.rawjson",
)


def _loaded(*args: str) -> tuple[int, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def _under(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


@pytest.mark.parametrize("args", [("--help",), ("status", "--help"), ("sync", "--help")])
def test_help_loads_no_database_or_http_library(args: tuple[str, ...]) -> None:
    code, modules = _loaded(*args)
    assert code == 0
    assert _under(modules, HEAVY) == []
    assert _under(modules, ("unpod_etl.fakeapi", "unpod_etl.report", "unpod_etl.pipeline")) == []


def test_status_loads_the_database_library_only(tmp_path, fake, fake_server) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    sync_in_process(fake_server, fake, url)
    code, modules = _loaded("status", "--database-url", url)
    assert code == 0
    assert "sqlalchemy" in modules
    assert _under(modules, NOT_FOR_STATUS) == []


@pytest.mark.parametrize("limit", [45, 200])
def test_lazy_commands_list_the_help_of_the_loaded_command(limit: int) -> None:
    ctx = click.Context(main)
    for name, (_, short_help) in LAZY_COMMANDS.items():
        loaded = main.get_command(ctx, name)
        assert loaded is not None
        stand_in = click.Command(name, help=short_help)
        assert stand_in.get_short_help_str(limit) == loaded.get_short_help_str(limit)
