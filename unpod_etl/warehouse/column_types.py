"""Column types the warehouse tables share (schema.py), one definition per dialect pair."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# JSONB where it is available (indexable, compact), JSON text elsewhere.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class _UtcTime(TypeDecorator[datetime]):
    """DateTime(timezone=True) that always hands back aware UTC (SQLite returns naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


UtcTime = _UtcTime()
# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
RunId = BigInteger().with_variant(Integer(), "sqlite")
