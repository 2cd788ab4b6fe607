"""What the server's own writers do to stored tasks (see "What the server's writers really do"
in the API notes): status moves with or without the marker, the post-call job, the interim
output, follow-ups. A mixin of FakeUnpod, kept apart so state.py holds only the storage."""

from __future__ import annotations

import copy
import threading
from datetime import datetime, timedelta
from typing import Any

from unpod_etl.fakeapi import generator as gen
from unpod_etl.fakeapi.agents import Agent

INTERIM_DATA = "call completed evaluated data will be available soon"


class ServerWrites:
    seed: int
    _lock: threading.RLock
    _agents: list[Agent]
    _followups: dict[str, int]

    def now(self) -> datetime:
        raise NotImplementedError

    def _materialize(self, task_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def _locate(self, task_id: str) -> tuple[int, int | str]:
        raise NotImplementedError

    def add_task(self, handle: str, *, kind: str = "pending", **overrides: Any) -> dict[str, Any]:
        raise NotImplementedError

    def move_status(self, task_id: str, status: str, *, marker: bool = True) -> None:
        """Set status; `modified` always moves, `last_status_change` only with marker=True."""
        with self._lock:
            doc, now = self._materialize(task_id), self.now()
            doc["status"] = status
            doc["modified"] = gen.iso_ms(now)
            if marker:
                doc["last_status_change"] = gen.iso_micro(now)

    def complete_without_marker(self, task_id: str) -> None:
        """What the post-call job does: completed + full call output, marker untouched."""
        with self._lock:
            doc, now = self._materialize(task_id), self.now()
            doc["status"] = "completed"
            doc["output"] = gen.completion_output(self.seed, task_id, doc, now)
            doc["modified"] = gen.iso_ms(now)

    def set_interim(self, task_id: str, *, marker: bool = True) -> None:
        """The post-call flow's first write: completed, with a placeholder for the output."""
        with self._lock:
            doc, now = self._materialize(task_id), self.now()
            output = doc.get("output")
            call_status = output.get("call_status") if isinstance(output, dict) else None
            doc["status"] = "completed"
            doc["output"] = {"call_status": call_status or "completed", "data": INTERIM_DATA}
            doc["modified"] = gen.iso_ms(now)
            if marker:
                doc["last_status_change"] = gen.iso_micro(now)

    def add_followup(self, task_id: str) -> dict[str, Any]:
        """What a scheduled follow-up is (the API notes): a new task with the original's
        run_id, assignee and input, status scheduled, a null marker and no provider."""
        with self._lock:
            original = copy.deepcopy(self._materialize(task_id))
            agent_index, _ = self._locate(task_id)
            serial = self._followups[task_id] = self._followups.get(task_id, 0) + 1
            when = (self.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
            return self.add_task(
                self._agents[agent_index].handle,
                run_id=original.get("run_id"),
                assignee=original.get("assignee"),
                input=original.get("input"),
                status="scheduled",
                last_status_change=None,
                provider=None,
                output={
                    "scheduled_time": when.strftime("%Y-%m-%d %H:%M:%S+00:00"),
                    "followup_count": serial,
                    "referenced_task": task_id,
                },
            )

    def set_transcript(
        self, task_id: str, messages: list[Any] | str, *, touch_modified: bool = True
    ) -> None:
        with self._lock:
            doc = self._materialize(task_id)
            if not isinstance(doc.get("output"), dict):
                doc["output"] = {}
            doc["output"]["transcript"] = copy.deepcopy(messages)
            if touch_modified:
                doc["modified"] = gen.iso_ms(self.now())
