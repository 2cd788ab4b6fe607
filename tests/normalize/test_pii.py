"""normalize/pii.py and pii_rows.py: detection, normalization, hashing, idempotence."""

from __future__ import annotations

import json

import pytest

from unpod_etl.fakeapi import FakeUnpod
from unpod_etl.normalize import normalize_task
from unpod_etl.normalize.pii import PiiMode, make_policy, normalize_phone, plain_token
from unpod_etl.normalize.pii_rows import contact_tokens, contacts_in

HASH = make_policy("hash", "k")
REDACT = make_policy("redact")


def test_phone_forms_of_one_number_hash_alike() -> None:
    forms = ["+1 555 123 4567", "15551234567", "(555) 123-4567", "+1-555-123-4567"]
    assert {normalize_phone(f) for f in forms} == {"+15551234567"}
    assert len({HASH.flat("phone", f) for f in forms}) == 1
    assert HASH.flat("email", "Ann@Example.COM ") == HASH.flat("email", "ann@example.com")
    assert HASH.flat("phone", "+15551234567") != make_policy("hash", "k2").flat(
        "phone", "+15551234567"
    )


def test_text_phone_and_email_become_placeholders_carrying_the_flat_hash() -> None:
    text = "Call me at +44 7911 123456 or 1 (555) 123-4567, mail ann.lee+x@mail.example.org."
    out = HASH.scrub_text(text)
    assert "7911" not in out and "123-4567" not in out and "ann.lee" not in out
    assert f"[phone:{HASH.flat('phone', '+447911123456')}]" in out
    assert f"[phone:{HASH.flat('phone', '5551234567')}]" in out
    assert f"[email:{HASH.flat('email', 'ann.lee+x@mail.example.org')}]." in out
    assert REDACT.scrub_text(text) == "Call me at [phone] or [phone], mail [email]."


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-31T09:21:01.149000",
        "2026-01-31 09:21:01+00:00",
        "task T1234567890abcdef",
        "cost 12.5, latency 403 ms",
        "session f68e6037674ce15a",
        "sip_4567",
    ],
)
def test_timestamps_ids_and_small_numbers_are_not_phone_numbers(text: str) -> None:
    assert HASH.scrub_text(text) == text


def test_known_names_are_replaced_in_the_same_tasks_text() -> None:
    out = REDACT.scrub_text("Spoke with Ann Lee; ann lee agreed. Annabel stays.", {"Ann Lee"})
    assert out == "Spoke with [name]; [name] agreed. Annabel stays."


def test_placeholders_are_never_rescanned_and_redact_drops_their_hash() -> None:
    once = HASH.scrub_text("+15551234567 x@y.org")
    assert HASH.scrub_text(once) == once
    assert REDACT.scrub_text(once) == "[phone] [email]"
    assert REDACT.flat("phone", HASH.flat("phone", "+15551234567")) == "[phone]"


def test_policy_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="UNPOD_ETL_PII_KEY"):
        make_policy("hash", "")
    with pytest.raises(ValueError, match="one of"):
        make_policy("scramble")
    with pytest.raises(ValueError, match="region"):
        make_policy("redact", region="XX")
    assert make_policy("KEEP").mode is PiiMode.KEEP and not make_policy("keep").active
    assert "secret-key-value" not in repr(make_policy("hash", "secret-key-value"))


@pytest.mark.parametrize("policy", [HASH, REDACT], ids=["hash", "redact"])
def test_every_fake_task_is_clean_and_normalizing_the_stored_document_is_idempotent(policy):
    fake = FakeUnpod(agents=2, tasks_per_agent=25, seed=3)
    for handle in fake.published_handles():
        for doc in fake.tasks(handle):
            found = contacts_in(doc, "US")
            item = normalize_task(doc, handle, pii=policy)
            blob = json.dumps([item.task, item.call, item.lines], default=str)
            assert not [v for _k, v in found if v in blob]
            stored = item.task["document"]
            again = normalize_task(stored, handle, item.task["raw_fingerprint"], pii=policy)
            assert again == item  # same rows, same fingerprint: a rewrite changes nothing
            assert item.task["task_id"] == doc["task_id"]  # ids are never scanned


def test_contact_tokens_match_clear_and_hashed_documents() -> None:
    doc = {"input": {"contact_number": "+1 555 123 4567"}, "note": "or mail A@B.org"}
    plain = contact_tokens(doc, make_policy("keep"))
    assert plain_token("phone", "+15551234567") in plain
    assert plain_token("email", "a@b.org") in plain
    item = normalize_task({"task_id": "T1", **doc}, "agent", pii=HASH)
    assert HASH.flat("phone", "15551234567") in contact_tokens(item.task["document"], HASH)
