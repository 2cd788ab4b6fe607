"""`sync --notify-url`: a Slack/Teams-style receiver stood up in the test gets `{"text":...}`
on partial and aborted runs and on the recovery after one, never the token; a failing
notification changes nothing about the run's exit code."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tests.cli.http_receiver import Receiver, receiver
from unpod_etl.cli.main import main


def sync(fake, server_url: str, db_url: str, *args: str, env=None):  # type: ignore[no-untyped-def]
    argv = ["sync", "--api-url", server_url, "--token", fake.token, "--org", fake.org]
    return CliRunner().invoke(main, [*argv, "--database-url", db_url, *args], env=env or {})


def texts(hook: Receiver) -> list[str]:
    out = []
    for got in hook.received:
        assert got.method == "POST"
        assert got.headers["Content-Type"] == "application/json"
        doc = json.loads(got.body)
        assert set(doc) == {"text"}
        out.append(doc["text"])
    return out


def test_partial_then_recovery_then_quiet(fake, fake_server, sqlite_url):
    bad = fake.published_handles()[1]
    fake.access.refuse(bad, 206)
    with receiver() as hook:
        partial = sync(fake, fake_server.url, sqlite_url, "--notify-url", hook.url + "/hooks/x")
        assert partial.exit_code == 1
        [text] = texts(hook)
        assert "run 1 partial" in text
        assert f"1 of 3 agents failed: {bad} (" in text and "206" in text
        assert fake.token not in text
        assert hook.received[0].path == "/hooks/x"

        fake.access.allow(bad)
        recovered = sync(fake, fake_server.url, sqlite_url, "--notify-url", hook.url)
        assert recovered.exit_code == 0
        assert "run 2 ok again after a partial run" in texts(hook)[1]

        quiet = sync(fake, fake_server.url, sqlite_url, "--notify-url", hook.url)
        assert quiet.exit_code == 0
        assert len(hook.received) == 2  # ok after ok: nothing to say


def test_aborted_run_from_the_environment_variable(fake, fake_server, sqlite_url):
    fake.access.revoke_token()
    with receiver() as hook:
        proc = sync(fake, fake_server.url, sqlite_url, env={"UNPOD_ETL_NOTIFY_URL": hook.url})
    assert proc.exit_code == 3
    [text] = texts(hook)
    assert "run 1 aborted" in text and "refused the token" in text
    assert fake.token not in text and fake.token.encode() not in hook.received[0].body


def test_a_run_that_cannot_start_is_told_too(fake, fake_server):
    down = "postgresql://nobody:secretpw@127.0.0.1:1/none"
    with receiver() as hook:
        proc = sync(fake, fake_server.url, down, "--notify-url", hook.url)
    assert proc.exit_code == 3
    [text] = texts(hook)
    assert "a run aborted" in text and "secretpw" not in text


def test_a_failing_receiver_never_changes_the_exit_code(fake, fake_server, sqlite_url):
    bad = fake.published_handles()[0]
    fake.access.refuse(bad, 206)
    with receiver(status=500) as hook:
        proc = sync(fake, fake_server.url, sqlite_url, "--notify-url", hook.url + "/T0/B1/s3cr3t")
    assert proc.exit_code == 1  # partial, as without the notification
    assert len(hook.received) == 1
    assert "notification to 127.0.0.1" in proc.stderr and "HTTP 500" in proc.stderr
    assert "s3cr3t" not in proc.output  # a webhook URL's path is its secret


def test_an_unreachable_receiver_never_changes_the_exit_code(fake, fake_server, sqlite_url):
    fake.access.refuse(fake.published_handles()[0], 206)
    with receiver() as hook:
        closed = hook.url  # nothing listens there once the block ends
    proc = sync(fake, fake_server.url, sqlite_url, "--notify-url", closed + "/s3cr3t")
    assert proc.exit_code == 1
    assert "notification to 127.0.0.1" in proc.stderr and "ConnectionError" in proc.stderr
    assert "s3cr3t" not in proc.output


def test_a_bad_notify_url_exit_2(fake, fake_server, sqlite_url):
    proc = sync(fake, fake_server.url, sqlite_url, "--notify-url", "hooks.slack.com/services/x")
    assert proc.exit_code == 2
    assert "--notify-url must be an http(s):// URL" in proc.stderr
    assert fake.access.requests == []
