"""Finds a PostgreSQL server for the tests, in this order:

1. UNPOD_ETL_TEST_DATABASE_URL: a server of your own (the role must be allowed to CREATE DATABASE);
2. local PostgreSQL server binaries (initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin):
   a throwaway cluster in a temporary folder, run as the `postgres` user when we are root;
3. Docker, through testcontainers;
otherwise the tests fail with a message that says what to install.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

MISSING = (
    "No PostgreSQL for the tests. Do one of: set UNPOD_ETL_TEST_DATABASE_URL to a server you own "
    "(postgresql://user@host:port/db, role with CREATEDB); install the PostgreSQL server "
    "(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) so initdb and "
    "pg_ctl are found; or start Docker so testcontainers can run postgres:16."
)


def _find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_cluster() -> Iterator[str]:
    initdb, pg_ctl = _find_bin("initdb"), _find_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise LookupError("initdb/pg_ctl not found")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    workdir = Path(tempfile.mkdtemp(prefix="unpod-etl-pg-"))
    data = workdir / "data"
    if as_root:
        shutil.chown(workdir, "postgres")
    port = _free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    opts = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(workdir / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(workdir, ignore_errors=True)


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
    if _find_bin("initdb") and _find_bin("pg_ctl"):
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
