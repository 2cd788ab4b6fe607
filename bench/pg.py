"""PostgreSQL for the benchmark (and the tests): UNPOD_ETL_TEST_DATABASE_URL, or a throwaway
local cluster.

Runs the server as the `postgres` user when we are root. Durability is switched off
(fsync, synchronous_commit, full_page_writes): the benchmark measures the ETL, not the disk.
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

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from unpod_etl.warehouse.db import make_engine, normalize_url, upgrade


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_cluster() -> Iterator[str]:
    """Yields the admin URL (postgresql+psycopg://postgres@127.0.0.1:PORT/postgres)."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are missing")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    workdir = Path(tempfile.mkdtemp(prefix="unpod-etl-pg-"))
    data = workdir / "data"
    if as_root:
        shutil.chown(workdir, "postgres")
    port = free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    opts = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100 "
        "-c shared_buffers=512MB -c max_wal_size=4GB"
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
def postgres_server() -> Iterator[str]:
    """UNPOD_ETL_TEST_DATABASE_URL when set (a role allowed to CREATE DATABASE), else a
    throwaway local cluster."""
    url = os.environ.get("UNPOD_ETL_TEST_DATABASE_URL")
    if url:
        yield normalize_url(url)
        return
    with local_cluster() as admin_url:
        yield admin_url


def fresh_database(admin_url: str, name: str, *, migrate: bool = True) -> str:
    """Create (or recreate) database `name`, migrate it to head, return its URL."""
    name = f"{name}_{os.getpid()}"  # a shared server may run several benchmarks
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    if migrate:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    return url
