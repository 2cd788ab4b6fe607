"""Run a job on a cron schedule, in the calling thread, until asked to stop.

One run at a time: the job runs in the loop thread, so a run that overruns the next slot
simply delays it; the slots missed meanwhile are skipped, not queued (a nightly sync that
ran long must not be followed by a burst of catch-up syncs). Times are those of `now()`,
UTC by default, so "0 2 * * *" means 02:00 UTC.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from croniter import CroniterBadDateError, croniter

from unpod_etl.core.errors import ConfigError

log = logging.getLogger(__name__)

# Sleep in naps of at most this long, so a wall-clock jump (NTP, a suspended laptop) is
# noticed within a minute instead of after one long sleep computed from the old clock.
MAX_NAP_SECONDS = 60.0


def utcnow() -> datetime:
    return datetime.now(UTC)


# Standard (Vixie/POSIX) cron: numbers, `*`, lists, ranges and steps, plus month and
# weekday names. croniter also takes a sixth (seconds) and seventh (year) field, `L`, `W`,
# `#`, `?` and `@daily`: accepted, `* * * * * *` would start a sync every second, and other
# cron tools read the rest differently, so an expression copied to crontab could change.
_FIELD = re.compile(r"[0-9*,/-]+")
_NAMES = {
    3: re.compile(r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec", re.IGNORECASE),
    4: re.compile(r"sun|mon|tue|wed|thu|fri|sat", re.IGNORECASE),
}
_EXPECTED = "expected five fields 'minute hour day-of-month month day-of-week', e.g. '0 2 * * *'"


def parse_cron(cron: str) -> str:
    """The expression, stripped, or ConfigError (one line) saying what is wrong with it."""
    fields = cron.split()
    expr = " ".join(fields)
    if len(fields) != 5:
        raise ConfigError(f"invalid cron expression {cron!r}: {len(fields)} field(s), {_EXPECTED}")
    for index, field in enumerate(fields):
        names = _NAMES.get(index)
        plain = names.sub("0", field) if names else field
        if not _FIELD.fullmatch(plain):
            raise ConfigError(
                f"invalid cron expression {cron!r}: {field!r} is not a standard cron field "
                "(numbers, '*', ',', '-', '/', month and weekday names), e.g. '0 2 * * *'"
            )
    if not croniter.is_valid(expr):
        raise ConfigError(
            f"invalid cron expression {cron!r}: a value is out of range or a range is "
            "malformed (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7), "
            "e.g. '0 2 * * *'"
        )
    try:
        next_slot(expr, utcnow())
    except CroniterBadDateError:  # e.g. '0 2 30 2 *': February has no 30th
        raise ConfigError(f"cron expression {cron!r} never fires (no such date)") from None
    return expr


def next_slot(cron: str, after: datetime) -> datetime:
    """The first slot strictly after `after`."""
    slot: datetime = croniter(cron, after).get_next(datetime)
    return slot


def count_slots(cron: str, after: datetime, until: datetime) -> int:
    """Slots s with after < s <= until (how many a long run made us skip)."""
    it = croniter(cron, after)
    found = 0
    while it.get_next(datetime) <= until:
        found += 1
    return found


def run_schedule(
    cron: str,
    job: Callable[[], int],
    *,
    stop: threading.Event,
    now: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], object] | None = None,
    run_now: bool = False,
) -> None:
    """Call `job` at every slot of `cron` until `stop` is set.

    `sleep(seconds)` defaults to `stop.wait`, so setting `stop` (from a signal handler)
    ends a wait at once; a run in progress is never interrupted. With `run_now`, the job
    also runs once at start. A job that raises is logged and the schedule goes on.
    """
    expr = parse_cron(cron)
    nap = sleep if sleep is not None else stop.wait
    due = now() if run_now else next_slot(expr, now())
    if not run_now:
        log.info("schedule %r: next run at %s", expr, _fmt(due))
    while not stop.is_set():
        current = now()
        if current < due:
            nap(min((due - current).total_seconds(), MAX_NAP_SECONDS))
            continue
        finished = _run_once(job, now)
        # Slots that fell while the job ran are skipped; the next one is after `finished`.
        skipped = count_slots(expr, due, finished)
        if skipped:
            log.warning(
                "schedule %r: the run overran %d slot(s); skipped, not queued", expr, skipped
            )
        due = next_slot(expr, finished)
        if not stop.is_set():
            log.info("schedule %r: next run at %s", expr, _fmt(due))
    log.info("schedule %r: stopped", expr)


def _run_once(job: Callable[[], int], now: Callable[[], datetime]) -> datetime:
    started = now()
    log.info("scheduled run started at %s", _fmt(started))
    try:
        code: int | None = job()
    except Exception:
        log.exception("scheduled run crashed")
        code = None
    finished = now()
    seconds = (finished - started).total_seconds()
    if code is None:
        log.error("scheduled run ended at %s after %.1f s: crashed", _fmt(finished), seconds)
    else:
        level = logging.INFO if code == 0 else logging.WARNING
        log.log(
            level,
            "scheduled run ended at %s after %.1f s with exit code %d",
            _fmt(finished),
            seconds,
            code,
        )
    return finished


def _fmt(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
