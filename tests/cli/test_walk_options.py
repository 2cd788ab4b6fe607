"""The adaptive walk's options on the command line: bad values are exit 2 and one line
before any request or write; UNPOD_ETL_WALK and the config file set the mode; `schedule`
takes the same options (its configuration is checked at start)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.cli.one_line import NO_ENV
from unpod_etl.cli.main import main
from unpod_etl.fakeapi import FakeServer, FakeUnpod


@pytest.fixture
def fake() -> FakeUnpod:
    return FakeUnpod(agents=1, tasks_per_agent=20, seed=5, unpublished_agents=0)


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={**NO_ENV, **(env or {})})


def usage_error(result: Result) -> str:
    """Exit 2 and click's usage error: its `Error:` line, no traceback."""
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def sync_args(server: FakeServer, fake: FakeUnpod, url: str) -> list[str]:
    return ["sync", "--api-url", server.url, "--token", fake.token, "--org", fake.org,
            "--database-url", url, "--page-size", "5"]  # fmt: skip


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--walk", "sideways", "'sideways' is not one of 'auto', 'full'"),
        ("--settled-pages", "0", "--settled-pages"),
        ("--settle-window", "0h", "more than zero"),
        ("--watch-window", "a week", "is not a duration"),
        ("--full-walk-every", "-5h", "is not a duration"),
    ],
)
def test_bad_walk_values_are_one_line_and_write_nothing(
    fake: FakeUnpod, tmp_path: Path, option: str, value: str, says: str
) -> None:
    db = tmp_path / "w.db"
    with FakeServer(fake) as server:
        before = len(fake.access.requests)
        result = run(*sync_args(server, fake, f"sqlite:///{db}"), option, value)
        line = usage_error(result)
        assert says in line and option.lstrip("-").split("-")[0] in line
        assert len(fake.access.requests) == before  # nothing asked
    assert not db.exists()  # nothing written


def test_the_environment_and_the_config_file_set_the_mode(fake: FakeUnpod, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with FakeServer(fake) as server:
        first = run(*sync_args(server, fake, url))
        assert first.exit_code == 0 and "full (never)" in first.output, first.output
        auto = run(*sync_args(server, fake, url))
        assert auto.exit_code == 0 and "shallow" in auto.output, auto.output
        env = run(*sync_args(server, fake, url), env={"UNPOD_ETL_WALK": "full"})
        assert env.exit_code == 0 and "full (requested)" in env.output, env.output
        config = tmp_path / "etl.toml"
        config.write_text('[sync]\nwalk = "full"\nsettled_pages = 3\n')
        filed = run("--config", str(config), *sync_args(server, fake, url))
        assert filed.exit_code == 0 and "full (requested)" in filed.output, filed.output
        # The command line wins over the file.
        cli = run("--config", str(config), *sync_args(server, fake, url), "--walk", "auto")
        assert cli.exit_code == 0 and "shallow" in cli.output, cli.output


def test_schedule_checks_the_walk_options_at_start(fake: FakeUnpod, tmp_path: Path) -> None:
    with FakeServer(fake) as server:
        args = sync_args(server, fake, f"sqlite:///{tmp_path / 'w.db'}")[1:]
        result = run("schedule", "--cron", "0 2 * * *", *args, "--walk", "deep")
    assert "'deep' is not one of" in usage_error(result)
