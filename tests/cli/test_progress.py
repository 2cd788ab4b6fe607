"""configure_logging (text / JSON lines on stderr) and the per-page progress hook."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest

from unpod_etl.cli.progress import HANDLER_NAME, configure_logging, page_progress
from unpod_etl.pipeline.sync import AgentResult, SyncConfig, SyncRunner
from unpod_etl.source.client import TaskPage
from unpod_etl.source.rawjson import TaskDoc


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.NOTSET)


def test_json_logging_writes_one_object_per_line_to_stderr(restore_logging, capsys):
    configure_logging("json", verbose=False)
    log = logging.getLogger("unpod_etl.test")
    log.info("synced %d tasks", 42)
    log.debug("not shown without --verbose")
    try:
        raise ValueError("bad page")
    except ValueError:
        log.exception("agent failed")
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"ts", "level", "logger", "message"}
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO",
        "unpod_etl.test",
        "synced 42 tasks",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["ts"])
    assert second["level"] == "ERROR" and "ValueError: bad page" in second["exc"]


def test_text_logging_and_verbose(restore_logging, capsys):
    configure_logging("text", verbose=True)
    configure_logging("text", verbose=True)  # idempotent: still one handler
    logging.getLogger("unpod_etl.test").debug("page %d", 3)
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\d [\d:,]+ DEBUG unpod_etl.test: page 3\n", err)


def test_unknown_log_format_is_refused(restore_logging):
    with pytest.raises(ValueError, match="text"):
        configure_logging("xml", verbose=False)


def test_plain_log_line_per_page_during_a_real_sync(fake, fake_server, sqlite_url, caplog):
    config = SyncConfig(fake_server.url, fake.token, fake.org, sqlite_url, page_size=8)
    runner = SyncRunner(config)
    with (
        caplog.at_level(logging.INFO, logger="unpod_etl.cli.progress"),
        page_progress(False) as on_page,
    ):
        runner.on_page = on_page
        result = runner.run()
    lines = [r.getMessage() for r in caplog.records if r.name == "unpod_etl.cli.progress"]
    assert len(lines) == result.total("pages") == 3 * 4  # 30 tasks an agent, 8 a page
    handle = fake.published_handles()[0]
    assert f"agent {handle}: page 4 done, 30 of 30 tasks seen (inserted 30, " in "\n".join(lines)


def _page(number: int, count: int, size: int) -> TaskPage:
    return TaskPage(number, size, count, [TaskDoc.from_value({})] * size, size)


def test_bars_on_a_terminal_sum_over_interleaved_agents(capsys):
    a, b = AgentResult("agent-a"), AgentResult("agent-b")
    with page_progress(True) as on_page:
        a.seen, a.inserted = 10, 10
        on_page(a, _page(1, 20, 10))
        b.seen = 5
        on_page(b, _page(1, 5, 5))  # b is done after one page
        a.seen = 20
        on_page(a, _page(2, 20, 10))
    err = capsys.readouterr().err
    final = {
        name: re.findall(rf"{name}[^\r\n]*", err)[-1] for name in ("agents done", "pages", "tasks")
    }
    assert "2/2" in final["agents done"]
    assert re.search(r"pages: 3", final["pages"])
    assert "25/25" in final["tasks"]
    assert "1/2" in err  # while agent-a was still walking
