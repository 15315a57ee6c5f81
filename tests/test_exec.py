"""`hhsession exec -- COMMAND`: a command wrapped in a session (SPEC §3 exec).

Run as a user runs it, in a subprocess, against the recording server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY
from tests.fakeserver import FakeServer, Reply

PY = sys.executable


def hhsession(*args: str, env: dict[str, str], input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    return subprocess.run([PY, "-m", "hhsession", *args], capture_output=True, text=True, env={**full, **env},
                          input=input, timeout=timeout)


@pytest.fixture
def env(fake: FakeServer) -> dict[str, str]:
    return {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY}


def the_session(fake: FakeServer) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(what started the session, what ended it)."""
    (start,) = [r.json() for r in fake.requests if r.method == "POST"]
    ends = [r.json() for r in fake.requests if r.method == "PUT"]
    assert len(ends) <= 1
    return start, (ends[0] if ends else None)


def test_the_command_runs_with_the_session_in_its_environment_and_its_stdio_untouched(fake: FakeServer, env: dict[str, str]) -> None:
    code = ("import os, sys; print(os.environ['HH_SESSION_ID'], os.environ['HH_SESSION_EVENT_ID'], "
            "os.environ['HH_SESSION_START_TIME']); sys.stderr.write('to stderr\\n'); print('read:', sys.stdin.read())")
    result = hhsession("exec", "-m", "branch=main", "--", PY, "-c", code, env=env, input="hello")
    assert result.returncode == 0, result.stderr
    session_id, event_id, started_at = result.stdout.splitlines()[0].split()
    assert result.stdout.splitlines()[1] == "read: hello"
    assert result.stderr == "to stderr\n"  # nothing of hhsession's own
    start, end = the_session(fake)
    assert start["session_id"] == session_id == event_id and start["start_time"] == int(started_at)
    assert start["metadata"] == {"branch": "main"}
    assert start["session_name"] == os.path.basename(PY)  # the program name, not the command line
    assert end is not None and end["outputs"] == {"exit_code": 0}
    assert end["end_time"] == start["start_time"] + end["duration"] and end["duration"] >= 0
    assert fake.sessions[session_id]["outputs"] == {"exit_code": 0}


def test_the_exit_status_is_the_commands(fake: FakeServer, env: dict[str, str]) -> None:
    result = hhsession("exec", "--", PY, "-c", "import sys; sys.exit(3)", env=env)
    assert result.returncode == 3
    assert the_session(fake)[1]["outputs"] == {"exit_code": 3}  # type: ignore[index]


def test_a_killed_command_is_128_plus_n_and_recorded_as_minus_n(fake: FakeServer, env: dict[str, str]) -> None:
    result = hhsession("exec", "--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)", env=env)
    assert result.returncode == 128 + 9
    assert the_session(fake)[1]["outputs"] == {"exit_code": -9}  # type: ignore[index]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_reach_the_command(fake: FakeServer, env: dict[str, str], sig: int) -> None:
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
        "signal.signal(signal.SIGINT, lambda *a: sys.exit(43))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    proc = subprocess.Popen([PY, "-m", "hhsession", "exec", "--", PY, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env={**full, **env})
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(sig)  # to hhsession only, as a CI runner cancelling a step does
    proc.wait(timeout=30)
    expected = 42 if sig == signal.SIGTERM else 43
    assert proc.returncode == expected, proc.stderr.read() if proc.stderr else ""
    assert the_session(fake)[1]["outputs"] == {"exit_code": expected}  # type: ignore[index]


def test_no_key_the_command_still_runs_with_one_warning(fake: FakeServer, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = hhsession("exec", "--", PY, "-c", f"open({str(marker)!r}, 'w'); raise SystemExit(4)", env={"HH_API_URL": fake.url})
    assert result.returncode == 4 and marker.exists()
    assert result.stderr.count("\n") == 1 and "warning: not recorded: the session was not started (no API key" in result.stderr
    assert fake.requests == []


def test_a_server_down_at_the_start(env: dict[str, str], free_port: int, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    started = time.monotonic()
    result = hhsession("exec", "--", PY, "-c", f"open({str(marker)!r}, 'w')",
                       env={**env, "HH_API_URL": f"http://127.0.0.1:{free_port}"})
    assert result.returncode == 0 and marker.exists()
    assert "not recorded: the session was not started" in result.stderr and "connection refused" in result.stderr
    assert result.stderr.count("\n") == 1
    assert time.monotonic() - started < 20  # one retry, not a long wait before the command


def test_a_server_down_at_the_end(fake: FakeServer, env: dict[str, str]) -> None:
    fake.script = [Reply(), Reply(503), Reply(503)]
    result = hhsession("exec", "--", PY, "-c", "pass", env=env)
    assert result.returncode == 0
    assert "not recorded: session" in result.stderr and "was not ended" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_server_down_at_both_ends(env: dict[str, str], free_port: int) -> None:
    result = hhsession("exec", "--", PY, "-c", "raise SystemExit(7)", env={**env, "HH_API_URL": f"http://127.0.0.1:{free_port}"})
    assert result.returncode == 7 and result.stderr.count("\n") == 1  # one line says what was not recorded


@pytest.mark.parametrize(("extra", "code"), [({"HH_API_KEY": ""}, 3), ({"HH_API_URL": "http://127.0.0.1:9"}, 5)])
def test_strict_without_a_session_does_not_run_the_command(
    env: dict[str, str], tmp_path: Path, extra: dict[str, str], code: int
) -> None:
    marker = tmp_path / "ran"
    result = hhsession("exec", "--strict", "--max-retries", "0", "--", PY, "-c", f"open({str(marker)!r}, 'w')", env={**env, **extra})
    assert result.returncode == code and not marker.exists()
    assert result.stderr.startswith("hhsession: error: ")


def test_strict_reports_a_failed_end(fake: FakeServer, env: dict[str, str]) -> None:
    fake.script = [Reply(), Reply(503), Reply(503)]
    ok = hhsession("exec", "--strict", "--max-retries", "1", "--", PY, "-c", "pass", env=env)
    assert ok.returncode == 5 and "was not ended" in ok.stderr
    fake.script = [Reply(), Reply(503), Reply(503)]
    failed = hhsession("exec", "--strict", "--max-retries", "1", "--", PY, "-c", "raise SystemExit(3)", env=env)
    assert failed.returncode == 3  # the command's failure is the one that matters


def test_the_command_line_is_never_sent(fake: FakeServer, env: dict[str, str]) -> None:
    result = hhsession("exec", "--end-outputs", "report=r.html", "--end-metadata", "stage=test", "--outputs", "at_start=1",
                       "--", PY, "-c", "pass", "--token=SECRET-ARG", env=env)
    assert result.returncode == 0, result.stderr
    assert all(b"SECRET-ARG" not in r.body for r in fake.requests)
    start, end = the_session(fake)
    assert start["outputs"] == {"at_start": "1"}
    assert end == {**end, "outputs": {"report": "r.html", "exit_code": 0}, "metadata": {"stage": "test"}}  # type: ignore[dict-item]


def test_options_after_the_command_are_the_commands(fake: FakeServer, env: dict[str, str]) -> None:
    result = hhsession("exec", "-n", "named", PY, "-c", "import sys; print(sys.argv[1:])", "-n", "3", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['-n', '3']\n"
    assert the_session(fake)[0]["session_name"] == "named"


def test_exec_inside_exec_the_inner_session_wins(fake: FakeServer, env: dict[str, str]) -> None:
    inner = f"{PY} -c \"import os; print(os.environ['HH_SESSION_ID'])\""
    code = f"import os, subprocess, sys; print(os.environ['HH_SESSION_ID']); sys.stdout.flush(); subprocess.run([sys.executable, '-m', 'hhsession', 'exec', '--', 'sh', '-c', {inner!r}], check=True)"
    result = hhsession("exec", "--", PY, "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    outer_id, inner_id = result.stdout.split()
    assert outer_id != inner_id and {outer_id, inner_id} == set(fake.sessions)
    assert len([r for r in fake.requests if r.method == "PUT"]) == 2


def test_a_command_that_does_not_exist(fake: FakeServer, env: dict[str, str]) -> None:
    result = hhsession("exec", "--", "no-such-command-hhsession", env=env)
    assert result.returncode == 127
    assert "no-such-command-hhsession: command not found" in result.stderr
    assert the_session(fake)[1]["outputs"] == {"exit_code": 127}  # type: ignore[index]


def test_no_command_is_a_usage_error(env: dict[str, str]) -> None:
    result = hhsession("exec", "-n", "x", env=env)
    assert result.returncode == 2 and "Missing argument" in result.stderr
