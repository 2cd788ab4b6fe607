"""How the API says no to a token, and the schemes it accepts one under.

The server answers a refused token with 401 and, per the published docs, 403 too; the bodies
seen are fixed phrases (/work/shared/unpod-api.md, "Errors" and "Auth"). Any 401 is a refused
token. A 403 is one only when its body says so: other 403s (a proxy, a permission on one
resource) stay the failure of what was asked, not the end of the run.
"""

from __future__ import annotations

from typing import Any

# Authorization header keywords the server accepts (`<scheme> <token>`); Token is the
# per-user API token, JWT and Bearer carry a JSON web token.
AUTH_SCHEMES = ("Token", "JWT", "Bearer")
DEFAULT_AUTH_SCHEME = "Token"
# The documented bodies of a refused token, compared without case or trailing dots.
REFUSALS = frozenset(
    {
        "invalid token",
        "authentication credentials were not provided",
        "token has expired",
        "expired auth token",
    }
)
MESSAGE_FIELDS = ("message", "error", "detail")
MESSAGE_MAX = 200


def canonical_scheme(scheme: str) -> str | None:
    """The accepted spelling of an auth scheme (any case given), or None if not accepted."""
    for known in AUTH_SCHEMES:
        if scheme.strip().lower() == known.lower():
            return known
    return None


def server_messages(body: dict[str, Any] | None) -> list[str]:
    """The text fields of an error body, in the order the server's bodies put them."""
    if body is None:
        return []
    found = []
    for name in MESSAGE_FIELDS:
        value = body.get(name)
        if isinstance(value, str) and value.strip() and value.strip() not in found:
            found.append(value.strip())
    return found


def refusal_message(status: int, body: dict[str, Any] | None, token: str) -> str | None:
    """The server's words when this answer refuses the token, else None.

    The token itself is cut out of the words: a server (or proxy) that echoes the header
    must not put it in a log line.
    """
    if status not in (401, 403):
        return None
    messages = server_messages(body)
    documented = any(m.lower().rstrip(".") in REFUSALS for m in messages)
    if status == 403 and not documented:
        return None
    text = ": ".join(messages) if messages else "no message"
    if token:
        text = text.replace(token, "***")
    return text[:MESSAGE_MAX]
