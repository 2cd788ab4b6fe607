"""Ctrl-C in a command that is not a sync (here `verify`, stuck in a slow API request): one
line and exit 130, as a shell expects, never click's "Aborted!" with exit 1."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import cli_env, sync_in_process
from unpod_etl.fakeapi import FakeServer, FakeUnpod


def test_sigint_in_verify_is_one_line_and_exit_130(tmp_path: Path) -> None:
    fake = FakeUnpod(agents=1, tasks_per_agent=10, seed=4, unpublished_agents=0)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with FakeServer(fake) as server:
        sync_in_process(server, fake, url)
        fake.faults.inject("slow", delay=30.0)  # every page from now on hangs
        before = len(fake.access.requests)
        argv = [sys.executable, "-m", "unpod_etl", "verify", "--api-url", server.url,
                "--token", fake.token, "--org", fake.org, "--database-url", url]  # fmt: skip
        proc = subprocess.Popen(
            argv,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while len(fake.access.requests) == before and time.monotonic() < deadline:
            time.sleep(0.05)  # until verify sits in its first (slow) page request
        assert len(fake.access.requests) > before, "verify never asked the API"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines() == ["interrupted (SIGINT)"], err
    assert "Traceback" not in out + err and "Aborted" not in err
