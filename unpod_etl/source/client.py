"""HTTP client for Unpod's platform API (requests; knows nothing of the database).

It turns the API's quirks into plain Python: a page is good only when HTTP is 200 *and*
the body's `status_code` is 200 (the server answers 206 for refusals), task pages are
walked with offset paging and deduplicated, and transient failures are retried.
"""

from __future__ import annotations

import logging
import math
import re
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
from unpod_etl.source.pacing import Pacer
from unpod_etl.source.paging import PageWalk, TaskPage
from unpod_etl.source.rawjson import decode_json_object, decode_task_page
from unpod_etl.source.retrying import RetryPolicy, TransientHttpError, call_with_retries
from unpod_etl.source.stats import RequestStats
from unpod_etl.source.walk import WalkReport

log = logging.getLogger(__name__)

API_PREFIX = "/api/v2/platform"
# Decodes a body into its JSON object (None when it is not one).
Decoder = Callable[[bytes], dict[str, Any] | None]


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
    # A cap on the whole run's request rate, across workers (source/pacing.py); None: none
    # but the server's own announced budget, which is always honoured.
    max_requests_per_second: float | None = None
    # One Session per thread: agents are fetched by a pool of workers, and a Session's
    # connection pool is not meant to be shared across threads.
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"API URL must be http(s)://host[:port], got {mask_url(self.base_url)!r}"
            )
        # A token read from a file keeps its newline; no token has surrounding blanks.
        self.token = self.token.strip()
        if not self.token:
            raise ConfigError("no API token: set UNPOD_API_TOKEN or pass --token")
        # requests would fail on every request (and we would retry it as transient): say so
        # now. The message never quotes the token, not even in part.
        if _BAD_HEADER_CHARS.search(self.token):
            raise ConfigError(
                "the API token holds characters an HTTP header cannot carry "
                "(control characters, a line break or non-Latin-1 letters): check UNPOD_API_TOKEN"
            )
        self.org = self.org.strip()
        if _BAD_HEADER_CHARS.search(self.org):
            raise ConfigError(
                f"the org handle {self.org!r} holds characters an HTTP header cannot carry"
            )
        self.base_url = self.base_url.rstrip("/")
        cap = self.max_requests_per_second
        if cap is not None and not (cap > 0 and math.isfinite(cap)):
            raise ConfigError(f"max requests per second must be more than 0, got {cap}")
        # Shared by every worker thread of this client: one budget, one cap.
        self._pacer = Pacer(self.stats, self.retry.max_retry_after, cap)

    # -- public API -------------------------------------------------------------------------

    def list_agents(self) -> list[dict[str, Any]]:
        """Published agents of the org (`GET /agents/`, no paging)."""
        if not self.org:  # the server answers 400 without it: no need to ask
            raise ConfigError("no org handle: set UNPOD_ORG_HANDLE or pass --org")
        body = self._get_envelope(f"{API_PREFIX}/agents/", {}, what="the agent list")
        data = body.get("data")
        if not isinstance(data, list):
            raise ApiError("the agent list: `data` is not a list")
        return [a for a in data if isinstance(a, dict)]

    def iter_task_pages(
        self, handle: str, page_size: int = 100, walk: WalkReport | None = None
    ) -> Iterator[TaskPage]:
        """Walk an agent's tasks newest first, yielding pages of not-yet-seen tasks.

        The rules (source/paging.py): until an empty page or one shorter than the server's
        full page, bounded by `count`; repeated pages fail the agent, shifts of the live list
        are re-read, a `count` that disagrees with the tasks seen is flagged. A page that
        keeps failing with 5xx or a timeout is asked again with half the page size: the server
        has no index for this query and large pages time out. `walk`, when given, learns how
        the walk ended.
        """
        walk = walk if walk is not None else WalkReport()
        if page_size < 1:
            raise ConfigError("page size must be at least 1")
        path = f"{API_PREFIX}/agents/{quote(handle, safe='')}/tasks/"

        def fetch(number: int, size: int) -> dict[str, Any]:
            what = f"agent {handle!r} page {number}"
            params = {"page": number, "page_size": size}
            return self._get_envelope(path, params, what=what, decode=decode_task_page)

        pager = PageWalk(fetch, f"agent {handle!r}", page_size, self.min_page_size, walk)
        yield from pager.pages()

    # -- plumbing ---------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            # With no `auth` of its own, requests replaces our Authorization header by Basic
            # auth from credentials in the URL (http://bob:pw@host) or from ~/.netrc, and the
            # API refuses every page. Ours always wins; proxy credentials (HTTPS_PROXY) still
            # go out as Proxy-Authorization, which the adapter adds apart from this.
            session.auth = _TokenAuth(self.auth_scheme, self.token)
        return session

    def _headers(self) -> dict[str, str]:
        return {"Org-Handle": self.org, "Accept": "application/json"}

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
        self._pacer.before_request()
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
            self._pacer.after_request(None)
            # Timeouts, refused or cut connections: the kind a retry may fix.
            raise TransientHttpError(f"{what}: {_describe_network_error(exc)}") from None
        except BaseException:  # an interrupt: the request is no longer in flight either
            self._pacer.after_request(None)
            raise
        self._pacer.after_request(resp.headers)  # the rate-limit headers, when sent
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


# What an HTTP field value cannot hold (RFC 9110 5.5): control characters but HTAB, and
# anything past Latin-1, which http.client cannot encode.
_BAD_HEADER_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")


class _TokenAuth(requests.auth.AuthBase):
    """`Authorization: Token <t>` (or JWT/Bearer), set as requests' auth so nothing else can
    replace it."""

    def __init__(self, scheme: str, token: str) -> None:
        self._value = f"{scheme} {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._value
        return request

    def __repr__(self) -> str:  # never the token
        return "_TokenAuth(***)"


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
