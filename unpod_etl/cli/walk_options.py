"""How deep a sync walks each agent's list: --walk and its windows (pipeline/walk_depth.py;
README "The adaptive walk"). The keyword names match SyncConfig's fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from unpod_etl.cli.durations import DurationParam

F = TypeVar("F", bound=Callable[..., Any])


def walk_options(fn: F) -> F:
    fn = click.option(
        "--full-walk-every",
        type=DurationParam(),
        default="20h",
        show_default=True,
        help="With --walk auto, walk an agent to the end when its last complete full walk "
        "started longer ago than this (the staleness bound for settled tasks).",
    )(fn)
    fn = click.option(
        "--watch-window",
        type=DurationParam(),
        default="7d",
        show_default=True,
        help="Unsettled tasks created within this window are watched: a shallow walk reads "
        "past every one of them.",
    )(fn)
    fn = click.option(
        "--settle-window",
        type=DurationParam(),
        default="48h",
        show_default=True,
        help="A task created longer ago than this, and unchanged, counts as settled.",
    )(fn)
    fn = click.option(
        "--settled-pages",
        type=click.IntRange(min=1),
        default=2,
        show_default=True,
        help="A shallow walk stops after this many consecutive pages of settled tasks.",
    )(fn)
    fn = click.option(
        "--walk",
        type=click.Choice(["auto", "full"], case_sensitive=False),
        default="auto",
        show_default=True,
        envvar="UNPOD_ETL_WALK",
        help="full: read every agent's list to the end. auto: stop once the pages have "
        "settled, with a full walk every --full-walk-every (env UNPOD_ETL_WALK).",
    )(fn)
    return fn
