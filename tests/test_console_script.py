"""The installed console script and `python -m hhsession`, as a shell runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hhsession import __version__
from hhsession.emulator import Emulator
from tests.conftest import API_KEY

BIN = Path(sys.executable).parent / "hhsession"


def run(args: list[str], env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    full_env.update(env or {})
    return subprocess.run(args, capture_output=True, text=True, input=input, env=full_env, timeout=60)


@pytest.mark.parametrize("command", [[str(BIN)], [sys.executable, "-m", "hhsession"]])
def test_version(command: list[str]) -> None:
    result = run([*command, "--version"])
    assert result.returncode == 0
    assert result.stdout == f"hhsession {__version__}\n"


def test_pipeline_reads_an_id_back(emulator: Emulator) -> None:
    env = {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    result = run([str(BIN), "start", "-f", "-", "-o", "id"], env=env, input='{"session_name": "etl"}')
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.strip()
    stored = emulator.store.get(session_id)
    assert stored is not None and stored["session_name"] == "etl"


def test_env_output_appends_to_a_github_env_file(emulator: Emulator, tmp_path: Path) -> None:
    github_env = tmp_path / "github_env"
    env = {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY, "GITHUB_ENV": str(github_env)}
    result = subprocess.run(
        'hhsession start --name deploy -o env >> "$GITHUB_ENV"', shell=True, capture_output=True, text=True,
        env={**os.environ, **env, "PATH": f"{BIN.parent}:{os.environ['PATH']}"}, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
    assert emulator.store.get(lines["HH_SESSION_ID"]) is not None


def test_json_in_a_pipe_by_default(emulator: Emulator) -> None:
    result = run([str(BIN), "start", "-n", "piped"], env={"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY})
    assert result.returncode == 0
    assert json.loads(result.stdout)["session_name"] == "piped"


def test_fast_exit_keeps_output_and_exit_code(tmp_path: Path) -> None:
    # main() ends the process with os._exit after flushing: nothing may be lost.
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"inputs": {"text": "x" * 200_000}}))
    result = run([str(BIN), "start", "-f", str(big), "--dry-run"])
    assert result.returncode == 0
    assert len(json.loads(result.stdout)["inputs"]["text"]) == 200_000
    assert run([str(BIN), "start", "--session-id", "x", "--dry-run"]).returncode == 2


def test_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    big = tmp_path / "big.json"  # more than a pipe buffer holds, so the writer meets a closed pipe
    big.write_text(json.dumps({"inputs": {"text": "x" * 500_000}}))
    result = subprocess.run(f"{BIN} start -f {big} --dry-run | head -c 10", shell=True, capture_output=True, text=True, timeout=60)
    assert result.stdout == '{\n  "sessi'
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_errors_are_one_line_without_traceback() -> None:
    result = run([str(BIN), "start", "--start-time", "1764151200", "--dry-run"])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_dry_run_does_not_import_requests() -> None:
    code = (
        "import sys; from hhsession.cli import main; sys.argv = ['hhsession', 'start', '-n', 'x', '--dry-run'];\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('requests' in sys.modules, 'rich' in sys.modules, file=sys.stderr)"
    )
    # HHSESSION_SLOW_EXIT: main() raises SystemExit instead of ending the process.
    result = run([sys.executable, "-c", code], env={"HHSESSION_SLOW_EXIT": "1"})
    assert result.stderr.strip().splitlines()[-1] == "False False"
    assert json.loads(result.stdout)["session_name"] == "x"


def test_every_command_has_help_with_examples(cli: Any) -> None:
    from hhsession.cli.commands import app_tree

    for node in app_tree().walk():
        result = cli(*node.path, "--help")
        assert result.exit_code == 0, node.path
        assert "Example" in result.stdout, f"hhsession {' '.join(node.path)} --help has no example"


def test_the_wheel_ships_every_module(tmp_path: Path) -> None:
    # The README's first command is a regular `pip install .`, not the editable
    # install the tests run from: a subpackage missing from pyproject.toml
    # would pass every other test and break that command.
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(repo)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    import zipfile

    (wheel,) = tmp_path.glob("hhsession-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(path.relative_to(repo)) for path in (repo / "hhsession").rglob("*.py")}
    assert modules and modules <= shipped, sorted(modules - shipped)
    assert "hhsession/py.typed" in shipped
