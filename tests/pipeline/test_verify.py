"""`unpod-etl verify` through the real CLI against the fake API and real warehouses: it agrees
after a sync, names each kind of disagreement, writes nothing, and exits as documented."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text

from tests.helpers import sync_in_process
from unpod_etl.cli.main import main
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.schema import metadata


def verify(server: FakeServer, fake: FakeUnpod, url: str, *args: str, token: str | None = None):
    argv = ["verify", "--api-url", server.url, "--token", token or fake.token]
    argv += ["--org", fake.org, "--database-url", url, *args]
    return CliRunner().invoke(main, argv, env={"UNPOD_ETL_DATABASE_URL": None})


def report(result: Any) -> dict[str, Any]:
    assert result.stdout.lstrip().startswith("{"), result.output
    return json.loads(result.stdout)


def by_agent(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["agent"]: a for a in doc["agents"]}


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }


@pytest.fixture
def handle(fake: FakeUnpod) -> str:
    return fake.published_handles()[0]


def test_agrees_after_a_sync_and_writes_nothing(fake, fake_server, pg_url, pg_engine):
    sync_in_process(fake_server, fake, pg_url, page_size=10)
    before = row_counts(pg_engine)
    result = verify(fake_server, fake, pg_url, "--json", "--page-size", "7")
    assert result.exit_code == 0, result.output
    doc = report(result)
    assert doc["agrees"] is True
    agents = by_agent(doc)
    assert set(agents) == set(fake.published_handles())
    for handle, agent in agents.items():
        assert agent["state"] == "agrees"
        assert agent["api_tasks"] == agent["stored_live"] == agent["same"] == fake.count(handle)
        assert agent["missing"] == agent["different"] == agent["gone"] == 0
    assert row_counts(pg_engine) == before  # not even a sync_runs row


def test_names_missing_different_and_gone_tasks(fake, fake_server, pg_url, handle):
    sync_in_process(fake_server, fake, pg_url, page_size=10, agents=(handle,))
    changed = next(t for t in fake.tasks(handle) if t["status"] == "pending")["task_id"]
    fake.complete_without_marker(changed)  # the marker the sync trusts did not move
    gone = fake.tasks(handle)[5]["task_id"]
    fake.remove_task(gone)
    added = fake.add_task(handle)["task_id"]

    result = verify(fake_server, fake, pg_url, "--agent", handle, "--json")
    assert result.exit_code == 1, result.output
    agent = by_agent(report(result))[handle]
    assert agent["state"] == "differs" and agent["walk_complete"] is True
    assert (agent["missing"], agent["different"], agent["gone"]) == (1, 1, 1)
    assert agent["examples"] == {"different": [changed], "missing": [added], "gone": [gone]}
    assert agent["api_tasks"] == fake.count(handle)

    text_out = verify(fake_server, fake, pg_url, "--agent", handle)
    assert text_out.exit_code == 1
    assert "they differ" in text_out.output and f"{handle}: gone, e.g. {gone}" in text_out.output

    # Two syncs: the changed and new tasks land, the vanished one is deleted (two absences).
    for _ in range(2):
        sync_in_process(fake_server, fake, pg_url, page_size=10, agents=(handle,))
    assert verify(fake_server, fake, pg_url, "--agent", handle).exit_code == 0


def test_a_rejected_document_kept_aside_agrees(fake, fake_server, sqlite_url, handle):
    fake.add_task(handle, kind="call_outbound", output={"call_id": "c" * 400, "transcript": []})
    sync_in_process(fake_server, fake, sqlite_url, page_size=10, agents=(handle,))
    result = verify(fake_server, fake, sqlite_url, "--agent", handle, "--json")
    assert result.exit_code == 0, result.output
    agent = by_agent(report(result))[handle]
    assert agent["rejected"] == 1 and agent["unreadable"] == 0


def test_a_deleted_task_still_in_the_api_is_missing(fake, fake_server, sqlite_url, handle):
    sync_in_process(fake_server, fake, sqlite_url, page_size=10, agents=(handle,))
    victim = fake.tasks(handle)[2]["task_id"]
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:  # as a deletion by an earlier, glitching source would leave it
        conn.execute(
            text("UPDATE tasks SET deleted_at = CURRENT_TIMESTAMP WHERE task_id = :t"),
            {"t": victim},
        )
    engine.dispose()
    agent = by_agent(report(verify(fake_server, fake, sqlite_url, "--agent", handle, "--json")))
    assert agent[handle]["examples"] == {"missing": [victim]}


def test_a_walk_that_fails_cannot_agree(fake, fake_server, pg_url, handle):
    sync_in_process(fake_server, fake, pg_url, page_size=10, agents=(handle,))
    fake.faults.inject("wrong_shape", agent=handle, page=2)
    result = verify(fake_server, fake, pg_url, "--agent", handle, "--page-size", "10", "--json")
    assert result.exit_code == 1
    agent = by_agent(report(result))[handle]
    assert agent["state"] == "failed" and agent["error"]
    assert agent["gone"] == 0  # an unfinished walk never calls stored tasks gone


def test_an_agent_only_the_warehouse_knows_is_compared(fake, fake_server, pg_url, pg_engine):
    handle = fake.published_handles()[1]
    sync_in_process(fake_server, fake, pg_url, page_size=10)
    with pg_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE tasks SET agent_handle = 'retired-agent' WHERE ctid IN "
                "(SELECT ctid FROM tasks WHERE agent_handle = :h LIMIT 1)"
            ),
            {"h": handle},
        )
    result = verify(fake_server, fake, pg_url, "--json")
    assert result.exit_code == 1
    agents = by_agent(report(result))
    assert agents[handle]["missing"] == 1
    assert agents["retired-agent"]["state"] == "failed"  # the API has no such agent


def test_exit_codes_for_usage_and_refusals(fake, fake_server, sqlite_url, tmp_path, handle):
    empty = verify(fake_server, fake, sqlite_url, "--agent", handle)
    assert empty.exit_code == 2 and "run `unpod-etl sync`" in empty.output
    sync_in_process(fake_server, fake, sqlite_url, agents=(handle,))
    refused = verify(fake_server, fake, sqlite_url, "--agent", handle, token="wrong")
    assert refused.exit_code == 3 and "Traceback" not in refused.output
    assert "wrong" not in refused.output
    no_scope = CliRunner().invoke(
        main,
        [
            "verify",
            "--api-url",
            fake_server.url,
            "--token",
            fake.token,
            "--database-url",
            sqlite_url,
        ],
        env={"UNPOD_ORG_HANDLE": None},
    )
    assert no_scope.exit_code == 2 and "--org" in no_scope.output


def test_erased_contacts_and_a_hash_warehouse_agree(fake, fake_server, pg_url, monkeypatch):
    from unpod_etl.pipeline.forget import forget_contact
    from unpod_etl.pipeline.sync import SyncConfig, SyncRunner

    key = "verify-test-key-0123456789abcdef0"
    handle = fake.published_handles()[0]
    config = SyncConfig(
        fake_server.url, fake.token, fake.org, pg_url, agents=(handle,), pii="hash", pii_key=key
    )
    assert SyncRunner(config).run().outcome == "ok"
    monkeypatch.setenv("UNPOD_ETL_PII_KEY", key)
    gone = next(t for t in fake.tasks(handle) if t.get("input", {}).get("email"))
    engine = make_engine(pg_url)
    forget_contact(engine, gone["input"]["email"], key)
    engine.dispose()
    fake.complete_without_marker(
        next(t["task_id"] for t in fake.tasks(handle) if t["status"] == "pending")
    )
    assert SyncRunner(config).run().outcome == "ok"  # the change lands, hashed
    result = verify(fake_server, fake, pg_url, "--agent", handle, "--json")
    assert result.exit_code == 0, result.output
    agent = by_agent(report(result))[handle]
    assert agent["erased"] >= 1 and agent["missing"] == agent["different"] == 0
