"""`forget`: delete every task, call and transcript line of one contact (an erasure request)
and record the erasure, as a hash only, so a later sync skips that person's tasks.

A task is the contact's when its stored document names the contact: the flat contact columns
are derived from the document, and the document also holds the transcript and the call's
data. In keep mode the clear values are compared (normalized: E.164, lower-cased e-mail); in
hash mode the keyed hashes the placeholders carry. The erasure is recorded under the HMAC of
the contact in hash mode, else under its SHA-256 (pipeline/pii_mode.PiiRun.is_erased).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete
from sqlalchemy.exc import SQLAlchemyError

from unpod_etl.core import clock
from unpod_etl.core.errors import AbortError, ConfigError
from unpod_etl.normalize.pii import (
    DEFAULT_REGION,
    KEY_ENV,
    PiiMode,
    contact_kind,
    make_policy,
    normalize_value,
    plain_token,
)
from unpod_etl.normalize.pii_rows import contact_tokens
from unpod_etl.pipeline.pii_mode import settings_of
from unpod_etl.warehouse import liveness, pii_store
from unpod_etl.warehouse.db import describe_db_error, upgrade
from unpod_etl.warehouse.locks import NamedLock
from unpod_etl.warehouse.schema import rejected_records


@dataclass(frozen=True)
class ForgetResult:
    kind: str  # phone | email
    mode: str  # the warehouse's --pii mode
    scheme: str  # how the erasure is recorded: hmac | sha256
    tasks: int
    calls: int
    transcript_lines: int
    rejected_records: int

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "erasure_recorded": True}


def forget_contact(engine: Engine, contact: str, key: str | None = None) -> ForgetResult:
    """Erase `contact` (a phone number or an e-mail address); ConfigError on bad input,
    AbortError when the database fails or a sync is running."""
    if not contact.strip():
        raise ConfigError("--contact is empty")
    try:
        upgrade(engine)
        lock = NamedLock(engine, liveness.SQLITE_SYNC_LOCK)  # an unsharded sync's lock
        if not lock.try_acquire():
            raise AbortError("a sync is running against this database; forget after it ends")
        try:
            with engine.begin() as conn:
                return _forget(conn, contact, os.environ.get(KEY_ENV, "") if key is None else key)
        finally:
            lock.release()
    except SQLAlchemyError as exc:
        raise AbortError(f"database error: {describe_db_error(exc)}") from None


def _forget(conn: Connection, contact: str, key: str) -> ForgetResult:
    stored = pii_store.read_settings(conn)
    mode = stored.mode if stored is not None else PiiMode.KEEP.value
    region = stored.region if stored is not None else DEFAULT_REGION
    try:
        policy = make_policy(mode, key, region)
    except ValueError as exc:  # hash mode without the key
        raise ConfigError(f"this warehouse is in --pii hash: {exc}") from None
    if stored is not None and settings_of(policy).key_check != stored.key_check:
        raise ConfigError(f"{KEY_ENV} is not the key this warehouse's hashes were made with")
    kind = contact_kind(contact)
    normalized = normalize_value(kind, contact, region)
    hashed = policy.mode is PiiMode.HASH
    wanted = {policy.token(kind, normalized) if hashed else plain_token(kind, normalized)}
    task_ids = [
        tid for tid, doc in pii_store.iter_documents(conn) if contact_tokens(doc, policy) & wanted
    ]
    counts = pii_store.delete_tasks(conn, task_ids)
    rejected = [
        rid
        for rid, doc in pii_store.rejected_documents(conn)
        if contact_tokens(doc, policy) & wanted
    ]
    if rejected:
        where = rejected_records.c.rejection_id.in_(rejected)
        conn.execute(delete(rejected_records).where(where))
    scheme = "hmac" if hashed else "sha256"
    pii_store.record_erasure(conn, next(iter(wanted)), scheme, kind, counts, clock.now())
    return ForgetResult(kind, mode, scheme, *counts, len(rejected))
