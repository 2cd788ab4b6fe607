"""A sync run as Prometheus metrics (the official prometheus_client), for a node_exporter
textfile collector (`sync --metrics-file`) or a Pushgateway (`sync --pushgateway`).

The file describes one run, so the run's numbers are gauges named `unpod_etl_last_run_*`;
what the warehouse knows beyond the run (each agent's last success, unresolved rejections)
is read from it and left out when it cannot be read (an aborted run whose database is down).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from unpod_etl.core.outcomes import RunOutcome
from unpod_etl.pipeline.results import RunResult
from unpod_etl.source.stats import RequestStats
from unpod_etl.warehouse import health

log = logging.getLogger(__name__)

JOB = "unpod_etl"
PUSH_TIMEOUT = 5.0  # seconds: a slow Pushgateway must not hold up the nightly run
OUTCOMES = (RunOutcome.OK, RunOutcome.PARTIAL, RunOutcome.ABORTED)
# AgentResult attribute -> the per-agent gauge's name part.
AGENT_COUNTERS = {
    "pages": "pages",
    "seen": "tasks_seen",
    "inserted": "tasks_inserted",
    "updated": "tasks_updated",
    "unchanged": "tasks_unchanged",
    "failed": "tasks_failed",
    "deleted": "tasks_deleted",
    "pages_walked": "pages_walked",  # the adaptive walk's depth (pipeline/walk_depth.py)
}


@dataclass(frozen=True)
class WarehouseFacts:
    last_success: datetime | None
    agents_last_success: dict[str, datetime | None]
    open_rejections: int


def read_warehouse(engine: Engine) -> WarehouseFacts | None:
    try:
        with engine.connect() as conn:
            return WarehouseFacts(
                health.last_success(conn),
                health.agents_last_success(conn),
                health.open_rejections(conn),
            )
    except SQLAlchemyError as exc:
        log.warning("metrics: cannot read the warehouse (%s)", type(exc).__name__)
        return None


def build_registry(
    result: RunResult,
    duration_seconds: float,
    finished_at: datetime,
    stats: RequestStats | None = None,
    warehouse: WarehouseFacts | None = None,
) -> CollectorRegistry:
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(f"unpod_etl_{name}", doc, labels, registry=registry)

    gauge("last_run_duration_seconds", "How long the last sync run took.").set(duration_seconds)
    gauge("last_run_timestamp_seconds", "When the last sync run ended (Unix time).").set(
        finished_at.timestamp()
    )
    outcome = gauge("last_run_outcome", "1 for how the last sync run ended.", ("outcome",))
    for name in OUTCOMES:
        outcome.labels(str(name)).set(1 if result.outcome is name else 0)
    gauge("last_run_exit_code", "The exit code of the last sync run.").set(result.exit_code)
    gauge("last_run_agents", "Agents the last sync run worked on.").set(len(result.agents))
    failed = gauge("last_run_agent_failed", "1 when the agent failed in the last run.", ("agent",))
    per_agent = {
        attr: gauge(f"last_run_{name}", f"{name.replace('_', ' ')} in the last run.", ("agent",))
        for attr, name in AGENT_COUNTERS.items()
    }
    shallow = gauge(
        "last_run_walk_shallow", "1 when the agent's walk stopped early (shallow).", ("agent",)
    )
    for agent in result.agents:
        failed.labels(agent.handle).set(int(agent.outcome == "failed"))
        if agent.walk is not None:  # a skipped agent had no walk
            shallow.labels(agent.handle).set(int(agent.walk == "shallow"))
        for attr, metric in per_agent.items():
            metric.labels(agent.handle).set(getattr(agent, attr))
    if stats is not None:
        gauge("last_run_requests", "HTTP requests the last run sent (retries included).").set(
            stats.requests
        )
        gauge("last_run_retries", "Requests sent again after a transient failure.").set(
            stats.retries
        )
        gauge("last_run_rate_limit_waits", "Waits for the API's rate limit or our cap.").set(
            stats.waits
        )
        gauge("last_run_rate_limit_wait_seconds", "Seconds those waits took.").set(
            stats.waited_seconds
        )
    if warehouse is not None:
        _warehouse_gauges(gauge, warehouse)
    return registry


def _warehouse_gauges(gauge: Callable[..., Gauge], facts: WarehouseFacts) -> None:
    if facts.last_success is not None:
        gauge("last_success_timestamp_seconds", "When a sync run last ended ok.").set(
            facts.last_success.timestamp()
        )
    agent_success = gauge(
        "agent_last_success_timestamp_seconds", "When the agent last synced ok.", ("agent",)
    )
    for handle, last in sorted(facts.agents_last_success.items()):
        if last is not None:
            agent_success.labels(handle).set(last.timestamp())
    gauge("rejected_records", "Rejected task documents not resolved yet.").set(
        facts.open_rejections
    )


def write_textfile(path: str, registry: CollectorRegistry) -> bool:
    """Atomically (a temporary file renamed over the old one); False, logged, on failure."""
    try:
        write_to_textfile(path, registry)
        return True
    except OSError as exc:
        log.error("could not write the metrics file %s: %s", path, exc.strerror)
        return False


def push(gateway: str, registry: CollectorRegistry, shard: tuple[int, int] = (0, 1)) -> bool:
    """To a Pushgateway, job `unpod_etl`; False, logged, on failure (the sync is not failed).

    A push replaces the group's metrics, so each shard of a split org pushes to its own
    group (`shard="K_of_N"`) instead of overwriting the others'."""
    k, n = shard
    grouping = {"shard": f"{k}_of_{n}"} if n > 1 else None
    try:
        push_to_gateway(
            gateway, job=JOB, registry=registry, grouping_key=grouping, timeout=PUSH_TIMEOUT
        )
        return True
    except OSError as exc:  # urllib's URLError and HTTPError are OSErrors
        log.error("could not push metrics to the Pushgateway: %s", _reason(exc))
        return False


def _reason(exc: OSError) -> str:
    return str(getattr(exc, "reason", None) or exc.strerror or type(exc).__name__)
