"""Replay at its edges (SPEC §2 "Numbers and sizes", §3 replay): identity in the journal,
inputs that never end, records that cannot be read, a large journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hhsession.emulator import Emulator
from hhsession.inputs import MAX_INPUT_BYTES, read_records
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer


def results(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture
def emu_env(emulator: Emulator) -> dict[str, str]:
    return {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}


# ----------------------------------------------------------------------------- identity


# ----------------------------------------------------------------------------- inputs that never end


@pytest.mark.parametrize("dry_run", [False, True])
def test_dev_zero_ends_as_one_invalid_record_and_the_run_goes_on(tmp_path: Path, dry_run: bool, emulator: Emulator) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"session_name": "after"}\n')
    env = {**os.environ, "HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "hhsession", "replay", "/dev/zero", str(good), *(["--dry-run"] if dry_run else [])],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert time.monotonic() - started < 60
    assert result.returncode == 6, result.stderr
    assert "/dev/zero:1" in result.stdout + result.stderr and "longer than 16 MiB" in result.stdout + result.stderr
    if not dry_run:
        assert emulator.store.count() == 1


def test_a_giant_line_ends_its_input(tmp_path: Path) -> None:
    path = tmp_path / "giant.jsonl"
    with path.open("wb") as handle:
        handle.write(b'{"session_name": "first"}\n{"inputs": "' + b"x" * (MAX_INPUT_BYTES + 10) + b'"}\n{"session_name": "never"}\n')
    records = list(read_records([str(path)], None))
    assert [r.value for r in records[:1]] == [{"session_name": "first"}]
    assert len(records) == 2 and records[1].location == f"{path}:2" and "longer than 16 MiB" in (records[1].error or "")


@pytest.mark.parametrize("lead", [b" " * 5000, b"\n" * 5000, b"\n", b"\xef\xbb\xbf\r\n\t "])
def test_an_array_after_any_amount_of_white_space_is_an_array(tmp_path: Path, lead: bytes) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(lead + b'[\n  {"session_name": "a"},\n  {"session_name": "b"}\n]\n')
    records = list(read_records([str(path)], None))
    assert [r.value for r in records] == [{"session_name": "a"}, {"session_name": "b"}]
    first_line = lead.count(b"\n") + 2
    assert records[0].location == f"{path}:{first_line}"


def test_an_array_from_a_pipe_whose_first_write_is_a_newline(tmp_path: Path) -> None:
    reader, writer = os.pipe()
    code = (
        "import os, sys, time\n"
        f"fd = {writer}\n"
        "os.write(fd, b'\\n'); time.sleep(0.3)\n"
        "os.write(fd, b'[{\"session_name\": \"a\"},\\n {\"session_name\": \"b\"}]\\n'); os.close(fd)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=(writer,))
    os.close(writer)
    with os.fdopen(reader, "rb") as stream:
        records = list(read_records(["-"], stream))
    proc.wait(timeout=10)
    assert [r.value for r in records] == [{"session_name": "a"}, {"session_name": "b"}]
    assert all(r.error is None for r in records)


# ----------------------------------------------------------------------------- records that cannot be read


def test_a_record_nested_too_deep_is_one_invalid_record(cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.json"
    path.write_text(f'[{{"session_name": "before"}}, {{"inputs": {{"x": {deep}}}}}, {{"session_name": "after"}}]')
    lines = tmp_path / "deep.jsonl"
    lines.write_text(f'{{"inputs": {{"x": {deep}}}}}\n{{"session_name": "after2"}}\n')
    result = cli("replay", str(path), str(lines), env=emu_env)
    assert result.exit_code == 6, result.stderr
    statuses = {line["source"].rsplit("/", 1)[1]: line for line in results(result.stdout)}
    assert statuses["deep.json:1"]["status"] in ("ok", "invalid")
    invalid = [line for line in results(result.stdout) if line["status"] == "invalid"]
    assert len(invalid) == 2 and all("nested too deep" in line["error"] for line in invalid)
    assert emulator.store.count() == 3
    assert "internal error" not in result.stderr


def test_a_5000_digit_number_is_one_invalid_record(cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text('[{"metadata": {"n": ' + "9" * 5000 + '}}, {"session_name": "after"}]')
    result = cli("replay", str(path), env=emu_env)
    assert result.exit_code == 6, result.stderr
    (bad,) = [line for line in results(result.stdout) if line["status"] == "invalid"]
    assert "4300 digits" in bad["error"]
    assert emulator.store.count() == 1


@pytest.mark.parametrize("value", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused_everywhere(cli: Invoker, fake: FakeServer, tmp_path: Path, value: str) -> None:
    env = {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY}
    doc = tmp_path / "doc.json"
    doc.write_text(f'{{"metadata": {{"x": {value}}}}}')
    started = cli("start", "-f", str(doc), env=env)
    assert started.exit_code == 2 and "invalid JSON" in started.stderr
    flag = cli("start", "-m", f"x:={value}", env=env)
    assert flag.exit_code == 2 and "invalid JSON" in flag.stderr
    records = tmp_path / "r.json"
    records.write_text(f'[{{"metadata": {{"x": {value}}}}}, {{"session_name": "ok"}}]')
    replayed = cli("replay", str(records), env=env)
    assert replayed.exit_code == 6
    assert [line["status"] for line in results(replayed.stdout)] == ["invalid", "ok"]
    assert len(fake.requests) == 1 and b"Infinity" not in fake.requests[0].body and b"NaN" not in fake.requests[0].body


# ----------------------------------------------------------------------------- a large journal


def test_the_16_mib_bound_holds_for_what_is_sent(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    count = 2_000_000  # "1e5," is 4 bytes in the file and "100000.0," 9 bytes on the wire
    doc = tmp_path / "doc.json"
    doc.write_text('{"inputs": {"v": [' + ",".join(["1e5"] * count) + "]}}")
    assert doc.stat().st_size < MAX_INPUT_BYTES
    result = cli("start", "-f", str(doc), env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2, result.stderr
    assert "more than 16 MiB" in result.stderr and fake.requests == []


def test_python_values_that_are_not_json_are_refused(fake: FakeServer) -> None:
    from hhsession import Client, InvalidInput

    with Client(api_url=fake.url, api_key=API_KEY) as hh:
        for bad in (float("nan"), float("inf"), object()):
            with pytest.raises(InvalidInput):
                hh.start(metadata={"x": bad})
    assert fake.requests == []


# ----------------------------------------------------------------------------- stopped from outside


def test_a_closed_stdout_is_not_a_success_and_the_journal_stays_consistent(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(2500)))
    journal = tmp_path / "j"
    env = {**os.environ, "HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    cmd = f"set -o pipefail; {sys.executable} -m hhsession replay {path} --journal {journal} -o jsonl | head -1"
    result = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 141, result.stderr  # as a process stopped by SIGPIPE: not a success
    assert "standard output was closed" in result.stderr and "replay: " in result.stderr
    assert "Traceback" not in result.stderr
    sent = emulator.store.count()
    assert 0 < sent < 2500
    resumed = subprocess.run([sys.executable, "-m", "hhsession", "replay", str(path), "--journal", str(journal), "-o", "none"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert emulator.store.count() == 2500  # every record once: none lost, none twice


def test_a_dry_run_whose_stdout_closes_does_not_talk_of_resuming(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(20000)))
    cmd = f"set -o pipefail; {sys.executable} -m hhsession replay {path} --dry-run | head -1"
    result = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert result.returncode == 141, result.stderr
    assert "standard output was closed after" in result.stderr and "nothing was sent (--dry-run)" in result.stderr
    assert "resume" not in result.stderr


def test_a_rate_that_is_not_a_number_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"session_name": "a"}\n')
    result = subprocess.run([sys.executable, "-m", "hhsession", "replay", str(path), "--rate", "nan", "--dry-run"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "hhsession: error: --rate nan: must be a number of sessions per second above 0, e.g. 50\n"


def test_a_double_ctrl_c_is_always_130_with_the_journal_flushed(tmp_path: Path) -> None:
    import signal

    from hhsession.emulator import Faults

    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(400)))
    journal = tmp_path / "j"
    with Emulator(port=0, faults=Faults(latency_ms=20)) as emu:
        env = {**os.environ, "HH_API_URL": emu.url, "HH_API_KEY": API_KEY}
        for gap in (0.0, 0.002, 0.005, 0.02, 0.05):
            proc = subprocess.Popen([sys.executable, "-m", "hhsession", "replay", str(path), "--journal", str(journal),
                                     "--workers", "8", "-o", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            deadline = time.monotonic() + 20
            time.sleep(0.3)  # answers to the run before still landing
            before = emu.store.count()
            while emu.store.count() < before + 5 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
            time.sleep(gap)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            if proc.returncode == 0:
                break  # the run finished before the signals landed
            assert proc.returncode == 130, err
            assert "Traceback" not in err and "release unlocked lock" not in err, err
            assert "interrupted" in err
        emu.faults.latency_ms = 0
        final = subprocess.run([sys.executable, "-m", "hhsession", "replay", str(path), "--journal", str(journal), "-o", "none"],
                               capture_output=True, text=True, env=env, timeout=120)
        assert final.returncode == 0, final.stderr
        assert emu.store.count() == 400

