"""What a walk of one agent's task pages learned about itself, beyond the pages it yielded.

The page loop (client.iter_task_pages) fills it in as it goes; the pipeline reads it once the
walk has ended, to decide whether the walk may stand for the whole of the agent's list (only a
complete walk may mark tasks deleted).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WalkReport:
    # True only when the walk reached the end of the list: an empty or short page, or `count`
    # distinct tasks seen, with no unresolved shift of the list under it.
    complete: bool = False
    shifts: int = 0  # times the live list was seen to shift under the walk
    ended_by: str | None = None  # why the walk stopped: "short page", "count reached", ...
    api_count: int | None = None  # the largest `count` the server announced
