"""The HTML report: numbers from PostgreSQL, drawn for real by headless Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text, update

from unpod_etl.cli import ops as cli_ops
from unpod_etl.fakeapi import FakeServer, FakeUnpod
from unpod_etl.pipeline.sync import SyncConfig, SyncRunner
from unpod_etl.report import build_report
from unpod_etl.report.charts import PALETTE
from unpod_etl.warehouse.db import make_engine
from unpod_etl.warehouse.schema import calls, sync_runs, tasks

CHROMIUM_MISSING = (
    "headless Chromium is needed to render the report: "
    "apt-get update && apt-get install -y chromium  (expects /usr/bin/chromium)"
)
NOW = datetime.now(UTC)


@dataclass
class Warehouse:
    fake: FakeUnpod
    engine: Engine


def _fill(url: str) -> Warehouse:
    """Two good runs and one aborted one (refused token) over a week of calls."""
    fake = FakeUnpod(agents=4, tasks_per_agent=120, seed=3, newest=NOW.replace(tzinfo=None))
    engine = make_engine(url)
    with FakeServer(fake) as server:
        for token in (fake.token, fake.token, "wrong-token"):
            config = SyncConfig(server.url, token, fake.org, url, page_size=50)
            SyncRunner(config, engine=engine).run()
    with engine.begin() as conn:  # an error text that must come out escaped
        aborted = conn.scalar(select(func.max(sync_runs.c.run_id)))
        conn.execute(
            update(sync_runs)
            .where(sync_runs.c.run_id == aborted)
            .values(error="<script>alert(1)</script> token refused")
        )
    return Warehouse(fake, engine)


@pytest.fixture
def warehouse(pg_url: str) -> Warehouse:
    return _fill(pg_url)


def bars_by_section(page: str) -> list[int]:
    return [s.count('class="bar"') for s in page.split("<section>")[1:]]


def test_report_numbers_match_the_warehouse(warehouse):
    with warehouse.engine.connect() as conn:
        page = build_report(conn, 7, now=NOW)
        since = datetime.combine(NOW.date() - timedelta(days=6), datetime.min.time(), UTC)
        until = since + timedelta(days=7)
        # A call with no start time is dated by its task's creation.
        dated = func.coalesce(calls.c.start_time, tasks.c.created_at)
        joined = calls.join(tasks, tasks.c.task_id == calls.c.task_id)
        recent = (dated >= since) & (dated < until)
        day = func.date(func.timezone("UTC", dated))
        cells = conn.execute(
            select(calls.c.agent_handle, day)
            .select_from(joined)
            .where(recent)
            .group_by(calls.c.agent_handle, day)
        ).all()
        n_calls = conn.scalar(select(func.count()).select_from(joined).where(recent))
        outcomes = conn.scalar(
            select(func.count(func.distinct(func.coalesce(calls.c.summary_status, "-"))))
            .select_from(joined)
            .where(recent)
        )
    assert len(cells) >= 6 and n_calls > 100
    calls_bars, outcome_bars, duration_bars, run_bars = bars_by_section(page)
    assert calls_bars == len(cells)  # one stacked segment per (agent, day) with calls
    assert outcome_bars == outcomes
    assert 3 <= duration_bars <= 7
    assert run_bars == 3
    assert f"<b>{n_calls:,}</b><span>calls</span>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; token refused" in page
    assert "<script" not in page
    # self-contained: nothing fetched from anywhere
    assert re.findall(r"https?://[^\"' <]+", page) == ["http://www.w3.org/2000/svg"] * 4
    assert "<link" not in page and " src=" not in page


def test_report_command_on_sqlite(tmp_path, sqlite_url):
    _fill(sqlite_url)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        cli_ops.report_command, ["--database-url", sqlite_url, "--out", str(out), "--days", "3"]
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"report for the last 3 day(s) written to {out}\n"
    page = out.read_text(encoding="utf-8")
    assert sum(bars_by_section(page)[:3]) > 10 and bars_by_section(page)[3] == 3


def test_report_command_refuses_an_unmigrated_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(cli_ops.report_command, ["--database-url", url])
    assert result.exit_code == 2
    assert "unpod-etl db upgrade" in result.output


# -- rendering in Chromium ------------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    return found


def run_chromium(tmp_path: Path, *args: str) -> str:
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
        "--window-size=900,1900", *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


# Measures, after layout, how many bars of each section have a non-zero rendered size.
PROBE = """<script>
document.body.setAttribute('data-drawn', JSON.stringify(
  [...document.querySelectorAll('section')].map(s => [...s.querySelectorAll('rect.bar')]
    .filter(r => { const b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; })
    .length)));
</script>"""


def read_png(path: Path) -> tuple[int, int, list[tuple[int, ...]]]:
    """Width, height and pixels of an 8-bit RGB/RGBA PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        header = chunk if kind == b"IHDR" else header
        idat += chunk if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6)
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 255
        rows.append(line)
        prev = line
    pixels = [tuple(r[i : i + 3]) for r in rows for i in range(0, stride, bpp)]
    return width, height, pixels


def hex_rgb(color: str) -> tuple[int, ...]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def test_chromium_draws_every_chart(warehouse, tmp_path):
    with warehouse.engine.connect() as conn:
        page = build_report(conn, 7, now=NOW)
    expected = bars_by_section(page)
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = run_chromium(tmp_path, "--dump-dom", probed.as_uri())
    drawn = re.search(r'data-drawn="([^"]*)"', dom)
    assert drawn, dom[:500]
    assert json.loads(html.unescape(drawn.group(1))) == expected
    assert all(n > 0 for n in expected)

    report = tmp_path / "report.html"
    report.write_text(page, encoding="utf-8")
    shot = tmp_path / "report.png"
    run_chromium(tmp_path, f"--screenshot={shot}", report.as_uri())
    width, height, pixels = read_png(shot)
    assert (width, height) == (900, 1900)
    colors = Counter(pixels)
    assert len(colors) > 50  # text, charts, tiles: far from a blank page
    assert colors.most_common(1)[0][1] < 0.9 * len(pixels)
    # every agent's colour fills a visible area (interior pixels of its bars)
    for color in PALETTE[:3]:
        assert colors[hex_rgb(color)] > 300, color


def test_report_on_an_empty_warehouse_says_so(pg_engine):
    with pg_engine.connect() as conn:
        page = build_report(conn, 7, now=NOW)
        assert conn.execute(text("SELECT count(*) FROM call_facts")).scalar() == 0
    assert page.count("No calls in this period") == 3
    assert "No sync runs recorded yet" in page
    assert "Walk depth" not in page  # report/walks.py: no table without walks
    assert bars_by_section(page) == [0, 0, 0, 0]
