"""`unpod-etl webhook`: serve Unpod's task webhook (same-day data between nightly pulls).

Exit codes: 0 stopped by SIGINT/SIGTERM, 2 bad usage (no UNPOD_ETL_WEBHOOK_SECRET, a bad
database URL, an address it cannot listen on). A database that is down is no reason to exit:
deliveries are answered 503 until it is back.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import click

from unpod_etl.cli.options import database_option, handle_errors
from unpod_etl.intake.app import MAX_BODY
from unpod_etl.intake.server import listen, server
from unpod_etl.pipeline.webhook import WebhookIntake

SECRET_ENV = "UNPOD_ETL_WEBHOOK_SECRET"  # noqa: S105 - the name of a variable


@click.command(name="webhook")
@database_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (0.0.0.0 inside a container or behind a proxy).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--max-body",
    type=click.IntRange(min=1024),
    default=MAX_BODY,
    show_default=True,
    metavar="BYTES",
    help="Larger deliveries are refused with 413.",
)
@handle_errors
def webhook_command(database_url: str, host: str, port: int, max_body: int) -> None:
    """Serve POST /unpod/tasks for Unpod's task webhook until interrupted.

    Each delivery is written like a pulled task (same change detection, history and
    rejected_records); the nightly sync stays the source of truth. The shared secret comes
    from the environment variable UNPOD_ETL_WEBHOOK_SECRET only (options show in `ps`),
    sent by Unpod in the header X-Webhook-Secret or as the last path segment
    (/unpod/tasks/SECRET). Answers 200 once committed, 401 bad secret, 400 unusable body,
    413 too large, 503 database down.
    """
    secret = os.environ.get(SECRET_ENV, "")
    if not secret.strip():
        click.echo(f"error: set {SECRET_ENV} to the secret the Unpod agent sends", err=True)
        sys.exit(2)
    try:
        sock = listen(host, port)
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else str(exc)  # without the repeated address
        click.echo(f"error: cannot listen on {host}:{port}: {why}", err=True)
        sys.exit(2)
    intake = WebhookIntake(database_url)  # a bad URL: ConfigError, exit 2
    uvicorn_server = server(intake, secret, host, port, max_body)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again for the
    # handler it found: this one makes that a clean exit 0 (not a traceback, not -15).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stopped)
    uvicorn_server.run(sockets=[sock])


def _stopped(_signum: int, _frame: Any) -> None:
    sys.exit(0)
