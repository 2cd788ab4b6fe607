"""`--max-requests-per-second N` (sync, schedule): the run's cap on its request rate."""

from __future__ import annotations

import math
from typing import Any

import click


class RequestRateParam(click.ParamType):
    """A number of requests a second, more than 0 (fractions allowed: 0.5 is one per 2s).

    A bad value is one line and exit 2, as every other bad input of the CLI, rather than
    click's three-line usage block.
    """

    name = "N"

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            rate = float(value)
        else:
            try:
                rate = float(str(value).strip())
            except ValueError:
                rate = math.nan
        if rate > 0 and math.isfinite(rate):
            return rate
        message = f"--max-requests-per-second must be a number more than 0, got {value!r}"
        if ctx is None:
            self.fail(message, param, ctx)
        click.echo(f"error: {message}", err=True)
        ctx.exit(2)
        raise AssertionError("unreachable")  # ctx.exit raises


max_requests_per_second_option = click.option(
    "--max-requests-per-second",
    type=RequestRateParam(),
    envvar="UNPOD_ETL_MAX_REQUESTS_PER_SECOND",
    default=None,
    help="Send at most N requests a second over the whole run, across workers (fractions "
    "allowed). The API's announced rate limit (X-RateLimit-* headers) is honoured "
    "whatever this says. Default: no cap [UNPOD_ETL_MAX_REQUESTS_PER_SECOND].",
)
