"""One replay over several processes (issue 10): every guarantee of a one-process run holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hhsession.emulator import Emulator, Faults
from hhsession.fanout import MIN_BYTES_FOR_PROCESSES, processes_for
from hhsession.inputs import read_records
from hhsession.replay import ReplayOptions
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer, Reply


def records(path: Path, count: int, **extra: Any) -> Path:
    path.write_text("".join(json.dumps({"session_name": f"r{i}", **extra}) + "\n" for i in range(count)))
    return path


def results(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_how_many_processes(tmp_path: Path) -> None:
    small = records(tmp_path / "small.jsonl", 10)
    big = tmp_path / "big.jsonl"
    big.write_bytes(b'{"session_name": "x"}\n' * (MIN_BYTES_FOR_PROCESSES // 20))
    cpus = os.cpu_count() or 1
    assert processes_for(read_records([str(small)]), ReplayOptions()) == 1  # not worth starting more
    assert processes_for(read_records([str(big)]), ReplayOptions()) == (min(cpus, 4) if cpus > 1 else 1)
    assert processes_for(read_records([str(big)]), ReplayOptions(dry_run=True)) == 1
    assert processes_for(read_records(["-"]), ReplayOptions(processes=3)) == 1  # standard input: one reader
    assert processes_for([{"session_name": "x"}], ReplayOptions(processes=3)) == 1
    assert processes_for(read_records([str(small)]), ReplayOptions(processes=3)) == 3
    assert processes_for(read_records([str(small)]), ReplayOptions(processes=9, workers=2)) == 2
    assert processes_for(read_records([str(big)]), ReplayOptions(rate=10)) == 1


def test_every_record_once_with_its_journal_failures_and_results(
    cli: Invoker, emulator: Emulator, tmp_path: Path
) -> None:
    path = records(tmp_path / "r.jsonl", 300)
    with path.open("a") as handle:
        handle.write('{"session_name": "bad", "start_time": 5}\n{"sessionName": "typo"}\n')
    env = {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    journal, failures = tmp_path / "j", tmp_path / "f.jsonl"
    first = cli("replay", str(path), "--processes", "3", "--workers", "6", "--journal", str(journal),
                "--failures", str(failures), "--shard", "0/1", env=env)
    assert first.exit_code == 6, first.stderr
    lines = results(first.stdout)
    assert len(lines) == 302 and len({line["source"] for line in lines}) == 302
    assert sum(line["status"] == "ok" for line in lines) == 300 and emulator.store.count() == 300
    assert len(results(failures.read_text())) == 2
    again = cli("replay", str(path), "--processes", "2", "--journal", str(journal), env=env)
    assert [line["status"] for line in results(again.stdout)].count("skipped") == 300
    assert emulator.store.count() == 300
    # The ids a one-process run would give: the journal decides, not the number of processes.
    single = cli("replay", str(path), "--processes", "1", "--journal", str(journal), env=env)
    assert {line["session_id"] for line in results(single.stdout) if line["status"] == "skipped"} == {
        line["session_id"] for line in lines if line["status"] == "ok"}


def test_a_user_shard_is_split_again_over_the_processes(cli: Invoker, emulator: Emulator, tmp_path: Path) -> None:
    path = records(tmp_path / "r.jsonl", 103)
    env = {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    seen: list[str] = []
    for k in range(3):
        result = cli("replay", str(path), "--shard", f"{k}/3", "--processes", "2", env=env)
        assert result.exit_code == 0, result.stderr
        seen += [line["source"] for line in results(result.stdout)]
    assert sorted(seen) == sorted(f"{path}:{i}" for i in range(1, 104))


def test_a_refused_key_stops_every_process(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = records(tmp_path / "r.jsonl", 400)
    fake.script = [Reply(401, {"message": "bad key"})] * 1000
    result = cli("replay", str(path), "--processes", "2", "--workers", "4",
                 env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 3 and "refused the API key for POST " in result.stderr and "/v1/sessions (401 X: bad key)" in result.stderr
    assert len(fake.requests) < 40  # stopped, not 400 times the same refusal
    assert "Traceback" not in result.stderr


def test_a_429_pauses_every_process(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = records(tmp_path / "r.jsonl", 16)
    fake.script = [Reply(429, headers={"Retry-After": "1"})]
    result = cli("replay", str(path), "--processes", "2", "--workers", "4", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 0, result.stderr
    throttled = fake.requests[0].at
    later = [r.at for r in fake.requests[1:]]
    assert len([at for at in later if 0.2 < at - throttled < 0.95]) <= 4  # only requests already past the gate
    assert len(fake.sessions) == 16


def test_fail_fast_stops_every_process(cli: Invoker, emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"bad": 1}\n' + "".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(2000)))
    result = cli("replay", str(path), "--processes", "2", "--workers", "2", "--fail-fast",
                 env={"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 6 and "stopped: --fail-fast" in result.stderr
    assert emulator.store.count() < 1000


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_or_killed_then_resumed_gives_one_session_per_record(tmp_path: Path, sig: int) -> None:
    count = 600
    path = records(tmp_path / "r.jsonl", count)
    journal = tmp_path / "j"
    with Emulator(port=0, faults=Faults(latency_ms=30)) as emu:
        env = {**os.environ, "HH_API_URL": emu.url, "HH_API_KEY": API_KEY}
        command = [sys.executable, "-m", "hhsession", "replay", str(path), "--journal", str(journal),
                   "--processes", "2", "--workers", "4", "-o", "none"]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 30
        while emu.store.count() < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        if sig != signal.SIGKILL:
            assert proc.returncode == 128 + sig, err
            assert ("interrupted" if sig == signal.SIGINT else "stopped by SIGTERM") in err and "Traceback" not in err
        time.sleep(0.5)  # a killed parent's senders are killed with it (Linux) or find their pipe closed
        settled = emu.store.count()
        time.sleep(0.5)
        assert emu.store.count() == settled < count  # nothing goes on sending behind the user's back
        emu.faults.latency_ms = 0
        resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        assert emu.store.count() == count  # none lost, none twice


def test_a_sending_process_gets_a_client_like_the_callers() -> None:
    """What builds the clients of the sending processes keeps every setting: the CA bundle, the whole retry policy."""
    import pickle

    from hhsession import Client
    from hhsession.retry import RetryPolicy

    # A caller's test clock cannot be pickled (a lambda), nor should it run another process's waits.
    policy = RetryPolicy(max_retries=7, base_delay=0.01, max_retry_after=5, sleep=lambda seconds: None)
    client = Client(api_key=API_KEY, api_url="https://api.example.com", timeout=7, source="ci", ca_bundle="/etc/ca.pem",
                    retry=policy, environ={"NO_PROXY": "*"})
    copy = Client(**pickle.loads(pickle.dumps(client.copy_arguments())))  # as spawn would send it
    for name in ("api_key", "api_url", "timeout", "connect_timeout", "source", "ca_bundle", "allow_http", "url_origin"):
        assert getattr(copy, name) == getattr(client, name), name
    assert (copy.retry.max_retries, copy.retry.base_delay, copy.retry.max_retry_after) == (7, 0.01, 5)
    assert copy.retry.sleep is time.sleep and dict(copy.environ) == {"NO_PROXY": "*"}


def test_a_library_replay_over_spawned_processes_with_a_callers_retry_policy(emulator: Emulator, tmp_path: Path) -> None:
    """The emulator's thread makes this process spawn its senders: what they get must pickle, a lambda included."""
    from hhsession import Client
    from hhsession.retry import RetryPolicy

    path = records(tmp_path / "r.jsonl", 40)
    before = signal.getsignal(signal.SIGINT)
    policy = RetryPolicy(max_retries=2, sleep=lambda seconds: time.sleep(seconds))
    with Client(api_key=API_KEY, api_url=emulator.url, retry=policy) as hh:
        summary = hh.replay(read_records([str(path)]), processes=2, workers=4, journal=tmp_path / "j")
    assert summary.counts["ok"] == 40 and emulator.store.count() == 40
    assert signal.getsignal(signal.SIGINT) is before


def test_a_sender_that_cannot_be_started_gives_the_caller_its_handlers_back(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing

    from hhsession import Client, fanout

    class Broken:
        def __getattr__(self, name: str) -> Any:
            return getattr(multiprocessing.get_context("spawn"), name)

        def Process(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - multiprocessing's name
            raise OSError("no more processes")

    monkeypatch.setattr(fanout, "_context", Broken)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with Client(api_key=API_KEY, api_url=emulator.url) as hh, pytest.raises(OSError, match="no more processes"):
        hh.replay(read_records([str(records(tmp_path / "r.jsonl", 10))]), processes=2)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert emulator.store.count() == 0
