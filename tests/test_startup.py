"""Start-up stays light: the HTTP stack (`urllib3`) and `rich` load only where needed (SPEC §7).

Timings are measured by benchmarks/startup.py, not here; this checks imports.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def imported_modules(args: list[str]) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    env["SHELL"] = "/bin/bash"
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "hhsession", *args], capture_output=True, text=True, env=env, timeout=60)
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    assert "hhsession.cli" in modules, result.stderr[-500:]
    return modules


@pytest.mark.parametrize(
    "args",
    [["--version"], ["--help"], ["start", "--help"], ["start", "-n", "x", "--dry-run"], ["--show-completion"], ["schema"]],
)
def test_requests_is_not_imported(args: list[str]) -> None:
    modules = imported_modules(args)
    assert "requests" not in modules and "urllib3" not in modules


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["start", "--help"], ["start", "-n", "x", "--dry-run"]])
def test_rich_and_pydantic_are_not_imported(args: list[str]) -> None:
    modules = imported_modules(args)
    assert "rich" not in modules
    assert "pydantic" not in modules


def test_importtime_sees_the_http_stack_when_it_is_used() -> None:
    # The check above can fail: a real start does import urllib3.
    modules = imported_modules(["start", "--api-url", "http://127.0.0.1:9", "--api-key", "k" * 20, "--max-retries", "0", "--timeout", "0.2"])
    assert "urllib3" in modules


def test_the_package_exports_its_python_api_lazily() -> None:
    code = (
        "import sys, hhsession\n"
        "assert 'urllib3' not in sys.modules and 'hhsession.client' not in sys.modules\n"
        "from hhsession import Client, Overrides, build_session, Emulator\n"
        "assert 'hhsession.client' in sys.modules\n"
        "print(Client().build_start(session_name='x').payload['event_name'])\n"
        "assert 'urllib3' not in sys.modules  # building a payload needs no HTTP\n"
        "import hhsession as h\n"
        "assert all(getattr(h, name) for name in h.__all__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "x\n"
