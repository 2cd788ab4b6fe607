"""Decoding the API's JSON bodies, and task documents kept as the bytes the server sent.

A nightly re-sync mostly sees documents it already stored. Building Python objects for them
(and freeing them again) was most of its CPU time, so a task page is *skimmed* instead:
msgspec validates the whole body but only splits `data` into one byte span per document,
without building anything. The sync hashes each span, and decodes only the documents whose
hash it has not stored. On a 330 KB page of 100 tasks: skim, task_ids and hashes 0.88 ms,
against 1.52 ms to decode the page with orjson (docs/benchmark.md).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec
import orjson


class _PageSkim(msgspec.Struct):
    """What the client reads of a task page, in one pass over the body: the envelope's
    fields decoded, each document left as a validated span of the body (msgspec.Raw)."""

    data: list[msgspec.Raw] | None = None
    status_code: Any = None
    count: Any = None
    message: Any = None
    error: Any = None


class _Head(msgspec.Struct):
    """Only what the client needs of a document before deciding to decode it."""

    task_id: Any = None


_skim_page = msgspec.json.Decoder(_PageSkim)
_head = msgspec.json.Decoder(_Head)


class UndecodableJson(ValueError):
    """Bytes that neither orjson nor the standard library read as JSON."""


def decode_json(raw: bytes | memoryview) -> Any:
    """orjson first (about twice as fast as the standard library on task pages); then the
    standard library for what orjson refuses but Python accepts (NaN, lone surrogates,
    invalid UTF-8 replaced), which the normalizer then cleans."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(bytes(raw).decode("utf-8", "replace"))
        except (ValueError, RecursionError):  # nested deeper than any reader allows
            raise UndecodableJson("not JSON") from None


def decode_json_object(raw: bytes) -> dict[str, Any] | None:
    """The JSON object in a body, or None."""
    try:
        value = decode_json(raw)
    except UndecodableJson:
        return None
    return value if isinstance(value, dict) else None


_NOT_YET = object()  # a TaskDoc's value before its bytes are decoded


class TaskDoc:
    """One task document of a page: the bytes received (when the page could be skimmed) and
    the decoded value, built on first use. Its repr shows no content: documents carry tokens."""

    __slots__ = ("_value", "received", "task_id")

    def __init__(self, task_id: str | None, received: msgspec.Raw | None, value: Any = None):
        self.task_id = task_id
        self.received = received  # None: the page was decoded whole (see decode_task_page)
        self._value = _NOT_YET if received is not None else value

    @classmethod
    def from_span(cls, span: msgspec.Raw) -> TaskDoc:
        try:
            task_id = _head.decode(span).task_id
        except msgspec.DecodeError:  # not an object: decoding it will tell the normalizer
            task_id = None
        return cls(task_id if isinstance(task_id, str) else None, span)

    @classmethod
    def from_value(cls, value: Any) -> TaskDoc:
        task_id = value.get("task_id") if isinstance(value, dict) else None
        return cls(task_id if isinstance(task_id, str) else None, None, value)

    @property
    def value(self) -> Any:
        """The decoded document; None for a span no JSON reader accepts (the normalizer
        rejects it; its text is not kept: it may hold tokens)."""
        if self._value is _NOT_YET and self.received is not None:
            try:
                self._value = decode_json(memoryview(self.received))
            except UndecodableJson:
                self._value = None
        return self._value

    def raw_fingerprint(self) -> str | None:
        """sha256 hex of the bytes received, or None when they were not kept."""
        if self.received is None:
            return None
        return hashlib.sha256(self.received).hexdigest()

    def __repr__(self) -> str:
        return f"TaskDoc(task_id={self.task_id!r})"


def decode_task_page(raw: bytes) -> dict[str, Any] | None:
    """A task page's JSON object (the fields the client reads) with `data` as TaskDocs.

    Skimmed when msgspec accepts the body and `data` is a list; otherwise (NaN, lone
    surrogates, a `data` that is no list) decoded whole, and the documents carry their
    decoded values instead of their bytes.
    """
    try:
        page = _skim_page.decode(raw)
    except (msgspec.DecodeError, RecursionError):  # ValidationError included
        body = decode_json_object(raw)
        if body is not None and isinstance(body.get("data"), list):
            body["data"] = [TaskDoc.from_value(v) for v in body["data"]]
        return body
    body = {f: getattr(page, f) for f in page.__struct_fields__ if f != "data"}
    if page.data is not None:
        body["data"] = [TaskDoc.from_span(span) for span in page.data]
    return body
