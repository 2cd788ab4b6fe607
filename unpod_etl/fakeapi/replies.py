"""What the fake answers with: the Reply type and the fixed bodies the real server sends."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"

INVALID_TOKEN = {"message": "Invalid token.", "status_code": 401}
EXPIRED_TOKEN = {"message": "Unauthorized Access", "error": "Expired Auth Token"}
NOT_PROVIDED = {"message": "Authentication credentials were not provided.", "status_code": 401}
TOKEN_EXPIRED_403 = {"status_code": 403, "message": "Token has expired."}  # the published docs
# Each way the server refuses a token: (HTTP status, body), by the name faults and access use.
TOKEN_REFUSALS: dict[str, tuple[int, dict[str, Any]]] = {
    "expired": (401, EXPIRED_TOKEN),
    "invalid": (401, INVALID_TOKEN),
    "not_provided": (401, NOT_PROVIDED),
    "expired_403": (403, TOKEN_EXPIRED_403),
}
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
HTML_REASONS = {
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
}


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    # Only a real socket honours these two (FakeServer); respond() callers may ignore them.
    delay: float = 0.0  # seconds to wait before answering
    cut_at: int | None = None  # send only body[:cut_at], then close (Content-Length stays full)


def json_reply(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode())


def html_reply(status: int) -> Reply:
    """Django's own 500 page, or the nginx page a gateway puts in front of other statuses."""
    reason = HTML_REASONS.get(status, "Error")
    page = HTML_PAGES.get(status) or (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n"
        f"<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Reply(status, page.encode(), HTML_TYPE)


def token_refusal(answer: str) -> Reply:
    """The reply refusing a token, `answer` one of TOKEN_REFUSALS."""
    status, body = TOKEN_REFUSALS[answer]
    return json_reply(status, body)
