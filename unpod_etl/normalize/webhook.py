"""A webhook delivery's task document, put in the form the pull returns (pure).

Unpod's webhook POSTs the task document with its top-level datetimes rendered by Python's
`str()` (`"2026-01-31 11:48:14.220000"`, a space and always six digits when there is a
fraction), while the tasks route renders the same values as naive ISO (`"2026-01-31T11:48:14.220"`
for `created`/`modified`: milliseconds, no fraction when they are zero; microseconds for
`last_status_change`). The stored `document`, and so the fingerprint change detection compares,
holds these strings: stored as delivered, the next pull of the unchanged task would look
changed and be rewritten. Rewriting them as the pull renders them makes a delivery and a pull
of the same task the same stored form. Strings already in ISO form, other shapes and values
that are not strings are left as they are (the normalizer judges them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

# `str()` of a naive datetime: date, one space, time, an optional fraction (six digits).
_SPACED = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?")


def _pull_ms(moment: datetime) -> str:
    """`created`/`modified` as the tasks route renders them: milliseconds, none when zero."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000).isoformat()


def _pull_micro(moment: datetime) -> str:
    """`last_status_change` as the tasks route renders it: always microseconds."""
    return moment.isoformat(timespec="microseconds")


PULL_FORMS = {"created": _pull_ms, "modified": _pull_ms, "last_status_change": _pull_micro}


def as_pulled(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of `doc` whose top-level datetimes read as the pull renders them."""
    out = dict(doc)
    for key, render in PULL_FORMS.items():
        value = out.get(key)
        if isinstance(value, str) and _SPACED.fullmatch(value):
            out[key] = render(datetime.fromisoformat(value))
    return out
