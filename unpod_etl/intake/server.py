"""Serving the intake with uvicorn (a production ASGI server, not a development one)."""

from __future__ import annotations

import socket

import uvicorn

from unpod_etl.intake.app import MAX_BODY, create_app
from unpod_etl.pipeline.webhook import WebhookIntake


def server(
    intake: WebhookIntake, secret: str, host: str, port: int, max_body: int = MAX_BODY
) -> uvicorn.Server:
    """A uvicorn server for the app; `.run()` serves until SIGINT/SIGTERM.

    uvicorn's access log is off: with the path form of the secret, it would write the secret
    into every line. The app logs each delivery itself, without it. log_config=None keeps the
    logging the cli set up (text or json).
    """
    config = uvicorn.Config(
        create_app(intake, secret, max_body),
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        lifespan="on",
        server_header=False,
        # Unpod posts one task at a time and waits for the answer; keep idle sockets short.
        timeout_keep_alive=5,
    )
    return uvicorn.Server(config)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything starts: a taken port or a bad address is
    an OSError the cli reports in one line, before the intake records a run."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)
