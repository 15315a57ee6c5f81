"""What a replay says while it runs and at its end: the progress bar on a terminal, plain progress
lines in a CI log, repeated warnings collapsed, the summary line."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

from hhsession.cli.progress import SHOWN_IN_ALL, SHOWN_PER_CAUSE, Warnings
from hhsession.context import Environment
from hhsession.emulator import Emulator, Faults
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer
from tests.replay.conftest import jsonl, numbered


class _Env(Environment):
    def __init__(self) -> None:
        super().__init__(io.BytesIO(), io.StringIO(), io.StringIO(), env={})
        self.said: list[str] = []

    def warn(self, message: str) -> None:
        self.said.append(message)


# ----------------------------------------------------------------------------- on a terminal: the bar


def test_progress_bar_on_a_terminal(emulator: Emulator, tmp_path: Path) -> None:
    from tests.terminal import Terminal

    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(40)] + [{"start_time": 5}])
    env = {**os.environ, "HH_API_URL": emulator.url, "HH_API_KEY": API_KEY, "TERM": "xterm"}
    term = Terminal(["replay", str(path)], env=env)
    assert term.wait(60) == 6
    screen = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", term.output.decode(errors="replace"))
    assert "done" in screen and "failed" in screen and "ETA" in screen
    assert f"hhsession: warning: {path}:41: invalid: start_time: 5 looks like Unix seconds" in screen
    assert "replay: 41 records: 40 ok, 1 invalid" in screen
    assert '"status"' not in screen  # -o none on a terminal


def test_the_progress_bar_counts_failed_and_invalid_apart(emulator: Emulator, tmp_path: Path) -> None:
    from tests.terminal import Terminal

    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(20)) + '{"start_time": 5}\n')
    env = {**os.environ, "HH_API_URL": emulator.url, "HH_API_KEY": API_KEY, "TERM": "xterm", "COLUMNS": "160"}
    term = Terminal(["replay", str(path)], env=env)
    assert term.wait(60) == 6
    screen = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", term.output.decode(errors="replace"))
    assert "0 failed" in screen and "1 invalid" in screen


# ----------------------------------------------------------------------------- in a CI log: plain lines


def test_a_long_replay_in_a_ci_log_prints_plain_progress_lines(cli: Invoker, tmp_path: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 20)
    with Emulator(port=0, faults=Faults(latency_ms=40)) as emu:  # one worker: at least 0.8 s, 4 intervals
        result = cli("replay", str(path), "--workers", "1", "-o", "none",
                     env={"HH_API_URL": emu.url, "HH_API_KEY": API_KEY, "HHSESSION_PROGRESS_INTERVAL": "0.2"})
    assert result.exit_code == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if " done (" in line]
    assert len(progress) >= 2
    assert re.match(r"hhsession: \d+ done \(\d+/s\): \d+ ok, 0 failed, 0 invalid, 0 skipped; about .+ left$", progress[-1])
    assert "\x1b" not in result.stderr and "\r" not in result.stderr


# ----------------------------------------------------------------------------- warnings, collapsed


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


def test_warnings_count_what_was_not_shown_and_every_kind() -> None:
    env = _Env()
    warnings = Warnings(env)
    for kind in range(12):  # 12 kinds of 5 each: the 20 lines are spent on the first 10 kinds
        for n in range(5):
            warnings.warn(f"kind-{chr(97 + kind)}: problem {n}")
    shown = [line for line in env.said]
    assert len(shown) == SHOWN_IN_ALL
    warnings.close()
    summary = env.said[SHOWN_IN_ALL:]
    hidden = {line.split(" more like: ")[1].split(":")[0]: int(line.split()[0]) for line in summary if "more like" in line}
    # Kinds k and l were never shown (the 20 lines were spent): all 5 of each are counted, not 5 - 2.
    assert hidden == {"kind-k": 5, "kind-l": 5, **{k: 5 - SHOWN_PER_CAUSE for k in list(hidden)[2:]}}
    assert len(hidden) == 5
    rest = [line for line in summary if line.startswith("and ")]
    assert rest == [f"and {12 * 5 - SHOWN_IN_ALL - sum(hidden.values())} more of 7 other kinds"]


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


# ----------------------------------------------------------------------------- the summary line


def test_one_record_is_one_record(cli: Invoker, emulator: Emulator, tmp_path: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 1)
    result = cli("replay", str(path), env={"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 0 and "replay: 1 record: 1 ok" in result.stderr
