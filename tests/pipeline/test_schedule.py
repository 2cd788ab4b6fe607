"""run_schedule with a fake clock and a fake sleep: no real waiting anywhere."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from unpod_etl.core.errors import ConfigError
from unpod_etl.pipeline.schedule import count_slots, next_slot, parse_cron, run_schedule

START = datetime(2026, 3, 1, 1, 58, 30, tzinfo=UTC)


class FakeClock:
    """now() reads the fake time; sleep() advances it and records the nap."""

    def __init__(self, start: datetime) -> None:
        self.t = start
        self.naps: list[float] = []

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.naps.append(seconds)
        self.t += timedelta(seconds=seconds)


def make_job(clock: FakeClock, stop: threading.Event, durations: list[timedelta], codes=None):  # type: ignore[no-untyped-def]
    """A job that takes durations[i] of fake time on its i-th run; stops after the last."""
    started: list[datetime] = []

    def job() -> int:
        started.append(clock.t)
        clock.t += durations[len(started) - 1]
        if len(started) == len(durations):
            stop.set()
        return codes[len(started) - 1] if codes else 0

    return job, started


def test_runs_at_each_slot_and_sleeps_in_bounded_naps():
    clock, stop = FakeClock(START), threading.Event()
    job, started = make_job(clock, stop, [timedelta(minutes=1)] * 3)
    run_schedule("*/5 * * * *", job, stop=stop, now=clock.now, sleep=clock.sleep)
    assert started == [
        datetime(2026, 3, 1, 2, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 2, 5, tzinfo=UTC),
        datetime(2026, 3, 1, 2, 10, tzinfo=UTC),
    ]
    assert max(clock.naps) <= 60.0
    assert clock.naps[0] == 60.0  # 90 s to the first slot: one full nap, then 30 s
    assert clock.naps[1] == 30.0


def test_overrun_skips_missed_slots_instead_of_queueing(caplog):
    clock, stop = FakeClock(START), threading.Event()
    # the first run takes 12 minutes: the 02:05 and 02:10 slots fall inside it
    job, started = make_job(clock, stop, [timedelta(minutes=12), timedelta(seconds=5)])
    with caplog.at_level(logging.INFO, logger="unpod_etl.pipeline.schedule"):
        run_schedule("*/5 * * * *", job, stop=stop, now=clock.now, sleep=clock.sleep)
    assert started == [
        datetime(2026, 3, 1, 2, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 2, 15, tzinfo=UTC),
    ]
    assert "overran 2 slot(s)" in caplog.text


def test_logs_start_end_exit_code_and_next_run(caplog):
    clock, stop = FakeClock(START), threading.Event()
    job, _ = make_job(clock, stop, [timedelta(seconds=42)] * 2, codes=[1, 0])
    with caplog.at_level(logging.INFO, logger="unpod_etl.pipeline.schedule"):
        run_schedule("0 2 * * *", job, stop=stop, now=clock.now, sleep=clock.sleep)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "schedule '0 2 * * *': next run at 2026-03-01T02:00:00+00:00"
    assert "scheduled run started at 2026-03-01T02:00:00+00:00" in messages
    assert "scheduled run ended at 2026-03-01T02:00:42+00:00 after 42.0 s with exit code 1" in (
        messages
    )
    assert "schedule '0 2 * * *': next run at 2026-03-02T02:00:00+00:00" in messages
    assert "scheduled run ended at 2026-03-02T02:00:42+00:00 after 42.0 s with exit code 0" in (
        messages
    )
    exit_1 = next(r for r in caplog.records if "exit code 1" in r.getMessage())
    assert exit_1.levelno == logging.WARNING


def test_a_crashing_job_is_logged_and_the_schedule_goes_on(caplog):
    clock, stop = FakeClock(START), threading.Event()
    calls: list[datetime] = []

    def job() -> int:
        calls.append(clock.t)
        if len(calls) == 1:
            raise RuntimeError("boom")
        stop.set()
        return 0

    with caplog.at_level(logging.INFO, logger="unpod_etl.pipeline.schedule"):
        run_schedule("*/10 * * * *", job, stop=stop, now=clock.now, sleep=clock.sleep)
    assert calls == [
        datetime(2026, 3, 1, 2, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 2, 10, tzinfo=UTC),
    ]
    crash = next(r for r in caplog.records if r.getMessage() == "scheduled run crashed")
    assert crash.exc_info is not None and str(crash.exc_info[1]) == "boom"
    assert any(r.getMessage().endswith("after 0.0 s: crashed") for r in caplog.records)


def test_stop_set_during_a_sleep_ends_the_loop_without_running():
    clock, stop = FakeClock(START), threading.Event()
    ran: list[int] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        stop.set()  # what the SIGTERM handler does

    run_schedule("0 2 * * *", lambda: ran.append(1) or 0, stop=stop, now=clock.now, sleep=sleep)
    assert ran == []
    assert clock.naps == [60.0]


def test_default_sleep_is_the_stop_event_so_a_signal_wakes_it_at_once():
    stop = threading.Event()
    stopper = threading.Timer(0.05, stop.set)
    stopper.start()
    started = datetime.now(UTC)
    run_schedule("0 0 1 1 *", lambda: 0, stop=stop)  # next slot is months away
    assert (datetime.now(UTC) - started) < timedelta(seconds=5)
    stopper.join()


def test_run_now_runs_once_at_start_then_on_schedule():
    clock, stop = FakeClock(START), threading.Event()
    job, started = make_job(clock, stop, [timedelta(seconds=10)] * 2)
    run_schedule("0 2 * * *", job, stop=stop, now=clock.now, sleep=clock.sleep, run_now=True)
    assert started == [START, datetime(2026, 3, 1, 2, 0, tzinfo=UTC)]


@pytest.mark.parametrize("bad", ["", "nonsense", "61 * * * *", "* * *", "0 25 * * *"])
def test_invalid_expression_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="invalid cron expression") as caught:
        run_schedule(bad, lambda: 0, stop=threading.Event())
    assert "'0 2 * * *'" in str(caught.value)


def test_helpers():
    assert parse_cron("  0   2 * * * ") == "0 2 * * *"
    assert next_slot("0 2 * * *", datetime(2026, 3, 1, 2, 0, tzinfo=UTC)) == datetime(
        2026, 3, 2, 2, 0, tzinfo=UTC
    )
    after = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert count_slots("*/5 * * * *", after, after + timedelta(minutes=10)) == 2
    assert count_slots("*/5 * * * *", after, after + timedelta(minutes=4)) == 0


# -- the `schedule` command -------------------------------------------------------------------

import signal  # noqa: E402

import click  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from unpod_etl.cli import ops as cli_ops  # noqa: E402
from unpod_etl.cli.main import main  # noqa: E402
from unpod_etl.pipeline.interrupts import StopToken  # noqa: E402
from unpod_etl.warehouse.db import make_engine  # noqa: E402
from unpod_etl.warehouse.schema import sync_runs, tasks  # noqa: E402


def test_schedule_accepts_every_option_of_sync():
    sync_opts = {o for p in main.commands["sync"].params for o in p.opts}
    schedule_opts = {o for p in cli_ops.schedule_command.params for o in p.opts}
    assert sync_opts <= schedule_opts
    assert {"--cron", "--run-now"} <= schedule_opts


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "every night", "--token", "t", "--org", "acme"], "invalid cron expression"),
        (["--org", "acme"], "no API token"),
        (
            ["--token", "t", "--org", "acme", "--database-url", "mysql://x/y"],
            "unsupported database",
        ),
        (["--token", "t"], "UNPOD_ORG_HANDLE"),
    ],
)
def test_schedule_rejects_bad_configuration_at_start(args, message, sqlite_url, monkeypatch):
    monkeypatch.delenv("UNPOD_API_TOKEN", raising=False)
    monkeypatch.delenv("UNPOD_ORG_HANDLE", raising=False)
    monkeypatch.setenv("UNPOD_ETL_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(cli_ops.schedule_command, args)
    assert result.exit_code == 2
    assert message in result.output


def test_schedule_command_syncs_into_postgres_on_each_run(fake, fake_server, pg_url, monkeypatch):
    """The real job against the real fake API and PostgreSQL; only the waiting is replaced."""
    seen: dict[str, object] = {}

    def two_runs_now(cron, job, *, stop, run_now):  # type: ignore[no-untyped-def]
        seen["cron"], seen["run_now"] = cron, run_now
        seen["handler"] = signal.getsignal(signal.SIGTERM)
        seen["codes"] = [job(), job()]
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)  # what `docker stop` does
        seen["stopped"] = stop.is_set()

    monkeypatch.setattr(cli_ops, "run_schedule", two_runs_now)
    monkeypatch.setenv("UNPOD_ETL_SCHEDULE", "*/5 * * * *")
    before = signal.getsignal(signal.SIGTERM)
    args = ["--api-url", fake_server.url, "--token", fake.token, "--org", fake.org,
            "--database-url", pg_url, "--page-size", "9"]  # fmt: skip
    result = CliRunner().invoke(cli_ops.schedule_command, args)
    assert result.exit_code == 0, result.output
    assert seen["cron"] == "*/5 * * * *" and seen["run_now"] is False
    assert seen["codes"] == [0, 0] and seen["stopped"] is True
    assert seen["handler"] is not before and signal.getsignal(signal.SIGTERM) is before
    assert fake.token not in result.output
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(sync_runs)) == 2
        assert conn.scalar(select(func.count()).select_from(tasks)) == sum(
            fake.count(h) for h in fake.published_handles()
        )
    engine.dispose()


def test_second_signal_interrupts_the_run_through_its_stop_token():
    stop, token = threading.Event(), StopToken()
    with cli_ops.stop_on_signals(stop, token):
        handler = signal.getsignal(signal.SIGINT)
        handler(signal.SIGINT, None)
        assert stop.is_set() and not token.is_set()  # the first lets the run finish
        handler(signal.SIGINT, None)  # no KeyboardInterrupt: the run stops at a safe point
        assert token.is_set() and token.signum == signal.SIGINT


def test_lead_can_register_the_commands_on_a_group():
    group = click.Group(commands=[cli_ops.schedule_command, cli_ops.report_command])
    result = CliRunner().invoke(group, ["schedule", "--help"])
    assert result.exit_code == 0 and "UNPOD_ETL_SCHEDULE" in result.output
