"""What one sync needs (SyncConfig), checked before any request or write, and which shard
an agent belongs to. Apart from sync.py, which runs it; the public API re-exports SyncConfig."""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from datetime import timedelta

from unpod_etl.core.errors import ConfigError
from unpod_etl.core.handles import check_handle
from unpod_etl.normalize.pii import KEY_ENV, PiiPolicy, make_policy
from unpod_etl.pipeline.walk_depth import WALK_MODES, WalkSettings
from unpod_etl.source.auth_answers import AUTH_SCHEMES, DEFAULT_AUTH_SCHEME, canonical_scheme
from unpod_etl.warehouse.namespace import check_schema_name


@dataclass(frozen=True)
class SyncConfig:
    """What one sync needs; the CLI's options map onto these fields one to one.

    `agents` empty means every agent the org lists; `shard` (K, N) syncs only the agents
    whose handle hashes to K of N, so N processes can split one org.
    """

    api_url: str
    token: str
    org: str
    database_url: str
    agents: tuple[str, ...] = ()
    page_size: int = 100
    workers: int = 1
    shard: tuple[int, int] = (0, 1)  # (K, N): own the agents whose handle hashes to K of N
    max_delete_fraction: float = 0.2  # the deletion guard (warehouse/deletions.py)
    auth_scheme: str = DEFAULT_AUTH_SCHEME  # Authorization: <scheme> <token>; Token, JWT, Bearer
    schema: str = "public"  # PostgreSQL schema of the warehouse (warehouse/namespace.py)
    # Seconds; None: the process defaults (warehouse.db.set_connection_defaults, the CLI's
    # --lock-timeout / --connect-timeout).
    lock_timeout: float | None = None
    connect_timeout: float | None = None
    # PII controls (normalize/pii.py): keep | hash | redact; the HMAC key of hash mode comes
    # from UNPOD_ETL_PII_KEY when not given, and is never shown (repr) nor stored.
    pii: str = "keep"
    pii_key: str = field(default="", repr=False)
    pii_region: str = "US"
    rewrite_pii: bool = False  # re-process the stored rows when the mode changes
    # The adaptive walk (pipeline/walk_depth.py, README "The adaptive walk").
    walk: str = "auto"  # auto | full
    settled_pages: int = 2
    settle_window: timedelta = timedelta(hours=48)
    watch_window: timedelta = timedelta(days=7)
    full_walk_every: timedelta = timedelta(hours=20)
    # A cap on the run's request rate across workers (source/pacing.py); None: no cap but
    # the budget the API announces, which is always honoured.
    max_requests_per_second: float | None = None

    def __post_init__(self) -> None:
        k, n = self.shard
        if n < 1 or not 0 <= k < n:
            raise ConfigError(f"shard must be K/N with 0 <= K < N, got {k}/{n}")
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        if not 0.0 <= self.max_delete_fraction <= 1.0:
            raise ConfigError("max_delete_fraction must be between 0 and 1")
        cap = self.max_requests_per_second
        if cap is not None and not (cap > 0 and math.isfinite(cap)):
            raise ConfigError(f"max_requests_per_second must be more than 0, got {cap}")
        # Decided here, before any request or write: a bad handle is a typo, not an agent.
        for handle in self.agents:
            check_handle(handle)
        scheme = canonical_scheme(self.auth_scheme)
        if scheme is None:
            raise ConfigError(f"auth_scheme must be one of {', '.join(AUTH_SCHEMES)}")
        object.__setattr__(self, "auth_scheme", scheme)  # frozen: the accepted spelling
        check_schema_name(self.schema)
        if self.walk not in WALK_MODES:
            raise ConfigError(f"walk must be one of {', '.join(WALK_MODES)}, got {self.walk!r}")
        if self.settled_pages < 1:
            raise ConfigError("settled_pages must be at least 1")
        for name in ("settle_window", "watch_window", "full_walk_every"):
            if getattr(self, name) <= timedelta(0):
                raise ConfigError(f"{name} must be a positive duration")
        if not self.pii_key and str(self.pii).lower() == "hash":
            object.__setattr__(self, "pii_key", os.environ.get(KEY_ENV, ""))
        self.pii_policy()  # a bad mode, a missing key or region: ConfigError now

    def walk_settings(self) -> WalkSettings:
        return WalkSettings(
            self.walk,
            self.settled_pages,
            self.settle_window,
            self.watch_window,
            self.full_walk_every,
        )

    def pii_policy(self) -> PiiPolicy:
        """The normalize.pii.PiiPolicy of these settings."""
        try:
            return make_policy(self.pii, self.pii_key, self.pii_region)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def shard_of(handle: str, shards: int) -> int:
    """Stable across machines and Python versions (unlike hash())."""
    return int.from_bytes(hashlib.sha256(handle.encode()).digest()[:8], "big") % shards
