"""Lenient type coercion for row values, and the one place that cleans strings for PostgreSQL.

The API's documents are loosely typed (numbers as strings, strings as numbers, objects where a
string was documented), so every column value passes through one of these helpers. They never
raise: a value that cannot be coerced becomes None, and the raw value survives in `document`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

# PostgreSQL rejects NUL in text and JSONB, and lone UTF-16 surrogates (which json.loads
# happily produces from "\ud800") are not valid UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")

# PostgreSQL INTEGER range; a larger value would make the whole batch fail on insert.
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

_TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on"})
_FALSE_WORDS = frozenset({"false", "no", "n", "0", "off"})


def clean_str(value: str) -> str:
    """Remove what PostgreSQL refuses from a string: NUL characters and lone surrogates."""
    if value.isascii():  # the common case, checked in C: no surrogate possible
        return value.replace("\x00", "") if "\x00" in value else value
    if "\x00" in value:
        value = value.replace("\x00", "")
    if _SURROGATE.search(value):
        # Round-trip through UTF-16 joins valid surrogate pairs and replaces lone ones.
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def clean_json(value: Any) -> Any:
    """Deep copy of a JSON-shaped value that PostgreSQL's JSONB accepts.

    Strings (keys too) are cleaned, non-finite floats become None (JSON has no NaN), tuples
    become lists, and anything that is not JSON (datetimes, bytes, ...) becomes its str().
    """
    kind = type(value)  # exact types first: this runs on every node of every document
    if kind is str:
        return clean_str(value)
    if kind is dict:
        return {
            (clean_str(k) if type(k) is str else clean_str(str(k))): clean_json(v)
            for k, v in value.items()
        }
    if kind is list:
        return [clean_json(v) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return clean_str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {clean_str(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return clean_str(str(value))


def to_text(value: Any, max_len: int | None = None) -> str | None:
    """A text column value: strings kept (even ""), scalars as text, objects as compact JSON.

    max_len truncates for VARCHAR(n) columns, where PostgreSQL would refuse a longer value; the
    full value is still in `document`.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        try:
            text = json.dumps(clean_json(value), ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError, RecursionError):
            text = str(value)
    text = clean_str(text)
    if max_len is not None and len(text) > max_len:
        text = text[:max_len]
    return text


def to_float(value: Any) -> float | None:
    """A finite float from a number or numeric string ("12.5"); anything else is None."""
    if isinstance(value, bool) or value is None:
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        result = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):  # "abc", or an int beyond float range
        return None
    return result if math.isfinite(result) else None


def to_int(value: Any) -> int | None:
    """An INTEGER from an int, an integral float or a numeric string ("3", "3.0")."""
    if isinstance(value, int) and not isinstance(value, bool):
        result = value
    else:
        number = to_float(value)
        if number is None or not number.is_integer():
            return None
        result = int(number)
    return result if _INT_MIN <= result <= _INT_MAX else None


def to_bool(value: Any) -> bool | None:
    """A boolean from a bool, 0/1, or a yes/no-like string ("true", "False", "1")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


def as_mapping(value: Any) -> Mapping[str, Any]:
    """The value when it is an object, else an empty one (for reading optional sub-objects)."""
    return value if isinstance(value, Mapping) else {}
