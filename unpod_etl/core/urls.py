"""Credentials inside URLs never reach the warehouse, a log line or the terminal."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def mask_url(url: str) -> str:
    """`http://bob:pw@host/x` -> `http://bob:***@host/x`; a URL without a password is kept."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, _password = userinfo.partition(":")
    masked = f"{user}:***@{hostport}" if sep else f"{user}@{hostport}"
    return urlunsplit(parts._replace(netloc=masked))
