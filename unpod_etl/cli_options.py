"""Options and error handling shared by the `unpod-etl` commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from .errors import AbortError, ConfigError, EtlError

DEFAULT_API_URL = "https://unpod.dev"
DEFAULT_DATABASE_URL = "sqlite:///unpod_etl.db"
F = TypeVar("F", bound=Callable[..., Any])

database_option = click.option(
    "--database-url",
    envvar="UNPOD_ETL_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="SQLAlchemy URL of the warehouse [UNPOD_ETL_DATABASE_URL].",
)


def api_options(fn: F) -> F:
    fn = click.option(
        "--org",
        envvar="UNPOD_ORG_HANDLE",
        default="",
        help="Organization handle, sent as Org-Handle [UNPOD_ORG_HANDLE].",
    )(fn)
    fn = click.option(
        "--token",
        envvar="UNPOD_API_TOKEN",
        default="",
        show_default=False,
        help="API token [UNPOD_API_TOKEN].",
    )(fn)
    fn = click.option(
        "--api-url",
        envvar="UNPOD_API_URL",
        default=DEFAULT_API_URL,
        show_default=True,
        help="Unpod API base URL [UNPOD_API_URL].",
    )(fn)
    return fn


def handle_errors(fn: F) -> F:
    """Known failures become one line on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except AbortError as exc:
            click.echo(f"aborted: {exc}", err=True)
            sys.exit(3)
        except EtlError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
