"""From a third hostile review of replay: stops, sending processes, long waits, changed inputs, output."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hhsession import Client
from hhsession.cli.progress import SHOWN_IN_ALL, SHOWN_PER_CAUSE, Warnings
from hhsession.context import Environment
from hhsession.emulator import Emulator
from hhsession.errors import NetworkError
from hhsession.inputs import read_records
from hhsession.retry import RetryPolicy
from hhsession.transport import _Watchdog
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer, Reply

LINUX = sys.platform.startswith("linux")


def records(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(count)))
    return path


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


# ----------------------------------------------------------------------------- sending processes


# ----------------------------------------------------------------------------- the server says wait


def test_a_long_retry_after_stops_the_replay_with_when_to_resume(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = records(tmp_path / "r.jsonl", 200)
    fake.default = Reply(429, {"message": "quota"}, headers={"Retry-After": "3600"})
    result = cli("replay", str(path), "--workers", "4", "--journal", str(tmp_path / "j"),
                 env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 5, result.stderr
    assert "asks to wait 1 h" in result.stderr and "stopped; run the same command then to resume" in result.stderr
    assert len(fake.requests) <= 8  # not 200 records each told to wait an hour


def test_a_refused_key_is_in_the_failures_file_with_its_status(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = records(tmp_path / "r.jsonl", 3)
    fake.default = Reply(401, {"message": "bad key"})
    failures = tmp_path / "f.jsonl"
    result = cli("replay", str(path), "--workers", "1", "--failures", str(failures),
                 env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 3, result.stderr
    lines = [json.loads(line) for line in failures.read_text().splitlines()]
    assert lines and all(line["http_status"] == 401 for line in lines)


def test_a_refused_server_is_given_up_at_the_deadline_not_a_backoff_later(free_port: int) -> None:
    """With a backoff of 40 s, a server refusing connections is still given up at the 1 s deadline."""
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    policy = RetryPolicy(max_retries=5, base_delay=40, max_delay=40, jitter=lambda: 0.5, clock=lambda: now[0], sleep=sleep)
    hh = Client(api_key=API_KEY, api_url=f"http://127.0.0.1:{free_port}", allow_http=True, retry=policy)
    hh.refused_deadline = 1.0
    with hh, pytest.raises(NetworkError) as caught:
        hh.start(session_name="x")
    assert caught.value.refused
    assert slept and max(slept) <= 1.0, slept


# ----------------------------------------------------------------------------- inputs and output


def test_an_input_changed_during_the_run_is_said(tmp_path: Path, emulator: Emulator) -> None:
    path = records(tmp_path / "r.jsonl", 5)
    warned: list[str] = []

    def rewrite(outcome: Any) -> None:
        if outcome.record.index == 0:
            path.write_text(path.read_text() + '{"session_name": "late"}\n')

    with Client(api_key=API_KEY, api_url=emulator.url, warn=warned.append, allow_http=True) as hh:
        hh.replay(read_records([str(path)]), workers=1, on_result=rewrite)
        assert [w for w in warned if "changed while it was replayed" in w and str(path) in w]
        warned.clear()
        hh.replay(read_records([str(path)]), workers=1)
    assert not [w for w in warned if "changed" in w]


class _Env(Environment):
    def __init__(self) -> None:
        super().__init__(io.BytesIO(), io.StringIO(), io.StringIO(), env={})
        self.said: list[str] = []

    def warn(self, message: str) -> None:
        self.said.append(message)


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


def test_the_watchdog_keeps_about_the_running_attempts() -> None:
    dog = _Watchdog()
    for _ in range(5000):
        entry = dog.watch(time.monotonic() + 3600)
        entry.active = False  # done long before its deadline
    assert len(dog._heap) < 2100


def test_dry_runs_print_what_was_asked_and_keep_failures(cli: Invoker, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"session_name": "a"}\n{"sessionName": "typo"}\n')
    failures = tmp_path / "f.jsonl"
    quiet = cli("replay", str(path), "--dry-run", "-o", "none", "--failures", str(failures))
    assert quiet.exit_code == 6 and quiet.stdout == ""
    assert "replay --dry-run: 2 records: 1 valid, 1 invalid" in quiet.stderr
    [line] = [json.loads(text) for text in failures.read_text().splitlines()]
    assert line["status"] == "invalid" and line["record"] == {"sessionName": "typo"}
    assert "did you mean session_name" in line["error"]

    sid = "0b0d1f56-8a3c-4f4e-9d0f-6a1f5b6f0a11"
    assert cli("start", "--session-id", sid, "--dry-run", "-o", "id").stdout == sid + "\n"
    env_lines = cli("start", "--session-id", sid, "--start-time", "1764151200000", "--dry-run", "-o", "env").stdout
    assert env_lines == f"HH_SESSION_ID={sid}\nHH_SESSION_EVENT_ID={sid}\nHH_SESSION_START_TIME=1764151200000\n"
    assert cli("start", "--dry-run", "-o", "none").stdout == ""
    assert cli("end", sid, "--dry-run", "-o", "none").stdout == ""
    assert json.loads(cli("end", sid, "--dry-run").stdout)["session_id"] == sid


@pytest.mark.parametrize("flag", ["--name", "--event-name", "--source", " --source"])
def test_an_empty_name_is_refused_as_an_unset_variable(cli: Invoker, fake: FakeServer, tmp_path: Path, flag: str) -> None:
    if flag.startswith(" "):  # replay: refused once, before any record, not once per record
        path = records(tmp_path / "r.jsonl", 3)
        result = cli("replay", str(path), flag.strip(), "  ", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    else:
        result = cli("start", flag, "", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "is empty: an unset shell variable?" in result.stderr
    assert fake.requests == []


def test_an_empty_shard_is_refused_not_read_as_every_record(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    """`--shard "$K/$N"` with both unset is "/"; `--shard "$SHARD"` unset is "": neither means "all of it"."""
    path = records(tmp_path / "r.jsonl", 3)
    for value in ("", "/"):
        result = cli("replay", str(path), "--shard", value, env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
        assert result.exit_code == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "--shard" in result.stderr
    assert "is empty: an unset shell variable?" in cli("replay", str(path), "--shard", "").stderr
    assert fake.requests == []


@pytest.mark.parametrize("args", [["start", "-n", "x", "--child", ""], ["start", "-n", "x", "--children-ids", '["a", " "]'],
                                  ["end", "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17", "--child", "  "]])
def test_an_empty_child_id_is_refused(cli: Invoker, fake: FakeServer, args: list[str]) -> None:
    result = cli(*args, env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "is empty" in result.stderr
    assert fake.requests == []


def test_an_empty_session_id_to_end_is_refused(cli: Invoker, fake: FakeServer) -> None:
    result = cli("end", "", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "no session to end" in result.stderr
    assert fake.requests == []


def test_one_record_is_one_record(cli: Invoker, emulator: Emulator, tmp_path: Path) -> None:
    path = records(tmp_path / "r.jsonl", 1)
    result = cli("replay", str(path), env={"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 0 and "replay: 1 record: 1 ok" in result.stderr
