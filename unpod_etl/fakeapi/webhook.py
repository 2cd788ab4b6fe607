"""What Unpod's task webhook POSTs for a task (see /work/shared/unpod-api.md, "Webhook").

The whole task document as JSON, `user_info` (and its `user_token`) included, with the
top-level datetimes rendered by Python's `str()`: a space instead of `T`, six fraction digits
when there is a fraction. Encoded as `requests.post(json=...)` does (json.dumps defaults).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

TIME_FIELDS = ("created", "modified", "last_status_change")


def webhook_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The task document as the webhook sends it (a copy)."""
    out = dict(doc)
    for key in TIME_FIELDS:
        value = out.get(key)
        if isinstance(value, str) and value:
            out[key] = str(datetime.fromisoformat(value))
    return out


def webhook_body(doc: dict[str, Any]) -> bytes:
    return json.dumps(webhook_document(doc)).encode()
