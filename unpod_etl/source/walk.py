"""What a walk of one agent's task pages learned about itself, beyond the pages it yielded.

The page loop (source/paging.py) fills it in as it goes; the pipeline reads it once the
walk has ended, to decide whether the walk may stand for the whole of the agent's list (only a
complete walk may mark tasks deleted).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WalkReport:
    # True only when the walk reached the end of the list (an empty page, or a page shorter
    # than the server's full page), the distinct tasks seen agree with `count`, and no shift
    # of the list under it was left unresolved.
    complete: bool = False
    shifts: int = 0  # times the live list was seen to shift under the walk
    unresolved_shifts: int = 0  # shifts whose re-read could not prove nothing was skipped
    count_mismatch: bool = False  # distinct tasks seen and `count` disagree at the end
    ended_by: str | None = None  # why the walk stopped: "short page", "empty page", ...
    api_count: int | None = None  # the largest `count` the server announced
    last_count: int | None = None  # the `count` of the walk's last answer
    distinct_seen: int = 0  # distinct task ids (plus id-less documents) the walk yielded
    served_page_size: int | None = None  # set when the server ignores the page_size asked

    def problems(self) -> list[str]:
        """One summary line per reason this walk does not stand for the whole list."""
        lines = []
        if self.count_mismatch:
            lines.append(
                f"{self.distinct_seen} distinct tasks seen but the server counts "
                f"{self.last_count}: count mismatch, walk not complete (no deletions)"
            )
        if self.unresolved_shifts:
            lines.append(
                "the list shifted under the walk and a re-read could not rule out a skipped "
                "task: walk not complete (no deletions)"
            )
        if self.ended_by == "past the announced count":
            lines.append("the server kept serving full pages far past its count")
        return lines
