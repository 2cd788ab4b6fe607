"""strip_secrets and fingerprint."""

from __future__ import annotations

import copy
import hashlib
import json

from unpod_etl.normalize import fingerprint, strip_secrets

DOC = {
    "task_id": "T1",
    "user_info": {"email": "a@example.com", "user_token": "U-SECRET"},
    "input": {"name": "Ravi", "token": "SPACE-SECRET", "extra": {"user_token": "U2"}},
    "output": {"call_id": "c1", "token": "not-a-secret-here", "items": [{"user_token": "U3"}]},
    "user_token": "U4",
}


def test_strip_secrets_removes_every_user_token_and_input_token() -> None:
    original = copy.deepcopy(DOC)
    stripped = strip_secrets(DOC)
    assert stripped == {
        "task_id": "T1",
        "user_info": {"email": "a@example.com"},
        "input": {"name": "Ravi", "extra": {}},
        "output": {"call_id": "c1", "token": "not-a-secret-here", "items": [{}]},
    }
    assert original == DOC  # a copy: the input is untouched


def test_strip_secrets_of_non_objects() -> None:
    assert strip_secrets([{"user_token": "x", "a": 1}, 2]) == [{"a": 1}, 2]
    assert strip_secrets("plain") == "plain"
    assert strip_secrets({"input": "not an object"}) == {"input": "not an object"}


def test_fingerprint_is_sha256_of_canonical_stripped_json() -> None:
    canonical = json.dumps(
        strip_secrets(DOC), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert fingerprint(DOC) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_fingerprint_ignores_key_order_and_secrets_but_not_content() -> None:
    reordered = dict(reversed(list(DOC.items())))
    rotated = copy.deepcopy(DOC)
    rotated["user_info"]["user_token"] = "ROTATED"
    rotated["input"]["token"] = "ROTATED-TOO"
    changed = copy.deepcopy(DOC)
    changed["output"]["call_id"] = "c2"
    assert fingerprint(reordered) == fingerprint(DOC)
    assert fingerprint(rotated) == fingerprint(DOC)
    assert fingerprint(changed) != fingerprint(DOC)


def test_fingerprint_keeps_non_ascii_and_is_stable_for_the_stored_document() -> None:
    doc = {"task_id": "T1", "input": {"name": "Zoë \u0905\u092e\u093f\u0924"}}
    canonical = '{"input":{"name":"Zoë \u0905\u092e\u093f\u0924"},"task_id":"T1"}'
    assert fingerprint(doc) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_fingerprint_of_nul_strings_matches_cleaned_document() -> None:
    # The stored document has NULs removed; its fingerprint must equal the raw document's.
    assert fingerprint({"task_id": "T1", "x": "a\x00b"}) == fingerprint(
        {"task_id": "T1", "x": "ab"}
    )
