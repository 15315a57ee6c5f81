"""How replay sends (SPEC §3 replay, §5): workers on kept-alive connections, the 429 gate, --rate,
--shard, --new-ids, --fail-fast, --dry-run, no key, a server that is down, refuses or fails some."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hhsession import Client
from hhsession.emulator import Emulator, Faults
from hhsession.inputs import read_records
from hhsession.retry import Gate, RateLimiter
from tests.conftest import API_KEY, Invoker, validate
from tests.fakeserver import FakeServer, Reply
from tests.replay.conftest import SID, jsonl, numbered, results

# ----------------------------------------------------------------------------- workers and pacing


def test_workers_share_keep_alive_connections(cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(120)])
    result = cli("replay", str(path), "--workers", "4", "-o", "none", env=emu_env)
    assert result.exit_code == 0 and result.stdout == ""
    assert emulator.store.count() == 120
    assert emulator.connections <= 4  # one keep-alive connection per worker, not one per session


def test_a_429_pauses_every_worker(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(12)])
    fake.script = [Reply(429, headers={"Retry-After": "1"})]
    result = cli("replay", str(path), "--workers", "4", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 0, result.stderr
    throttled = fake.requests[0].at
    later = [r.at for r in fake.requests[1:]]
    # Requests in flight, or started in the instant before the gate closed, may
    # land; after that nobody starts one until Retry-After has passed.
    # (On a loaded machine a worker that passed the gate just before it closed may
    # be late on the wire: at most one per other worker.)
    paused = [at for at in later if 0.1 < at - throttled < 0.95]
    assert len(paused) <= 3
    # Without the gate, only the throttled record would wait (the others' workers go on at once);
    # with it, each worker's next request does. (How many slip in just before it closes depends on
    # the machine's load, so the count is not held to more.)
    assert sum(1 for at in later if at - throttled >= 0.95) >= 4
    assert len(fake.sessions) == 12


def test_rate_limiter_spaces_starts() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert waits == [0.25, 0.5, 0.75, 1.0]


def test_gate_holds_everyone_until_released() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    gate = Gate(clock=lambda: now[0], sleep=sleep)
    assert gate.wait() == 0
    gate.hold(2.0)
    assert gate.wait() == pytest.approx(2.0)
    assert now[0] == pytest.approx(2.0)


def test_a_long_retry_after_stops_the_replay_with_when_to_resume(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 200)
    fake.default = Reply(429, {"message": "quota"}, headers={"Retry-After": "3600"})
    result = cli("replay", str(path), "--workers", "4", "--journal", str(tmp_path / "j"),
                 env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 5, result.stderr
    assert "asks to wait 1 h" in result.stderr and "stopped; run the same command then to resume" in result.stderr
    assert len(fake.requests) <= 8  # not 200 records each told to wait an hour


# ----------------------------------------------------------------------------- what to send: shards, new ids, fail-fast, dry runs


def test_shards_split_the_records_without_overlap(cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(10)])
    seen: list[str] = []
    for k in range(3):
        result = cli("replay", str(path), "--shard", f"{k}/3", env=emu_env)
        assert result.exit_code == 0
        seen += [line["source"] for line in results(result.stdout)]
    assert sorted(seen) == sorted(f"{path}:{i}" for i in range(1, 11))
    assert len(seen) == 10 and emulator.store.count() == 10


def test_new_ids_replay_a_recording_as_new_sessions(cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_id": SID, "session_name": "recorded"}])
    assert cli("replay", str(path), env=emu_env).exit_code == 0
    rerun = cli("replay", str(path), env={**emu_env, "HH_SOURCE": "second-run"})
    assert rerun.exit_code == 0 and "1 skipped" in rerun.stderr  # the default journal: done is done
    again = cli("replay", str(path), "--no-journal", env={**emu_env, "HH_SOURCE": "second-run"})
    assert again.exit_code == 0  # merged into the existing session, and the summary says so
    assert "(1 of the ok already existed on the server" in again.stderr
    journal = tmp_path / "j"
    first = results(cli("replay", str(path), "--new-ids", "--journal", str(journal), env=emu_env).stdout)
    assert first[0]["session_id"] != SID
    assert emulator.store.count() == 2
    dry = results(cli("replay", str(path), "--new-ids", "--journal", str(journal), "--dry-run", env=emu_env).stdout)
    assert dry == []  # already done per the journal: nothing to print


def test_fail_fast_stops_at_the_first_bad_record(cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}, {"bad": 1}] + [{"session_name": f"r{i}"} for i in range(200)])
    result = cli("replay", str(path), "--fail-fast", "--workers", "1", env=emu_env)
    assert result.exit_code == 6
    assert "stopped: --fail-fast" in result.stderr
    assert emulator.store.count() < 50


def test_dry_run_prints_payloads_needs_no_key_and_sends_nothing(cli: Invoker, fake: FakeServer, tmp_path: Path, request_schema: dict[str, Any]) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a", "start_time": "2026-11-26T10:00:00Z"}, {"start_time": 5}])
    result = cli("replay", str(path), "--dry-run", env={"HH_API_URL": fake.url})
    assert result.exit_code == 6
    (payload,) = results(result.stdout)
    assert payload["start_time"] == 1795687200000 and payload["event_name"] == "a"
    validate(payload, request_schema)
    assert f"warning: {path}:2: invalid: start_time: 5 looks like Unix seconds" in result.stderr
    assert "replay --dry-run: 2 records: 1 valid, 1 invalid, 0 skipped; nothing sent" in result.stderr
    assert fake.connections == 0


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


# ----------------------------------------------------------------------------- no key, a refused key, rejected records


def test_no_key_is_exit_3_and_auth_failure_stops_the_run(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": str(i)} for i in range(50)])
    result = cli("replay", str(path), env={"HH_API_URL": fake.url})
    assert result.exit_code == 3 and "no API key" in result.stderr and fake.requests == []
    fake.script = [Reply(401, {"message": "bad key"})] * 100
    result = cli("replay", str(path), "--workers", "2", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 3
    assert "refused the API key for POST " in result.stderr and "/v1/sessions (401 X: bad key)" in result.stderr
    assert len(fake.requests) < 10  # stopped, not 50 times the same refusal
    # Said once, by the run's error: not again for each record that was in flight.
    assert result.stderr.count("refused the API key") == 1, result.stderr


def test_rejected_records_are_failed_and_the_key_never_leaks(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}, {"session_name": "b"}])
    failures = tmp_path / "failed.jsonl"
    fake.script = [Reply(400, {"message": f"bad request from {API_KEY}"})]
    env = {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY}
    result = cli("replay", str(path), "--workers", "1", "--failures", str(failures), "-v", env=env)
    assert result.exit_code == 6
    lines = results(result.stdout)
    assert sorted(line["status"] for line in lines) == ["failed", "ok"]
    (failed,) = results(failures.read_text())
    assert failed["http_status"] == 400 and "the server rejected the session" in failed["error"]
    everything = result.stdout + result.stderr + failures.read_text()
    assert API_KEY not in everything and "hh_…TKEY" in everything


# ----------------------------------------------------------------------------- a server that is down, refuses or fails some


def test_a_server_that_is_down_stops_the_run_with_exit_5(cli: Invoker, free_port: int, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(500)])
    env = {"HH_API_URL": f"http://127.0.0.1:{free_port}", "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"}
    result = cli("replay", str(path), "--workers", "2", env=env)
    assert result.exit_code == 5
    assert "records in a row could not reach the server" in result.stderr
    assert "connection refused" in result.stderr
    assert len(results(result.stdout)) < 30  # stopped early, not 500 failures


def test_a_server_that_refuses_everything_is_given_up_on_in_seconds_with_a_few_lines(cli: Invoker, free_port: int, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(33)))
    started = time.monotonic()
    result = cli("replay", str(path), "-o", "none", env={"HH_API_URL": f"http://127.0.0.1:{free_port}", "HH_API_KEY": API_KEY})
    took = time.monotonic() - started
    assert result.exit_code == 5, result.stderr
    assert took < 10  # about 5 s, not 3.5 s for every record
    assert "refused every connection for 5 s" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 9, result.stderr  # a handful, not one per record


@pytest.mark.parametrize("records", [1, 3])
def test_a_short_replay_to_a_refusing_server_is_a_network_failure_too(cli: Invoker, free_port: int, tmp_path: Path, records: int) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(records)))
    result = cli("replay", str(path), "-o", "none", "--max-retries", "1",
                       env={"HH_API_URL": f"http://127.0.0.1:{free_port}", "HH_API_KEY": API_KEY})
    assert result.exit_code == 5, result.stderr  # as a long one is: not 6, "some records failed"
    assert f"replay: {records} record" in result.stderr and f"0 ok, {records} failed" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "hhsession: error: no record got through: each failed for the network or the server (see the warnings "
        "above); check that the server is up and that --api-url is right, then run the same command again "
        "(its journal skips what is done)")


def test_invalid_records_beside_a_down_server_are_exit_6(cli: Invoker, free_port: int, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"session_name": "a"}\n{"start_time": "bogus"}\n')
    result = cli("replay", str(path), "-o", "none", "--max-retries", "0",
                       env={"HH_API_URL": f"http://127.0.0.1:{free_port}", "HH_API_KEY": API_KEY})
    assert result.exit_code == 6, result.stderr  # not every failure was the network's: rerunning will not fix it
    assert "no record got through" not in result.stderr


def test_a_replay_where_some_records_got_through_is_exit_6(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(2)))
    fake.script = [Reply(200), Reply(503), Reply(503)]
    result = cli("replay", str(path), "--workers", "1", "--max-retries", "1", "-o", "none",
                 env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 6 and "1 ok, 1 failed" in result.stderr and "no record got through" not in result.stderr


def test_a_fifth_of_503s_still_delivers_every_record(cli: Invoker, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(60)))
    # With 4 attempts a record fails all of them once in 625 (0.2 ** 4): across 60 records, one run in ten
    # (the seed fixes the draws, not which record's attempt gets which: that is the workers' timing). With
    # 9 attempts, one run in 30,000.
    with Emulator(port=0, faults=Faults(fail_rate=0.2, fail_status=503, retry_after=0), seed=7) as emu:
        result = cli("replay", str(path), "-o", "none", "--max-retries", "8",
                     env={"HH_API_URL": emu.url, "HH_API_KEY": API_KEY})
        assert result.exit_code == 0, result.stderr
        assert emu.store.count() == 60


# ----------------------------------------------------------------------------- the library


def test_library_use_without_the_cli(emulator: Emulator, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"lib{i}"} for i in range(5)])
    seen: list[str] = []
    with Client(api_url=emulator.url, api_key=API_KEY) as client:
        summary = client.replay(read_records([str(path)], None), workers=2, on_result=lambda o: seen.append(o.status))
    assert summary.counts["ok"] == 5 and seen == ["ok"] * 5
    assert emulator.store.count() == 5


def test_a_worker_that_breaks_ends_the_run_instead_of_hanging(emulator: Emulator, tmp_path: Path) -> None:
    from hhsession import Client

    class Broken(Client):
        def send_start(self, built: Any, **kwargs: Any) -> Any:
            raise RuntimeError("no client today")

    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(50)])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            Broken(api_url=emulator.url, api_key=API_KEY).replay(read_records([str(path)], None), workers=3)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the run hung"
    assert len(errors) == 1 and "no client today" in str(errors[0])
