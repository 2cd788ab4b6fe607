"""A PiiPolicy applied to the rows of one normalized task (normalize_task's `pii=`), and the
contacts a document names (for `forget` and the erasure check of a sync). Pure.

Which keys of the JSON hold a contact value as a whole is a fixed list (no NER): the task's
`input`, `user_info`, the call's `customer` and `post_call_data.summary` as the API sends them.
Keys that hold ids are never scanned: a long hex id can contain a run of digits that the
phone matcher would take for a number, and ids must stay joinable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from unpod_etl.normalize import fingerprints
from unpod_etl.normalize.pii import (
    EMAIL,
    EMAIL_RE,
    NAME,
    PHONE,
    PLACEHOLDER_RE,
    PiiMode,
    PiiPolicy,
    normalize_value,
    phone_spans,
    plain_token,
)
from unpod_etl.normalize.records import NormalizedTask

PHONE_KEYS = {"contact_number", "number", "phone", "phone_number", "contact", "mobile"}
PHONE_KEYS |= {"assistant_number", "customer_number", "caller", "callee"}
EMAIL_KEYS = {"email", "user_email", "contact_email", "email_address"}
NAME_KEYS = {"full_name", "first_name", "last_name", "contact_name", "customer_name"}
NAME_KEYS |= {"participant", "customer", "user_full_name"}
NAME_PARENTS = {"input", "summary", "customer", "user_info", "contact"}  # where `name` is a person
ID_KEYS = {"_id", "$oid", "id", "user", "collection_ref", "thread_id", "ref_id", "run_id"}

TASK_FLAT = {
    "user_email": EMAIL,
    "contact_email": EMAIL,
    "user_full_name": NAME,
    "contact_name": NAME,
    "contact_number": PHONE,
}
CALL_FLAT = {"customer": NAME, "contact_number": PHONE, "assistant_number": PHONE}
TASK_TEXT = ("objective", "last_failure_reason", "output_error")
CALL_TEXT = ("call_summary", "summary_text", "call_end_reason", "recording_url")
CALL_JSON = ("post_call_data", "structured_data", "classification_labels")


def _kind_of(key: str, parent: str | None) -> str | None:
    if key in PHONE_KEYS:
        return PHONE
    if key in EMAIL_KEYS:
        return EMAIL
    if key in NAME_KEYS or (key == "name" and parent in NAME_PARENTS):
        return NAME
    return None


def _is_id(key: str) -> bool:
    return key in ID_KEYS or key.endswith("_id")


def _leaves(obj: Any, parent: str | None = None) -> Iterator[tuple[str | None, Any, str | None]]:
    """(kind of the key or None, value, key) of every scalar outside id keys."""
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if isinstance(key, str) and _is_id(key):
                continue
            if isinstance(value, (Mapping, list)):
                yield from _leaves(value, key if isinstance(key, str) else None)
            else:
                yield (_kind_of(key, parent) if isinstance(key, str) else None), value, key
    elif isinstance(obj, list):
        for value in obj:
            yield from _leaves(value, parent)
    else:
        yield None, obj, None


def names_in(obj: Any) -> set[str]:
    """Person names held by known name keys: replaced in the task's free text too."""
    return {v for kind, v, _ in _leaves(obj) if kind == NAME and isinstance(v, str) and v.strip()}


def scrub_json(
    obj: Any,
    policy: PiiPolicy,
    names: set[str],
    parent: str | None = None,
    memo: dict[str, str] | None = None,
) -> Any:
    """A copy of obj with contact values (whole or inside text) replaced. `memo` caches the
    texts already scrubbed: a call's transcript is in the document and in its own rows."""
    memo = {} if memo is None else memo
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if isinstance(key, str) and _is_id(key):
                out[key] = value
                continue
            kind = _kind_of(key, parent) if isinstance(key, str) else None
            if kind == PHONE and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)  # a number sent as a JSON number is a number still
            if kind is not None and isinstance(value, str):
                out[key] = policy.whole(kind, value)
            else:
                sub = key if isinstance(key, str) else None
                out[key] = scrub_json(value, policy, names, sub, memo)
        return out
    if isinstance(obj, list):
        return [scrub_json(v, policy, names, parent, memo) for v in obj]
    if isinstance(obj, str):
        if obj not in memo:
            memo[obj] = policy.scrub_text(obj, names)
        return memo[obj]
    return obj


def apply_policy(item: NormalizedTask, policy: PiiPolicy) -> NormalizedTask:
    """The rows as stored under the policy; the fingerprint is of the transformed document."""
    if not policy.active:
        return item
    task, call = item.task, item.call
    names = names_in(task["document"])
    names |= {task[c] for c in ("user_full_name", "contact_name") if task.get(c)}
    if call is not None and isinstance(call.get("customer"), str):
        names.add(call["customer"])
    memo: dict[str, str] = {}
    document = scrub_json(task["document"], policy, names, memo=memo)
    new_task = {**task, "document": document}
    new_task["input"], new_task["output"] = document.get("input"), document.get("output")
    new_task["fingerprint"] = fingerprints.fingerprint_stored(document)
    _flat(new_task, TASK_FLAT, policy)
    _text(new_task, TASK_TEXT, policy, names, memo)
    new_call = None
    if call is not None:
        new_call = dict(call)
        _flat(new_call, CALL_FLAT, policy)
        _text(new_call, CALL_TEXT, policy, names, memo)
        for col in CALL_JSON:
            if new_call.get(col) is not None:
                new_call[col] = scrub_json(new_call[col], policy, names, memo=memo)
    lines = [
        {**line, "content": scrub_json(line["content"], policy, names, memo=memo)}
        if isinstance(line.get("content"), str)
        else line
        for line in item.lines
    ]
    return replace(item, task=new_task, call=new_call, lines=lines)


def _flat(row: dict[str, Any], columns: Mapping[str, str], policy: PiiPolicy) -> None:
    for col, kind in columns.items():
        if isinstance(row.get(col), str):
            row[col] = policy.flat(kind, row[col])


def _text(
    row: dict[str, Any],
    columns: tuple[str, ...],
    policy: PiiPolicy,
    names: set[str],
    memo: dict[str, str],
) -> None:
    for col in columns:
        if isinstance(row.get(col), str):
            row[col] = scrub_json(row[col], policy, names, memo=memo)


def contacts_in(obj: Any, region: str) -> set[tuple[str, str]]:
    """(kind, normalized value) of every phone number and e-mail address a document holds."""
    found: set[tuple[str, str]] = set()
    for kind, value, _key in _leaves(obj):
        if kind == PHONE and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            continue
        if kind in (PHONE, EMAIL) and not PLACEHOLDER_RE.fullmatch(value.strip()):
            found.add((kind, normalize_value(kind, value, region)))
        for m in EMAIL_RE.finditer(value):
            found.add((EMAIL, normalize_value(EMAIL, m.group(), region)))
        found.update((PHONE, e164) for _s, _e, e164 in phone_spans(value, region))
    return found


def contact_tokens(obj: Any, policy: PiiPolicy) -> set[str]:
    """Every token an erasure of a contact in obj may be recorded under: the plain SHA-256
    of each clear value (keep mode), its keyed hash (hash mode) and the hashes of the
    placeholders already in obj (a hashed stored document)."""
    tokens: set[str] = set()
    for kind, value in contacts_in(obj, policy.region):
        tokens.add(plain_token(kind, value))
        if policy.mode is PiiMode.HASH:
            tokens.add(policy.token(kind, value))
    for _kind, value, _key in _leaves(obj):
        if isinstance(value, str) and "[" in value:
            tokens.update(m.group(2) for m in PLACEHOLDER_RE.finditer(value) if m.group(2))
    return tokens
