"""A tiny HTTP server in a thread that keeps what it is sent: stands in for a Pushgateway
or a chat webhook in the tests (the real thing's protocol is plain HTTP)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    status: int = 200  # what to answer; a test may change it
    received: list[Received] = field(default_factory=list)


@contextmanager
def receiver(status: int = 200) -> Iterator[Receiver]:
    state = Receiver(url="", status=status)

    class Handler(BaseHTTPRequestHandler):
        def _keep(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.received.append(Received(self.command, self.path, dict(self.headers), body))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = _keep  # noqa: N815 - http.server's naming

        def log_message(self, *args: object) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
