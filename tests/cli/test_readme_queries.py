"""Every SQL example in the README runs on a synced SQLite and a synced PostgreSQL warehouse.

A statement whose leading comment starts with `[PostgreSQL]` or `[SQLite]` is for that
database only; every other one must run on both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.helpers import sync_in_process
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.warehouse.db import make_engine

README = Path(__file__).resolve().parents[2] / "README.md"
DIALECT_TAGS = {"[PostgreSQL]": "postgresql", "[SQLite]": "sqlite"}


@dataclass
class Example:
    sql: str
    only: str | None  # a dialect name, or None: both
    title: str


def readme_examples() -> list[Example]:
    blocks = re.findall(r"^```sql\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    examples = []
    for block in blocks:
        for statement in block.split(";"):
            lines = [line for line in statement.strip().splitlines() if line.strip()]
            if not lines:
                continue
            comments = [line for line in lines if line.lstrip().startswith("--")]
            title = comments[0].lstrip("- ").strip() if comments else lines[0]
            only = next((d for tag, d in DIALECT_TAGS.items() if title.startswith(tag)), None)
            examples.append(Example("\n".join(lines), only, title))
    return examples


def test_the_readme_has_portable_and_per_dialect_examples() -> None:
    examples = readme_examples()
    assert sum(e.only is None for e in examples) >= 4
    assert {e.only for e in examples} == {None, "postgresql", "sqlite"}
    assert not any("::" in e.sql for e in examples if e.only != "postgresql")


@pytest.fixture(params=["sqlite", "postgresql"])
def synced_url(request, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'readme.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    # Data that ends now, so the "last 7 / 30 days" examples have rows to find too.
    newest = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    fake = FakeUnpod(agents=3, tasks_per_agent=60, seed=7, newest=newest)
    with FakeServer(fake) as server:
        assert sync_in_process(server, fake, url).exit_code == 0
    return url


def test_every_readme_query_runs(synced_url: str) -> None:
    engine = make_engine(synced_url)
    ran, failures, with_rows = [], [], 0
    try:
        for example in readme_examples():
            if example.only not in (None, engine.dialect.name):
                continue
            with engine.connect() as conn:
                try:
                    rows = conn.execute(text(example.sql)).all()
                except Exception as exc:  # report every failing example, not just the first
                    failures.append(f"{example.title}: {type(exc).__name__}: {exc}")
                    continue
            ran.append(example.title)
            with_rows += bool(rows)
    finally:
        engine.dispose()
    assert failures == []
    assert len(ran) >= 6
    # Some history-based examples may find nothing after one sync; the call ones must not.
    assert with_rows >= 4
