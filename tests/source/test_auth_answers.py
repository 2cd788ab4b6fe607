"""The documented refusals of a token end the run (exit 3) with the server's words, and
--auth-scheme sends the token under the scheme the account uses."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import cli_env, run_sync_cli, sync_command
from unpod_etl.core.errors import ConfigError
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.sync import SyncConfig
from unpod_etl.source.auth_answers import refusal_message

REFUSALS = [
    # (fault kind, variant, HTTP status, words the server sends)
    ("401", "invalid", 401, "Invalid token."),
    ("401", "not_provided", 401, "Authentication credentials were not provided."),
    ("401", "expired", 401, "Expired Auth Token"),
    ("403", None, 403, "Token has expired."),
]


@pytest.mark.parametrize(("kind", "variant", "status", "words"), REFUSALS)
def test_each_documented_refusal_aborts_with_the_servers_message(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str, kind, variant, status, words
) -> None:
    params = {"variant": variant} if variant else {}
    handle = fake.published_handles()[1]
    rule = fake.faults.inject(kind, agent=handle, page=1, **params)  # mid-run, on one agent
    proc = run_sync_cli(fake_server.url, fake, pg_url, "--workers", "1")
    assert rule.fired == 1
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"refused the token (HTTP {status}: " in proc.stderr
    assert words in proc.stderr
    assert fake.token not in proc.stdout + proc.stderr


def test_a_refusal_on_the_agent_list_aborts_too(
    fake: FakeUnpod, fake_server: FakeServer, pg_url: str
) -> None:
    fake.access.revoke_token("expired_403")
    proc = run_sync_cli(fake_server.url, fake, pg_url)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "HTTP 403: Token has expired." in proc.stderr
    assert [r.path for r in fake.access.requests] == ["/api/v2/platform/agents/"]


def test_a_403_without_a_refusals_body_is_not_a_refused_token() -> None:
    # A proxy's or a permission's 403 fails what was asked, not the whole run.
    assert refusal_message(403, {"detail": "You do not have permission."}, "t") is None
    assert refusal_message(403, None, "t") is None
    assert refusal_message(401, None, "t") == "no message"  # any 401 refuses the token
    echoed = refusal_message(401, {"message": "Invalid token.", "error": "tok123 bad"}, "tok123")
    assert echoed == "Invalid token.: *** bad"


@pytest.mark.parametrize(("given", "sent"), [("Bearer", "Bearer"), ("jwt", "JWT")])
def test_auth_scheme_sends_the_token_under_that_scheme(
    fake: FakeUnpod, fake_server: FakeServer, sqlite_url: str, given: str, sent: str
) -> None:
    fake.access.auth_scheme = sent
    proc = run_sync_cli(fake_server.url, fake, sqlite_url, "--auth-scheme", given)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    headers = {r.headers.get("Authorization") for r in fake.access.requests}
    assert headers == {f"{sent} {fake.token}"}


def test_auth_scheme_from_the_environment_and_the_default(
    fake: FakeUnpod, fake_server: FakeServer, sqlite_url: str
) -> None:
    fake.access.auth_scheme = "JWT"
    default = run_sync_cli(fake_server.url, fake, sqlite_url)  # Token: refused
    assert default.returncode == 3 and "HTTP 401: Invalid token." in default.stderr
    assert {r.headers.get("Authorization") for r in fake.access.requests} == {f"Token {fake.token}"}
    proc = subprocess.run(
        sync_command(fake_server.url, fake, sqlite_url),
        env=cli_env({"UNPOD_API_AUTH_SCHEME": "JWT"}),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert fake.access.requests[-1].headers["Authorization"] == f"JWT {fake.token}"


def test_an_unknown_auth_scheme_is_a_usage_error(
    fake: FakeUnpod, fake_server: FakeServer, sqlite_url: str
) -> None:
    proc = run_sync_cli(fake_server.url, fake, sqlite_url, "--auth-scheme", "Basic")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--auth-scheme" in proc.stderr
    assert not fake.access.requests
    with pytest.raises(ConfigError, match="auth_scheme"):
        SyncConfig("http://x", "t", "o", "sqlite://", auth_scheme="Basic")
    assert SyncConfig("http://x", "t", "o", "sqlite://", auth_scheme="bearer").auth_scheme == (
        "Bearer"
    )
