"""`hhsession exec -- COMMAND`: a command wrapped in a session (SPEC §3 exec), against the recording server.

Where the command's streams or signals are what is tested, hhsession runs as a user runs it, in a process
of its own (on a terminal, for Ctrl-C); elsewhere it runs in-process, through ``main(argv, env)``: the
command is a process of its own either way."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, Invoker
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


def test_the_exit_status_is_the_commands(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    result = cli("exec", "--", PY, "-c", "import sys; sys.exit(3)", env=env)
    assert result.exit_code == 3
    assert the_session(fake)[1]["outputs"] == {"exit_code": 3}  # type: ignore[index]


def test_a_killed_command_is_128_plus_n_and_recorded_as_minus_n(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    result = cli("exec", "--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)", env=env)
    assert result.exit_code == 128 + 9
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


def test_no_key_the_command_still_runs_with_one_warning(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = cli("exec", "--", PY, "-c", f"open({str(marker)!r}, 'w'); raise SystemExit(4)", env={"HH_API_URL": fake.url})
    assert result.exit_code == 4 and marker.exists()
    assert result.stderr.count("\n") == 1 and "warning: not recorded: the session was not started (no API key" in result.stderr
    assert fake.requests == []


def test_a_server_down_at_the_start(cli: Invoker, env: dict[str, str], free_port: int, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    started = time.monotonic()
    result = cli("exec", "--", PY, "-c", f"open({str(marker)!r}, 'w')",
                       env={**env, "HH_API_URL": f"http://127.0.0.1:{free_port}"})
    assert result.exit_code == 0 and marker.exists()
    assert "not recorded: the session was not started" in result.stderr and "connection refused" in result.stderr
    assert result.stderr.count("\n") == 1
    assert time.monotonic() - started < 20  # one retry, not a long wait before the command


def test_a_server_down_at_the_end(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    fake.script = [Reply(), Reply(503), Reply(503)]
    result = cli("exec", "--", PY, "-c", "pass", env=env)
    assert result.exit_code == 0
    assert "not recorded: session" in result.stderr and "was not ended" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_server_down_at_both_ends(cli: Invoker, env: dict[str, str], free_port: int) -> None:
    result = cli("exec", "--", PY, "-c", "raise SystemExit(7)", env={**env, "HH_API_URL": f"http://127.0.0.1:{free_port}"})
    assert result.exit_code == 7 and result.stderr.count("\n") == 1  # one line says what was not recorded


@pytest.mark.parametrize(("extra", "code"), [({"HH_API_KEY": ""}, 3), ({"HH_API_URL": "http://127.0.0.1:9"}, 5)])
def test_strict_without_a_session_does_not_run_the_command(cli: Invoker,
    env: dict[str, str], tmp_path: Path, extra: dict[str, str], code: int
) -> None:
    marker = tmp_path / "ran"
    result = cli("exec", "--strict", "--max-retries", "0", "--", PY, "-c", f"open({str(marker)!r}, 'w')", env={**env, **extra})
    assert result.exit_code == code and not marker.exists()
    assert result.stderr.startswith("hhsession: error: ")


def test_strict_reports_a_failed_end(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    fake.script = [Reply(), Reply(503), Reply(503)]
    ok = cli("exec", "--strict", "--max-retries", "1", "--", PY, "-c", "pass", env=env)
    assert ok.exit_code == 5 and "was not ended" in ok.stderr
    fake.script = [Reply(), Reply(503), Reply(503)]
    failed = cli("exec", "--strict", "--max-retries", "1", "--", PY, "-c", "raise SystemExit(3)", env=env)
    assert failed.exit_code == 3  # the command's failure is the one that matters


def test_the_command_line_is_never_sent(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    result = cli("exec", "--end-outputs", "report=r.html", "--end-metadata", "stage=test", "--outputs", "at_start=1",
                       "--", PY, "-c", "pass", "--token=SECRET-ARG", env=env)
    assert result.exit_code == 0, result.stderr
    assert all(b"SECRET-ARG" not in r.body for r in fake.requests)
    start, end = the_session(fake)
    assert start["outputs"] == {"at_start": "1"}
    # The server replaces outputs whole: the end keeps what the start sent.
    assert end == {**end, "outputs": {"at_start": "1", "report": "r.html", "exit_code": 0}, "metadata": {"stage": "test"}}  # type: ignore[dict-item]


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


def test_a_command_that_does_not_exist(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    result = cli("exec", "--", "no-such-command-hhsession", env=env)
    assert result.exit_code == 127
    assert result.stderr == "hhsession: error: no-such-command-hhsession: command not found\n"  # as a shell says it
    assert the_session(fake)[1]["outputs"] == {"exit_code": 127}  # type: ignore[index]


def test_no_command_is_a_usage_error(cli: Invoker, env: dict[str, str]) -> None:
    result = cli("exec", "-n", "x", env=env)
    assert result.exit_code == 2 and "Missing argument" in result.stderr


#: Counts the SIGINTs it gets (``count.py MARKER READY_FD``): it says "ready" on the descriptor it was
#: given, then waits for a first SIGINT and 1 s more, time for a second one to arrive if hhsession
#: passed on what the terminal had sent already; then writes the count to MARKER.
COUNTER = """
import os, signal, sys, time
count, first = 0, None
def on_int(signum, frame):
    global count, first
    count += 1
    first = first or time.monotonic()
signal.signal(signal.SIGINT, on_int)
os.write(int(sys.argv[2]), b"ready")
os.close(int(sys.argv[2]))
deadline = time.monotonic() + 20
while time.monotonic() < deadline and (first is None or time.monotonic() < first + 1.0):
    time.sleep(0.01)
open(sys.argv[1], "w").write(str(count))
sys.exit(count)
"""


def _ready_pipe() -> tuple[int, int]:
    """A pipe whose write end the command inherits (through hhsession, and a shell), to say it is ready."""
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    return read_end, write_end


def _wait_ready(read_end: int, write_end: int, timeout: float = 20) -> None:
    os.close(write_end)  # the command holds the only write end now: its end of file if it dies first
    try:
        assert select.select([read_end], [], [], timeout)[0], "the command did not start"
        assert os.read(read_end, 16) == b"ready"
    finally:
        os.close(read_end)


@pytest.mark.parametrize("redirected", [False, True])
def test_ctrl_c_on_a_terminal_reaches_the_command_once(fake: FakeServer, env: dict[str, str], tmp_path: Path, redirected: bool) -> None:
    from tests.terminal import Terminal

    script, marker = tmp_path / "count.py", tmp_path / "count.txt"
    script.write_text(COUNTER)
    ready, ready_fd = _ready_pipe()
    args = ["exec", "--", PY, str(script), str(marker), str(ready_fd)]
    full = {**{k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}, **env}
    if redirected:  # all three streams elsewhere: hhsession is still in the terminal's foreground
        shell = f"exec {PY} -m hhsession {' '.join(args)} </dev/null >{tmp_path}/o 2>{tmp_path}/e"
        term = Terminal(["-c", shell], env=full, program="/bin/sh")
    else:
        term = Terminal(args, env=full)
    _wait_ready(ready, ready_fd)  # the command runs and handles SIGINT
    term.type("\x03")  # Ctrl-C: the terminal signals the whole foreground group
    code = term.wait(30)
    assert marker.read_text() == "1", f"the command got {marker.read_text()} SIGINTs"
    assert code == 1


def test_a_sigint_sent_to_hhsession_alone_on_a_terminal_is_passed_on(fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    from tests.terminal import Terminal

    script, marker = tmp_path / "count.py", tmp_path / "count.txt"
    script.write_text(COUNTER)
    ready, ready_fd = _ready_pipe()
    full = {**{k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}, **env}
    term = Terminal(["exec", "--", PY, str(script), str(marker), str(ready_fd)], env=full)
    _wait_ready(ready, ready_fd)
    os.kill(term.pid, signal.SIGINT)  # `kill -INT <hhsession>`, from another shell
    assert term.wait(30) == 1 and marker.read_text() == "1"


def test_ctrl_c_while_the_start_hangs_does_not_run_the_command(env: dict[str, str], tmp_path: Path) -> None:
    from tests.fakeserver import Drip

    marker = tmp_path / "ran"
    with FakeServer([Drip(interval=0.5, seconds=30)]) as slow:
        full = {**{k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))},
                "HH_API_URL": slow.url, "HH_API_KEY": API_KEY}
        proc = subprocess.Popen([PY, "-m", "hhsession", "exec", "--", PY, "-c", f"open({str(marker)!r}, 'w')"],
                                env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert slow.wait_for_requests(1)  # the start hangs (Ctrl-C and SIGTERM are taken since before it)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert not marker.exists() and "Traceback" not in err


def test_a_sigterm_while_the_session_is_ended_keeps_the_commands_status(env: dict[str, str]) -> None:
    from tests.fakeserver import Drip

    with FakeServer([Reply(), Drip(interval=0.2, seconds=1.0), Reply()]) as slow_end:
        full = {**{k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))},
                "HH_API_URL": slow_end.url, "HH_API_KEY": API_KEY}
        proc = subprocess.Popen([PY, "-m", "hhsession", "exec", "--", PY, "-c", "raise SystemExit(3)"],
                                env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert slow_end.wait_for_requests(2)  # the end is on its way, answered slowly
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err  # the command's, not 143


def test_a_session_not_started_takes_the_outer_sessions_variables_away(env: dict[str, str], free_port: int) -> None:
    outer = {"HH_SESSION_ID": "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17", "HH_SESSION_START_TIME": "1795687200000"}
    code = "import os; print(os.environ.get('HH_SESSION_ID'), os.environ.get('HH_SESSION_START_TIME'))"
    result = hhsession("exec", "--", PY, "-c", code, env={**env, **outer, "HH_API_URL": f"http://127.0.0.1:{free_port}"})
    assert result.returncode == 0 and result.stdout == "None None\n"


def test_a_long_retry_after_does_not_hold_the_command(cli: Invoker, env: dict[str, str]) -> None:
    with FakeServer([Reply(503, headers={"Retry-After": "20"})] * 4) as busy:
        started = time.monotonic()
        result = cli("exec", "--", PY, "-c", "pass", env={**env, "HH_API_URL": busy.url})
    assert result.exit_code == 0 and time.monotonic() - started < 10
    assert "not recorded" in result.stderr


def test_settings_that_cannot_work_are_exit_2_and_the_command_is_not_run(cli: Invoker, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = cli("exec", "--", PY, "-c", f"open({str(marker)!r}, 'w')",
                       env={"HH_API_KEY": API_KEY, "HH_API_URL": "http://192.0.2.1:8080"})
    assert result.exit_code == 2 and "refusing to send the API key over plain http" in result.stderr
    assert not marker.exists()


def test_a_script_without_a_shebang_is_run_by_sh(fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "noshebang"
    script.write_text("echo from-sh\nexit 4\n")
    script.chmod(0o755)
    result = hhsession("exec", "--", str(script), env=env)
    assert result.returncode == 4 and result.stdout == "from-sh\n"


def test_a_session_from_a_file_keeps_its_name_and_starts_now(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"session_name": "from-file", "metadata": {"a": 1}}')
    before = int(time.time() * 1000)
    result = cli("exec", "-f", str(path), "-m", "b=2", "--", PY, "-c", "pass", env=env)
    assert result.exit_code == 0, result.stderr
    start, end = the_session(fake)
    assert start["session_name"] == "from-file"  # the program name is only the default
    assert start["metadata"] == {"a": 1, "b": "2"} and start["start_time"] >= before
    assert end is not None and end["outputs"] == {"exit_code": 0}
    fake.requests.clear()
    assert cli("exec", "-f", str(path), "-n", "flag", "--", PY, "-c", "pass", env=env).exit_code == 0
    assert the_session(fake)[0]["session_name"] == "flag"  # a flag beats the file


@pytest.mark.parametrize(("document", "name"), [
    ('{"session": {"session_name": "wrapped"}}', "wrapped"), ('{"session_name": ""}', os.path.basename(PY)),
    ('{"session_name": "  "}', os.path.basename(PY)),
])
def test_the_name_in_a_file_in_any_shape_or_the_default(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Path,
                                                         document: str, name: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(document)
    result = cli("exec", "-f", str(path), "--", PY, "-c", "pass", env=env)
    assert result.exit_code == 0, result.stderr
    assert the_session(fake)[0]["session_name"] == name


@pytest.mark.parametrize(("document", "named"), [
    ('{"session": {"session_name": "w", "start_time": 1700000000000}}', "start_time: exec starts the session"),
    ('{"start_time": 1764151200000}', "start_time: exec starts the session"),
    ('{"end_time": 1764151200000, "duration": 5}', "end_time, duration: exec starts"),
])
def test_times_in_the_file_are_refused_and_the_command_not_run(cli: Invoker,
    fake: FakeServer, env: dict[str, str], tmp_path: Path, document: str, named: str
) -> None:
    path = tmp_path / "s.json"
    path.write_text(document)
    marker = tmp_path / "ran"
    result = cli("exec", "-f", str(path), "--", PY, "-c", f"open({str(marker)!r}, 'w')", env=env)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert named in result.stderr and "remove" in result.stderr
    assert not marker.exists() and fake.requests == []


def test_an_empty_name_is_refused_not_replaced_by_the_program_name(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = cli("exec", "--name", "", "--", PY, "-c", f"open({str(marker)!r}, 'w')", env=env)
    assert result.exit_code == 2 and "--name (session_name) is empty" in result.stderr
    assert result.stderr.count("\n") == 1 and not marker.exists() and fake.requests == []


def test_json_piped_to_exec_is_the_commands_and_nothing_is_said(fake: FakeServer, env: dict[str, str]) -> None:
    # Unlike start and end, exec hands its standard input to the command: piped JSON is the command's input.
    result = hhsession("exec", "--", PY, "-c", "import sys; print(sys.stdin.read())", env=env, input='{"session_name": "x"}')
    assert result.returncode == 0 and result.stdout == '{"session_name": "x"}\n'
    assert result.stderr == ""
    assert the_session(fake)[0]["session_name"] == os.path.basename(PY)


def test_verbose_shows_the_settings_exec_uses(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    result = cli("exec", "-v", "--", PY, "-c", "pass", env=env)
    assert result.exit_code == 0, result.stderr
    assert "timeout: 5.0 (exec's cap without --strict)" in result.stderr
    assert "max_retries: 1 (exec's cap without --strict)" in result.stderr
    chosen = cli("exec", "-v", "--timeout", "9", "--", PY, "-c", "pass", env=env)
    assert "timeout: 9.0 (flag --timeout)" in chosen.stderr  # what the user chose is kept
    strict = cli("exec", "-v", "--strict", "--", PY, "-c", "pass", env=env)
    assert "max_retries: 3 (built-in default)" in strict.stderr


# ----------------------------------------------------------------------------- do no harm, whatever the streams and signals


def in_shell(shell_tail: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``hhsession ARGS`` started by sh with ``shell_tail`` redirections (``>&-``, ``2>/dev/full``)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    script = '"$0" -m hhsession "$@" ' + shell_tail
    return subprocess.run(["sh", "-c", script, PY, *args], capture_output=True, text=True, env={**full, **env}, timeout=60)


@pytest.mark.parametrize("tail", [">&-", "2>&-", ">&- 2>&-", "2>/dev/full", ">/dev/full"])
def test_closed_or_failing_streams_change_nothing(fake: FakeServer, env: dict[str, str], tail: str) -> None:
    result = in_shell(tail, ["exec", "--", "sh", "-c", "exit 3"], env)
    assert result.returncode == 3, result.stderr
    start, end = the_session(fake)
    assert end is not None and end["outputs"]["exit_code"] == 3


def test_the_command_gets_its_streams_as_given(fake: FakeServer, env: dict[str, str]) -> None:
    probe = "import os, sys\ntry:\n    os.fstat(1)\nexcept OSError:\n    sys.exit(11)\nsys.exit(10)"
    result = in_shell(">&-", ["exec", "--", PY, "-c", probe], env)
    assert result.returncode == 11  # closed, as it was given to hhsession: not /dev/null, not a socket


def test_a_warning_that_cannot_be_written_is_dropped_and_the_command_runs(env: dict[str, str], free_port: int,
                                                                          tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    down = {**env, "HH_API_URL": f"http://127.0.0.1:{free_port}", "HH_MAX_RETRIES": "0"}
    result = in_shell("2>/dev/full", ["exec", "--", "sh", "-c", f"touch {marker}; exit 4"], down)
    assert result.returncode == 4 and marker.exists()


def test_an_inherited_ignored_sigchld_changes_nothing(fake: FakeServer, env: dict[str, str]) -> None:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    launcher = ("import os, signal, sys\nsignal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
                "os.execv(sys.executable, [sys.executable, '-m', 'hhsession', 'exec', '--', 'sh', '-c', 'exit 7'])")
    result = subprocess.run([PY, "-c", launcher], capture_output=True, text=True, env={**full, **env}, timeout=60)
    assert result.returncode == 7, result.stderr
    assert "Traceback" not in result.stderr and "ChildProcessError" not in result.stderr
    _, end = the_session(fake)
    assert end is not None and end["outputs"]["exit_code"] == 7


@pytest.mark.parametrize("command", ["", " "])
def test_an_empty_command_is_exit_2_and_sends_nothing(cli: Invoker, fake: FakeServer, env: dict[str, str], command: str) -> None:
    result = cli("exec", "--", command, env=env)
    assert result.exit_code == 2
    assert result.stderr == (f"hhsession: error: the command to run is empty ({command!r}): give one after --, "
                             f"e.g. hhsession exec -- make test\n")
    assert fake.requests == []


def test_exec_help_shows_the_values_exec_uses(cli: Invoker) -> None:
    shown = " ".join(cli("exec", "--help").stdout.split())
    assert "default for exec without --strict: 5; with it: 30" in shown
    assert "default for exec without --strict: 1; with it: 3" in shown


def test_tracers_in_the_command_are_given_what_they_read_to_join_its_session(fake: FakeServer, env: dict[str, str]) -> None:
    code = "import os; print(os.environ['SESSION_ID'], os.environ['TRACEPARENT'], os.environ['BAGGAGE'])"
    result = hhsession("exec", "--", PY, "-c", code, env={**env, "BAGGAGE": "user=ann,session_id=old"})
    assert result.returncode == 0, result.stderr
    session_id, traceparent, baggage = result.stdout.split()
    start, _ = the_session(fake)
    digits = start["session_id"].replace("-", "")
    assert session_id == start["session_id"]  # the vendor's Python tracer reads SESSION_ID
    assert traceparent == f"00-{digits}-{digits[:16]}-01"  # W3C trace context: the session's trace
    assert baggage == f"session_id={session_id},user=ann"  # the command's own baggage kept, its session_id replaced
