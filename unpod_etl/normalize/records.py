"""What the normalizer hands back: the rows of one task, or the reason it could not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class RejectedRecord(ValueError):
    """A task document that cannot be normalized; .reason is a short human text (never secrets)."""

    def __init__(self, reason: str, *, task_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.task_id = task_id


@dataclass(frozen=True)
class NormalizedTask:
    """The warehouse rows of one task document.

    task:  a schema.tasks row, every column except first_synced_at, last_synced_at and
           last_sync_run_id (the loader owns those).
    call:  a schema.calls row, or None when the task has no call.
    lines: schema.transcript_lines rows of that call, seq from 0 (empty without a call).
    unreadable_times: the fields whose time was there but could not be read (stored NULL,
           the raw value in `document`), one entry per occurrence, for the pipeline to count.
    """

    task: dict[str, Any]
    call: dict[str, Any] | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    unreadable_times: tuple[str, ...] = ()
