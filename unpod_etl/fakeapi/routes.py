"""The HTTP semantics of the fake, without sockets: (method, path, headers) -> Reply.

Order of checks follows the server code: route, then token, then Org-Handle (agents list
only), then agent lookup and space access, then the paging values.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from unpod_etl.fakeapi.access import RequestRecord
from unpod_etl.fakeapi.faults import Fault, fault_reply
from unpod_etl.fakeapi.replies import (
    FETCH_FAILED,
    INVALID_TOKEN,
    NO_ACCESS,
    NO_ORG,
    NOT_PROVIDED,
    Reply,
    html_reply,
    json_reply,
    token_refusal,
)
from unpod_etl.fakeapi.reshape import PAGING_KINDS, served_page

if TYPE_CHECKING:
    from unpod_etl.fakeapi.state import FakeUnpod

PREFIX = "/api/v2/platform/"
TASKS_ROUTE = re.compile(r"^/api/v2/platform/agents/([^/]+)/tasks/$")
SCHEMA = {
    "openapi": "3.0.3",
    "info": {"title": "Unpod Platform API (fake)", "version": "2.0.0"},
    "paths": {
        "/api/v2/platform/agents/": {
            "get": {
                "summary": "List published agents of the organization",
                "parameters": [{"name": "Org-Handle", "in": "header", "required": True}],
            }
        },
        "/api/v2/platform/agents/{agent_handle}/tasks/": {
            "get": {
                "summary": "List the tasks of an agent, newest first",
                "parameters": [
                    {"name": "agent_handle", "in": "path", "required": True},
                    {"name": "page", "in": "query", "schema": {"type": "integer", "default": 1}},
                    {
                        "name": "page_size",
                        "in": "query",
                        "schema": {"type": "integer", "default": 20},
                    },
                ],
            }
        },
    },
    "components": {
        "securitySchemes": {
            "TokenAuth": {"type": "apiKey", "in": "header", "name": "Authorization"}
        }
    },
}


def respond(fake: FakeUnpod, method: str, target: str, headers: Mapping[str, str]) -> Reply:
    """Serve one request against `fake` and log it in `fake.access.requests`."""
    parts = urlsplit(target)
    query = {
        key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()
    }
    titled = {name.title(): value for name, value in headers.items()}
    fake.access.record(RequestRecord(method, parts.path, query, titled, time.monotonic()))
    window = fake.access.rate_limit  # the docs' rate limit, off unless a test sets it
    if window is None:
        return _route(fake, method, parts.path, query, titled)
    refused, announced = window.admit()
    reply = refused or _route(fake, method, parts.path, query, titled)
    reply.headers.update(announced)  # every answer announces the budget, as the docs say
    return reply


def _route(
    fake: FakeUnpod, method: str, path: str, query: dict[str, str], titled: dict[str, str]
) -> Reply:
    tasks_match = TASKS_ROUTE.match(path)
    known = path in (PREFIX + "agents/", PREFIX + "schema/") or tasks_match is not None
    if not known:
        return json_reply(404, {"detail": "Not found."})
    if method != "GET":
        return json_reply(405, {"detail": f'Method "{method}" not allowed.'})
    refused = _check_token(fake, titled.get("Authorization", ""))
    if refused is not None:
        return refused
    if path == PREFIX + "schema/":
        return _answer(fake, fake.faults.take("schema"), lambda: json_reply(200, SCHEMA))
    if tasks_match is None:
        return _agents(fake, titled.get("Org-Handle"))
    return _tasks(fake, unquote(tasks_match.group(1)), query)


def _answer(fake: FakeUnpod, fault: Fault | None, normal: Callable[[], Reply]) -> Reply:
    """The normal reply, or what an injected fault turns it into."""
    return normal() if fault is None else fault_reply(fake.access, fault, normal)


def _check_token(fake: FakeUnpod, authorization: str) -> Reply | None:
    if not authorization.strip():
        return json_reply(401, NOT_PROVIDED)
    keyword, _, value = authorization.strip().partition(" ")
    if keyword.lower() != fake.access.auth_scheme.lower() or value.strip() != fake.token:
        return json_reply(401, INVALID_TOKEN)
    if fake.access.token_revoked:
        return token_refusal(fake.access.revoked_answer)
    return None


def _agents(fake: FakeUnpod, org: str | None) -> Reply:
    if not org:
        return json_reply(400, NO_ORG)
    if org != fake.org:
        return json_reply(404, {"message": "Organization not found"})
    return _answer(fake, fake.faults.take("agents"), lambda: _agent_list(fake))


def _agent_list(fake: FakeUnpod) -> Reply:
    listing = fake.agent_listing()
    return json_reply(
        200,
        {
            "count": len(listing),
            "status_code": 200,
            "message": "Agents fetched successfully",
            "data": listing,
        },
    )


def _positive(raw: str | None, default: int) -> int | None:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value > 0 else None


def _tasks(fake: FakeUnpod, handle: str, query: Mapping[str, str]) -> Reply:
    if handle not in fake.all_handles():
        return json_reply(404, {"message": "Agent not found"})
    page, page_size = _positive(query.get("page"), 1), _positive(query.get("page_size"), 20)
    fault = fake.faults.take("tasks", handle, page, page_size)
    if fault is not None and fault.kind in PAGING_KINDS:
        if page is not None and page_size is not None:  # bad values still get the HTML 500
            page, page_size = served_page(fake, fault, handle, page, page_size)
        return _task_page(fake, handle, page, page_size)
    return _answer(fake, fault, lambda: _task_page(fake, handle, page, page_size))


def _task_page(fake: FakeUnpod, handle: str, page: int | None, page_size: int | None) -> Reply:
    refusal = fake.access.refusal(handle)
    if refusal is not None:
        status, fetch_failed = refusal
        if status == 404:
            return json_reply(404, {"message": "Agent not found"})
        return json_reply(206, FETCH_FAILED if fetch_failed else NO_ACCESS)
    if page is None or page_size is None:
        return html_reply(500)
    if fake.access.max_page_size is not None and page_size > fake.access.max_page_size:
        return html_reply(504)
    count, data = fake.page_json(handle, page, page_size)
    head = f'{{"count": {count}, "status_code": 200, "message": "Tasks fetched successfully", '
    latency = fake.access.scan_latency
    delay = 0.0 if latency is None else latency.delay(count, page, page_size)
    return Reply(200, head.encode() + b'"data": ' + data + b"}", delay=delay)
