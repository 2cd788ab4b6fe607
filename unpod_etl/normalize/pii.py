"""PII controls (`--pii keep|hash|redact`): contact values to keyed hashes or placeholders.

Pure: no I/O. A PiiPolicy turns one value into what the warehouse stores:
  keep    the value as received (today's behaviour; the policy is then never applied);
  hash    flat columns hold HMAC-SHA-256(key, "<kind>:<normalized value>") (first HASH_CHARS
          hex digits), text holds `[phone:<same hash>]`, `[email:...]`, `[name:...]`, so the
          same contact maps to the same value in every table and joins still work;
  redact  fixed placeholders `[phone]`, `[email]`, `[name]`, no hashes.
Values are normalized before hashing: phone numbers to E.164 (phonenumbers, so "+1 555 123
4567" and "15551234567" join), e-mail addresses and names lower-cased, whitespace collapsed.
Phone numbers in text are found by phonenumbers' PhoneNumberMatcher (leniency POSSIBLE: the
number need not be assigned, only of a possible length), e-mail addresses by the WHATWG HTML
`input type=email` pattern. Names only come from known fields (no NER); a name found there is
also replaced where the same task's text repeats it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher


class PiiMode(StrEnum):
    KEEP = "keep"
    HASH = "hash"
    REDACT = "redact"


PII_MODES = tuple(m.value for m in PiiMode)
PHONE, EMAIL, NAME = "phone", "email", "name"
KINDS = (PHONE, EMAIL, NAME)
HASH_CHARS = 24  # 96 bits: no collision in any realistic contact list, short in transcripts
DEFAULT_REGION = "US"  # how a number without a leading + (or 00) is read
KEY_ENV = "UNPOD_ETL_PII_KEY"

# WHATWG HTML "valid e-mail address" (the pattern browsers use for <input type=email>),
# with a word boundary so "mail:x@y.com." stops before the final dot.
EMAIL_RE = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)
# A placeholder written by this module: never re-scanned (its hex must not look like a phone).
PLACEHOLDER_RE = re.compile(r"\[(phone|email|name)(?::([0-9a-f]{" + str(HASH_CHARS) + r"}))?\]")


def normalize_phone(value: str, region: str = DEFAULT_REGION) -> str:
    """E.164 when phonenumbers can parse it, else the digits (and a leading +) alone."""
    text = value.strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        digits = re.sub(r"[^\d]", "", text)
        return ("+" if text.startswith("+") else "") + digits if digits else text.casefold()
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def normalize_value(kind: str, value: str, region: str = DEFAULT_REGION) -> str:
    if kind == PHONE:
        return normalize_phone(value, region)
    return " ".join(value.split()).casefold()


def contact_kind(value: str) -> str:
    """What `forget --contact VALUE` names: an e-mail address or a phone number."""
    return EMAIL if "@" in value else PHONE


def plain_token(kind: str, normalized: str) -> str:
    """SHA-256 of a normalized contact: how a keep-mode warehouse records an erasure."""
    return hashlib.sha256(f"{kind}:{normalized}".encode()).hexdigest()


@dataclass(frozen=True)
class PiiPolicy:
    """How contact values are stored; `key` (HMAC key, hash mode) is never shown in repr."""

    mode: PiiMode = PiiMode.KEEP
    key: bytes = field(default=b"", repr=False)
    region: str = DEFAULT_REGION

    @property
    def active(self) -> bool:
        return self.mode is not PiiMode.KEEP

    def token(self, kind: str, normalized: str) -> str:
        """The keyed hash of a normalized value (hash mode)."""
        mac = hmac.new(self.key, f"{kind}:{normalized}".encode(), hashlib.sha256)
        return mac.hexdigest()[:HASH_CHARS]

    def key_check(self) -> str | None:
        """A value that tells a wrong key from the right one without revealing it."""
        if self.mode is not PiiMode.HASH:
            return None
        return hmac.new(self.key, b"unpod-etl pii key check", hashlib.sha256).hexdigest()[:16]

    def placeholder(self, kind: str, value: str) -> str:
        if self.mode is PiiMode.HASH:
            return f"[{kind}:{self.token(kind, normalize_value(kind, value, self.region))}]"
        return f"[{kind}]"

    def flat(self, kind: str, value: str | None) -> str | None:
        """A flat column's value: the bare hash (hash mode) or the fixed placeholder."""
        if value is None or not self.active:
            return value
        existing = PLACEHOLDER_RE.fullmatch(value.strip())
        if existing is not None:  # already transformed (a stored document re-processed)
            if self.mode is PiiMode.REDACT or existing.group(2) is None:
                return f"[{existing.group(1)}]"
            return existing.group(2)
        if not value.strip():
            return value
        if self.mode is PiiMode.REDACT:
            return f"[{kind}]"
        return self.token(kind, normalize_value(kind, value, self.region))

    def whole(self, kind: str, value: str) -> str:
        """A JSON value that is one contact value as a whole: its placeholder."""
        if not value.strip():
            return value
        existing = PLACEHOLDER_RE.fullmatch(value.strip())
        if existing is not None:
            return self._again(existing)
        return self.placeholder(kind, value)

    def scrub_text(self, text: str, names: Iterable[str] = ()) -> str:
        """Phone numbers, e-mail addresses and the given names in free text -> placeholders."""
        if not self.active or not text:
            return text
        spans: list[tuple[int, int, str]] = []
        for m in PLACEHOLDER_RE.finditer(text):
            spans.append((m.start(), m.end(), self._again(m)))
        for m in EMAIL_RE.finditer(text):
            _add(spans, m.start(), m.end(), self.placeholder(EMAIL, m.group()))
        for name in sorted({n for n in names if len(n.strip()) >= 3}, key=len, reverse=True):
            pattern = r"(?<!\w)" + r"\s+".join(map(re.escape, name.split())) + r"(?!\w)"
            for m in re.finditer(pattern, text, re.IGNORECASE):
                _add(spans, m.start(), m.end(), self.placeholder(NAME, name))
        for start, end, e164 in phone_spans(text, self.region):
            _add(spans, start, end, self.placeholder(PHONE, e164))
        if not spans:
            return text
        out, pos = [], 0
        for start, end, repl in sorted(spans):
            out.append(text[pos:start])
            out.append(repl)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def _again(self, m: re.Match[str]) -> str:
        """A placeholder met again: kept, or (redact) stripped of its hash."""
        return m.group() if self.mode is PiiMode.HASH else f"[{m.group(1)}]"


# Timestamps are digits too ("09:21:01.149000" is a possible number): never phone numbers.
DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)

# Five digits with at most a few separators between them: the shortest number worth a look.
DIGIT_RUN_RE = re.compile(r"\d(?:[\s().\-/]{0,3}\d){4}")


def phone_spans(text: str, region: str = DEFAULT_REGION) -> list[tuple[int, int, str]]:
    """(start, end, E.164) of each phone number in text, outside timestamps, ids and words."""
    if DIGIT_RUN_RE.search(text) is None or DATETIME_RE.fullmatch(text):
        return []  # the cheap common case: the matcher costs ~0.1 ms a string
    dates = [(m.start(), m.end()) for m in DATETIME_RE.finditer(text)]
    found = []
    for match in PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE):
        start, end = match.start, match.end
        before = text[start - 1] if start else " "
        after = text[end : end + 2]
        if before.isalnum() or before in "._:" or (after[:1].isalnum() or after[:1] == "_"):
            continue  # digits inside an id, a word or a decimal: not a phone number
        if len(after) == 2 and after[0] in ".:" and after[1].isdigit():
            continue
        if any(s < end and start < e for s, e in dates):
            continue
        found.append((start, end, phonenumbers.format_number(match.number, PhoneNumberFormat.E164)))
    return found


def _add(spans: list[tuple[int, int, str]], start: int, end: int, repl: str) -> None:
    """Add a span unless it overlaps one found before (placeholders, then e-mails, names)."""
    if all(end <= s or start >= e for s, e, _ in spans):
        spans.append((start, end, repl))


def make_policy(mode: str, key: str = "", region: str = DEFAULT_REGION) -> PiiPolicy:
    """A policy from settings; ValueError (a one-line reason) on a bad mode, key or region."""
    try:
        pii_mode = PiiMode(mode.lower())
    except ValueError:
        raise ValueError(f"pii must be one of {', '.join(PII_MODES)}, got {mode!r}") from None
    if pii_mode is PiiMode.HASH and not key:
        raise ValueError(f"--pii hash needs the HMAC key in the environment variable {KEY_ENV}")
    region = region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"pii region {region!r} is not a region code phonenumbers knows")
    return PiiPolicy(pii_mode, key.encode() if pii_mode is PiiMode.HASH else b"", region)
