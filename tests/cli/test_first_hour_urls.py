"""Credentials in the API URL are masked in sync_runs.api_url and in `status --json`."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import create_engine, text

from tests.helpers import cli_env, run_sync_cli
from unpod_etl.core.urls import mask_url


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("http://bob:pw@host:8/x?q=1") == "http://bob:***@host:8/x?q=1"
    assert mask_url("http://bob@host") == "http://bob@host"
    assert mask_url("https://unpod.dev") == "https://unpod.dev"


def test_api_url_password_never_stored_or_printed(fake, fake_server, sqlite_url) -> None:
    url = fake_server.url.replace("http://", "http://bob:s3cretpw@")
    run_sync_cli(url, fake, sqlite_url)
    with create_engine(sqlite_url).connect() as conn:
        stored = conn.execute(text("SELECT api_url FROM sync_runs")).scalars().all()
    assert stored == [fake_server.url.replace("http://", "http://bob:***@")]
    proc = subprocess.run(
        [sys.executable, "-m", "unpod_etl", "status", "--json", "--database-url", sqlite_url],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "s3cretpw" not in proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["runs"][0]["api_url"].startswith("http://bob:***@")
