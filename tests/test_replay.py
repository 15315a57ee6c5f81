"""`hhsession replay`: streamed, concurrent, resumable, never a second session per record."""

from __future__ import annotations

import json
import os
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from hhsession.emulator import Emulator
from hhsession.inputs import read_records
from hhsession.retry import Gate, RateLimiter
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer, Reply

SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"


def jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def results(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture
def emu_env(emulator: Emulator) -> dict[str, str]:
    return {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}


def test_jsonl_records_become_sessions(cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"s{i}", "metadata": {"i": i}} for i in range(20)] + [""])
    result = cli("replay", str(path), "--source", "backfill", "-m", "replayed:=true", env=emu_env)
    assert result.exit_code == 0, result.stderr
    lines = results(result.stdout)
    assert len(lines) == 20 and {line["status"] for line in lines} == {"ok"}
    assert {line["source"] for line in lines} == {f"{path}:{i}" for i in range(1, 21)}
    assert emulator.store.count() == 20
    stored = emulator.store.get(lines[0]["session_id"])
    assert stored is not None and stored["source"] == "backfill" and stored["metadata"]["replayed"] is True
    assert "replay: 20 records: 20 ok" in result.stderr


def test_json_array_file_is_streamed_with_line_numbers(cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text('[\n  {"session_name": "a"},\n  {\n    "session_name": "b",\n    "metadata": {"k": [1, 2]}\n  },\n  {"session_name": "c"}\n]\n')
    result = cli("replay", str(path), env=emu_env)
    assert result.exit_code == 0, result.stderr
    assert sorted(line["source"] for line in results(result.stdout)) == [f"{path}:2", f"{path}:3", f"{path}:7"]
    assert emulator.store.count() == 3


def test_standard_input_when_no_path(cli: Invoker, emulator: Emulator, emu_env: dict[str, str]) -> None:
    result = cli("replay", input='{"session_name": "x"}\n{"session_name": "y"}\n', env=emu_env)
    assert result.exit_code == 0, result.stderr
    assert sorted(line["source"] for line in results(result.stdout)) == ["-:1", "-:2"]


def test_invalid_records_are_reported_and_do_not_stop_the_run(
    cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "r.jsonl", [
        {"session_name": "good"},
        {"session_name": "secs", "start_time": 1764151200},
        "not json",
        [1],
        {"sessionName": "typo"},
        {"session_name": "good2"},
    ])
    failures = tmp_path / "failed.jsonl"
    result = cli("replay", str(path), "--failures", str(failures), env=emu_env)
    assert result.exit_code == 6
    by_source = {line["source"]: line for line in results(result.stdout)}
    assert by_source[f"{path}:2"]["status"] == "invalid"
    assert "looks like Unix seconds" in by_source[f"{path}:2"]["error"]
    assert "invalid JSON at line 1 column 1" in by_source[f"{path}:3"]["error"]
    assert "got an array" in by_source[f"{path}:4"]["error"]
    assert "did you mean session_name?" in by_source[f"{path}:5"]["error"]
    assert emulator.store.count() == 2
    assert "replay: 6 records: 2 ok, 4 invalid" in result.stderr
    failed = results(failures.read_text())
    assert [f["source"] for f in failed] == [f"{path}:{n}" for n in (2, 3, 4, 5)]
    assert failed[0]["record"] == {"session_name": "secs", "start_time": 1764151200}
    assert failed[1]["record"] == "not json"

    # Fix the failures file and replay it as it is: its lines are unwrapped.
    fixed = failures.read_text().replace(":1764151200}", ':"1764151200s"}').replace('"sessionName"', '"session_name"')
    failures.write_text(fixed)
    again = cli("replay", str(failures), env=emu_env)
    assert again.exit_code == 6  # "not json" and [1] are still invalid
    assert [line["status"] for line in results(again.stdout)].count("ok") == 2
    assert emulator.store.count() == 4


def test_bad_arguments_are_exit_2_and_send_nothing(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    env = {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY}
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}])
    for args, message in [
        (["--shard", "4/4"], "--shard '4/4': K must be from 0 to N-1"),
        (["--shard", "x"], "--shard 'x': expected K/N"),
        (["/no/such.jsonl"], "/no/such.jsonl: no such file"),
        ([str(tmp_path)], "is a directory; see hhsession replay --help"),
        (["-", "-"], "standard input) is given more than once"),
        (["--workers", "0"], "Invalid value for '--workers'"),
        (["-m", "oops"], "--metadata 'oops': expected key=value"),
    ]:
        result = cli("replay", *([] if args[0].startswith(("/", "-")) and not args[0].startswith("--") else [str(path)]), *args, env=env)
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr
    not_journal = tmp_path / "notes.txt"
    not_journal.write_text("hello\n")
    result = cli("replay", str(path), "--journal", str(not_journal), env=env)
    assert result.exit_code == 2 and "is not an hhsession replay journal" in result.stderr
    assert fake.requests == []


def test_a_missing_later_file_sends_nothing(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}])
    result = cli("replay", str(path), str(tmp_path / "missing.jsonl"), env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2 and "missing.jsonl: no such file" in result.stderr
    assert fake.requests == []


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


# ----------------------------------------------------------------------------- resuming


# ----------------------------------------------------------------------------- options


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
    again = cli("replay", str(path), env={**emu_env, "HH_SOURCE": "second-run"})
    assert again.exit_code == 0  # merged into the existing session, and the summary says so
    assert "(1 of the ok already existed on the server" in again.stderr
    journal = tmp_path / "j"
    first = results(cli("replay", str(path), "--new-ids", "--journal", str(journal), env=emu_env).stdout)
    assert first[0]["session_id"] != SID
    assert emulator.store.count() == 2
    dry = results(cli("replay", str(path), "--new-ids", "--journal", str(journal), "--dry-run", env=emu_env).stdout)
    assert dry == []  # already done per the journal: nothing to print


def test_dry_run_prints_payloads_needs_no_key_and_sends_nothing(cli: Invoker, fake: FakeServer, tmp_path: Path, request_schema: dict[str, Any]) -> None:
    import jsonschema

    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a", "start_time": "2026-11-26T10:00:00Z"}, {"start_time": 5}])
    result = cli("replay", str(path), "--dry-run", env={"HH_API_URL": fake.url})
    assert result.exit_code == 6
    (payload,) = results(result.stdout)
    assert payload["start_time"] == 1795687200000 and payload["event_name"] == "a"
    jsonschema.validate(payload, request_schema)
    assert f"warning: {path}:2: invalid: start_time: 5 looks like Unix seconds" in result.stderr
    assert "replay --dry-run: 2 records: 1 valid, 1 invalid, 0 skipped; nothing sent" in result.stderr
    assert fake.connections == 0


def test_fail_fast_stops_at_the_first_bad_record(cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}, {"bad": 1}] + [{"session_name": f"r{i}"} for i in range(200)])
    result = cli("replay", str(path), "--fail-fast", "--workers", "1", env=emu_env)
    assert result.exit_code == 6
    assert "stopped: --fail-fast" in result.stderr
    assert emulator.store.count() < 50


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


def test_memory_stays_flat_whatever_the_input_size(tmp_path: Path) -> None:
    def peak_for(count: int) -> int:
        path = tmp_path / f"{count}.jsonl"
        with path.open("w") as handle:
            for i in range(count):
                handle.write(json.dumps({"session_name": f"r{i}", "metadata": {"pad": "x" * 200}}) + "\n")
        tracemalloc.start()
        seen = sum(1 for _ in read_records([str(path)], None))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert seen == count
        return peak

    small, large = peak_for(2_000), peak_for(40_000)
    assert large < small * 2  # 20 times the records, not 20 times the memory


def test_array_reader_is_incremental(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("w") as handle:
        handle.write("[")
        for i in range(30_000):
            handle.write(("," if i else "") + json.dumps({"session_name": f"r{i}", "inputs": {"pad": "y" * 100}}))
        handle.write("]")
    tracemalloc.start()
    count = sum(1 for _ in read_records([str(path)], None))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 30_000
    assert peak < path.stat().st_size / 2  # never the whole file at once


def test_cut_short_array_ends_with_an_invalid_record(cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('[{"session_name": "a"},\n {"session_name": "b"')
    records = list(read_records([str(path)], None))
    assert records[0].value == {"session_name": "a"}
    assert records[1].location == f"{path}:2" and "invalid JSON in the array" in (records[1].error or "")
    more = jsonl(tmp_path / "more.jsonl", [{"session_name": "c"}])
    result = cli("replay", str(path), str(more), env=emu_env)
    assert result.exit_code == 6  # the good records were sent; the run went on to the next file
    assert emulator.store.count() == 2
    assert "replay: 3 records: 2 ok, 1 invalid" in result.stderr


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


def test_unwritable_failures_file_is_exit_2(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}])
    result = cli("replay", str(path), "--failures", str(tmp_path / "no" / "dir" / "f.jsonl"),
                 env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2
    assert "cannot write it (No such file or directory)" in result.stderr
    assert fake.requests == []


def test_a_pretty_printed_object_is_explained(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text('{\n  "session_name": "x"\n}\n')
    result = cli("replay", str(path), env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 6
    first = results(result.stdout)[0]
    assert first["source"] == f"{path}:1" and "use hhsession start -f" in first["error"]
    assert fake.requests == []


def test_library_use_without_the_cli(emulator: Emulator, tmp_path: Path) -> None:
    from hhsession import Client

    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"lib{i}"} for i in range(5)])
    seen: list[str] = []
    with Client(api_url=emulator.url, api_key=API_KEY) as client:
        summary = client.replay(read_records([str(path)], None), workers=2, on_result=lambda o: seen.append(o.status))
    assert summary.counts["ok"] == 5 and seen == ["ok"] * 5
    assert emulator.store.count() == 5


def test_a_worker_that_breaks_ends_the_run_instead_of_hanging(emulator: Emulator, tmp_path: Path) -> None:
    import threading

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


def test_a_server_that_is_down_stops_the_run_with_exit_5(cli: Invoker, free_port: int, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(500)])
    env = {"HH_API_URL": f"http://127.0.0.1:{free_port}", "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"}
    result = cli("replay", str(path), "--workers", "2", env=env)
    assert result.exit_code == 5
    assert "records in a row could not reach the server" in result.stderr
    assert "connection refused" in result.stderr
    assert len(results(result.stdout)) < 30  # stopped early, not 500 failures
