"""FakeServer: the fake Unpod API over real HTTP on a loopback port (standard library only)."""

from __future__ import annotations

import socket
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from unpod_etl.fakeapi.generator import NEWEST_CREATED
from unpod_etl.fakeapi.replies import Reply
from unpod_etl.fakeapi.routes import respond
from unpod_etl.fakeapi.state import FakeUnpod

HOST = "127.0.0.1"  # by default never reachable from outside the machine
POLL_SECONDS = 0.05  # how soon stop() is noticed; the default 0.5 s slows every test teardown


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # parallel crawlers open several connections at once
    fake: FakeUnpod
    stopping: threading.Event  # set by stop(): cuts injected delays short


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a crawl reuses its connection
    server: _HTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # drain, so the connection stays usable
        reply = respond(self.server.fake, self.command, self.path, dict(self.headers.items()))
        if reply.delay > 0 and self.server.stopping.wait(reply.delay):
            self.close_connection = True  # shutting down: do not answer at all
            return
        try:
            self._write(reply)
        except OSError:  # the client gave up (timeout) while we slept: nobody to answer
            self.close_connection = True

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if reply.cut_at is None:
            self.wfile.write(reply.body)
            return
        # A connection dropped mid-body: the promised Content-Length never arrives.
        self.wfile.write(reply.body[: reply.cut_at])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silent: tests and the demo read `fake.access.requests` instead of an access log."""


class FakeServer:
    """Serve a FakeUnpod on 127.0.0.1; port 0 picks a free port."""

    def __init__(self, fake: FakeUnpod, port: int = 0, host: str = HOST) -> None:
        self.fake = fake
        self.host = host
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.fake = fake
        self._httpd.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        # A wildcard bind (a container's 0.0.0.0) is reached locally on the loopback.
        shown = HOST if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"http://{shown}:{self.port}"

    def start(self) -> FakeServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                args=(POLL_SECONDS,),
                name="fake-unpod",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve on the calling thread until KeyboardInterrupt (or stop() from elsewhere)."""
        try:
            self._httpd.serve_forever(POLL_SECONDS)
        finally:
            self._httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    port: int = 8765,
    agents: int = 3,
    tasks_per_agent: int = 40,
    seed: int = 1,
    host: str = HOST,
    newest: datetime | None = None,
) -> None:
    """Run a fake Unpod for manual use (the CLI's `fake-api`): prints how to reach it."""
    fake = FakeUnpod(
        agents=agents,
        tasks_per_agent=tasks_per_agent,
        seed=seed,
        newest=NEWEST_CREATED if newest is None else newest,
    )
    server = FakeServer(fake, port=port, host=host)
    print(f"Fake Unpod API at {server.url}", flush=True)
    print(f"  token: {fake.token}", flush=True)
    print(f"  org handle: {fake.org}", flush=True)
    print(f"  published agents: {', '.join(fake.published_handles())}", flush=True)
    print(f"  unpublished agents: {', '.join(fake.unpublished_handles())}", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
