"""Task pages kept as the bytes received: skimmed, hashed, decoded only when needed."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator

import msgspec
import pytest
from sqlalchemy import select, update

from tests.helpers import sync_in_process
from unpod_etl.source import rawjson
from unpod_etl.source.rawjson import TaskDoc, decode_task_page
from unpod_etl.warehouse.schema import tasks

DOCS = [
    b'{"task_id": "T1", "user_info": {"user_token": "s3cret"}, "n": [1, 2.5, null]}',
    b'{"task_id":"T2","status":"pending"}',
]


def page(docs: list[bytes], **fields: object) -> bytes:
    envelope = {"status_code": 200, "message": "ok", "count": len(docs), **fields}
    head = json.dumps(envelope)[:-1].encode()
    return head + b', "data": [' + b", ".join(docs) + b"]}"


def test_a_skimmed_page_keeps_each_document_s_bytes_and_decodes_on_demand() -> None:
    body = decode_task_page(page(DOCS))
    assert body is not None
    assert (body["status_code"], body["count"], body["message"]) == (200, 2, "ok")
    docs = body["data"]
    assert [d.task_id for d in docs] == ["T1", "T2"]
    for doc, raw in zip(docs, DOCS, strict=True):
        assert bytes(doc.received) == raw  # the span of the body, byte for byte
        assert doc.raw_fingerprint() == hashlib.sha256(raw).hexdigest()
        assert doc.value == json.loads(raw)


def test_what_msgspec_refuses_is_decoded_whole_by_the_fallbacks() -> None:
    for odd in (b'{"task_id": "T3", "score": NaN}', b'{"task_id": "T\\ud800"}'):
        body = decode_task_page(page([DOCS[0], odd]))
        assert body is not None and body["status_code"] == 200
        docs = body["data"]
        assert [d.received for d in docs] == [None, None]  # no bytes kept: hashed decoded
        assert [d.raw_fingerprint() for d in docs] == [None, None]
        assert docs[1].value == json.loads(odd)
        assert docs[1].task_id == json.loads(odd)["task_id"]


def test_odd_documents_and_envelopes() -> None:
    body = decode_task_page(page([b"3", b'"text"', b'{"task_id": 7}', b'{"v": "\xff"}']))
    assert body is not None
    assert [d.task_id for d in body["data"]] == [None, None, None, None]
    assert [d.value for d in body["data"]] == [3, "text", {"task_id": 7}, {"v": "\ufffd"}]
    refused = decode_task_page(b'{"status_code": 206, "message": "no", "data": "oops"}')
    assert refused == {"status_code": 206, "message": "no", "data": "oops"}
    assert decode_task_page(b"[1, 2]") is None
    assert decode_task_page(b"<html>bad gateway</html>") is None
    assert decode_task_page(page([])) is not None


def test_a_document_s_repr_shows_no_content() -> None:
    body = decode_task_page(page(DOCS))
    assert body is not None
    shown = repr(body) + repr(TaskDoc.from_value(json.loads(DOCS[0])))
    assert "s3cret" not in shown and "T1" in shown


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts documents decoded one by one (TaskDoc.value on a skimmed document)."""
    calls: list[int] = []
    real = rawjson.decode_json

    def counting(raw):  # type: ignore[no-untyped-def]
        if isinstance(raw, memoryview):
            calls.append(len(raw))
        return real(raw)

    monkeypatch.setattr(rawjson, "decode_json", counting)
    return calls


def test_a_no_change_re_sync_decodes_only_the_documents_that_changed(
    fake, fake_server, pg_url, decoded
):  # type: ignore[no-untyped-def]
    first = sync_in_process(fake_server, fake, pg_url, page_size=9)
    assert first.total("inserted") > 0
    assert len(decoded) >= first.total("inserted")  # a first sync decodes every document
    decoded.clear()
    second = sync_in_process(fake_server, fake, pg_url, page_size=9)
    assert second.total("unchanged") == second.total("seen") == first.total("inserted")
    assert decoded == []
    handle = fake.published_handles()[0]
    fake.complete_without_marker(fake.tasks(handle)[2]["task_id"])
    third = sync_in_process(fake_server, fake, pg_url, page_size=9)
    assert third.total("changed_unmoved") == 1 and len(decoded) == 1


def test_raw_fingerprints_hash_the_bytes_served_and_old_ones_are_replaced_once(
    fake, fake_server, pg_url, pg_engine
):  # type: ignore[no-untyped-def]
    sync_in_process(fake_server, fake, pg_url, page_size=9)
    handle = fake.published_handles()[1]
    doc = fake.tasks(handle)[0]
    served = json.dumps(doc, ensure_ascii=False).encode()  # how the fake encodes a document
    where = tasks.c.task_id == doc["task_id"]
    with pg_engine.begin() as conn:
        assert conn.execute(select(tasks.c.raw_fingerprint).where(where)).scalar_one() == (
            hashlib.sha256(served).hexdigest()
        )
        # as an older version stored it (a hash of the decoded document), on every task
        conn.execute(update(tasks).values(raw_fingerprint="older-form"))
        before = conn.execute(
            select(tasks.c.task_id, tasks.c.last_synced_at).order_by(tasks.c.task_id)
        ).all()
    again = sync_in_process(fake_server, fake, pg_url, page_size=9)
    assert again.total("unchanged") == again.total("seen") > 0  # no task is rewritten
    with pg_engine.connect() as conn:
        assert (
            conn.execute(
                select(tasks.c.task_id, tasks.c.last_synced_at).order_by(tasks.c.task_id)
            ).all()
            == before
        )
        raws = set(conn.execute(select(tasks.c.raw_fingerprint)).scalars())
    assert "older-form" not in raws and None not in raws


@pytest.fixture
def default_recursion_limit() -> Iterator[None]:
    # The standard library's reader stops at the recursion limit; hypothesis raises that
    # limit while it runs, so a test that ran before could leave it above this nesting.
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(before)


@pytest.mark.usefixtures("default_recursion_limit")
def test_nesting_deeper_than_any_reader_allows_is_no_crash() -> None:
    deep = b'{"task_id": "T9", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert decode_task_page(page([DOCS[1], deep])) is None  # the client retries, then fails it
    assert rawjson.decode_json_object(deep) is None
    assert TaskDoc("T9", msgspec.Raw(deep)).value is None
