"""Secrets stay out of logs, error output and the warehouse; handles cannot bend requests."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import all_table_text, cli_env, sync_command
from unpod_etl.core.errors import ApiError, ConfigError
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.source.client import UnpodClient


def test_no_secret_anywhere_after_a_run_with_faults(fake, fake_server, pg_url, pg_engine):
    handles = fake.published_handles()
    fake.access.refuse(handles[0], 206)
    fake.faults.inject("5xx", times=2, status=502)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "unpod_etl",
            "-v",
            *sync_command(fake_server.url, fake, pg_url, "--page-size", "4")[3:],
        ],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr  # one agent refused
    assert "HTTP 502" in proc.stderr  # the retried fault was logged...
    secrets = fake.secret_values()
    assert fake.token in secrets and len(secrets) > 10
    output = proc.stdout + proc.stderr
    warehouse = all_table_text(pg_engine)
    assert "user_info" in warehouse  # ...and the documents were stored, minus secrets
    leaked = [s for s in secrets if s in output or s in warehouse]
    assert leaked == []


def test_refused_token_message_does_not_contain_it(fake, fake_server, pg_url):
    result = SyncRunner(SyncConfig(fake_server.url, "tok-secret-abc", fake.org, pg_url)).run()
    assert result.outcome == "aborted" and result.exit_code == 3
    assert "refused the token" in (result.error or "")
    assert "tok-secret-abc" not in (result.error or "")


def test_agent_handle_is_path_encoded(fake, fake_server, pg_url):
    evil = "../x?y=1#z"
    with pytest.raises(ConfigError, match="not a handle"):  # a sync refuses it outright...
        SyncConfig(fake_server.url, fake.token, fake.org, pg_url, agents=(evil,))
    client = UnpodClient(fake_server.url, fake.token, fake.org)
    with pytest.raises(ApiError, match="404"):  # ...and the client, asked all the same, encodes it
        list(client.iter_task_pages(evil))
    paths = [r.path for r in fake.access.requests]
    assert paths == ["/api/v2/platform/agents/..%2Fx%3Fy%3D1%23z/tasks/"]
