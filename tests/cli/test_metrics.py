"""`sync --metrics-file` / `--pushgateway`: the run's metrics in the Prometheus text format,
parsed back with prometheus_client's own parser; written on aborted runs too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.http_receiver import receiver
from unpod_etl.cli.main import main

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def sync(server_url: str, token: str, org: str, db_url: str, *args: str):  # type: ignore[no-untyped-def]
    argv = ["sync", "--api-url", server_url, "--token", token, "--org", org]
    return CliRunner().invoke(main, [*argv, "--database-url", db_url, *args], env={})


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(name, sorted labels): value} of every sample in a Prometheus text exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def agent(name: str, handle: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, (("agent", handle),)


def test_textfile_of_a_run_with_retries_and_a_rejection(fake, fake_server, sqlite_url, tmp_path):
    first, *others = fake.published_handles()
    fake.add_task(first, task_id=None)  # rejected: counted as failed and as an open rejection
    retried = fake.faults.inject("429", agent=first, page=1, times=2, retry_after=0)
    path = tmp_path / "unpod_etl.prom"
    path.write_text("stale content\n")
    with time_machine.travel(T0, tick=False):
        proc = sync(fake_server.url, fake.token, fake.org, sqlite_url, "--metrics-file", str(path))
    assert proc.exit_code == 0, proc.output
    assert retried.fired == 2
    got = samples(path.read_text())

    assert got[("unpod_etl_last_run_outcome", (("outcome", "ok"),))] == 1
    assert got[("unpod_etl_last_run_outcome", (("outcome", "partial"),))] == 0
    assert got[("unpod_etl_last_run_outcome", (("outcome", "aborted"),))] == 0
    assert got[("unpod_etl_last_run_timestamp_seconds", ())] == T0.timestamp()
    assert got[("unpod_etl_last_run_duration_seconds", ())] > 0
    assert got[("unpod_etl_last_run_retries", ())] == 2
    task_requests = sum(r.path.endswith("/tasks/") for r in fake.access.requests)
    assert got[("unpod_etl_last_run_requests", ())] == len(fake.access.requests)
    assert task_requests > len(fake.published_handles())  # the retries were requests too
    for handle in fake.published_handles():
        stored = sum(t.get("task_id") is not None for t in fake.tasks(handle))
        assert got[agent("unpod_etl_last_run_tasks_inserted", handle)] == stored
        assert got[agent("unpod_etl_last_run_tasks_updated", handle)] == 0
        assert got[agent("unpod_etl_last_run_pages", handle)] >= 1
        assert got[agent("unpod_etl_agent_last_success_timestamp_seconds", handle)] == (
            T0.timestamp()
        )
    assert got[agent("unpod_etl_last_run_tasks_failed", first)] == 1
    assert got[agent("unpod_etl_last_run_tasks_seen", first)] == len(fake.tasks(first))
    assert got[("unpod_etl_rejected_records", ())] == 1
    assert got[("unpod_etl_last_success_timestamp_seconds", ())] == T0.timestamp()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("unpod_etl.prom")] == [
        "unpod_etl.prom"  # replaced by a rename: no temporary file left beside it
    ]

    # A second run over the same data: nothing inserted, everything unchanged.
    again = sync(fake_server.url, fake.token, fake.org, sqlite_url, "--metrics-file", str(path))
    assert again.exit_code == 0
    got = samples(path.read_text())
    assert got[agent("unpod_etl_last_run_tasks_inserted", others[0])] == 0
    assert got[agent("unpod_etl_last_run_tasks_unchanged", others[0])] == len(fake.tasks(others[0]))


def test_an_aborted_run_writes_the_file_too(fake, fake_server, sqlite_url, tmp_path):
    path = tmp_path / "m.prom"
    fake.access.revoke_token()
    proc = sync(fake_server.url, fake.token, fake.org, sqlite_url, "--metrics-file", str(path))
    assert proc.exit_code == 3
    got = samples(path.read_text())
    assert got[("unpod_etl_last_run_outcome", (("outcome", "aborted"),))] == 1
    assert got[("unpod_etl_last_run_exit_code", ())] == 3
    assert ("unpod_etl_last_success_timestamp_seconds", ()) not in got  # never succeeded


def test_a_run_that_cannot_start_writes_the_file(fake, fake_server, tmp_path):
    path = tmp_path / "m.prom"
    down = "postgresql://nobody:pw@127.0.0.1:1/none"
    proc = sync(fake_server.url, fake.token, fake.org, down, "--metrics-file", str(path))
    assert proc.exit_code == 3
    got = samples(path.read_text())
    assert got[("unpod_etl_last_run_outcome", (("outcome", "aborted"),))] == 1
    assert ("unpod_etl_rejected_records", ()) not in got  # the warehouse could not be read


@pytest.mark.parametrize("where", ["missing-dir/m.prom", "/proc/m.prom", "."])
def test_an_unwritable_metrics_file_exit_2_before_any_request(
    fake, fake_server, sqlite_url, tmp_path, where
):
    path = tmp_path / where  # an absolute `where` stays itself
    proc = sync(fake_server.url, fake.token, fake.org, sqlite_url, "--metrics-file", str(path))
    assert proc.exit_code == 2
    assert proc.stderr.startswith("error: metrics file")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert fake.access.requests == []


def test_pushgateway_receives_the_same_metrics(fake, fake_server, sqlite_url, tmp_path: Path):
    path = tmp_path / "m.prom"
    with receiver() as gateway:
        proc = sync(
            fake_server.url,
            fake.token,
            fake.org,
            sqlite_url,
            "--metrics-file",
            str(path),
            "--pushgateway",
            gateway.url,
        )
    assert proc.exit_code == 0, proc.output
    [push] = gateway.received
    assert push.method == "PUT" and push.path == "/metrics/job/unpod_etl"
    pushed = samples(push.body.decode())
    assert pushed == samples(path.read_text())
    handle = fake.published_handles()[0]
    assert pushed[agent("unpod_etl_last_run_tasks_inserted", handle)] == len(fake.tasks(handle))
    assert fake.token.encode() not in push.body


def test_each_shard_pushes_to_its_own_group(fake, fake_server, sqlite_url):
    with receiver() as gateway:
        for k in (0, 1):
            argv = ["--shard", f"{k}/2", "--pushgateway", gateway.url]
            assert sync(fake_server.url, fake.token, fake.org, sqlite_url, *argv).exit_code == 0
    paths = [p.path for p in gateway.received]
    assert paths == ["/metrics/job/unpod_etl/shard/0_of_2", "/metrics/job/unpod_etl/shard/1_of_2"]


def test_an_unreachable_pushgateway_does_not_fail_the_run(fake, fake_server, sqlite_url):
    with receiver(status=503) as gateway:
        proc = sync(fake_server.url, fake.token, fake.org, sqlite_url, "--pushgateway", gateway.url)
    assert proc.exit_code == 0, proc.output
    assert len(gateway.received) == 1
    assert "could not push metrics" in proc.stderr


def test_schedule_reports_each_run(fake, fake_server, sqlite_url, tmp_path, monkeypatch):
    """The real job of `schedule`, its waiting replaced: each run writes the file and tells."""
    from unpod_etl.cli import ops as cli_ops

    bad = fake.published_handles()[0]
    path = tmp_path / "m.prom"
    outcomes: list[float] = []

    def two_nights(cron, job, *, stop, run_now):  # type: ignore[no-untyped-def]
        fake.access.refuse(bad, 206)
        job()
        outcomes.append(samples(path.read_text())[("unpod_etl_last_run_exit_code", ())])
        fake.access.allow(bad)
        job()
        outcomes.append(samples(path.read_text())[("unpod_etl_last_run_exit_code", ())])

    monkeypatch.setattr(cli_ops, "run_schedule", two_nights)
    with receiver() as hook:
        argv = ["schedule", "--api-url", fake_server.url, "--token", fake.token]
        argv += ["--org", fake.org, "--database-url", sqlite_url, "--metrics-file", str(path)]
        proc = CliRunner().invoke(main, [*argv, "--notify-url", hook.url], env={})
    assert proc.exit_code == 0, proc.output
    assert outcomes == [1, 0]
    assert len(hook.received) == 2  # the partial night, then the recovery
    assert b"ok again" in hook.received[1].body


def test_schedule_refuses_an_unwritable_metrics_file_at_start(fake, sqlite_url):
    argv = ["schedule", "--token", fake.token, "--org", fake.org, "--database-url", sqlite_url]
    proc = CliRunner().invoke(main, [*argv, "--metrics-file", "/proc/x.prom"], env={})
    assert proc.exit_code == 2
    assert proc.stderr.startswith("error: metrics file /proc/x.prom")
