"""Which agents one run syncs: the handles named (--agent) or those the org lists, cut to
the run's shard; the rest of the named ones are skipped, with the reason said."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from unpod_etl.core.errors import AbortError, ApiError
from unpod_etl.normalize import RejectedRecord, normalize_agent
from unpod_etl.pipeline.ownership import TaskOwners
from unpod_etl.pipeline.sync_config import shard_of
from unpod_etl.source.client import UnpodClient

log = logging.getLogger(__name__)


@dataclass
class RunAgents:
    handles: list[str]  # this run's agents, in order
    owners: TaskOwners  # who owns a task listed twice (pipeline/ownership.py)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (handle, why)


def named_agents(named: Sequence[str], shard: tuple[int, int]) -> RunAgents:
    """The named handles of this shard. Their `agents` rows appear with their first page:
    a handle the API answers 404 for must leave no row behind."""
    k, n = shard
    unique = list(dict.fromkeys(named))
    agents = RunAgents(
        [h for h in unique if shard_of(h, n) == k],
        TaskOwners(unique),  # all shards: an assignee elsewhere still owns its task
    )
    for other in (h for h in unique if shard_of(h, n) != k):
        why = f"in shard {shard_of(other, n)}/{n}, not this run's shard {k}/{n}"
        log.warning("agent %s is %s; skipped", other, why)
        agents.skipped.append((other, why))
    return agents


def listed_agents(
    client: UnpodClient,
    shard: tuple[int, int],
    store: Callable[[list[dict[str, Any]]], None],
) -> RunAgents:
    """The org's published agents of this shard; `store` records every listed agent's row."""
    k, n = shard
    rows = agent_rows(client)
    store(rows)
    handles = [r["handle"] for r in rows]
    return RunAgents([h for h in handles if shard_of(h, n) == k], TaskOwners(handles))


def agent_rows(client: UnpodClient) -> list[dict[str, Any]]:
    """The org's published agents as `agents` rows; an entry that is no agent is skipped,
    said so. A list that cannot be read ends the run (AbortError)."""
    try:
        listed = client.list_agents()
    except ApiError as exc:
        if isinstance(exc, AbortError):
            raise
        raise AbortError(f"cannot list agents: {exc}") from None
    rows = []
    for doc in listed:
        try:
            rows.append(normalize_agent(doc))
        except RejectedRecord as exc:
            log.warning("skipping an agent entry: %s", exc.reason)
    return rows
