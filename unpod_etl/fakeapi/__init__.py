"""A faithful, deterministic fake of the Unpod platform API (quirks included).

Used by the tests, by `unpod-etl demo` and by the benchmark. See
/work/shared/unpod-api.md for the behaviour it reproduces, and faults.py for the failures
a test can inject (`fake.faults.inject(...)`).
"""

from unpod_etl.fakeapi.access import RequestRecord
from unpod_etl.fakeapi.ages import AgeProfile
from unpod_etl.fakeapi.faults import Fault, FiredFault
from unpod_etl.fakeapi.latency import ScanLatency
from unpod_etl.fakeapi.ratelimit import RateLimitWindow
from unpod_etl.fakeapi.replies import Reply
from unpod_etl.fakeapi.routes import respond
from unpod_etl.fakeapi.server import FakeServer, serve
from unpod_etl.fakeapi.state import FakeUnpod

__all__ = [
    "AgeProfile",
    "Fault",
    "FakeServer",
    "FakeUnpod",
    "FiredFault",
    "RateLimitWindow",
    "Reply",
    "RequestRecord",
    "ScanLatency",
    "respond",
    "serve",
]
