"""Faults that change what a good page holds rather than how the request fails: a server (or
a proxy, or a server upgrade) that pages differently, or sends the same values in another shape.

Paging kinds pick the page that is served (routes._tasks asks `served_page` first):
- `ignore_page_size`: the server serves `serve` (20) tasks a page whatever was asked;
- `repeat_page`: the server answers page `answer` (1) for every page number;
- `shift`: before the page is served, the task at `index` of the list is deleted (default 0,
  the newest: above the cursor of any page but the first), so the live list moves up under
  the walk and an unread task lands on a page already read; `fault.details` names it.
Envelope kinds edit the JSON of the normal reply (`reshape`):
- `wrong_count`: `count` multiplied by `factor` (0.5 or 2: off either way);
- `epoch_times`: `last_status_change`, `modified`, `output.start_time` and `output.end_time`
  as epoch numbers in `unit` ("ms", also "s" or "us");
- `string_post_call_data`: `output.post_call_data` sent as a JSON string;
- `number_transcript`: a bare number (`value`, 42) inserted into list transcripts at `index` 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class LiveList(Protocol):
    """What a shift needs of the fake (FakeUnpod); a Protocol keeps imports one-way."""

    def tasks(self, handle: str) -> list[dict[str, Any]]: ...
    def remove_task(self, task_id: str) -> None: ...


class Rule(Protocol):
    """What these kinds read of a fault rule (faults.Fault)."""

    kind: str
    params: dict[str, Any]
    details: list[str]


PAGING_KINDS: dict[str, frozenset[str]] = {
    "ignore_page_size": frozenset({"serve"}),
    "repeat_page": frozenset({"answer"}),
    "shift": frozenset({"index"}),
}
ENVELOPE_KINDS: dict[str, frozenset[str]] = {
    "wrong_count": frozenset({"factor"}),
    "epoch_times": frozenset({"unit"}),
    "string_post_call_data": frozenset(),
    "number_transcript": frozenset({"value", "index"}),
}
EPOCH_UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000}
TIME_FIELDS = ("last_status_change", "modified")
OUTPUT_TIME_FIELDS = ("start_time", "end_time")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def served_page(fake: LiveList, fault: Rule, handle: str, page: int, size: int) -> tuple[int, int]:
    """The (page, page_size) a paging fault serves instead of the one asked."""
    params = fault.params
    if fault.kind == "ignore_page_size":
        return page, int(params.get("serve", 20))
    if fault.kind == "repeat_page":
        return int(params.get("answer", 1)), size
    # shift: delete a task (by default one the walk has already read) between page requests
    index = int(params.get("index", 0))
    tasks = fake.tasks(handle)
    if 0 <= index < len(tasks):
        victim = str(tasks[index]["task_id"])
        fake.remove_task(victim)
        fault.details.append(victim)
    return page, size


def reshape(envelope: dict[str, Any], fault: Rule) -> None:
    """Edit a task page's envelope in place the way an envelope fault says."""
    params = fault.params
    if fault.kind == "wrong_count":
        count = envelope.get("count")
        if isinstance(count, int):
            envelope["count"] = int(count * float(params.get("factor", 0.5)))
        return
    for doc in envelope.get("data") or []:
        if not isinstance(doc, dict):
            continue
        output = doc.get("output")
        output = output if isinstance(output, dict) else {}
        if fault.kind == "epoch_times":
            scale = EPOCH_UNITS[str(params.get("unit", "ms"))]
            for holder, names in ((doc, TIME_FIELDS), (output, OUTPUT_TIME_FIELDS)):
                for name in names:
                    holder[name] = _epoch(holder.get(name), scale)
        elif fault.kind == "string_post_call_data":
            if isinstance(output.get("post_call_data"), dict):
                output["post_call_data"] = json.dumps(output["post_call_data"])
        elif isinstance(output.get("transcript"), list):  # number_transcript
            at = int(params.get("index", 1))
            output["transcript"].insert(at, params.get("value", 42))


def _epoch(value: Any, scale: int) -> Any:
    """An ISO time as an epoch number (int when whole); anything else as it was."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Whole microseconds, then scaled: no float rounding of the fraction.
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    return micros * scale // 1_000_000
