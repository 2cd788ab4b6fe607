"""One owner per task: a task listed under two agents is written once, by its owner.

The server lists an agent's tasks by `assignee`, so a task normally appears under one agent.
When it appears under two (a duplicated handle, a reassignment, a proxy), writing it under
whichever agent came last made the row's agent flip and the task rewrite on every run. The
owner is decided from facts that do not depend on which worker thread got there first:

1. the agent its `assignee` names, when that is the listing agent or another agent of the run
   (every agent it lists or names, all shards: that agent lists the task too);
2. otherwise the agent the warehouse already stores it under (the first that listed it, in
   an earlier run or earlier in this one);
3. otherwise the first agent of this run that claimed it (one claim wins, under a lock).

A listing by any other agent counts `duplicate_listing` and writes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import Connection

from unpod_etl.warehouse import load

DbRunner = Callable[[Callable[[Connection], Any]], Any]


def assigned_owner(lister: str, assignee: Any, agents: Collection[str]) -> str | None:
    """Rule 1: the owner the task's `assignee` names, or None when it names neither the
    listing agent nor another agent of the run."""
    if not isinstance(assignee, str):
        return None
    named = assignee.strip()
    if named == lister or named in agents:
        return named
    return None


def first_lister(stored_agent: str | None, claim: Callable[[], str]) -> str:
    """Rules 2 and 3: the agent the task is stored under, else the run's first claimant
    (`claim` records this agent's claim and returns the first one)."""
    return stored_agent if stored_agent is not None else claim()


class TaskOwners:
    """One run's ownership book, shared by the agents' worker threads."""

    def __init__(self, agents: Iterable[str]) -> None:
        self.agents = frozenset(agents)
        self._lock = threading.Lock()
        self._claims: dict[str, str] = {}  # task_id -> first agent that claimed it (rule 3)

    def claim(self, task_id: str, agent: str) -> str:
        """The first agent of this run to claim the task (this one, if none did before)."""
        with self._lock:
            return self._claims.setdefault(task_id, agent)

    def page(
        self, lister: str, page_ids: Iterable[str | None], stored_ids: Collection[str], db: DbRunner
    ) -> PageOwners:
        return PageOwners(self, lister, page_ids, stored_ids, db)


class PageOwners:
    """Ownership answers for the documents of one page of one agent. The warehouse is asked
    which agent it stores tasks under only when rule 1 cannot tell, once per page."""

    def __init__(
        self,
        book: TaskOwners,
        lister: str,
        page_ids: Iterable[str | None],
        stored_ids: Collection[str],
        db: DbRunner,
    ) -> None:
        self.book, self.lister, self._db = book, lister, db
        self._stored_ids = stored_ids  # task_ids stored under the lister
        self._unknown = [t for t in page_ids if t is not None and t not in stored_ids]
        self._stored_agents: dict[str, str] | None = None

    def owns(self, task_id: str, document: Any) -> bool:
        """True when the lister owns the task and may write it."""
        assignee = document.get("assignee") if isinstance(document, Mapping) else None
        owner = assigned_owner(self.lister, assignee, self.book.agents)
        if owner is None:
            stored = self.lister if task_id in self._stored_ids else self._stored_agent(task_id)
            owner = first_lister(stored, lambda: self.book.claim(task_id, self.lister))
        return owner == self.lister

    def _stored_agent(self, task_id: str) -> str | None:
        if self._stored_agents is None:  # one query for every task of the page it may need
            ids = list(dict.fromkeys([*self._unknown, task_id]))
            self._stored_agents = self._db(lambda conn: load.stored_agents(conn, ids))
        return self._stored_agents.get(task_id)
