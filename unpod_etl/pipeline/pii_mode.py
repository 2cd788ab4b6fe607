"""The --pii mode of a warehouse over time: recorded once, refused when changed on stored data
unless `--rewrite-pii` re-processes every stored row from its stored document (no API call).

In keep mode the stored document is the source as received (minus secrets), so keep -> hash and
keep -> redact rewrite every table from it; hash -> redact drops the hashes. hash -> keep,
redact -> anything and a new hash key cannot be done: the clear values are gone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine

from unpod_etl.core import clock
from unpod_etl.core.errors import ConfigError
from unpod_etl.normalize import RejectedRecord, normalize_task
from unpod_etl.normalize.pii import KEY_ENV, PiiMode, PiiPolicy, make_policy
from unpod_etl.normalize.pii_rows import contact_tokens, names_in, scrub_json
from unpod_etl.warehouse import load, pii_store
from unpod_etl.warehouse.pii_store import PiiSettings

log = logging.getLogger(__name__)
DbRunner = Callable[[Callable[[Connection], Any]], Any]
REWRITE_BATCH = 200
# (stored mode, wanted mode) pairs a rewrite can do from the stored documents.
REWRITABLE = {
    (PiiMode.KEEP, PiiMode.HASH),
    (PiiMode.KEEP, PiiMode.REDACT),
    (PiiMode.HASH, PiiMode.REDACT),
}


@dataclass
class PiiRun:
    """What a sync applies: the policy, and the contact hashes `forget` erased."""

    policy: PiiPolicy = field(default_factory=PiiPolicy)
    erased: frozenset[str] = frozenset()

    @property
    def normalize_policy(self) -> PiiPolicy | None:
        return self.policy if self.policy.active else None

    def is_erased(self, doc: Any) -> bool:
        """Whether the document names a contact an erasure was recorded for."""
        return bool(self.erased) and not contact_tokens(doc, self.policy).isdisjoint(self.erased)

    def rejected_doc(self, doc: Any) -> Any:
        """A document kept in rejected_records, under the same policy as the rows."""
        if not self.policy.active:
            return doc
        return scrub_json(doc, self.policy, names_in(doc))


def settings_of(policy: PiiPolicy) -> PiiSettings:
    return PiiSettings(policy.mode.value, policy.region, policy.key_check())


def prepare(db: DbRunner, policy: PiiPolicy, rewrite: bool) -> PiiRun:
    """Check (and record, or rewrite to) the mode; the run's PiiRun. ConfigError if refused."""
    wanted = settings_of(policy)
    recorded, has_data = db(lambda c: (pii_store.read_settings(c), pii_store.holds_data(c)))
    # Rows written before the mode was recorded (migration 0012) were written as received.
    stored = recorded or PiiSettings(PiiMode.KEEP.value, policy.region, None)
    if not has_data or (recorded is None and not _differs(stored, wanted)):
        if recorded != wanted:  # changed_at stays when the mode was set
            db(lambda c: pii_store.write_settings(c, wanted, _now()))
    elif _differs(stored, wanted):
        _check_change(stored, wanted, rewrite)
        count = rewrite_rows(db, policy)
        db(lambda c: pii_store.write_settings(c, wanted, _now()))
        log.warning(
            "rewrote %d stored tasks from --pii %s to --pii %s", count, stored.mode, wanted.mode
        )
    elif rewrite:
        log.info(
            "--rewrite-pii: the warehouse is already in --pii %s; nothing to rewrite", stored.mode
        )
    return PiiRun(policy, db(pii_store.erasure_hashes))


def warehouse_pii(engine: Engine) -> PiiRun:
    """The mode the warehouse was written in, for writers that follow it (the webhook):
    the key comes from UNPOD_ETL_PII_KEY, and must be the one the warehouse was hashed with."""
    with engine.connect() as conn:
        recorded = pii_store.read_settings(conn)
        erased = pii_store.erasure_hashes(conn)
    if recorded is None:  # never recorded: written as received
        return PiiRun(PiiPolicy(), erased)
    try:
        policy = make_policy(recorded.mode, os.environ.get(KEY_ENV, ""), recorded.region)
    except ValueError as exc:
        raise ConfigError(f"the warehouse is in --pii {recorded.mode}: {exc}") from None
    if settings_of(policy).key_check != recorded.key_check:
        raise ConfigError(
            f"{KEY_ENV} is not the key the warehouse's --pii {recorded.mode} hashes were made with"
        )
    return PiiRun(policy, erased)


def _differs(stored: PiiSettings, wanted: PiiSettings) -> bool:
    if stored.mode != wanted.mode:
        return True
    if stored.mode == PiiMode.KEEP:
        return False
    return stored.region != wanted.region or stored.key_check != wanted.key_check


def _check_change(stored: PiiSettings, wanted: PiiSettings, rewrite: bool) -> None:
    old, new = PiiMode(stored.mode), PiiMode(wanted.mode)
    if old is new and old is PiiMode.HASH and stored.key_check != wanted.key_check:
        raise ConfigError(
            "UNPOD_ETL_PII_KEY is not the key this warehouse's hashes were made with; "
            "set the original key (hashes cannot be re-keyed)"
        )
    if old is new:
        raise ConfigError(
            f"the warehouse was written with --pii-region {stored.region}; keep it "
            f"(re-reading numbers with another region needs their clear values)"
        )
    if (old, new) not in REWRITABLE:
        raise ConfigError(
            f"the warehouse holds rows written with --pii {old}: their clear values are gone, "
            f"so --pii {new} is impossible; keep --pii {old} (or sync into a new warehouse)"
        )
    if not rewrite:
        raise ConfigError(
            f"the warehouse holds rows written with --pii {old}; to switch to --pii {new}, "
            f"run once with --rewrite-pii (re-processes the stored rows, no API calls), "
            f"or keep --pii {old}"
        )


def rewrite_rows(db: DbRunner, policy: PiiPolicy) -> int:
    """Every stored task re-normalized from its stored document under `policy`, a batch per
    transaction; raw fingerprints stay (the API's bytes did not change), so the next sync of
    unchanged tasks writes nothing. Rejected documents are transformed in place."""
    after, count = "", 0
    while True:
        batch = db(partial(pii_store.task_batch, after=after, limit=REWRITE_BATCH))
        if not batch:
            break
        db(partial(_rewrite_batch, batch=batch, policy=policy))
        count += len(batch)
        after = batch[-1].task_id

    def rejected(conn: Connection) -> None:
        docs = pii_store.rejected_documents(conn)
        pairs = [(rid, scrub_json(doc, policy, names_in(doc))) for rid, doc in docs]
        pii_store.set_rejected_documents(conn, pairs)

    db(rejected)
    return count


def _rewrite_batch(conn: Connection, batch: list[pii_store.StoredTask], policy: PiiPolicy) -> None:
    items, stamps = [], []
    for row in batch:
        try:
            item = normalize_task(row.document, row.agent_handle, row.raw_fingerprint, pii=policy)
        except RejectedRecord as exc:  # stored once, so normalizable; never keep clear values
            log.error("task %s could not be rewritten (%s): deleted", row.task_id, exc.reason)
            pii_store.delete_tasks(conn, [row.task_id])
            continue
        items.append(item)
        stamps.append(
            {
                "tid": row.task_id,
                "synced": row.last_synced_at,
                "run": row.last_sync_run_id,
                "ref": item.task.get("referenced_task_id") or row.referenced_task_id,
                "count": item.task.get("followup_count") or row.followup_count,
            }
        )
    load.write_tasks(conn, items, 0, _now())
    pii_store.restore_stamps(conn, stamps)


def _now() -> datetime:
    return clock.now()
