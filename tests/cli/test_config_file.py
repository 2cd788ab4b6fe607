"""`--config` / UNPOD_ETL_CONFIG: options from a TOML file, below the command line and the
environment, above the defaults; unknown keys are a usage error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import sync_in_process
from unpod_etl.cli.main import main


def invoke(args: list[str], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    # UNPOD_* variables of the developer's shell must not leak in.
    clean = {"UNPOD_ETL_DATABASE_URL": None, "UNPOD_ETL_CONFIG": None, "UNPOD_API_TOKEN": None}
    return CliRunner().invoke(main, args, env={**clean, **(env or {})})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "unpod-etl.toml"
    path.write_text(text, encoding="utf-8")
    return path


def named_database(proc) -> str:  # type: ignore[no-untyped-def]
    """Which SQLite path `check` tried (none of them exist, so it says which)."""
    assert proc.exit_code == 2, proc.output
    prefix = "error: no SQLite warehouse at "
    assert proc.stderr.startswith(prefix), proc.stderr
    return Path(proc.stderr[len(prefix) :].strip()).name


def test_precedence_command_line_then_environment_then_file_then_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path, f'[check]\ndatabase_url = "sqlite:///{tmp_path}/from-file.db"\n')
    env_url = f"sqlite:///{tmp_path}/from-env.db"
    cli_url = f"sqlite:///{tmp_path}/from-cli.db"

    assert named_database(invoke(["check"])) == "unpod_etl.db"  # the built-in default
    assert named_database(invoke(["--config", str(config), "check"])) == "from-file.db"
    with_env = {"UNPOD_ETL_DATABASE_URL": env_url, "UNPOD_ETL_CONFIG": str(config)}
    assert named_database(invoke(["check"], env=with_env)) == "from-env.db"
    both = invoke(["check", "--database-url", cli_url], env=with_env)
    assert named_database(both) == "from-cli.db"


def test_top_level_keys_apply_to_every_command_and_tables_win(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write(
        tmp_path,
        f'database_url = "sqlite:///{tmp_path}/shared.db"\n[check]\n"max-age" = "2d"\n',
    )
    assert named_database(invoke(["--config", str(config), "check"])) == "shared.db"
    config = write(
        tmp_path,
        f'database_url = "sqlite:///{tmp_path}/shared.db"\n'
        f'[check]\ndatabase_url = "sqlite:///{tmp_path}/own.db"\n',
    )
    assert named_database(invoke(["--config", str(config), "check"])) == "own.db"


def test_file_thresholds_and_the_command_line_over_them(fake, fake_server, sqlite_url, tmp_path):
    handle = fake.published_handles()[0]
    fake.add_task(handle, task_id=None)  # one unresolved rejection
    assert sync_in_process(fake_server, fake, sqlite_url).outcome == "ok"
    config = write(tmp_path, f'database_url = "{sqlite_url}"\n[check]\nmax_rejected = 1\n')
    assert invoke(["--config", str(config), "check"]).exit_code == 0
    assert invoke(["--config", str(config), "check", "--max-rejected", "0"]).exit_code == 1


def test_sync_entirely_from_a_file_with_the_token_from_a_named_variable(
    fake, fake_server, sqlite_url, tmp_path
):
    config = write(
        tmp_path,
        f'api_url = "{fake_server.url}"\norg = "{fake.org}"\ndatabase_url = "{sqlite_url}"\n'
        '[sync]\ntoken_env = "MY_UNPOD_TOKEN"\npage_size = 7\n'
        f'agent = ["{fake.published_handles()[0]}"]\n',
    )
    proc = invoke(["--config", str(config), "sync"], env={"MY_UNPOD_TOKEN": fake.token})
    assert proc.exit_code == 0, proc.output
    assert fake.published_handles()[0] in proc.stdout
    assert fake.published_handles()[1] not in proc.stdout  # `agent` came from the file
    assert fake.token not in proc.output
    sizes = {int(r.query["page_size"]) for r in fake.access.requests if "page_size" in r.query}
    assert sizes == {7}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("max_agee = '2d'\n", "unknown key 'max_agee'"),
        ("[check]\npage_size = 3\n", "unknown key [check] 'page_size'"),
        ("[sink]\nworkers = 2\n", "unknown table [sink]"),
        ("[sync]\ntoken_env = 'UNSET_VARIABLE_FOR_TEST'\n", "UNSET_VARIABLE_FOR_TEST is not set"),
        ("[sync\n", "not valid TOML"),
    ],
)
def test_bad_files_exit_2_with_one_line(tmp_path, text, words):
    config = write(tmp_path, text)
    proc = invoke(["--config", str(config), "check"])
    assert proc.exit_code == 2
    assert words in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.output


def test_a_missing_config_file_exit_2(tmp_path):
    proc = invoke(["check"], env={"UNPOD_ETL_CONFIG": str(tmp_path / "absent.toml")})
    assert proc.exit_code == 2
    assert "cannot read the config file" in proc.stderr


def test_schedule_reads_its_table(tmp_path):
    config = write(tmp_path, '[schedule]\ncron = "not a cron"\ntoken = "t"\norg = "o"\n')
    proc = invoke(["--config", str(config), "schedule"])
    assert proc.exit_code == 2
    assert "not a cron" in proc.stderr


def test_the_documented_example_file_is_valid(tmp_path):
    example = Path(__file__).resolve().parents[2] / "docs" / "config.example.toml"
    env = {
        "UNPOD_API_TOKEN": "t",
        "WAREHOUSE_URL": f"sqlite:///{tmp_path}/example.db",
        "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/hook",
    }
    assert named_database(invoke(["--config", str(example), "check"], env=env)) == "example.db"
    # A bad value in the [sync] table shows up in sync: the table is read for it.
    bad = tmp_path / "bad.toml"
    bad.write_text(
        example.read_text().replace("max_delete_fraction = 0.2", "max_delete_fraction = 7")
    )
    proc = invoke(["--config", str(bad), "sync"], env=env)
    assert proc.exit_code == 2 and "max-delete-fraction" in proc.stderr


def test_group_options_and_a_single_agent_as_a_string(fake, fake_server, sqlite_url, tmp_path):
    handle = fake.published_handles()[0]
    config = write(
        tmp_path,
        f'log_format = "json"\napi_url = "{fake_server.url}"\norg = "{fake.org}"\n'
        f'database_url = "{sqlite_url}"\n[sync]\ntoken = "{fake.token}"\nagent = "{handle}"\n',
    )
    proc = invoke(["-v", "--config", str(config), "sync"])
    assert proc.exit_code == 0, proc.output
    assert handle in proc.stdout and fake.published_handles()[1] not in proc.stdout
    # The log lines on stderr are JSON objects: log_format came from the file.
    logged = [line for line in proc.stderr.splitlines() if line.strip()]
    assert logged and all(line.startswith("{") for line in logged)
