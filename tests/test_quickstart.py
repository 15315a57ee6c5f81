"""The README opens with two commands; both must keep working as written. The reference in docs/ says what the code does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Invoker

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    head = text.split("\n## ", 2)[1]  # the first section, under the title: the quick start
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", head, re.S)]


def test_readme_opens_with_exactly_two_commands() -> None:
    first, second = readme_commands()
    assert "examples/demo.sh" in first and "pip install" in first
    assert "pytest" in second
    # CI runs the README's test command, word for word.
    assert second in (REPO / ".ci" / "run").read_text()


@pytest.mark.parametrize("token", [None, "s3cret-demo-token"])
def test_the_demo_runs_the_main_job_against_the_emulator(token: str | None) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env = {k: v for k, v in env.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    if token is not None:  # a user who exported HH_EMULATOR_TOKEN: the demo still runs, the token is never shown
        env["HH_EMULATOR_TOKEN"] = token
    result = subprocess.run(["bash", str(REPO / "examples" / "demo.sh")], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "== emulator running at http://127.0.0.1:" in out
    assert "HoneyHive session started" in out and "quickstart" in out
    assert out.count("examples/sessions/") >= 3
    assert '"status":"ok"' in out and "replay: 5 records: 4 ok, 1 invalid" in result.stdout + result.stderr
    assert "replay: 5 records: 0 ok, 1 invalid, 4 skipped" in result.stdout + result.stderr
    assert "GET /v1/events/" in out and "POST /v1/events/search" in out  # `get`: the session, then its events
    assert '"event_name": "unit tests"' in out and "/events/batch" in out  # `event` logged a step inside it
    assert "the command runs inside session " in out and "HH_SESSION_START_TIME=" in out
    assert '"status": "deployed"' in out and '"duration": ' in out
    assert out.count("PUT /v1/events/") == 2  # exec's end and the CI step's end reached the emulator
    if token is not None:
        assert token not in out + result.stderr


def test_the_docs_tables_say_what_the_code_does(cli: Invoker) -> None:
    from hhsession.errors import ExitCode
    from hhsession.settings import ENV_NAMES
    from hhsession.urls import DEFAULT_API_URL

    exit_table = (REPO / "docs" / "exit-codes.md").read_text()
    assert sorted(int(code) for code in re.findall(r"^\| (\d+) \|", exit_table, re.M)) == sorted(int(c) for c in ExitCode)
    settings_table = (REPO / "docs" / "settings.md").read_text().split("\n\n`HH_PROJECT_API_KEY`", 1)[0]
    for setting, names in ENV_NAMES.items():
        row = next(line for line in settings_table.splitlines() if f"`{setting}`" in line)
        assert re.findall(r"`([A-Z_]+)`", row.split("|")[3]) == list(names), setting
    assert DEFAULT_API_URL in settings_table
    help_text = cli("--help").stdout
    for code in ExitCode:
        assert f"{int(code)} " in help_text


def test_the_docs_show_the_exports_the_emulator_prints() -> None:
    from hhsession.emulator import export_lines

    section = (REPO / "docs" / "emulator.md").read_text()
    block = section.split("# in another shell, the lines it printed", 1)[1].split("\nhhsession ", 1)[0]
    shown = [line for line in block.splitlines() if line.startswith("export ")]
    assert shown == export_lines("http://127.0.0.1:8787", None)
