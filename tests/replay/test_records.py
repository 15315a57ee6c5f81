"""What replay reads (SPEC §2 "Numbers and sizes", §3 replay): JSON Lines, JSON arrays, standard input;
records that cannot be read (each one invalid record, the run goes on); sizes, depth, /dev/zero; memory
that stays flat whatever the input's size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from hhsession import Client
from hhsession.emulator import Emulator
from hhsession.inputs import MAX_INPUT_BYTES, count_lines, read_records
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer
from tests.replay.conftest import jsonl, numbered, results

# ----------------------------------------------------------------------------- JSON Lines, JSON arrays, standard input


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

    def write() -> None:  # as a producer that flushes a blank line, then the array a moment later
        os.write(writer, b"\n")
        time.sleep(0.3)
        os.write(writer, b'[{"session_name": "a"},\n {"session_name": "b"}]\n')
        os.close(writer)

    producer = threading.Thread(target=write)
    producer.start()
    with os.fdopen(reader, "rb") as stream:
        records = list(read_records(["-"], stream))
    producer.join(timeout=10)
    assert [r.value for r in records] == [{"session_name": "a"}, {"session_name": "b"}]
    assert all(r.error is None for r in records)


def test_an_input_changed_during_the_run_is_said(tmp_path: Path, emulator: Emulator) -> None:
    path = numbered(tmp_path / "r.jsonl", 5)
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


# ----------------------------------------------------------------------------- records that cannot be read: each one invalid record, the run goes on


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


def test_a_pretty_printed_object_is_explained(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text('{\n  "session_name": "x"\n}\n')
    result = cli("replay", str(path), env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 6
    first = results(result.stdout)[0]
    assert first["source"] == f"{path}:1" and "use hhsession start -f" in first["error"]
    assert fake.requests == []


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


# ----------------------------------------------------------------------------- sizes: inputs that never end, giant lines, memory


@pytest.mark.parametrize("dry_run", [False, True])
def test_dev_zero_ends_as_one_invalid_record_and_the_run_goes_on(cli: Invoker, tmp_path: Path, dry_run: bool, emulator: Emulator,
                                                                 emu_env: dict[str, str]) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"session_name": "after"}\n')
    result = cli("replay", "/dev/zero", str(good), *(["--dry-run"] if dry_run else []), env=emu_env)
    assert result.exit_code == 6, result.stderr
    assert "/dev/zero:1" in result.stdout + result.stderr and "longer than 16 MiB" in result.stdout + result.stderr
    if not dry_run:
        assert emulator.store.count() == 1


def test_the_count_for_an_eta_never_reads_a_pipe_or_a_device(tmp_path: Path) -> None:
    # Counting lines would consume a pipe's records (and never end on /dev/zero): only regular files are counted.
    fifo = tmp_path / "records.fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"printf '{{}}\\n{{}}\\n' > {fifo}"])
    try:
        assert _within(10, lambda: count_lines([str(fifo)])) == [None]
        lines = _within(10, lambda: [record.line for record in read_records([str(fifo)])])
        assert lines == [[1, 2]]  # the records are all still there
    finally:
        writer.kill()
        writer.wait()
    regular = jsonl(tmp_path / "r.jsonl", [{}, {}, {}])
    assert count_lines([str(regular)]) == 3
    assert _within(10, lambda: count_lines(["/dev/zero"])) == [None]


def _within(seconds: float, call: Any) -> list[Any]:
    """[what call returned], or [] when it has not returned within the seconds (a read that would never
    end, or a pipe that waits for a writer gone: the thread is left to the process)."""
    returned: list[Any] = []
    thread = threading.Thread(target=lambda: returned.append(call()), daemon=True)
    thread.start()
    thread.join(timeout=seconds)
    return returned


def test_a_named_pipe_is_replayed(tmp_path: Path, emulator: Emulator) -> None:
    # `replay <(producer)` and named pipes: the check that inputs are readable must not open the pipe (and
    # end its writer's stream) before the records are read. A process of its own: on failure it would wait
    # for a writer for ever.
    fifo = tmp_path / "records.fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"for i in 1 2 3; do echo '{{\"session_name\": \"p'$i'\"}}'; done > {fifo}"])
    env = {**os.environ, "HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    try:
        result = subprocess.run([sys.executable, "-m", "hhsession", "replay", str(fifo), "-o", "jsonl"],
                                capture_output=True, text=True, env=env, timeout=30)
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(line)["source"] for line in result.stdout.splitlines()) == [f"{fifo}:{i}" for i in (1, 2, 3)]
    assert emulator.store.count() == 3


def test_a_giant_line_ends_its_input(tmp_path: Path) -> None:
    path = tmp_path / "giant.jsonl"
    with path.open("wb") as handle:
        handle.write(b'{"session_name": "first"}\n{"inputs": "' + b"x" * (MAX_INPUT_BYTES + 10) + b'"}\n{"session_name": "never"}\n')
    records = list(read_records([str(path)], None))
    assert [r.value for r in records[:1]] == [{"session_name": "first"}]
    assert len(records) == 2 and records[1].location == f"{path}:2" and "longer than 16 MiB" in (records[1].error or "")


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

    small, large = peak_for(1_000), peak_for(20_000)
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
