"""HTTP client for Unpod's platform API (requests; knows nothing of the database).

It turns the API's quirks into plain Python: a page is good only when HTTP is 200 *and*
the body's `status_code` is 200 (the server answers 206 for refusals), task pages are
walked with offset paging and deduplicated, and transient failures are retried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import urllib3

from unpod_etl.core.errors import ApiError, AuthError, ConfigError
from unpod_etl.core.urls import mask_url
from unpod_etl.source.auth_answers import DEFAULT_AUTH_SCHEME, refusal_message
from unpod_etl.source.rawjson import TaskDoc, decode_json_object, decode_task_page
from unpod_etl.source.retrying import RetryPolicy, TransientHttpError, call_with_retries
from unpod_etl.source.stats import RequestStats
from unpod_etl.source.walk import WalkReport

log = logging.getLogger(__name__)

API_PREFIX = "/api/v2/platform"
# Decodes a body into its JSON object (None when it is not one).
Decoder = Callable[[bytes], dict[str, Any] | None]
# A walk may take a few extra pages (tasks created mid-walk shift older ones down),
# but a server that keeps answering full pages must not keep us forever.
EXTRA_PAGES_ALLOWED = 5


@dataclass
class TaskPage:
    """One page of an agent's tasks, already deduplicated against earlier pages."""

    number: int
    page_size: int
    count: int  # the server's total for the agent
    tasks: list[TaskDoc]
    raw_size: int  # documents on the page before deduplication


@dataclass
class UnpodClient:
    base_url: str
    token: str
    org: str = ""
    timeout: float = 60.0
    min_page_size: int = 5
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    stats: RequestStats = field(default_factory=RequestStats, repr=False)  # for metrics
    auth_scheme: str = DEFAULT_AUTH_SCHEME  # Token, JWT or Bearer (auth_answers.AUTH_SCHEMES)
    # One Session per thread: agents are fetched by a pool of workers, and a Session's
    # connection pool is not meant to be shared across threads.
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"API URL must be http(s)://host[:port], got {mask_url(self.base_url)!r}"
            )
        if not self.token:
            raise ConfigError("no API token: set UNPOD_API_TOKEN or pass --token")
        self.base_url = self.base_url.rstrip("/")

    # -- public API -------------------------------------------------------------------------

    def list_agents(self) -> list[dict[str, Any]]:
        """Published agents of the org (`GET /agents/`, no paging)."""
        body = self._get_envelope(f"{API_PREFIX}/agents/", {}, what="the agent list")
        data = body.get("data")
        if not isinstance(data, list):
            raise ApiError("the agent list: `data` is not a list")
        return [a for a in data if isinstance(a, dict)]

    def iter_task_pages(
        self, handle: str, page_size: int = 100, walk: WalkReport | None = None
    ) -> Iterator[TaskPage]:
        """Walk an agent's tasks newest first, yielding pages of not-yet-seen tasks.

        Stops on an empty or short page, once `count` distinct tasks were seen, or after a
        bounded number of pages past what `count` announced. A page that keeps failing with
        5xx or a timeout is asked again with half the page size: the server has no index for
        this query and large pages time out. `walk`, when given, learns how the walk ended.
        """
        walk = walk if walk is not None else WalkReport()
        if page_size < 1:
            raise ConfigError("page size must be at least 1")
        path = f"{API_PREFIX}/agents/{quote(handle, safe='')}/tasks/"
        seen: set[str] = set()
        size, offset, most = page_size, 0, 0
        while True:
            number = offset // size + 1
            what = f"agent {handle!r} page {number}"
            params = {"page": number, "page_size": size}
            try:
                body = self._get_envelope(path, params, what=what, decode=decode_task_page)
            except TransientHttpError as exc:
                if not exc.shrinkable or size <= self.min_page_size:
                    raise
                size = max(self.min_page_size, size // 2)
                log.warning("%s kept failing; asking again with page_size %d", what, size)
                continue  # offset is kept: the smaller page starts at or before it
            data = body.get("data")
            if not isinstance(data, list):
                raise ApiError(f"{what}: `data` is not a list")
            count = _as_count(body.get("count"), len(data))
            most = max(most, count)  # the list is live and may grow during the walk
            walk.api_count = most
            fresh = []
            for doc in data:
                if doc.task_id is not None:
                    if doc.task_id in seen:
                        continue
                    seen.add(doc.task_id)
                fresh.append(doc)
            yield TaskPage(number, size, count, fresh, len(data))
            if len(data) < size or len(seen) >= count:
                walk.ended_by = "short page" if len(data) < size else "count reached"
                walk.complete = True
                return
            offset = number * size
            if offset >= most + EXTRA_PAGES_ALLOWED * size:
                log.warning("%s: stopping, past the %d tasks the server announced", what, most)
                walk.ended_by = "past the announced count"
                return

    # -- plumbing ---------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"{self.auth_scheme} {self.token}",
            "Org-Handle": self.org,
            "Accept": "application/json",
        }

    def _get_envelope(
        self, path: str, params: dict[str, Any], what: str, decode: Decoder = decode_json_object
    ) -> dict[str, Any]:
        url = self.base_url + path
        return call_with_retries(
            partial(self._get_once, url, params, what, decode),
            self.retry,
            what,
            on_retry=self.stats.add_retry,
        )

    def _get_once(
        self, url: str, params: dict[str, Any], what: str, decode: Decoder
    ) -> dict[str, Any]:
        self.stats.add_request()
        try:
            # stream=True and one read of the whole body: `resp.content` reads it in 10 KB
            # chunks, each through five Python layers and a fresh GIL acquisition; with
            # several workers that cost a no-change re-sync ~25% (docs/benchmark.md).
            # Fully read, the connection goes back to the pool for the next page.
            resp = self._session().get(
                url, params=params, headers=self._headers(), timeout=self.timeout, stream=True
            )
            status = resp.status_code
            body_bytes = resp.raw.read(decode_content=True)  # may fail too: cut mid-body
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            # Timeouts, refused or cut connections: the kind a retry may fix.
            raise TransientHttpError(f"{what}: {_describe_network_error(exc)}") from None
        if status in (401, 403):  # a refused token ends the run; other 403s fail `what`
            refused = refusal_message(status, decode_json_object(body_bytes), self.token)
            if refused is not None:
                raise AuthError(f"the API refused the token (HTTP {status}: {refused}) on {what}")
        if status == 429 or status >= 500:
            raise TransientHttpError(
                f"{what}: HTTP {status}",
                retry_after=resp.headers.get("Retry-After"),
                shrinkable=status != 429,
            )
        body = decode(body_bytes)
        if status == 404:
            raise ApiError(f"{what}: not found (HTTP 404: {_message(body)})")
        if status != 200:
            raise ApiError(f"{what}: HTTP {status}: {_message(body)}")
        if body is None:
            # An HTML page or a cut body behind a 200 comes from proxies; worth a retry.
            raise TransientHttpError(
                f"{what}: the body is not a JSON object ({_snippet(body_bytes)})",
                shrinkable=False,
            )
        if body.get("status_code") != 200:
            raise ApiError(f"{what}: status_code {body.get('status_code')}: {_message(body)}")
        return body


def _message(body: dict[str, Any] | None) -> str:
    if body is None:
        return "no JSON body"
    msg = body.get("message") or body.get("error") or "no message"
    return str(msg)[:200]


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    head = " ".join(text[:60].split())
    return f"{len(raw)} bytes starting {head!r}" if raw else "empty body"


def _describe_network_error(exc: Exception) -> str:
    # requests' errors while connecting; urllib3's while reading the body (stream=True).
    timeouts = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError)
    if isinstance(exc, timeouts):
        return "timed out"
    cut = (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError)
    if isinstance(exc, cut):
        return "connection closed in the middle of the body"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def _as_count(value: Any, fallback: int) -> int:
    return value if isinstance(value, int) and value >= 0 else fallback
