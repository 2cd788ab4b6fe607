"""The HTTP semantics of the fake, without sockets: (method, path, headers) -> Reply.

Order of checks follows the server code: route, then token, then Org-Handle (agents list
only), then agent lookup and space access, then the paging values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from unpod_etl.fakeapi.access import RequestRecord

if TYPE_CHECKING:
    from unpod_etl.fakeapi.state import FakeUnpod

PREFIX = "/api/v2/platform/"
TASKS_ROUTE = re.compile(r"^/api/v2/platform/agents/([^/]+)/tasks/$")
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"

INVALID_TOKEN = {"message": "Invalid token.", "status_code": 401}
EXPIRED_TOKEN = {"message": "Unauthorized Access", "error": "Expired Auth Token"}
NO_ORG = {
    "status_code": 400,
    "message": "Organization handle is required in Org-Handle header",
    "data": {},
}
NO_ACCESS = {
    "status_code": 206,
    "message": "You Don't have Access to this Agent's Space",
    "data": {},
}
FETCH_ERROR = "Error while fetching tasks from the task service"
FETCH_FAILED = {
    "status_code": 206,
    "message": "Tasks Fetch Failed",
    "data": {"errors": FETCH_ERROR},
    "errors": FETCH_ERROR,
}
HTML_PAGES = {
    500: '<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n'
    "</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n",
}
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


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode())


def _html(status: int) -> Reply:
    reasons = {429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Unavailable"}
    reasons[504] = "Gateway Time-out"
    page = HTML_PAGES.get(status) or (
        f"<html>\r\n<head><title>{status} {reasons.get(status, 'Error')}</title></head>\r\n"
        f"<body>\r\n<center><h1>{status} {reasons.get(status, 'Error')}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Reply(status, page.encode(), HTML_TYPE)


def respond(fake: FakeUnpod, method: str, target: str, headers: Mapping[str, str]) -> Reply:
    """Serve one request against `fake` and log it in `fake.requests`."""
    parts = urlsplit(target)
    query = {
        key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()
    }
    titled = {name.title(): value for name, value in headers.items()}
    fake.record(RequestRecord(method, parts.path, query, titled))
    tasks_match = TASKS_ROUTE.match(parts.path)
    known = parts.path in (PREFIX + "agents/", PREFIX + "schema/") or tasks_match is not None
    if not known:
        return _json(404, {"detail": "Not found."})
    if method != "GET":
        return _json(405, {"detail": f'Method "{method}" not allowed.'})
    refused = _check_token(fake, titled.get("Authorization", ""))
    if refused is not None:
        return refused
    if parts.path == PREFIX + "schema/":
        return _json(200, SCHEMA)
    if tasks_match is None:
        return _agents(fake, titled.get("Org-Handle"))
    return _tasks(fake, unquote(tasks_match.group(1)), query)


def _check_token(fake: FakeUnpod, authorization: str) -> Reply | None:
    keyword, _, value = authorization.strip().partition(" ")
    if keyword.lower() != "token" or value.strip() != fake.token:
        return _json(401, INVALID_TOKEN)
    if fake.token_revoked:
        return _json(401, EXPIRED_TOKEN)
    return None


def _agents(fake: FakeUnpod, org: str | None) -> Reply:
    if not org:
        return _json(400, NO_ORG)
    if org != fake.org:
        return _json(404, {"message": "Organization not found"})
    listing = fake.agent_listing()
    return _json(
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
        return _json(404, {"message": "Agent not found"})
    refusal = fake.refusal(handle)
    if refusal is not None:
        status, fetch_failed = refusal
        if status == 404:
            return _json(404, {"message": "Agent not found"})
        return _json(206, FETCH_FAILED if fetch_failed else NO_ACCESS)
    page, page_size = _positive(query.get("page"), 1), _positive(query.get("page_size"), 20)
    if page is None or page_size is None:
        return _html(500)
    failure = fake.take_failure()
    if failure is not None:
        reply = _html(failure[0])
        if failure[1] is not None:
            reply.headers["Retry-After"] = str(failure[1])
        return reply
    if fake.max_page_size is not None and page_size > fake.max_page_size:
        return _html(504)
    count, data = fake.page_json(handle, page, page_size)
    head = f'{{"count": {count}, "status_code": 200, "message": "Tasks fetched successfully", '
    return Reply(200, head.encode() + b'"data": ' + data + b"}")
