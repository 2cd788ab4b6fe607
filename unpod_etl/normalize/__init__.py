"""The pure normalizer: Unpod task and agent documents in, warehouse rows out.

No I/O and no SQLAlchemy here; the row dicts use the column names of unpod_etl.schema.
"""

from unpod_etl.normalize.fingerprints import fingerprint, raw_fingerprint
from unpod_etl.normalize.records import NormalizedTask, RejectedRecord
from unpod_etl.normalize.secrets import strip_secrets
from unpod_etl.normalize.tasks import normalize_agent, normalize_task
from unpod_etl.normalize.times import parse_time

__all__ = [
    "NormalizedTask",
    "RejectedRecord",
    "fingerprint",
    "normalize_agent",
    "normalize_task",
    "parse_time",
    "raw_fingerprint",
    "strip_secrets",
]
