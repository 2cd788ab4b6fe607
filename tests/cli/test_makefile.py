"""The Makefile: `make demo` installs only what the demo needs; test/check get the test extras.

Asks make itself what each target would run (`make -n -B`: print the whole recipe chain,
execute nothing), so the check follows the real prerequisites, not a parse of ours.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def would_run(target: str) -> list[str]:
    proc = subprocess.run(
        ["make", "-n", "-B", "-C", str(ROOT), "--no-print-directory", target, "VENV=/nowhere/v"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.splitlines()


def pip_installs(lines: list[str]) -> list[str]:
    return [line for line in lines if "pip install" in line and "--upgrade pip" not in line]


def test_demo_installs_the_package_without_test_extras() -> None:
    lines = would_run("demo")
    assert pip_installs(lines) == ["/nowhere/v/bin/pip install --quiet -e ."]
    assert not any("[test]" in line for line in lines)
    assert "/nowhere/v/bin/unpod-etl demo" in lines
    assert any("/nowhere/v/bin/unpod-etl" in line and "activate" in line for line in lines)


@pytest.mark.parametrize("target", ["test", "check", "setup", "bench"])
def test_test_and_check_install_the_test_extras(target: str) -> None:
    assert pip_installs(would_run(target)) == ["/nowhere/v/bin/pip install --quiet -e '.[test]'"]


def test_demo_and_test_keep_separate_stamps() -> None:
    demo, test = would_run("demo"), would_run("test")
    demo_stamp = next(line for line in demo if line.startswith("touch "))
    test_stamp = next(line for line in test if line.startswith("touch "))
    assert demo_stamp != test_stamp
    assert "/nowhere/v/bin/pytest -q" in test
