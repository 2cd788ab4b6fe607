"""Fixtures of the adaptive walk's tests (test_adaptive_walk*.py; helpers in walk_fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.pipeline.walk_fixtures import frozen, listed_agent
from unpod_etl.fakeapi import FakeServer, FakeUnpod


@pytest.fixture
def clock() -> Iterator[Any]:
    """The one clock, frozen at walk_fixtures.T0 (move it with walk_fixtures.at)."""
    with frozen() as traveller:
        yield traveller


@pytest.fixture
def listed(clock: Any) -> Iterator[tuple[FakeUnpod, FakeServer, str]]:
    """(fake, server, handle): one listed agent whose generated tasks are old and settled."""
    with listed_agent() as agent:
        yield agent
