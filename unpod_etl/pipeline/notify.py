"""`sync --notify-url`: a short message to a chat webhook when a run goes wrong, and once
when it recovers. The body is `{"text": ...}`, which Slack's and Microsoft Teams' incoming
webhooks both accept. A notification that fails is logged and never fails the sync.
"""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

import requests

from unpod_etl.core.outcomes import AgentOutcome, RunOutcome
from unpod_etl.pipeline.results import RunResult

log = logging.getLogger(__name__)

TIMEOUT = 5.0  # seconds: the chat service being slow must not hold up the run
BAD = {RunOutcome.PARTIAL, RunOutcome.ABORTED, RunOutcome.DIED}
MAX_AGENTS_NAMED = 10


def message(result: RunResult, previous: str | None, secrets: tuple[str, ...] = ()) -> str | None:
    """The text to send for this run, or None when there is nothing to say.

    `previous`: how the run before this one ended; an ok run after a bad one is a recovery.
    """
    run = f"run {result.run_id}" if result.run_id is not None else "a run"
    where = f"unpod-etl sync on {socket.gethostname()}"
    if result.outcome is RunOutcome.OK:
        if previous not in BAD:
            return None
        text = f"{where}: {run} ok again after a {previous} run ({len(result.agents)} agents)"
    elif result.outcome in BAD:
        failed = [a for a in result.agents if a.outcome is AgentOutcome.FAILED]
        parts = [f"{where}: {run} {result.outcome}"]
        if result.error:
            parts.append(f"error: {result.error}")
        if failed:
            shown, rest = failed[:MAX_AGENTS_NAMED], len(failed) - MAX_AGENTS_NAMED
            named = "; ".join(f"{a.handle} ({a.error or 'failed'})" for a in shown)
            more = f" and {rest} more" if rest > 0 else ""
            parts.append(f"{len(failed)} of {len(result.agents)} agents failed: {named}{more}")
        text = " - ".join(parts)
    else:
        return None
    for secret in secrets:  # errors never carry the token; this makes sure of it
        if secret:
            text = text.replace(secret, "***")
    return text


def send(url: str, text: str) -> bool:
    """POST {"text": text}; False, logged without the URL's path (it is the secret), on failure."""
    host = urlsplit(url).netloc.rpartition("@")[2] or "the notify URL"
    try:
        resp = requests.post(url, json={"text": text}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        log.error("notification to %s failed: %s", host, type(exc).__name__)
        return False
    if not 200 <= resp.status_code < 300:
        log.error("notification to %s failed: HTTP %s", host, resp.status_code)
        return False
    return True
