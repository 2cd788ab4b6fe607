"""Removing credentials from task documents (their fingerprints are in fingerprints.py).

Two credentials travel inside task documents: `user_info.user_token` (a per-user API token; it
may also be nested elsewhere, so every `user_token` key at any depth goes) and `input.token` (the
space token). Neither may reach the warehouse or a log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
