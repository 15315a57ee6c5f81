"""``replay --failures``: every failed or invalid record, replayable; opened only once every check has
passed, and never the same file as an input or the journal."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hhsession.emulator import Emulator
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer, Reply
from tests.replay.conftest import jsonl, numbered


@pytest.mark.parametrize("spelling", ["same", "dot", "absolute", "symlink"])
def test_a_failures_file_that_is_an_input_is_refused_and_nothing_changes(
        cli: Invoker, fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str) -> None:
    monkeypatch.chdir(tmp_path)
    failed = jsonl(tmp_path / "failed.jsonl", [{"session_name": "fixed"}, {"session_name": "also"}])
    before = failed.read_bytes()
    failures = {"same": "failed.jsonl", "dot": "./failed.jsonl", "absolute": str(failed), "symlink": "link"}[spelling]
    if spelling == "symlink":
        (tmp_path / "link").symlink_to(failed)
    result = cli("replay", "failed.jsonl", "--failures", failures, "--journal", "j", env={
        "HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (f"hhsession: error: --failures {Path(failures)} is the input failed.jsonl: it is emptied when "
                             f"the run starts; give another path, e.g. failures.jsonl\n")
    assert failed.read_bytes() == before and not (tmp_path / "j").exists()
    assert fake.requests == []


def test_a_failures_file_that_is_the_journal_is_refused(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}])
    env = {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY}
    journal = tmp_path / "j"
    assert cli("replay", str(path), "--journal", str(journal), env=env).exit_code == 0
    before = journal.read_bytes()
    (tmp_path / "link").symlink_to(journal)
    result = cli("replay", str(path), "--journal", str(journal), "--failures", str(tmp_path / "link"), env=env)
    assert result.exit_code == 2
    assert "is the journal: it is emptied when the run starts" in result.stderr
    assert journal.read_bytes() == before and len(fake.requests) == 1


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_a_failures_file_that_is_a_file_sqlite_keeps_beside_the_journal_is_refused(
        cli: Invoker, fake: FakeServer, tmp_path: Path, suffix: str) -> None:
    # After a kill -9, the write-ahead log holds what was written last: emptying it would lose the journal.
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}])
    journal = tmp_path / "j"
    sidecar = tmp_path / f"j{suffix}"
    sidecar.write_bytes(b"what sqlite keeps")
    result = cli("replay", str(path), "--journal", str(journal), "--failures", str(sidecar),
                 env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2
    assert f"--failures {sidecar} is the journal's {suffix.lstrip('-')} file: it is emptied" in result.stderr
    assert sidecar.read_bytes() == b"what sqlite keeps" and fake.requests == []


def test_standard_input_redirected_from_the_failures_file_is_refused(fake: FakeServer, tmp_path: Path) -> None:
    failed = jsonl(tmp_path / "failed.jsonl", [{"session_name": "fixed"}])
    before = failed.read_bytes()
    env = {**os.environ, "HH_API_URL": fake.url, "HH_API_KEY": API_KEY}
    with failed.open("rb") as stdin:
        result = subprocess.run([sys.executable, "-m", "hhsession", "replay", "-", "--failures", str(failed)],
                                stdin=stdin, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "is standard input (redirected from it)" in result.stderr
    assert failed.read_bytes() == before and fake.requests == []


def test_a_run_refused_with_exit_2_keeps_the_previous_failures_file(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}])
    failures = tmp_path / "failures.jsonl"
    failures.write_text('{"source": "r.jsonl:1", "record": {}, "error": "x", "status": "failed"}\n')
    before = failures.read_bytes()
    for bad in (["--shard", "5/2"], ["--journal", "/dev/null"], ["--api-url", "ftp://x"]):
        result = cli("replay", str(path), "--failures", str(failures), *bad, env={
            "HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
        assert result.exit_code == 2, (bad, result.stderr)
        assert failures.read_bytes() == before, bad
    result = cli("replay", str(path), "--failures", str(failures), env={"HH_API_URL": fake.url})  # no key: exit 3
    assert result.exit_code == 3 and failures.read_bytes() == before
    assert fake.requests == []


def test_the_failures_file_replays_without_a_second_session(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    from tests.fakeserver import Reply

    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}, {"session_name": "b", "start_time": 5}])
    failures = tmp_path / "failures.jsonl"
    env = {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"}
    fake.script = [Reply(503)]
    first = cli("replay", str(path), "--failures", str(failures), "--workers", "1", env=env)
    assert first.exit_code == 6
    lines = [json.loads(line) for line in failures.read_text().splitlines()]
    assert sorted(line["status"] for line in lines) == ["failed", "invalid"]
    sent = next(line for line in lines if line["status"] == "failed")
    again = cli("replay", str(failures), env=env)
    assert again.exit_code == 6  # the invalid record is invalid still
    assert list(fake.sessions) == [sent["record"]["session_id"]]  # the failed one, under the id it was sent with


def test_unwritable_failures_file_is_exit_2(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}])
    result = cli("replay", str(path), "--failures", str(tmp_path / "no" / "dir" / "f.jsonl"),
                 env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2
    assert "cannot write it (No such file or directory)" in result.stderr
    assert fake.requests == []


def test_a_refused_key_is_in_the_failures_file_with_its_status(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 3)
    fake.default = Reply(401, {"message": "bad key"})
    failures = tmp_path / "f.jsonl"
    result = cli("replay", str(path), "--workers", "1", "--failures", str(failures),
                 env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 3, result.stderr
    lines = [json.loads(line) for line in failures.read_text().splitlines()]
    assert lines and all(line["http_status"] == 401 for line in lines)


# ----------------------------------------------------------------------------- files that cannot be written


def _hhsession(args: list[str], env: dict[str, str], tail: str = "", limit: int | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}

    def small_files() -> None:
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails (EFBIG) instead of killing the process
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(["sh", "-c", f'"$0" -m hhsession "$@" {tail}', sys.executable, *args], capture_output=True,
                          text=True, env={**full, **env}, timeout=60, preexec_fn=small_files)


def test_results_that_cannot_be_written_are_exit_7_after_the_summary(emulator: Emulator, tmp_path: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 50)
    env = {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    result = _hhsession(["replay", str(path), "-o", "jsonl"], env, tail=">/dev/full")
    assert result.returncode == 7, result.stderr
    summary, error = result.stderr.splitlines()[-2:]
    assert summary.startswith("replay: ") and error.startswith("hhsession: error: cannot write standard output (No space")
    assert "internal error" not in result.stderr
    resumed = _hhsession(["replay", str(path), "-o", "none"], env)  # what was sent is in the journal
    assert resumed.returncode == 0 and emulator.store.count() == 50


def test_a_failures_file_that_cannot_grow_is_exit_7_after_the_summary(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"bad": "x" * 1000}] * 200)  # every record invalid: each one a failure line
    failures = tmp_path / "failed.jsonl"
    result = _hhsession(["replay", str(path), "--dry-run", "--failures", str(failures), "-o", "none"], {}, limit=64 * 1024)
    assert result.returncode == 7, result.stderr
    summary, error = result.stderr.splitlines()[-2:]
    assert summary.startswith("replay --dry-run: ")
    assert error.startswith(f"hhsession: error: --failures {failures}: cannot write it (File too large)")
