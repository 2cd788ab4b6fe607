"""Removing credentials from task documents, and the change fingerprint of a document.

Two credentials travel inside task documents: `user_info.user_token` (a per-user API token; it
may also be nested elsewhere, so every `user_token` key at any depth goes) and `input.token` (the
space token). Neither may reach the warehouse or a log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import orjson

from unpod_etl.normalize.coerce import clean_json

SECRET_KEYS = frozenset({"user_token"})
INPUT_SECRET_KEYS = frozenset({"token"})


def strip_secrets(doc: Any) -> Any:
    """Deep copy of `doc` without any `user_token` key (at any depth) nor `input.token`."""
    stripped = _drop_keys(doc)
    if isinstance(stripped, dict) and isinstance(stripped.get("input"), dict):
        stripped["input"] = {
            k: v for k, v in stripped["input"].items() if k not in INPUT_SECRET_KEYS
        }
    return stripped


def _drop_keys(value: Any) -> Any:
    kind = type(value)  # exact types first: this runs on every node of every document
    if kind is str or value is None or kind is int or kind is float or kind is bool:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {k: _drop_keys(v) for k, v in value.items() if k not in SECRET_KEYS}
    if kind is list or isinstance(value, list | tuple):
        return [_drop_keys(v) for v in value]
    return value


def stored_document(doc: Any) -> Any:
    """The document as it is stored in `tasks.document`: secret-free and PostgreSQL-clean."""
    # Clean first, strip second: a key such as "user_\x00token" only becomes "user_token" once
    # cleaned, and must still be dropped.
    return strip_secrets(clean_json(doc))


def canonical_json(value: Any) -> str:
    """Deterministic JSON text: sorted keys, compact separators, non-ASCII kept."""
    return canonical_json_bytes(value).decode("utf-8")


def canonical_json_bytes(value: Any) -> bytes:
    try:  # orjson: the same text, four times faster
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # e.g. integers beyond 64 bits
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8", "surrogatepass")


def fingerprint(doc: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of the stored (secret-stripped, cleaned) document.

    Hashing the stored form, not the raw one, means fingerprint(row["document"]) equals
    row["fingerprint"], and a change to a secret alone (a rotated token) is not a change.
    """
    return fingerprint_stored(stored_document(doc))


def fingerprint_stored(document: Any) -> str:
    """sha256 hex of a document already in stored form (see stored_document)."""
    return hashlib.sha256(canonical_json_bytes(document)).hexdigest()


def raw_fingerprint(doc: Any) -> str:
    """sha256 hex of a decoded document's compact JSON (secrets and all, keys in the order sent).

    The sync hashes the bytes received instead (rawjson.TaskDoc); this stands in when a page
    had to be decoded whole. Cheap (no copy, no key sorting), so a re-sync can tell an
    untouched document before normalizing it. A server that merely reorders keys costs one
    normalization, which then finds the stored form unchanged. Only the digest is stored: the
    160-bit tokens inside cannot be recovered from it.
    """
    try:
        encoded = orjson.dumps(doc)
    except (orjson.JSONEncodeError, TypeError):  # not plain JSON: the slow canonical path
        encoded = canonical_json_bytes(doc)
    return hashlib.sha256(encoded).hexdigest()
