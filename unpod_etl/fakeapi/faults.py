"""Fault injection: rules that make the fake misbehave the way a real network, proxy or
server does, and a log of the faults that fired so a test can check they happened.

    fault = fake.faults.inject("5xx", agent=handle, page=2, times=3, status=503)
    ... run the sync ...
    assert fault.fired == 3

A rule matches a request by route, agent handle, page number and page size; `after` skips
the first matching requests, `every` fires on every Nth of the rest and `times` bounds how
often it fires. The first rule (in injection order) that is due answers the request.
Besides failures, reshape.py's kinds make a good page differ: a server that ignores
page_size, miscounts, repeats a page, shifts the list mid-walk, or shapes values otherwise.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any, NamedTuple

from unpod_etl.fakeapi.access import AccessControl
from unpod_etl.fakeapi.replies import (
    FETCH_FAILED,
    HTML_TYPE,
    NO_ACCESS,
    TOKEN_REFUSALS,
    Reply,
    html_reply,
    json_reply,
    token_refusal,
)
from unpod_etl.fakeapi.reshape import ENVELOPE_KINDS, PAGING_KINDS, reshape

# Each kind of fault and the parameters it takes (see fault_reply for their meaning).
KINDS: dict[str, frozenset[str]] = {
    "429": frozenset({"retry_after"}),
    "5xx": frozenset({"status"}),
    "slow": frozenset({"delay"}),
    "disconnect": frozenset({"keep"}),
    "truncated": frozenset({"keep"}),
    "html200": frozenset(),
    "wrong_shape": frozenset({"data"}),
    "missing_task_id": frozenset({"index", "value"}),
    "206": frozenset({"variant"}),
    "401": frozenset({"variant", "revoke"}),  # variant: expired (default), invalid, not_provided
    "403": frozenset({"revoke"}),  # the published docs' {"message": "Token has expired."}
    # A server that pages or shapes values differently (reshape.py); tasks route only.
    **PAGING_KINDS,
    **ENVELOPE_KINDS,
}
ROUTES = ("any", "agents", "tasks", "schema")
SERVER_ERRORS = (500, 502, 503, 504)
# What a CDN or captive portal puts in front of an API that is down: HTML with a 200.
MAINTENANCE_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head>\n"
    b"<body><h1>We'll be back soon</h1><p>unpod.dev is under maintenance.</p></body></html>\n"
)


class FiredFault(NamedTuple):
    kind: str
    route: str
    agent: str | None
    page: int | None


@dataclass
class Fault:
    kind: str
    route: str = "tasks"
    agent: str | None = None
    page: int | None = None
    larger_than: int | None = None  # only requests whose page_size exceeds this
    every: int | None = None
    times: int | None = None
    after: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    matched: int = 0  # requests that passed the filters (fired or not)
    fired: int = 0
    details: list[str] = field(default_factory=list)  # e.g. task_ids a fault stripped

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(KINDS)}")
        unknown = set(self.params) - KINDS[self.kind]
        if unknown:
            raise TypeError(f"fault {self.kind!r} takes no parameter {', '.join(sorted(unknown))}")
        if self.route not in ROUTES:
            raise ValueError(f"route must be one of {', '.join(ROUTES)}")
        variant = self.params.get("variant", "expired")
        if self.kind == "401" and (variant == "expired_403" or variant not in TOKEN_REFUSALS):
            raise ValueError("a 401 fault takes variant expired, invalid or not_provided")
        reshaping = self.kind in PAGING_KINDS or self.kind in ENVELOPE_KINDS
        if reshaping and self.route != "tasks":
            raise ValueError(f"fault {self.kind!r} applies to the tasks route only")
        if self.kind == "5xx" and self.params.get("status", 500) not in SERVER_ERRORS:
            raise ValueError(f"a 5xx fault takes status in {SERVER_ERRORS}")
        if self.every is not None and self.every < 1 or self.times is not None and self.times < 0:
            raise ValueError("every must be >= 1 and times >= 0")

    def _matches(self, route: str, agent: str | None, page: int | None, size: int | None) -> bool:
        return (
            self.route in ("any", route)
            and (self.agent is None or self.agent == agent)
            and (self.page is None or self.page == page)
            and (self.larger_than is None or (size is not None and size > self.larger_than))
        )

    def _due(self) -> bool:
        """Count one matching request; True when this rule fires on it."""
        self.matched += 1
        beyond = self.matched - self.after
        if beyond < 1 or (self.times is not None and self.fired >= self.times):
            return False
        return self.every is None or beyond % self.every == 0


class FaultBook:
    """The rules and the log of fired faults: FakeUnpod holds one as `fake.faults`, the
    one way to make the fake fail on purpose."""

    def __init__(self) -> None:
        self._fault_lock = threading.Lock()
        self.rules: list[Fault] = []
        self.fired: list[FiredFault] = []

    def inject(
        self,
        kind: str,
        *,
        route: str = "tasks",
        agent: str | None = None,
        page: int | None = None,
        larger_than: int | None = None,
        every: int | None = None,
        times: int | None = None,
        after: int = 0,
        **params: Any,
    ) -> Fault:
        """Add a rule; without `times` it fires on every matching request from now on."""
        fault = Fault(kind, route, agent, page, larger_than, every, times, after, dict(params))
        with self._fault_lock:
            self.rules.append(fault)
        return fault

    def clear(self) -> None:
        """Drop every rule (the log of fired faults stays)."""
        with self._fault_lock:
            self.rules.clear()

    def take(
        self, route: str, agent: str | None = None, page: int | None = None, size: int | None = None
    ) -> Fault | None:
        """The rule that answers this request, if any; logs it as fired."""
        with self._fault_lock:
            chosen = None
            for fault in self.rules:
                # Every matching rule counts the request, so `every`/`after` stay per rule.
                if fault._matches(route, agent, page, size) and fault._due() and chosen is None:
                    chosen = fault
            if chosen is not None:
                chosen.fired += 1
                self.fired.append(FiredFault(chosen.kind, route, agent, page))
            return chosen

    def fired_kinds(self) -> list[str]:
        with self._fault_lock:
            return [entry.kind for entry in self.fired]


def retry_after_header(value: float | str | datetime) -> str:
    """Retry-After as delta-seconds (a number) or an HTTP date (an aware datetime)."""
    if isinstance(value, datetime):
        return format_datetime(value, usegmt=True)
    if isinstance(value, int | float):
        return str(int(value))
    return value


def fault_reply(access: AccessControl, fault: Fault, normal: Callable[[], Reply]) -> Reply:
    """The reply of a faulty request; `normal` builds the reply the fake would have sent."""
    kind, params = fault.kind, fault.params
    if kind == "429":
        reply = html_reply(429)
        if params.get("retry_after") is not None:
            reply.headers["Retry-After"] = retry_after_header(params["retry_after"])
        return reply
    if kind == "5xx":
        return html_reply(int(params.get("status", 500)))
    if kind == "206":
        fetch_failed = params.get("variant") == "fetch_failed"
        return json_reply(206, FETCH_FAILED if fetch_failed else NO_ACCESS)
    if kind in ("401", "403"):
        answer = "expired_403" if kind == "403" else str(params.get("variant", "expired"))
        if params.get("revoke", True):
            access.revoke_token(answer)  # a revoked token stays refused for every later request
        return token_refusal(answer)
    if kind == "html200":
        return Reply(200, MAINTENANCE_PAGE, HTML_TYPE)
    reply = normal()
    if kind == "slow":
        reply.delay = float(params.get("delay", 1.0))
    elif kind == "disconnect":
        reply.cut_at = _cut_point(len(reply.body), params.get("keep", 0.5))
    elif kind == "truncated":
        reply.body = reply.body[: _cut_point(len(reply.body), params.get("keep", 0.5))]
    elif kind in ENVELOPE_KINDS:
        reply.body = _edit_envelope(reply.body, lambda env: reshape(env, fault))
    elif kind == "wrong_shape":
        reply.body = _edit_envelope(reply.body, lambda env: _set_data(env, params))
    else:  # missing_task_id
        reply.body = _edit_envelope(reply.body, lambda env: _strip_task_id(env, fault))
    return reply


def _cut_point(length: int, keep: float) -> int:
    """Somewhere strictly inside the body, so the cut is always visible."""
    return min(max(1, int(length * keep)), max(1, length - 1))


def _edit_envelope(body: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    try:
        envelope = json.loads(body)
    except ValueError:  # an HTML error the fake would have sent anyway: leave it
        return body
    if not isinstance(envelope, dict):
        return body
    edit(envelope)
    return json.dumps(envelope, ensure_ascii=False).encode()


def _set_data(envelope: dict[str, Any], params: dict[str, Any]) -> None:
    envelope["data"] = params.get("data", {"results": envelope.get("data")})


def _strip_task_id(envelope: dict[str, Any], fault: Fault) -> None:
    data = envelope.get("data")
    if not isinstance(data, list) or not data:
        return
    doc = data[min(int(fault.params.get("index", 0)), len(data) - 1)]
    if not isinstance(doc, dict):
        return
    fault.details.append(str(doc.get("task_id")))
    if "value" in fault.params:
        doc["task_id"] = fault.params["value"]
    else:
        doc.pop("task_id", None)
