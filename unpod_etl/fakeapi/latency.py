"""How long the server takes to answer a task page (optional; off by default).

The tasks query is `{"assignee": handle}`, unindexed and sorted by `created` (the API notes):
the database reads and sorts every task of the agent, then skips to the page. So an answer's
latency grows with the agent's total and with the page's offset. Set
`fake.access.scan_latency = ScanLatency(...)` and every task page is answered that much later
(Reply.delay, honoured by FakeServer).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScanLatency:
    base: float = 0.0  # seconds, for any page
    per_task_total: float = 0.0  # seconds per task of the agent (the scan and the sort)
    per_task_offset: float = 0.0  # seconds per task skipped before the page

    def delay(self, total: int, page: int, page_size: int) -> float:
        """Seconds before answering `page` (1-based) of an agent holding `total` tasks; a
        page past the end skips no more than the whole list."""
        offset = min(total, (page - 1) * page_size)
        return self.base + self.per_task_total * total + self.per_task_offset * offset

    def describe(self) -> str:
        return (
            f"{self.base * 1000:g} ms + {self.per_task_total * 1e6:g} us per task of the agent"
            f" + {self.per_task_offset * 1e6:g} us per task before the page"
        )
