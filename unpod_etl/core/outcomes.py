"""How a run and an agent's part of it end: the one vocabulary of `sync_runs.outcome` and
`sync_agent_results.outcome`, used by the sync, the bookkeeping, the CLI and the report."""

from __future__ import annotations

from enum import StrEnum


class RunOutcome(StrEnum):
    RUNNING = "running"  # the run is under way (or its process died: see DIED)
    OK = "ok"  # every agent synced
    PARTIAL = "partial"  # some agents failed
    ABORTED = "aborted"  # the token was refused or the database went away
    DIED = "died"  # the process ended before the run finished (found by liveness)
    INTERRUPTED = "interrupted"  # SIGINT/SIGTERM: stopped between pages, counts as landed


class AgentOutcome(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # another worker holds the agent
    DIED = "died"  # the run's process ended while the agent was under way
    INTERRUPTED = "interrupted"  # the run was interrupted while the agent was under way


# The process exit code a run's outcome gives (README, "Exit codes"); total over RunOutcome.
EXIT_CODES: dict[RunOutcome, int] = {
    RunOutcome.OK: 0,
    RunOutcome.PARTIAL: 1,
    RunOutcome.ABORTED: 3,
    RunOutcome.RUNNING: 3,
    RunOutcome.DIED: 3,
    RunOutcome.INTERRUPTED: 130,  # 128 + SIGINT; see interrupted_exit_code for the signal's
}


def interrupted_exit_code(signum: int | None) -> int:
    """The shell's convention for a process stopped by a signal: 128 + its number
    (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signum if signum else EXIT_CODES[RunOutcome.INTERRUPTED]
