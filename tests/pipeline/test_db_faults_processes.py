"""Database faults injected into a running `unpod-etl sync` process (real PostgreSQL, real
processes, a slowed fake API): terminated sessions, a server stop, a locked table, a role's
statement_timeout, max_connections reached. Each ends with the documented exit code, one line
naming the cause, the run's row telling what happened, and a re-run that heals the warehouse.

The cluster is this module's own (not the shared test server): the tests stop and start it,
and its max_connections is small so that other sessions can fill it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, select, text

from bench.pg import find_bin, free_port
from tests.helpers import (
    actual_rows,
    assert_consistent,
    cli_env,
    expected_rows,
    run_sync_cli,
    sync_command,
    sync_in_process,
)
from unpod_etl.warehouse.db import make_engine, upgrade
from unpod_etl.warehouse.locks import advisory_key
from unpod_etl.warehouse.schema import sync_agent_results, sync_runs

MAX_CONNECTIONS = 14
RESERVED = 3  # superuser_reserved_connections: the test's admin sessions always get in
PAGE_DELAY = 0.5  # seconds per task page: a sync lasts long enough to be hit mid-way
_numbers = itertools.count()


class Cluster:
    def __init__(self) -> None:
        initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not (initdb and self.pg_ctl):
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are needed")
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.workdir = Path(tempfile.mkdtemp(prefix="unpod-etl-faults-"))
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        self.data, self.port = self.workdir / "data", free_port()
        subprocess.run(
            [*self.prefix, initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )
        self.start()

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c max_connections={MAX_CONNECTIONS} -c superuser_reserved_connections={RESERVED}"
        )
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", str(self.data), "-o", opts]
            + ["-l", str(self.workdir / "log"), "-w", "start"],
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"],
            check=True,
            capture_output=True,
        )

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> Engine:
        return create_engine(self.url(), isolation_level="AUTOCOMMIT")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    with c.admin().connect() as conn:
        conn.execute(text("CREATE ROLE etl LOGIN CREATEDB"))
    try:
        yield c
    finally:
        c.remove()


def new_database(cluster: Cluster, owner: str = "etl") -> str:
    name = f"faults_{next(_numbers)}"
    admin = cluster.admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner}"'))
    admin.dispose()
    url = cluster.url(name, owner)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def db_url(cluster: Cluster) -> str:
    return new_database(cluster)


@pytest.fixture
def slow(fake):  # type: ignore[no-untyped-def]
    fake.faults.inject("slow", delay=PAGE_DELAY)
    return fake


def start_sync(server_url: str, fake, url: str, *args: str) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        sync_command(server_url, fake, url, "--page-size", "3", "--workers", "2", *args),
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def scalar(cluster: Cluster, url: str, sql: str, **params: object) -> object:
    engine = create_engine(cluster.url(url.rsplit("/", 1)[1]), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        value = conn.execute(text(sql), params).scalar()
    engine.dispose()
    return value


def wait_until_writing(cluster: Cluster, url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not scalar(cluster, url, "SELECT count(*) FROM tasks"):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sync wrote nothing"
        time.sleep(0.05)


def terminate(cluster: Cluster, where: str, **params: object) -> list[int]:
    admin = cluster.admin()
    with admin.connect() as conn:
        pids = list(
            conn.execute(
                text(f"SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND {where}"),
                params,
            ).scalars()
        )
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()
    return pids


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def the_line(err: str) -> str:
    """The one line that names the cause: the last line, and the only one that is not a
    progress log line (INFO) of the pages that went well."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if " INFO " not in ln]
    assert len(lines) == 1, err
    assert err.strip().splitlines()[-1] == lines[0]
    return lines[0]


def outcomes(cluster: Cluster, url: str) -> list[str]:
    engine = create_engine(cluster.url(url.rsplit("/", 1)[1]))
    with engine.connect() as conn:
        query = select(sync_runs.c.outcome).order_by(sync_runs.c.run_id)
        found = list(conn.execute(query).scalars())
    engine.dispose()
    return found


def heal_and_compare(fake, server_url: str, url: str) -> None:  # type: ignore[no-untyped-def]
    fake.faults.clear()
    healed = run_sync_cli(server_url, fake, url)
    assert healed.returncode == 0, healed.stderr
    engine = make_engine(url)
    assert actual_rows(engine) == expected_rows(fake, fake.published_handles())
    assert_consistent(engine)
    engine.dispose()


# -- terminated sessions -----------------------------------------------------------------


def test_all_sessions_terminated(cluster, slow, fake_server, db_url):
    proc = start_sync(fake_server.url, slow, db_url)
    wait_until_writing(cluster, db_url, proc)
    assert terminate(cluster, "datname = :d", d=db_url.rsplit("/", 1)[1])
    code, _out, err = finish(proc)
    assert code == 3
    line = the_line(err)
    assert re.match(r"aborted: (lost the database connection|.*lock 'sync'.* ended)", line), line
    assert outcomes(cluster, db_url) == ["aborted"]  # the database was back to record it
    heal_and_compare(slow, fake_server.url, db_url)


def lock_holder_pid(cluster: Cluster, url: str, name: str) -> int:
    key = advisory_key(name)
    pid = scalar(
        cluster,
        url,
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        "AND classid::bigint = (CAST(:k AS bigint) >> 32) & 4294967295 "
        "AND objid::bigint = CAST(:k AS bigint) & 4294967295 AND mode = 'ShareLock'",
        k=key,
    )
    assert isinstance(pid, int), f"nobody holds {name!r}"
    return pid


def test_only_the_lock_session_terminated_and_no_second_writer(cluster, slow, fake_server, db_url):
    # Slower still: the first must outlast a second process's start on a loaded machine.
    slow.faults.clear()
    slow.faults.inject("slow", delay=1.5)
    proc = start_sync(fake_server.url, slow, db_url)
    wait_until_writing(cluster, db_url, proc)
    # While the first can write, a second sync refuses and writes nothing.
    second = run_sync_cli(fake_server.url, slow, db_url)
    assert second.returncode == 3 and "already running" in second.stderr, second.stderr
    assert outcomes(cluster, db_url) == ["running"]

    names = terminate_nothing_list_names(cluster, db_url)
    assert "unpod-etl run 1" in names, names  # operators can tell the run's sessions apart

    lock_pid = lock_holder_pid(cluster, db_url, "sync")
    assert terminate(cluster, "pid = :p", p=lock_pid) == [lock_pid]
    code, _out, err = finish(proc)
    assert code == 3
    assert re.match(r"aborted: .*lock 'sync' \(pid \d+\) ended", the_line(err)), err
    assert outcomes(cluster, db_url) == ["aborted"]
    heal_and_compare(slow, fake_server.url, db_url)
    assert outcomes(cluster, db_url) == ["aborted", "ok"]


def test_only_an_agent_lock_session_terminated(cluster, slow, fake_server, db_url):
    proc = start_sync(fake_server.url, slow, db_url)
    wait_until_writing(cluster, db_url, proc)
    handle = slow.published_handles()[0]  # the first agent is in flight: writing began
    agent_pid = lock_holder_pid(cluster, db_url, f"agent:{handle}")
    assert terminate(cluster, "pid = :p", p=agent_pid) == [agent_pid]
    code, _out, err = finish(proc)
    assert code == 3
    assert f"lock 'agent:{handle}' (pid {agent_pid}) ended" in the_line(err), err
    assert outcomes(cluster, db_url) == ["aborted"]
    heal_and_compare(slow, fake_server.url, db_url)


def terminate_nothing_list_names(cluster: Cluster, url: str) -> set[str]:
    admin = cluster.admin()
    with admin.connect() as conn:
        names = set(
            conn.execute(
                text("SELECT application_name FROM pg_stat_activity WHERE datname = :d"),
                {"d": url.rsplit("/", 1)[1]},
            ).scalars()
        )
    admin.dispose()
    return names


def test_a_writer_terminated_mid_write(cluster, slow, fake_server, db_url):
    proc = start_sync(fake_server.url, slow, db_url)
    wait_until_writing(cluster, db_url, proc)
    holder = psycopg.connect(cluster.url(db_url.rsplit("/", 1)[1]).replace("+psycopg", ""))
    holder.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")  # the writer will wait here
    deadline = time.monotonic() + 30
    waiting: list[int] = []
    while not waiting:
        assert time.monotonic() < deadline and proc.poll() is None, "no writer waited"
        waiting = terminate(
            cluster, "wait_event_type = 'Lock' AND application_name LIKE 'unpod-etl%'"
        )
        time.sleep(0.05)
    holder.rollback()
    holder.close()
    code, _out, err = finish(proc)
    assert code == 3
    line = the_line(err)
    assert line.startswith("aborted: lost the database connection"), line
    assert outcomes(cluster, db_url) == ["aborted"]
    heal_and_compare(slow, fake_server.url, db_url)


# -- the server goes away ----------------------------------------------------------------


def test_server_stopped_mid_run_then_started(cluster, slow, fake_server, db_url):
    proc = start_sync(fake_server.url, slow, db_url)
    wait_until_writing(cluster, db_url, proc)
    cluster.stop("fast")
    try:
        code, _out, err = finish(proc)
    finally:
        cluster.start()
    assert code == 3
    line = the_line(err)
    assert line.startswith("aborted: ") and "could not be recorded" in line, line
    assert outcomes(cluster, db_url) == ["running"]  # left for the next run to judge
    heal_and_compare(slow, fake_server.url, db_url)
    assert outcomes(cluster, db_url) == ["died", "ok"]


def test_pool_survives_a_restart_between_runs(cluster, fake, fake_server, db_url):
    """As `schedule` does: one engine, runs apart in time, the server restarted in between."""
    engine = make_engine(db_url)
    first = sync_in_process(fake_server, fake, db_url, engine=engine)
    assert first.exit_code == 0
    cluster.stop("fast")
    cluster.start()
    second = sync_in_process(fake_server, fake, db_url, engine=engine)
    assert second.exit_code == 0, second.error
    engine.dispose()
    assert outcomes(cluster, db_url) == ["ok", "ok"]


def test_a_read_only_database_is_named(cluster, fake, fake_server, db_url):
    """What a failover to a standby looks like to new sessions: read-only transactions."""
    with cluster.admin().connect() as conn:
        name = db_url.rsplit("/", 1)[1]
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    proc = run_sync_cli(fake_server.url, fake, db_url)
    assert proc.returncode == 3
    line = the_line(proc.stderr)
    assert line.startswith("aborted: the database is read-only"), line
    with cluster.admin().connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
    assert outcomes(cluster, db_url) == []  # nothing could be written, nothing was
    heal_and_compare(fake, fake_server.url, db_url)


# -- waiting on the database -------------------------------------------------------------


def hold_table_lock(cluster: Cluster, url: str, table: str) -> psycopg.Connection:
    conn = psycopg.connect(
        cluster.url(url.rsplit("/", 1)[1]).replace("+psycopg", ""),
        application_name="analyst-psql",
    )
    conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    return conn


def test_a_locked_table_fails_the_agents_after_lock_timeout(cluster, slow, fake_server, db_url):
    proc = start_sync(fake_server.url, slow, db_url, "--lock-timeout", "2s")
    wait_until_writing(cluster, db_url, proc)
    holder = hold_table_lock(cluster, db_url, "tasks")
    holder_pid = holder.info.backend_pid
    try:
        code, out, err = finish(proc)
    finally:
        holder.rollback()
        holder.close()
    assert code == 1, out + err  # each agent failed; the run itself could finish and say so
    assert "Traceback" not in err
    assert f"pid {holder_pid} (analyst-psql" in err and "--lock-timeout" in err, err
    assert outcomes(cluster, db_url) == ["partial"]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        errors = conn.execute(
            select(sync_agent_results.c.error).where(sync_agent_results.c.outcome == "failed")
        ).scalars()
        assert any(f"pid {holder_pid}" in (e or "") for e in errors)
    engine.dispose()
    heal_and_compare(slow, fake_server.url, db_url)


def test_a_lock_on_the_runs_own_table_aborts_the_run(cluster, slow, fake_server, db_url):
    proc = start_sync(fake_server.url, slow, db_url, "--lock-timeout", "2s", "--workers", "1")
    wait_until_writing(cluster, db_url, proc)
    holder = hold_table_lock(cluster, db_url, "sync_agent_results")
    holder_pid = holder.info.backend_pid
    try:
        code, _out, err = finish(proc)
    finally:
        holder.rollback()
        holder.close()
    assert code == 3
    line = the_line(err)
    assert f"table sync_agent_results is locked (AccessExclusiveLock) by pid {holder_pid}" in line
    assert "analyst-psql" in line and f"pg_terminate_backend({holder_pid})" in line
    # The lock also kept the run from recording its end: the next run judges it.
    assert "could not be recorded" in line and outcomes(cluster, db_url) == ["running"]
    heal_and_compare(slow, fake_server.url, db_url)
    assert outcomes(cluster, db_url) == ["died", "ok"]


def test_a_row_lock_names_the_transaction_holding_it(cluster, slow, fake_server, db_url):
    proc = start_sync(fake_server.url, slow, db_url, "--lock-timeout", "2s")
    wait_until_writing(cluster, db_url, proc)
    holder = psycopg.connect(
        cluster.url(db_url.rsplit("/", 1)[1]).replace("+psycopg", ""),
        application_name="analyst-psql",
    )
    # Row locks only: pg_locks names no table a write would wait on.
    holder.execute("SELECT * FROM sync_agent_results FOR UPDATE").fetchall()
    holder_pid = holder.info.backend_pid
    try:
        code, _out, err = finish(proc)
    finally:
        holder.rollback()
        holder.close()
    assert code == 3
    line = the_line(err)
    assert f"row locks: pid {holder_pid} (analyst-psql" in line, line
    assert f"pg_terminate_backend({holder_pid})" in line
    heal_and_compare(slow, fake_server.url, db_url)


def test_role_statement_timeout_is_named(cluster, slow, fake_server):
    with cluster.admin().connect() as conn:
        conn.execute(text("CREATE ROLE etl_strict LOGIN"))
        conn.execute(text("ALTER ROLE etl_strict SET statement_timeout = '1s'"))
    url = new_database(cluster, owner="etl_strict")
    proc = start_sync(fake_server.url, slow, url)  # --lock-timeout stays 60 s
    wait_until_writing(cluster, url, proc)
    holder = hold_table_lock(cluster, url, "tasks")  # a wait the role's 1 s cuts short
    try:
        code, _out, err = finish(proc)
    finally:
        holder.rollback()
        holder.close()
    assert code == 3, err
    line = the_line(err)
    assert "statement_timeout set on the database role" in line, line
    assert "(statement_timeout = 1s)" in line
    assert outcomes(cluster, url) == ["aborted"]
    heal_and_compare(slow, fake_server.url, url)


def test_too_many_connections(cluster, slow, fake_server, db_url):
    proc = start_sync(fake_server.url, slow, db_url)
    wait_until_writing(cluster, db_url, proc)
    dbname = db_url.rsplit("/", 1)[1]
    others: list[psycopg.Connection] = []

    def fill() -> None:  # take every slot a non-superuser may have
        while True:
            try:
                others.append(psycopg.connect(cluster.url(dbname, "etl").replace("+psycopg", "")))
            except psycopg.OperationalError as exc:
                assert "too many clients" in str(exc) or "reserved" in str(exc), exc
                return

    try:
        fill()
        # The sync's idle pooled connections go; their slots are taken at once, so its next
        # write finds the server full.
        lockers = "SELECT pid FROM pg_locks WHERE locktype = 'advisory'"
        terminate(
            cluster,
            f"application_name LIKE 'unpod-etl%' AND state = 'idle' AND pid NOT IN ({lockers})",
        )
        time.sleep(0.05)
        fill()
        code, _out, err = finish(proc)
    finally:
        for conn in others:
            conn.close()
    assert code == 3
    line = the_line(err)
    assert "max_connections reached" in line, line
    heal_and_compare(slow, fake_server.url, db_url)
    assert outcomes(cluster, db_url)[-1] == "ok"
