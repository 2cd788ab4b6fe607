"""The webhook writes in the warehouse's own --pii mode (as the nightly sync wrote it) and
never brings back a contact `forget` erased."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import text

from tests.helpers import sync_in_process
from tests.intake.serving import SECRET, serving
from unpod_etl.core.errors import ConfigError
from unpod_etl.fakeapi.webhook import webhook_body
from unpod_etl.pipeline.forget import forget_contact
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.pipeline.webhook import WebhookIntake
from unpod_etl.warehouse.db import make_engine

KEY = "webhook-test-key-0123456789abcdef"
HEADERS = {"X-Webhook-Secret": SECRET}


def hash_sync(server, fake, url: str, handle: str) -> None:
    config = SyncConfig(
        server.url, fake.token, fake.org, url, agents=(handle,), pii="hash", pii_key=KEY
    )
    assert SyncRunner(config).run().outcome == "ok"


def test_a_delivery_into_a_hash_warehouse_is_hashed(fake, fake_server, pg_url, monkeypatch):
    handle = fake.published_handles()[0]
    hash_sync(fake_server, fake, pg_url, handle)
    new = fake.add_task(handle, kind="call_outbound", status="completed")
    phone, email = new["input"]["contact_number"], new["input"]["email"]
    monkeypatch.setenv("UNPOD_ETL_PII_KEY", KEY)
    with serving(pg_url) as (base, _):
        answer = requests.post(
            base + "/unpod/tasks", data=webhook_body(new), headers=HEADERS, timeout=30
        )
    assert answer.status_code == 200 and answer.json()["outcome"] == "inserted"
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT contact_number, contact_email, document::text AS doc FROM tasks "
                 "WHERE task_id = :t"),
            {"t": new["task_id"]},
        ).one()  # fmt: skip
        hashed = conn.execute(
            text("SELECT contact_number FROM tasks WHERE task_id <> :t AND contact_number "
                 "IS NOT NULL LIMIT 1"),
            {"t": new["task_id"]},
        ).scalar_one()  # fmt: skip
    engine.dispose()
    assert row.contact_number not in (phone, None) and len(row.contact_number) == len(hashed)
    assert row.contact_email != email
    assert phone not in row.doc and email not in row.doc


def test_a_forgotten_contact_is_not_written_back(fake, fake_server, sqlite_url):
    handle = fake.published_handles()[0]
    sync_in_process(fake_server, fake, sqlite_url, agents=(handle,))
    doc = next(t for t in fake.tasks(handle) if t.get("input", {}).get("email"))
    engine = make_engine(sqlite_url)
    forget_contact(engine, doc["input"]["email"])
    with serving(sqlite_url) as (base, _):
        answer = requests.post(
            base + "/unpod/tasks", data=webhook_body(doc), headers=HEADERS, timeout=30
        )
    assert answer.status_code == 200 and answer.json()["outcome"] == "erased"
    with engine.connect() as conn:
        left = conn.execute(
            text("SELECT COUNT(*) FROM tasks WHERE task_id = :t"), {"t": doc["task_id"]}
        ).scalar_one()
    engine.dispose()
    assert left == 0


def test_a_hash_warehouse_without_its_key_is_refused_at_start(
    fake, fake_server, pg_url, monkeypatch
):
    hash_sync(fake_server, fake, pg_url, fake.published_handles()[0])
    monkeypatch.delenv("UNPOD_ETL_PII_KEY", raising=False)
    intake = WebhookIntake(pg_url)
    with pytest.raises(ConfigError, match="UNPOD_ETL_PII_KEY"):
        intake.start()
    monkeypatch.setenv("UNPOD_ETL_PII_KEY", "another-key-0123456789abcdef0123")
    with pytest.raises(ConfigError, match="not the key"):
        WebhookIntake(pg_url).start()
    intake.close()
