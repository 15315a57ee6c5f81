"""What a new user trips on (issue 14): quiet mistakes, noisy CI logs, options that ignore them."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hhsession.emulator import Emulator, Faults
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer, Reply

PY = sys.executable


def hhsession(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    return subprocess.run([PY, "-m", "hhsession", *args], capture_output=True, text=True, env={**full, **(env or {})},
                          timeout=120, **kwargs)


# ----------------------------------------------------------------------------- quiet mistakes

NOT_READ = "standard input holds data that is not read; to read a JSON object from it, pass -f -"


def test_piped_json_without_f_dash_is_named(tmp_path: Path) -> None:
    piped = subprocess.run(f"echo '{{\"session_name\": \"x\"}}' | {PY} -m hhsession start --dry-run", shell=True,
                           capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and NOT_READ in piped.stderr
    assert json.loads(piped.stdout).get("session_name") is None  # still not read: it is only said
    doc = tmp_path / "doc.json"
    doc.write_text('{"session_name": "x"}')
    with doc.open("rb") as handle:
        assert NOT_READ in hhsession("start", "--dry-run", stdin=handle).stderr
        assert NOT_READ in hhsession("end", "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17", "--dry-run", stdin=handle).stderr
    asked = subprocess.run(f"echo '{{\"session_name\": \"x\"}}' | {PY} -m hhsession start -f - --dry-run", shell=True,
                           capture_output=True, text=True, timeout=60)
    assert NOT_READ not in asked.stderr and json.loads(asked.stdout)["session_name"] == "x"


@pytest.mark.parametrize("stdin", ["devnull", "empty pipe", "closed", "text file", "blank line"])
def test_nothing_is_said_or_waited_for_on_an_empty_or_closed_stdin(tmp_path: Path, stdin: str) -> None:
    started = time.monotonic()
    if stdin == "devnull":
        result = hhsession("start", "--dry-run", stdin=subprocess.DEVNULL)
    elif stdin == "empty pipe":
        result = subprocess.run(f"true | {PY} -m hhsession start --dry-run", shell=True, capture_output=True, text=True, timeout=60)
    elif stdin == "blank line":  # `echo | hhsession start`: nothing that -f - could read
        result = subprocess.run(f"echo | {PY} -m hhsession start --dry-run", shell=True, capture_output=True, text=True, timeout=60)
    elif stdin == "closed":
        result = subprocess.run(f"{PY} -m hhsession start --dry-run <&-", shell=True, capture_output=True, text=True, timeout=60)
    else:  # a script's loop reading lines from a file: not JSON, not a mistake
        lines = tmp_path / "names.txt"
        lines.write_text("alpha\nbeta\n")
        with lines.open("rb") as handle:
            result = hhsession("start", "--dry-run", stdin=handle)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert time.monotonic() - started < 20


def test_a_shell_loop_reading_a_pipe_is_not_a_mistake_and_keeps_its_lines() -> None:
    """`producer | while read n; do hhsession start --name "$n"; done`: the pipe's next line is the loop's."""
    script = (f'printf "alpha\\nbeta\\ngamma\\n" | while read n; do '
              f'{PY} -m hhsession start --dry-run -o id --name "$n" >/dev/null; echo "got $n"; done')
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["got alpha", "got beta", "got gamma"]  # peeked at, never taken
    assert NOT_READ not in result.stderr
    # The same loop whose next line is JSON: that is what -f - would have read, so it is said.
    script = (f'printf "first\\n{{\\"session_name\\": \\"x\\"}}\\n" | (read n; '
              f'{PY} -m hhsession start --dry-run -o id >/dev/null; cat)')
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert NOT_READ in result.stderr and result.stdout == '{"session_name": "x"}\n'


@pytest.mark.parametrize(("command", "value", "warned"), [
    (["start", "--dry-run"], "1.5", True), (["start", "--dry-run"], "999", True), (["start", "--dry-run"], "1000", False),
    (["start", "--dry-run"], "1.5s", False), (["end", "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17", "--dry-run"], "30", True),
])
def test_a_bare_small_duration_flag_shows_both_readings(cli: Invoker, command: list[str], value: str, warned: bool) -> None:
    result = cli(*command, "--duration", value)
    assert result.exit_code == 0, result.stderr
    said = f"warning: --duration {value} is {value} ms (milliseconds); if you meant seconds, write --duration {value}s"
    assert (said in result.stderr) is warned


def test_a_duration_in_json_stays_milliseconds_silently(cli: Invoker, tmp_path: Path) -> None:
    doc = tmp_path / "d.json"
    doc.write_text('{"duration": 1.5}')
    result = cli("start", "-f", str(doc), "--dry-run")
    assert result.exit_code == 0 and "warning" not in result.stderr and json.loads(result.stdout)["duration"] == 1.5


# ----------------------------------------------------------------------------- CI logs


def test_a_long_replay_in_a_ci_log_prints_plain_progress_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(60)))
    with Emulator(port=0, faults=Faults(latency_ms=40)) as emu:
        result = hhsession("replay", str(path), "--workers", "1", "-o", "none",
                           env={"HH_API_URL": emu.url, "HH_API_KEY": API_KEY, "HHSESSION_PROGRESS_INTERVAL": "0.5"})
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if " done (" in line]
    assert len(progress) >= 2
    assert re.match(r"hhsession: \d+ done \(\d+/s\): \d+ ok, 0 failed, 0 invalid, 0 skipped; about .+ left$", progress[-1])
    assert "\x1b" not in result.stderr and "\r" not in result.stderr


def test_a_server_that_refuses_everything_is_given_up_on_in_seconds_with_a_few_lines(free_port: int, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(33)))
    started = time.monotonic()
    result = hhsession("replay", str(path), "-o", "none", env={"HH_API_URL": f"http://127.0.0.1:{free_port}", "HH_API_KEY": API_KEY})
    took = time.monotonic() - started
    assert result.returncode == 5, result.stderr
    assert took < 10  # about 5 s, not 3.5 s for every record
    assert "refused every connection for 5 s" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 9, result.stderr  # a handful, not one per record


@pytest.mark.parametrize("records", [1, 3])
def test_a_short_replay_to_a_refusing_server_is_a_network_failure_too(free_port: int, tmp_path: Path, records: int) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(records)))
    result = hhsession("replay", str(path), "-o", "none", "--max-retries", "1",
                       env={"HH_API_URL": f"http://127.0.0.1:{free_port}", "HH_API_KEY": API_KEY})
    assert result.returncode == 5, result.stderr  # as a long one is: not 6, "some records failed"
    assert f"replay: {records} record" in result.stderr and f"0 ok, {records} failed" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "hhsession: error: no record got through: each failed for the network or the server (see the warnings "
        "above); check that the server is up and that --api-url is right, then run the same command again "
        "(with --journal, nothing is sent twice)")


def test_invalid_records_beside_a_down_server_are_exit_6(free_port: int, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"session_name": "a"}\n{"start_time": "bogus"}\n')
    result = hhsession("replay", str(path), "-o", "none", "--max-retries", "0",
                       env={"HH_API_URL": f"http://127.0.0.1:{free_port}", "HH_API_KEY": API_KEY})
    assert result.returncode == 6, result.stderr  # not every failure was the network's: rerunning will not fix it
    assert "no record got through" not in result.stderr


def test_a_replay_where_some_records_got_through_is_exit_6(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(2)))
    fake.script = [Reply(200), Reply(503), Reply(503)]
    result = cli("replay", str(path), "--workers", "1", "--max-retries", "1", "-o", "none",
                 env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 6 and "1 ok, 1 failed" in result.stderr and "no record got through" not in result.stderr


def test_a_fifth_of_503s_still_delivers_every_record(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(60)))
    with Emulator(port=0, faults=Faults(fail_rate=0.2, fail_status=503, retry_after=0), seed=7) as emu:
        result = hhsession("replay", str(path), "-o", "none", env={"HH_API_URL": emu.url, "HH_API_KEY": API_KEY})
        assert result.returncode == 0, result.stderr
        assert emu.store.count() == 60


def test_repeated_warnings_are_collapsed(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}", "start_time": 1_700_000_000 + i}) + "\n" for i in range(25)))
    result = cli("replay", str(path), "-o", "none", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 6
    lines = result.stderr.strip().splitlines()
    assert sum("looks like Unix seconds" in line for line in lines) <= 3
    assert "23 more like:" in result.stderr
    assert lines[-1].startswith("replay: 25 records: 0 ok, 25 invalid")
    # Fewer than the cap were shown, so the cap's hint was never said: the end says where failures can go.
    assert lines[-2] == "hhsession: warning: use --failures FILE to keep every failure"


def test_a_long_collapsed_warning_is_cut_between_words() -> None:
    from hhsession.cli.progress import _shortened

    text = "refused every connection for 5 s; check that it is up and that --api-url is right, or raise --max-retries"
    assert _shortened(text, 60) == "refused every connection for 5 s; check that it is up and…"
    assert _shortened(text, 500) == text
    assert _shortened("x" * 200, 50) == "x" * 49 + "…"  # no space to cut at: cut where it must


def test_the_failures_hint_depends_on_failures(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    letters = "abcdefghijklmnopqrstuvwxyzABCD"
    path.write_text("".join(json.dumps({f"key_{c}": 1}) + "\n" for c in letters))  # 30 different causes
    env = {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY}
    without = cli("replay", str(path), "-o", "none", env=env)
    assert "use --failures FILE to keep every failure" in without.stderr
    failures = tmp_path / "f.jsonl"
    given = cli("replay", str(path), "-o", "none", "--failures", str(failures), env=env)
    assert "use --failures" not in given.stderr and f"all failures are in {failures}" in given.stderr


def test_the_progress_bar_counts_failed_and_invalid_apart(emulator: Emulator, tmp_path: Path) -> None:
    from tests.terminal import Terminal

    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(20)) + '{"start_time": 5}\n')
    env = {**os.environ, "HH_API_URL": emulator.url, "HH_API_KEY": API_KEY, "TERM": "xterm", "COLUMNS": "160"}
    term = Terminal(["replay", str(path)], env=env)
    assert term.wait(60) == 6
    screen = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", term.output.decode(errors="replace"))
    assert "0 failed" in screen and "1 invalid" in screen


# ----------------------------------------------------------------------------- options that ignore you


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell", "pwsh"])
def test_the_shell_named_wins_over_shell(shell: str) -> None:
    from hhsession.cli import main
    from hhsession.cli.commands import app_tree
    from hhsession.completion import render, shell_named
    from hhsession.context import Environment

    env = Environment(stdin=io.BytesIO(), stdout=io.StringIO(), stderr=io.StringIO(), env={"SHELL": "/bin/bash"})
    assert main(["--show-completion", shell], env) == 0
    assert env.stdout.getvalue() == render(app_tree(), shell_named(shell) or "")  # type: ignore[attr-defined]


def test_installing_for_a_named_shell_writes_that_shells_script(tmp_path: Path) -> None:
    result = hhsession("--install-completion", "zsh", env={"SHELL": "/bin/bash", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".zfunc" / "_hhsession").read_text().startswith("#compdef hhsession")
    unknown = hhsession("--show-completion", "tcsh")
    assert unknown.returncode == 2
    assert "'tcsh' is not a shell hhsession completes; name it: hhsession --show-completion bash|zsh|fish|powershell" in unknown.stderr
    assert "completions/" not in unknown.stderr  # not a folder that pip install does not install
