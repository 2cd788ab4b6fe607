"""--pii hash and redact through real syncs of the fake API, on PostgreSQL and SQLite: no
phone number or e-mail address of the source is left in any table (nor in the full-text
index), hashes join across tables, change detection still holds, and mode changes are
refused unless --rewrite-pii re-processes the stored rows without calling the API."""

from __future__ import annotations

import json
import re
from typing import Any

import phonenumbers
import pytest
from sqlalchemy import Engine, create_engine, inspect, select, text

from unpod_etl.core.errors import ConfigError
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.normalize.pii import make_policy
from unpod_etl.pipeline.pii_mode import prepare
from unpod_etl.pipeline.results import RunResult
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.warehouse.schema import (
    calls,
    pii_settings,
    rejected_records,
    tasks,
    transcript_lines,
)

KEY = "test-only pii key"


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    name = "pg_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(db_url: str) -> Any:
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


def sync(server: FakeServer, fake: FakeUnpod, url: str, **pii: Any) -> RunResult:
    config = SyncConfig(server.url, fake.token, fake.org, url, page_size=9, **pii)
    return SyncRunner(config).run()


def source_values(fake: FakeUnpod) -> tuple[set[str], set[str], set[str]]:
    """Every phone number (as generated, E.164, digits only, national) and e-mail address the
    fake's documents carry in their contact fields, and the person names."""
    phones, emails, names = set(), set(), set()
    for handle in fake.published_handles():
        for doc in fake.tasks(handle):
            inp, out = doc.get("input") or {}, doc.get("output")
            out = out if isinstance(out, dict) else {}
            user = doc.get("user_info") or {}
            customer = out.get("customer")
            for value in (inp.get("contact_number"), out.get("contact_number")):
                phones.add(value)
            phones.add(out.get("assistant_number"))
            if isinstance(customer, dict):
                phones.add(customer.get("number"))
                names.add(customer.get("name"))
            emails.update((inp.get("email"), user.get("email")))
            names.update((inp.get("name"), user.get("full_name")))
    forms = set()
    for phone in filter(None, phones):
        number = phonenumbers.parse(phone, "US")
        forms |= {phone, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)}
        forms |= {re.sub(r"\D", "", phone), str(number.national_number)}
    return forms, {e for e in emails if e}, {n for n in names if n}


def reject_one(fake: FakeUnpod) -> None:
    """One document without task_id: kept, contact values and all, in rejected_records."""
    fake.faults.inject("missing_task_id", agent=fake.published_handles()[0], page=1, index=0)


def everything_stored(engine: Engine) -> str:
    """Every row of every table as text (and the PostgreSQL full-text index column)."""
    parts = []
    with engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{name}"')):
                parts.append(json.dumps([str(v) for v in row]))
        if engine.dialect.name == "postgresql":
            tsv = conn.execute(text("SELECT content_tsv::text FROM transcript_lines")).scalars()
            parts.extend(str(v) for v in tsv)
    return "\n".join(parts)


def assert_no_pii(engine: Engine, fake: FakeUnpod) -> None:
    phones, emails, _names = source_values(fake)
    blob = everything_stored(engine)
    assert phones and emails
    leaked = sorted(v for v in phones | emails if v in blob)
    assert not leaked, leaked[:5]
    assert "@example.com" not in blob


@pytest.mark.parametrize("mode", ["hash", "redact"])
def test_no_contact_value_is_stored(fake, fake_server, db_url, engine, mode):
    reject_one(fake)
    result = sync(fake_server, fake, db_url, pii=mode, pii_key=KEY)
    assert result.outcome == "ok" and result.total("inserted") > 0
    assert result.total("failed") == 1  # its document is in rejected_records, scanned too
    assert_no_pii(engine, fake)
    _phones, _emails, names = source_values(fake)
    with engine.connect() as conn:
        flat_names = set(conn.execute(select(tasks.c.contact_name)).scalars())
        flat_names |= set(conn.execute(select(calls.c.customer)).scalars())
        recorded = conn.execute(select(pii_settings.c.mode, pii_settings.c.key_check)).one()
    assert not flat_names & names
    assert recorded.mode == mode and (recorded.key_check is None) == (mode == "redact")
    assert KEY not in everything_stored(engine)


def test_hashes_join_across_tables(fake, fake_server, db_url, engine):
    sync(fake_server, fake, db_url, pii="hash", pii_key=KEY)
    with engine.connect() as conn:
        rows = conn.execute(
            select(tasks.c.contact_number, calls.c.contact_number, tasks.c.input).join(
                calls, calls.c.task_id == tasks.c.task_id
            )
        ).all()
        lines = conn.execute(
            select(transcript_lines.c.content, tasks.c.contact_number).join(
                tasks, tasks.c.task_id == transcript_lines.c.task_id
            )
        ).all()
    assert rows
    for task_number, call_number, task_input in rows:
        assert re.fullmatch(r"[0-9a-f]{24}", task_number)
        assert call_number == task_number  # same contact, same hash: joins work
        assert task_input["contact_number"] == f"[phone:{task_number}]"
    mentions = [content for content, _ in lines if "[phone:" in content]
    assert mentions, "the fake's transcripts read the number out"
    assert all(f"[phone:{number}]" in content for content, number in lines if "[phone:" in content)


@pytest.mark.parametrize("mode", ["hash", "redact"])
def test_a_second_sync_writes_nothing(fake, fake_server, db_url, engine, mode):
    sync(fake_server, fake, db_url, pii=mode, pii_key=KEY)
    with engine.connect() as conn:
        before = conn.execute(select(tasks.c.task_id, tasks.c.last_synced_at)).all()
    again = sync(fake_server, fake, db_url, pii=mode, pii_key=KEY)
    assert again.total("inserted") == again.total("updated") == 0
    assert again.total("unchanged") == again.total("seen") > 0
    with engine.connect() as conn:
        assert conn.execute(select(tasks.c.task_id, tasks.c.last_synced_at)).all() == before


def test_changing_the_mode_is_refused_without_rewrite(fake, fake_server, db_url):
    sync(fake_server, fake, db_url)  # keep
    with pytest.raises(ConfigError, match="--rewrite-pii"):
        sync(fake_server, fake, db_url, pii="hash", pii_key=KEY)
    sync(fake_server, fake, db_url, pii="hash", pii_key=KEY, rewrite_pii=True)
    with pytest.raises(ConfigError, match="impossible"):
        sync(fake_server, fake, db_url, pii="keep")
    with pytest.raises(ConfigError, match="not the key"):
        sync(fake_server, fake, db_url, pii="hash", pii_key="another key")


@pytest.mark.parametrize(
    ("start", "to"), [("keep", "hash"), ("keep", "redact"), ("hash", "redact")]
)
def test_rewrite_reprocesses_stored_rows_without_the_api(
    fake, fake_server, db_url, engine, start, to
):
    reject_one(fake)
    sync(fake_server, fake, db_url, pii=start, pii_key=KEY)
    with engine.connect() as conn:
        assert conn.execute(select(rejected_records.c.document)).scalars().all()
    requests = len(fake.access.requests)

    def db(fn):  # type: ignore[no-untyped-def]
        with engine.begin() as conn:
            return fn(conn)

    prepare(db, make_policy(to, KEY), rewrite=True)
    assert len(fake.access.requests) == requests  # from the stored documents alone
    assert_no_pii(engine, fake)
    with engine.connect() as conn:
        assert conn.execute(select(pii_settings.c.mode)).scalar_one() == to
    # The rewritten rows are what a sync in the new mode writes: nothing left to change.
    after = sync(fake_server, fake, db_url, pii=to, pii_key=KEY)
    assert after.outcome == "ok"
    assert after.total("inserted") == after.total("updated") == 0


def test_hash_and_redact_agree_on_which_rows_exist(fake, fake_server, pg_url, sqlite_url):
    """The transform changes values, never which tasks, calls and lines are written."""
    counts = []
    for url, mode in ((pg_url, "hash"), (sqlite_url, "keep")):
        sync(fake_server, fake, url, pii=mode, pii_key=KEY)
        eng = create_engine(url)
        with eng.connect() as conn:
            counts.append(
                [
                    sorted(conn.execute(select(t.c.task_id)).scalars())
                    for t in (tasks, calls, transcript_lines)
                ]
            )
        eng.dispose()
    assert counts[0] == counts[1]


def test_a_warehouse_from_before_the_mode_was_recorded_counts_as_keep(
    fake, fake_server, sqlite_url
):
    sync(fake_server, fake, sqlite_url)
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        first = conn.execute(select(pii_settings)).mappings().one()
        assert first["mode"] == "keep" and first["key_check"] is None
        conn.execute(pii_settings.delete())  # as a warehouse synced before migration 0012
    sync(fake_server, fake, sqlite_url)  # keep again: recorded, nothing refused
    with engine.connect() as conn:
        assert conn.execute(select(pii_settings.c.mode)).scalar_one() == "keep"
        conn.execute(pii_settings.delete())
        conn.commit()
    engine.dispose()
    with pytest.raises(ConfigError, match="--rewrite-pii"):
        sync(fake_server, fake, sqlite_url, pii="redact")
