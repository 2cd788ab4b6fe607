from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from tests.postgres_provider import postgres_server
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.warehouse.db import make_engine, normalize_url, upgrade

# A session run inside another (tests/test_frozen_clock.py) shares its server: the tag keeps
# their databases apart.
DB_TAG = os.environ.get("UNPOD_ETL_TEST_DB_TAG", "")
TEMPLATE_DB = f"unpod_etl_template{DB_TAG}"
_db_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            yield normalize_url(url)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def _admin_engine(admin_url: str) -> Engine:
    return create_engine(admin_url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> str:
    """A database migrated once; each test gets a fast copy of it."""
    admin = _admin_engine(pg_admin_url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"'))
        conn.execute(text(f'CREATE DATABASE "{TEMPLATE_DB}"'))
    url = make_url(pg_admin_url).set(database=TEMPLATE_DB).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    admin.dispose()
    return TEMPLATE_DB


@contextmanager
def _scratch_database(admin_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A database that lives for one test (a copy of `template` when given)."""
    name = f"{prefix}{DB_TAG}_{next(_db_numbers)}"
    admin = _admin_engine(admin_url)
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url(pg_admin_url: str, pg_template: str) -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database for one test."""
    with _scratch_database(pg_admin_url, "unpod_etl_test", pg_template) as url:
        yield url


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def empty_pg_url(pg_admin_url: str) -> Iterator[str]:
    """A database with no schema at all (for migration tests)."""
    with _scratch_database(pg_admin_url, "unpod_etl_empty") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


@pytest.fixture
def fake() -> FakeUnpod:
    return FakeUnpod(agents=4, tasks_per_agent=30, seed=7)  # 3 published, 1 not


@pytest.fixture
def fake_server(fake: FakeUnpod) -> Iterator[FakeServer]:
    with FakeServer(fake) as server:
        yield server


@pytest.fixture(params=["postgresql", "sqlite"])
def any_url(request: pytest.FixtureRequest) -> str:
    """The same test on both warehouses: a fresh migrated PostgreSQL database, or a SQLite file."""
    name = "pg_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def any_engine(any_url: str) -> Iterator[Engine]:
    engine = make_engine(any_url)
    yield engine
    engine.dispose()
