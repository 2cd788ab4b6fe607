"""A webhook process's sync_runs row is no pull: `check` neither takes it for a successful
run nor, on SQLite (where it holds no liveness lock), for a died one."""

from __future__ import annotations

import json

import requests
from click.testing import CliRunner

from tests.helpers import sync_in_process
from tests.intake.serving import SECRET, serving
from unpod_etl.cli.main import main
from unpod_etl.fakeapi.webhook import webhook_body


def check(url: str) -> tuple[int, set[str]]:
    run = CliRunner().invoke(main, ["check", "--json", "--database-url", url])
    assert run.exit_code in (0, 1), run.output
    return run.exit_code, {f["kind"] for f in json.loads(run.output)["findings"]}


def test_check_judges_pulls_only(sqlite_url, fake, fake_server):
    doc = next(d for d in fake.tasks(fake.published_handles()[0]) if d["status"] == "completed")
    with serving(sqlite_url) as (base, _):
        answer = requests.post(
            base + "/unpod/tasks", data=webhook_body(doc), headers={"X-Webhook-Secret": SECRET},
            timeout=30,
        )  # fmt: skip
        assert answer.status_code == 200
        serving_check = check(sqlite_url)
    # Only a webhook has run, and it ended "ok": still no successful pull.
    assert check(sqlite_url) == (1, {"stale_run"})
    assert serving_check == (1, {"stale_run"})  # and its running row is no died run
    sync_in_process(fake_server, fake, sqlite_url)
    assert check(sqlite_url) == (0, set())
