"""The webhook app served by the real uvicorn server in a thread, on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from unpod_etl.intake.app import MAX_BODY
from unpod_etl.intake.server import server
from unpod_etl.pipeline.webhook import WebhookIntake

SECRET = "whsec-test-3f9a1c"


@contextmanager
def serving(database_url: str, max_body: int = MAX_BODY) -> Iterator[tuple[str, WebhookIntake]]:
    """(base URL, intake) while uvicorn serves; stopping it runs the app's shutdown."""
    intake = WebhookIntake(database_url)
    srv = server(intake, SECRET, "127.0.0.1", 0, max_body)
    thread = threading.Thread(target=srv.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert thread.is_alive(), "uvicorn stopped during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", intake
    finally:
        srv.should_exit = True
        thread.join(20)
        assert not thread.is_alive()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
