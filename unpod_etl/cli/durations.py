"""Durations on the command line: 26h, 90m, 2d, 1d12h (core/health.py parses them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from unpod_etl.core.errors import ConfigError
from unpod_etl.core.health import parse_duration


class DurationParam(click.ParamType):
    """26h, 90m, 2d, 1d12h."""

    name = "DURATION"

    def convert(self, value: Any, param: Any, ctx: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
