"""The two fingerprints of a task document, which change detection compares (see changes.py).

- `fingerprint`: of the stored form (secret-free, cleaned, canonical JSON); it says whether the
  warehouse row would change.
- `raw_fingerprint`: of the document as received (secrets and all); it says, before any
  normalization, whether the server sent byte for byte what was stored last time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import orjson

from unpod_etl.normalize.secrets import stored_document


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
