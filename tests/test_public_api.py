"""The Python entry point for orchestrators: `from unpod_etl import SyncConfig, run_sync`.

A public interface, so these tests pin its names, fields and behaviour: a change that breaks
a user's DAG must break a test first (docs/orchestrators.md documents the same surface).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import unpod_etl
from tests.helpers import cli_env

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "orchestrators.md"
PUBLIC = {
    "AbortError",
    "AgentResult",
    "ConfigError",
    "EtlError",
    "RunResult",
    "SyncConfig",
    "run_sync",
}


def test_the_public_names_are_exactly_the_documented_ones() -> None:
    assert set(unpod_etl.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(unpod_etl, name).__module__.startswith("unpod_etl.")
        assert name in dir(unpod_etl)
    with pytest.raises(AttributeError, match="no attribute 'SyncRunner'"):
        _ = unpod_etl.SyncRunner  # type: ignore[attr-defined]


def test_importing_the_package_loads_no_database_or_http_library() -> None:
    code = (
        "import sys, unpod_etl; "
        "print(sorted(m for m in ('sqlalchemy', 'requests', 'click', 'psycopg') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_sync_config_fields_and_defaults_are_stable() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(unpod_etl.SyncConfig)}
    assert list(fields) == [
        "api_url",
        "token",
        "org",
        "database_url",
        "agents",
        "page_size",
        "workers",
        "shard",
        "max_delete_fraction",
        "auth_scheme",
        "schema",
        "lock_timeout",
        "connect_timeout",
        "pii",
        "pii_key",
        "pii_region",
        "rewrite_pii",
        "walk",
        "settled_pages",
        "settle_window",
        "watch_window",
        "full_walk_every",
        "max_requests_per_second",
    ]
    assert fields["walk"] == "auto" and fields["settled_pages"] == 2
    assert (fields["settle_window"], fields["watch_window"], fields["full_walk_every"]) == (
        timedelta(hours=48),
        timedelta(days=7),
        timedelta(hours=20),
    )
    assert fields["pii"] == "keep" and fields["pii_key"] == "" and fields["pii_region"] == "US"
    assert fields["rewrite_pii"] is False
    assert fields["agents"] == () and fields["page_size"] == 100
    assert fields["max_delete_fraction"] == 0.2 and fields["auth_scheme"] == "Token"
    assert fields["schema"] == "public"
    assert fields["lock_timeout"] is None and fields["connect_timeout"] is None  # 60 s, 10 s
    assert fields["workers"] == 1 and fields["shard"] == (0, 1)
    assert fields["max_requests_per_second"] is None  # no cap
    params = inspect.signature(unpod_etl.run_sync).parameters
    assert list(params) == ["config", "engine"] and params["engine"].default is None


def test_bad_settings_raise_config_error() -> None:
    with pytest.raises(unpod_etl.ConfigError, match="workers"):
        unpod_etl.SyncConfig("http://x", "t", "o", "sqlite://", workers=0)
    with pytest.raises(unpod_etl.EtlError, match="shard"):
        unpod_etl.SyncConfig("http://x", "t", "o", "sqlite://", shard=(2, 2))


def test_an_unreachable_database_raises_abort_error(tmp_path: Path) -> None:
    config = unpod_etl.SyncConfig(
        "http://127.0.0.1:9", "t", "o", f"sqlite:///{tmp_path}/missing/dir/w.db"
    )
    with pytest.raises(unpod_etl.AbortError, match="database unreachable"):
        unpod_etl.run_sync(config)


def test_run_sync_returns_the_counts_and_keeps_no_connection(fake, fake_server, pg_url) -> None:
    config = unpod_etl.SyncConfig(
        fake_server.url, fake.token, fake.org, pg_url, page_size=7, walk="full"
    )
    first = unpod_etl.run_sync(config)
    expected = sum(fake.count(h) for h in fake.published_handles())
    assert (first.outcome, first.exit_code, first.error) == ("ok", 0, None)
    assert first.total("inserted") == expected and first.total("seen") == expected
    assert sorted(a.handle for a in first.agents) == sorted(fake.published_handles())
    assert all(isinstance(a, unpod_etl.AgentResult) for a in first.agents)

    again = unpod_etl.run_sync(config)
    assert again.run_id is not None and first.run_id is not None
    assert again.run_id > first.run_id
    assert (again.total("unchanged"), again.total("inserted")) == (expected, 0)

    # The engine run_sync made is disposed: a long-lived worker keeps no idle connections.
    probe = create_engine(pg_url)
    with probe.connect() as conn:
        others = conn.execute(
            text(
                "select count(*) from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid()"
            )
        ).scalar_one()
    probe.dispose()
    assert others == 0


def test_run_sync_uses_and_keeps_an_engine_it_is_given(fake, fake_server, pg_engine) -> None:
    url = pg_engine.url.render_as_string(hide_password=False)
    config = unpod_etl.SyncConfig(fake_server.url, fake.token, fake.org, url)
    result = unpod_etl.run_sync(config, engine=pg_engine)
    assert result.outcome == "ok"
    with pg_engine.connect() as conn:  # still usable: the caller owns it
        assert conn.execute(text("select count(*) from tasks")).scalar_one() == result.total(
            "inserted"
        )


def test_a_refused_agent_makes_a_partial_result(fake, fake_server, pg_url) -> None:
    refused = fake.published_handles()[0]
    fake.access.refuse(refused, 206)
    result = unpod_etl.run_sync(unpod_etl.SyncConfig(fake_server.url, fake.token, fake.org, pg_url))
    assert (result.outcome, result.exit_code) == ("partial", 1)
    by_handle = {a.handle: a for a in result.agents}
    assert by_handle[refused].outcome == "failed" and by_handle[refused].error


def _doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_docs_examples_parse_and_use_only_public_names() -> None:
    blocks = _doc_blocks()
    assert len(blocks) >= 3  # plain call, Airflow task, Dagster asset
    for block in blocks:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("unpod_etl"):
                assert node.module == "unpod_etl", f"docs import an internal module: {node.module}"
                assert {alias.name for alias in node.names} <= PUBLIC


def test_the_public_api_type_checks_for_a_caller(tmp_path: Path) -> None:
    from mypy import api

    good = tmp_path / "good.py"
    good.write_text(
        "from unpod_etl import RunResult, SyncConfig, run_sync\n"
        "def task(url: str) -> int:\n"
        "    result: RunResult = run_sync(SyncConfig('https://unpod.dev', 't', 'acme', url))\n"
        "    return result.exit_code + result.total('inserted')\n"
    )
    bad = tmp_path / "bad.py"
    bad.write_text("from unpod_etl import run_sync\nrun_sync('not a config')\n")
    flags = ["--cache-dir", str(tmp_path / "cache"), "--strict", "--follow-imports=silent"]
    out, _, status = api.run([*flags, str(good)])
    assert status == 0, out
    out, _, status = api.run([*flags, str(bad)])
    assert status == 1 and 'incompatible type "str"' in out, out
