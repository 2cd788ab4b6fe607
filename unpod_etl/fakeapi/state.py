"""FakeUnpod: the data behind the fake API, its mutations and its refusals.

Generated tasks are never stored: each agent keeps an ordered list of references (an int
for a generated task index, a task_id for an added task). A generated task is copied into
`_docs` only when a test mutates it. Encoded documents are kept in a bounded LRU so a
repeated walk over the same pages does not regenerate them.
"""

from __future__ import annotations

import bisect
import copy
import json
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from unpod_etl.core import clock
from unpod_etl.fakeapi import generator as gen
from unpod_etl.fakeapi.access import AccessControl
from unpod_etl.fakeapi.calls import epoch_seconds, hex_id
from unpod_etl.fakeapi.faults import FaultBook
from unpod_etl.fakeapi.server_writes import ServerWrites

Ref = int | str  # generated task index, or task_id of an added task


class FakeUnpod(ServerWrites):
    def __init__(
        self,
        agents: int = 3,
        tasks_per_agent: int = 40,
        seed: int = 1,
        token: str = "fake-token",  # noqa: S107 - a fake server's well-known test token
        org: str = "acme",
        unpublished_agents: int = 1,
        *,
        newest: datetime = gen.NEWEST_CREATED,
        ages: gen.AgeProfile | None = None,
        clock: Callable[[], datetime] | None = None,
        cache_documents: int = 20_000,
    ) -> None:
        self.seed, self.token, self.org = seed, token, org
        self.tasks_per_agent = tasks_per_agent
        self._newest = newest
        # Realistic ages (ages.py); None keeps the fixed 37-minute steps and the full mix.
        self._spread = None if ages is None else ages.spread(tasks_per_agent)
        self._clock = clock
        self._last_now = newest + timedelta(seconds=1)
        self._lock = threading.RLock()  # the documents; access and faults lock their own
        self.access = AccessControl(known=self._known)  # token, refusals, request log
        self.faults = FaultBook()  # failures injected on purpose
        first_unpublished = agents - max(0, min(unpublished_agents, agents))
        self._agents = [gen.make_agent(seed, i, i < first_unpublished) for i in range(agents)]
        self._by_handle = {agent.handle: agent for agent in self._agents}
        self._order: list[list[Ref]] = [list(range(tasks_per_agent)) for _ in self._agents]
        self._docs: dict[str, dict[str, Any]] = {}  # mutated or added documents
        self._materialized: dict[tuple[int, int], str] = {}  # (agent, index) -> task_id
        self._added_owner: dict[str, int] = {}
        self._added_serial = 0
        self._followups: dict[str, int] = {}  # original task_id -> follow-ups made
        self._removed: set[str] = set()
        self._also_listed: dict[str, set[int]] = {}  # task_id -> other agents listing it
        self._locations: dict[str, tuple[int, int]] | None = None  # built on first lookup
        self._encoded: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._cache_size = cache_documents

    # -- reading -------------------------------------------------------------------------

    def published_handles(self) -> list[str]:
        return [agent.handle for agent in self._agents if agent.published]

    def unpublished_handles(self) -> list[str]:
        return [agent.handle for agent in self._agents if not agent.published]

    def all_handles(self) -> list[str]:
        return [agent.handle for agent in self._agents]

    def agent_listing(self) -> list[dict[str, str]]:
        return [agent.listing() for agent in self._agents if agent.published]

    def count(self, handle: str) -> int:
        with self._lock:
            return len(self._order[self._agent(handle).index])

    def tasks(self, handle: str) -> list[dict[str, Any]]:
        """Current documents of an agent, newest first (copies: editing them changes nothing)."""
        with self._lock:
            index = self._agent(handle).index
            return [self._copy(index, ref) for ref in self._order[index]]

    def task(self, task_id: str) -> dict[str, Any]:
        with self._lock:
            return self._copy(*self._locate(task_id))

    def secret_values(self) -> set[str]:
        """Every user_token and the API token; generates every document, so slow at scale."""
        with self._lock:
            found = {self.token}
            for handle in self.all_handles():
                for doc in self.tasks(handle):
                    token = (doc.get("user_info") or {}).get("user_token")
                    if token:
                        found.add(token)
            return found

    def page_json(self, handle: str, page: int, page_size: int) -> tuple[int, bytes]:
        """(count, JSON array of the page's documents), each document encoded once."""
        with self._lock:
            index = self._agent(handle).index
            order = self._order[index]
            refs = order[(page - 1) * page_size : page * page_size]
            return len(order), b"[" + b", ".join(self._encode(index, ref) for ref in refs) + b"]"

    # -- mutations -----------------------------------------------------------------------

    def now(self) -> datetime:
        """Naive-UTC 'now', strictly increasing by at least 1 ms per call and never older
        than the generated data, so every write made now is the newest."""
        with self._lock:
            real = self._clock() if self._clock else clock.now().replace(tzinfo=None)
            self._last_now = max(real, self._last_now + timedelta(milliseconds=1))
            return self._last_now

    def add_task(self, handle: str, *, kind: str = "pending", **overrides: Any) -> dict[str, Any]:
        """A new task created now (so the newest); top-level fields may be overridden."""
        with self._lock:
            agent, now = self._agent(handle), self.now()
            self._added_serial += 1
            rng = random.Random(f"{self.seed}:{agent.index}:added:{self._added_serial}")
            doc = gen.build_task(rng, agent, "T" + hex_id(rng, 32), now, kind)
            # Kinds that already ran would carry later times; nothing may be later than now.
            if datetime.fromisoformat(doc["modified"]) > now:
                doc["modified"] = gen.iso_ms(now)
            marker = doc["last_status_change"]
            if marker is not None and datetime.fromisoformat(marker) > now:
                doc["last_status_change"] = gen.iso_micro(now)
            doc.update(copy.deepcopy(overrides))
            self._insert(agent, doc)
            return copy.deepcopy(doc)

    def reassign_task(self, task_id: str, handle: str) -> None:
        """What a live server may do (the API notes): the task now lists under `handle`,
        with `assignee` changed and `modified` moved; the rest of the document is kept."""
        with self._lock:
            agent = self._agent(handle)
            doc = copy.deepcopy(self._materialize(task_id))
            self.remove_task(task_id)
            self._removed.discard(task_id)
            doc["assignee"] = handle
            doc["modified"] = gen.iso_ms(self.now())
            self._insert(agent, doc)

    def _insert(self, agent: gen.Agent, doc: dict[str, Any]) -> None:
        """Place a document in the agent's newest-first list, by its `created`."""
        task_id = str(doc["task_id"])
        self._docs[task_id] = doc
        self._added_owner[task_id] = agent.index
        order = self._order[agent.index]
        key = -epoch_seconds(self._created(agent.index, task_id))
        at = bisect.bisect_left(
            order, key, key=lambda ref: -epoch_seconds(self._created(agent.index, ref))
        )
        order.insert(at, task_id)

    def list_also(self, task_id: str, handle: str, **overrides: Any) -> None:
        """List a task under another agent too: the same document (its changes show under
        both), in its place by `created`. Overrides set top-level fields, e.g. `assignee`."""
        with self._lock:
            doc, index = self._materialize(task_id), self._agent(handle).index
            order = self._order[index]
            if task_id in order or self._locate(task_id)[0] == index:
                raise ValueError(f"agent {handle!r} already lists task {task_id!r}")
            doc.update(copy.deepcopy(overrides))
            key = -epoch_seconds(self._created(index, task_id))
            at = bisect.bisect_left(
                order, key, key=lambda ref: -epoch_seconds(self._created(index, ref))
            )
            order.insert(at, task_id)
            self._also_listed.setdefault(task_id, set()).add(index)

    def remove_task(self, task_id: str) -> None:
        with self._lock:
            agent_index, ref = self._locate(task_id)
            for other in self._also_listed.pop(task_id, set()):
                self._order[other].remove(task_id)
            self._order[agent_index].remove(ref)
            self._docs.pop(task_id, None)
            self._added_owner.pop(task_id, None)
            if isinstance(ref, int):
                self._removed.add(task_id)
                self._materialized.pop((agent_index, ref), None)
                self._encoded.pop((agent_index, ref), None)

    # -- internals -----------------------------------------------------------------------

    def _known(self, handle: str) -> None:
        self._agent(handle)

    def _agent(self, handle: str) -> gen.Agent:
        try:
            return self._by_handle[handle]
        except KeyError:
            raise KeyError(f"unknown agent handle {handle!r}") from None

    def _locate(self, task_id: str) -> tuple[int, Ref]:
        if task_id in self._added_owner:
            return self._added_owner[task_id], task_id
        if self._locations is None:
            self._locations = {
                gen.task_head(self.seed, a, i, self._newest, self._spread)[0]: (a, i)
                for a in range(len(self._agents))
                for i in range(self.tasks_per_agent)
            }
        if task_id in self._removed or task_id not in self._locations:
            raise KeyError(f"unknown task {task_id!r}")
        return self._locations[task_id]

    def _created(self, agent_index: int, ref: Ref) -> datetime:
        if isinstance(ref, int):
            return gen.task_head(self.seed, agent_index, ref, self._newest, self._spread)[1]
        try:
            return datetime.fromisoformat(str(self._docs[ref]["created"])).replace(tzinfo=None)
        except ValueError:
            return self._last_now  # an unparseable override sorts as "now"

    def _stored(self, agent_index: int, ref: Ref) -> dict[str, Any] | None:
        if isinstance(ref, str):
            return self._docs[ref]
        task_id = self._materialized.get((agent_index, ref))
        return None if task_id is None else self._docs[task_id]

    def _generate(self, agent_index: int, index: int) -> dict[str, Any]:
        agent = self._agents[agent_index]
        return gen.make_task(self.seed, agent, index, self._newest, self._spread)

    def _copy(self, agent_index: int, ref: Ref) -> dict[str, Any]:
        stored = self._stored(agent_index, ref)
        if stored is not None:
            return copy.deepcopy(stored)
        assert isinstance(ref, int)
        return self._generate(agent_index, ref)

    def _materialize(self, task_id: str) -> dict[str, Any]:
        agent_index, ref = self._locate(task_id)
        stored = self._stored(agent_index, ref)
        if stored is not None:
            return stored
        assert isinstance(ref, int)
        doc = self._docs[task_id] = self._generate(agent_index, ref)
        self._materialized[(agent_index, ref)] = task_id
        self._encoded.pop((agent_index, ref), None)
        return doc

    def _encode(self, agent_index: int, ref: Ref) -> bytes:
        stored = self._stored(agent_index, ref)
        if stored is not None:  # mutable: encode afresh each time
            return json.dumps(stored, ensure_ascii=False).encode()
        assert isinstance(ref, int)
        key = (agent_index, ref)
        cached = self._encoded.get(key)
        if cached is not None:
            self._encoded.move_to_end(key)
            return cached
        body = json.dumps(self._generate(agent_index, ref), ensure_ascii=False).encode()
        if self._cache_size > 0:
            self._encoded[key] = body
            if len(self._encoded) > self._cache_size:
                self._encoded.popitem(last=False)
        return body
