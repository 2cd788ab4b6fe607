"""`POST /unpod/tasks` for Unpod's per-agent task webhook, as a Starlette app.

The secret comes in the `X-Webhook-Secret` header or as the last path segment
(`/unpod/tasks/<secret>`, for setups that cannot add headers) and is compared in constant time.
The secret is checked before the body is read, and the body is read up to `max_body` bytes
only. Answers: 200 once committed, 401 bad or missing secret, 400 unusable body (kept in
rejected_records), 413 body too large, 503 database down (Unpod tries again).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from unpod_etl.pipeline.webhook import WebhookIntake

log = logging.getLogger(__name__)

PATH = "/unpod/tasks"
SECRET_HEADER = "X-Webhook-Secret"  # noqa: S105 - a header name
MAX_BODY = 2 * 1024 * 1024  # a task document with a long transcript is well under 1 MiB


class TooLarge(Exception):
    pass


def create_app(intake: WebhookIntake, secret: str, max_body: int = MAX_BODY) -> Starlette:
    """The ASGI app; its lifespan starts the intake (migration, run row) and closes it."""
    expected = secret.encode()

    def authorized(request: Request) -> bool:
        offered = [request.headers.get(SECRET_HEADER), request.path_params.get("secret")]
        # Every offered value is compared, so timing tells nothing about which one was tried.
        matches = [hmac.compare_digest(v.encode(), expected) for v in offered if v is not None]
        return any(matches)

    async def tasks(request: Request) -> JSONResponse:
        if not authorized(request):
            log.warning("webhook delivery refused: bad or missing secret")
            return JSONResponse({"error": "bad or missing webhook secret"}, status_code=401)
        try:
            body = await _read_body(request, max_body)
        except TooLarge:
            log.warning("webhook delivery refused: body over %d bytes", max_body)
            return JSONResponse({"error": f"body over {max_body} bytes"}, status_code=413)
        done = await run_in_threadpool(intake.deliver, body)  # the database is synchronous
        return JSONResponse(done.as_json(), status_code=done.status)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})  # the process serves; the database is not asked

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(intake.start)
        try:
            yield
        finally:
            await run_in_threadpool(intake.close)

    routes = [
        Route(PATH, tasks, methods=["POST"]),
        Route(PATH + "/{secret}", tasks, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge  # refused before reading a byte
    chunks, size = [], 0
    async for chunk in request.stream():  # chunked bodies carry no length: count as they come
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)
