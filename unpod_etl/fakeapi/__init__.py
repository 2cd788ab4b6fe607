"""A faithful, deterministic fake of the Unpod platform API (quirks included).

Used by the tests, by `unpod-etl demo` and by the benchmark. See
/work/shared/unpod-api.md for the behaviour it reproduces.
"""

from unpod_etl.fakeapi.access import RequestRecord
from unpod_etl.fakeapi.routes import Reply, respond
from unpod_etl.fakeapi.server import FakeServer, serve
from unpod_etl.fakeapi.state import FakeUnpod

__all__ = ["FakeServer", "FakeUnpod", "Reply", "RequestRecord", "respond", "serve"]
