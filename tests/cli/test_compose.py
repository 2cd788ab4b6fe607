"""Dockerfile and docker-compose.yml, checked without a Docker engine.

The compose file is parsed with PyYAML, the Dockerfile line by line, and every `unpod-etl`
command line they contain is parsed by the real click CLI, so a renamed command or option
breaks this test rather than the container at 02:00.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from unpod_etl.cli.main import main
from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.pipeline.schedule import parse_cron

ROOT = Path(__file__).resolve().parents[2]
API_ENV = {"UNPOD_API_TOKEN", "UNPOD_ORG_HANDLE", "UNPOD_API_URL", "UNPOD_ETL_DATABASE_URL"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with VAR unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def resolve(args: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """Split an unpod-etl command line into (command path, command, its arguments)."""
    command: click.Command = main
    path: list[str] = []
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        # get_command, not .commands: `schedule` and `report` load on first use (cli/lazy.py)
        found = command.get_command(click.Context(command), name)
        assert found is not None, f"`unpod-etl {' '.join([*path, name])}` does not exist"
        command, path = found, [*path, name]
    return path, command, rest


def unpod_etl_command_lines(services: dict) -> dict[str, list[str]]:
    lines = {
        name: [interpolate(str(part)) for part in service["command"]]
        for name, service in services.items()
        if str(service.get("image", "")).startswith("unpod-etl")
    }
    cmd = next(args for word, args in dockerfile() if word == "CMD")
    lines["Dockerfile CMD"] = json.loads(cmd)
    return lines


def test_services_and_their_order(services):
    assert set(services) == {"postgres", "migrate", "etl", "webhook", "fake-api", "etl-demo"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["etl"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }
    assert services["etl-demo"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "fake-api": {"condition": "service_healthy"},
    }
    assert services["migrate"]["restart"] == "no"  # a one-shot job
    assert services["etl"]["restart"] == "on-failure:3"  # config errors must not loop forever


def test_postgres_has_a_healthcheck_and_a_volume(compose, services):
    postgres = services["postgres"]
    assert postgres["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "pg_isready -U etl -d warehouse" in postgres["healthcheck"]["test"][1]
    assert postgres["volumes"] == ["warehouse:/var/lib/postgresql/data"]
    assert "warehouse" in compose["volumes"]
    assert postgres["ports"][0].startswith("127.0.0.1:")  # not published to the network


def test_commands(services):
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["etl"]["command"] == ["schedule", "--cron", "${UNPOD_ETL_SCHEDULE:-0 2 * * *}"]
    assert services["fake-api"]["command"] == [
        "fake-api", "--port", "8765", "--host", "0.0.0.0",  # noqa: S104 - inside a container
    ]  # fmt: skip
    assert services["etl-demo"]["command"][:3] == ["schedule", "--cron", "*/5 * * * *"]


def test_environment(services):
    etl_env = services["etl"]["environment"]
    assert set(etl_env) == API_ENV
    assert etl_env["UNPOD_API_TOKEN"] == "${UNPOD_API_TOKEN:-}"  # from .env, never in the file
    assert "@postgres:5432/warehouse" in etl_env["UNPOD_ETL_DATABASE_URL"]
    assert set(services["migrate"]["environment"]) == {"UNPOD_ETL_DATABASE_URL"}
    demo_env = services["etl-demo"]["environment"]
    fake = FakeUnpod()
    assert set(demo_env) == API_ENV
    assert demo_env["UNPOD_API_URL"] == "http://fake-api:8765"
    assert (demo_env["UNPOD_API_TOKEN"], demo_env["UNPOD_ORG_HANDLE"]) == (fake.token, fake.org)
    assert demo_env["UNPOD_ETL_DATABASE_URL"] == etl_env["UNPOD_ETL_DATABASE_URL"]


def test_demo_services_only_in_the_demo_profile(services):
    assert services["fake-api"]["profiles"] == ["demo"]
    assert services["etl-demo"]["profiles"] == ["demo"]
    for name in ("postgres", "migrate", "etl"):
        assert "profiles" not in services[name]


def test_cron_expressions_are_valid(services):
    for name in ("etl", "etl-demo"):
        cron = interpolate(services[name]["command"][2])
        assert parse_cron(cron) == cron


def test_every_command_line_parses_with_the_real_cli(services):
    lines = unpod_etl_command_lines(services)
    assert set(lines) == {"migrate", "etl", "webhook", "fake-api", "etl-demo", "Dockerfile CMD"}
    for where, args in lines.items():
        path, command, rest = resolve(args)
        help_run = CliRunner().invoke(main, [*path, "--help"])
        assert help_run.exit_code == 0, (where, help_run.output)
        known = {"--help"} | {opt for param in command.params for opt in param.opts}
        for word in rest:
            if word.startswith("--"):
                assert word in known, f"{where}: `unpod-etl {' '.join(path)}` has no {word}"
        if rest != ["--help"]:  # parse (and type-check) the arguments without running
            command.make_context(" ".join(path), list(rest))


def test_dockerfile_base_user_and_entrypoint():
    steps = dockerfile()
    words = [word for word, _ in steps]
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert any(word == "RUN" and "pip install ." in args for word, args in steps)
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN")
    entrypoint = next(args for word, args in steps if word == "ENTRYPOINT")
    assert json.loads(entrypoint) == ["unpod-etl"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["unpod-etl"] == "unpod_etl.cli.main:main"


def test_dockerignore_keeps_secrets_and_junk_out_but_not_the_sources():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests", "*.db", ".env"} <= ignored
    copied = {"pyproject.toml", "README.md", "unpod_etl", "migrations"}
    assert not copied & ignored
    for word, args in dockerfile():
        if word == "COPY":
            source = args.split()[0]
            assert (ROOT / source).exists(), source


def test_webhook_service(services):
    hook = services["webhook"]
    assert hook["profiles"] == ["webhook"]  # opt-in: it needs a secret and a public URL
    assert hook["command"][0] == "webhook"
    port = hook["command"][hook["command"].index("--port") + 1]
    assert hook["environment"]["UNPOD_ETL_WEBHOOK_SECRET"] == "${UNPOD_ETL_WEBHOOK_SECRET:-}"
    warehouse = services["etl"]["environment"]["UNPOD_ETL_DATABASE_URL"]
    assert hook["environment"]["UNPOD_ETL_DATABASE_URL"] == warehouse
    published = interpolate(hook["ports"][0])
    assert published == f"127.0.0.1:8080:{port}"  # loopback unless a proxy setup says so
    assert f"127.0.0.1:{port}/healthz" in hook["healthcheck"]["test"][-1]
    assert hook["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert hook["restart"] == "on-failure:3"
