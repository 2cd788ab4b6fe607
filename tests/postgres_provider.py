"""Finds a PostgreSQL server for the tests, in this order:

1. UNPOD_ETL_TEST_DATABASE_URL: a server of your own (the role must be allowed to CREATE DATABASE);
2. local PostgreSQL server binaries (initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin):
   a throwaway cluster in a temporary folder, run as the `postgres` user when we are root;
3. Docker, through testcontainers;
otherwise the tests fail with a message that says what to install.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

# One implementation of the throwaway cluster serves the tests and the benchmark.
from bench.pg import find_bin, local_cluster

MISSING = (
    "No PostgreSQL for the tests. Do one of: set UNPOD_ETL_TEST_DATABASE_URL to a server you own "
    "(postgresql://user@host:port/db, role with CREATEDB); install the PostgreSQL server "
    "(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) so initdb and "
    "pg_ctl are found; or start Docker so testcontainers can run postgres:16."
)


@contextlib.contextmanager
def docker_container() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver="psycopg") as pg:
        yield pg.get_connection_url()


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields an admin SQLAlchemy URL (psycopg driver) of a server the tests may use."""
    url = os.environ.get("UNPOD_ETL_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if find_bin("initdb") and find_bin("pg_ctl"):
        with local_cluster() as url:
            yield url
        return
    if _docker_available():
        with docker_container() as url:
            yield url
        return
    raise RuntimeError(MISSING)


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:  # noqa: BLE001 - any failure means "no usable Docker"
        return False
    return True
