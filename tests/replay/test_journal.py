"""The replay journal (SPEC §3 replay): a SQLite database that makes a run resumable and never lets a
record become a second session; what identifies a record; what nothing may do to the journal."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hhsession.emulator import Emulator
from hhsession.journal import FINGERPRINT_BYTES, Journal
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import Drop, FakeServer, Reply
from tests.replay.conftest import SID, journal_rows, jsonl, results


def test_resume_sends_only_what_is_left_and_keeps_the_ids(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    records = [{"session_name": f"r{i}"} for i in range(10)] + [{"session_id": SID, "session_name": "fixed"}]
    path = jsonl(tmp_path / "r.jsonl", records)
    journal = tmp_path / "replay.journal"
    env = {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"}
    # The first run: some lost before the server stored them, some after.
    fake.script = [Reply(503), Drop(store=True), Reply(503), Drop(store=False)]
    first = cli("replay", str(path), "--journal", str(journal), "--workers", "1", env=env)
    assert first.exit_code == 6
    first_ids = {line["source"]: line["session_id"] for line in results(first.stdout)}
    assert sum(line["status"] == "failed" for line in results(first.stdout)) == 4
    sent_first = len(fake.requests)

    second = cli("replay", str(path), "--journal", str(journal), env=env)
    assert second.exit_code == 0, second.stderr
    statuses = {line["source"]: line["status"] for line in results(second.stdout)}
    assert list(statuses.values()).count("skipped") == 7 and list(statuses.values()).count("ok") == 4
    assert len(fake.requests) - sent_first == 4  # only what was left
    # Every record, the retried ones included, has the id the first run gave it:
    # the server holds exactly one session per record.
    assert {line["source"]: line["session_id"] for line in results(second.stdout)} == first_ids
    assert len(fake.sessions) == 11
    assert SID in fake.sessions
    # The journal says which id each record was given: all done now, each under its first id.
    rows = journal_rows(journal)
    assert len(rows) == 11 and {status for *_, status in rows} == {"ok"}
    assert {source: sid for _, source, sid, _ in rows} == first_ids


def test_derived_ids_are_stable_per_journal_and_v4_shaped(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    first = journal.session_id_for("f:1:abc")
    journal.close()
    assert Journal(tmp_path / "j").session_id_for("f:1:abc") == first
    assert first[14] == "4" and first[19] in "89ab"
    assert Journal(tmp_path / "other").session_id_for("f:1:abc") != first


def test_equal_records_at_different_positions_are_different_records(
    cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path
) -> None:
    one_line = tmp_path / "same.json"
    one_line.write_text(json.dumps([{"session_name": "same"}] * 5))  # five equal elements on one line
    lines = tmp_path / "same.jsonl"
    lines.write_text('{"session_name": "same"}\n' * 3)
    result = cli("replay", str(one_line), str(lines), "--journal", str(tmp_path / "j"), env=emu_env)
    assert result.exit_code == 0, result.stderr
    ids = [line["session_id"] for line in results(result.stdout)]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert emulator.store.count() == 8
    assert "already existed" not in result.stderr


@pytest.mark.parametrize("spelling", ["absolute", "dot", "symlink", "moved"])
def test_the_same_file_is_the_same_file_however_it_is_spelled(
    cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    work = tmp_path / "checkout"
    work.mkdir()
    (work / "recs.jsonl").write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(6)))
    journal = tmp_path / "replay.journal"
    monkeypatch.chdir(work)
    first = cli("replay", "recs.jsonl", "--journal", str(journal), env=emu_env)
    assert first.exit_code == 0 and emulator.store.count() == 6
    if spelling == "absolute":
        again = str(work / "recs.jsonl")
    elif spelling == "dot":
        again = "./recs.jsonl"
    elif spelling == "symlink":
        (tmp_path / "link.jsonl").symlink_to(work / "recs.jsonl")
        again = str(tmp_path / "link.jsonl")
    else:  # the same content in another checkout directory, as CI does
        other = tmp_path / "checkout2"
        other.mkdir()
        (other / "recs.jsonl").write_bytes((work / "recs.jsonl").read_bytes())
        monkeypatch.chdir(other)
        again = "recs.jsonl"
    second = cli("replay", again, "--journal", str(journal), env=emu_env)
    assert second.exit_code == 0, second.stderr
    assert [line["status"] for line in results(second.stdout)] == ["skipped"] * 6
    assert emulator.store.count() == 6


@pytest.mark.parametrize("first", ["pipe", "redirect"])
def test_standard_input_is_one_input_piped_or_redirected(emulator: Emulator, tmp_path: Path, first: str) -> None:
    """`cat f | replay -`, then `replay - < f` (or the other way round): the same input "-", nothing sent twice."""
    path = tmp_path / "recs.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(4)))
    journal = tmp_path / "j"
    env = {**os.environ, "HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    piped = f"cat {path} | {sys.executable} -m hhsession replay - --journal {journal} -o jsonl"
    redirected = f"{sys.executable} -m hhsession replay - --journal {journal} -o jsonl < {path}"
    runs = [piped, redirected] if first == "pipe" else [redirected, piped]
    done = [subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=60) for cmd in runs]
    assert all(result.returncode == 0 for result in done), done[-1].stderr
    assert [line["status"] for line in results(done[1].stdout)] == ["skipped"] * 4
    assert emulator.store.count() == 4


def test_a_different_file_with_the_same_name_is_a_different_file(
    cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "recs.jsonl").write_text(json.dumps({"session_name": f"{name}-only"}) + "\n")
    journal = tmp_path / "j"
    assert cli("replay", str(tmp_path / "a" / "recs.jsonl"), "--journal", str(journal), env=emu_env).exit_code == 0
    second = cli("replay", str(tmp_path / "b" / "recs.jsonl"), "--journal", str(journal), env=emu_env)
    assert [line["status"] for line in results(second.stdout)] == ["ok"]
    assert emulator.store.count() == 2


def test_an_edited_record_is_a_new_record_and_the_others_stay_done(
    cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"session_name": "a"}\n{"session_name": "bad", "start_time": 5}\n{"session_name": "c"}\n')
    journal = tmp_path / "j"
    assert cli("replay", str(path), "--journal", str(journal), env=emu_env).exit_code == 6
    path.write_text('{"session_name": "a"}\n{"session_name": "fixed"}\n{"session_name": "c"}\n')
    again = cli("replay", str(path), "--journal", str(journal), env=emu_env)
    assert [line["status"] for line in results(again.stdout)].count("skipped") == 2
    assert emulator.store.count() == 3


@pytest.mark.parametrize("journal", ["/dev/zero", "/dev/null"])
def test_a_journal_that_is_not_a_file_is_exit_2(cli: Invoker, fake: FakeServer, tmp_path: Path, journal: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"session_name": "a"}\n')
    result = cli("replay", str(path), "--journal", journal, env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2 and "is not a regular file" in result.stderr
    assert fake.requests == []


@pytest.mark.parametrize("content", ["text", "sqlite"])
def test_a_file_that_is_not_a_journal_is_exit_2_and_left_alone(
        cli: Invoker, fake: FakeServer, tmp_path: Path, content: str) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}])
    journal = tmp_path / "j"
    if content == "text":
        journal.write_text('{"session_name": "a recording given as the journal"}\n')
    else:
        with sqlite3.connect(journal) as db:  # another program's database
            db.execute("CREATE TABLE t (x)")
        db.close()
    before = journal.read_bytes()
    result = cli("replay", str(path), "--journal", str(journal), env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2 and "not an hhsession replay journal; give a new path" in result.stderr
    assert result.stderr.count("\n") == 1 and fake.requests == []
    assert journal.read_bytes() == before


# ----------------------------------------------------------------------------- identity: by real path first


@pytest.mark.parametrize("order", ["new-first", "glob"])
def test_no_input_takes_the_identity_of_another_bound_by_its_real_path(
        cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        order: str) -> None:
    """A file that starts like a replayed file, listed before it, shares its identity: only its new records
    are sent; the replayed file keeps its binding (nothing of it is sent again)."""
    monkeypatch.chdir(tmp_path)
    count = 100
    rec = jsonl(tmp_path / ("x.jsonl" if order == "glob" else "rec.jsonl"),
                [{"session_name": f"r{i}", "metadata": {"pad": "x" * 800}} for i in range(count)])
    assert rec.stat().st_size > FINGERPRINT_BYTES  # the copy starts with the same fingerprinted head
    first = cli("replay", rec.name, "--journal", "j", "-o", "none", env=emu_env)
    assert first.exit_code == 0 and emulator.store.count() == count
    more = tmp_path / ("x-full.jsonl" if order == "glob" else "more.jsonl")
    more.write_bytes(rec.read_bytes() + f'{{"session_name": "r{count}"}}\n'.encode())
    names = sorted(p.name for p in tmp_path.glob("x*.jsonl")) if order == "glob" else [more.name, rec.name]
    assert names[0] == more.name  # x-full.jsonl sorts before x.jsonl, as a shell's glob lists them
    second = cli("replay", *names, "--journal", "j", env=emu_env)
    assert second.exit_code == 0, second.stderr
    by_input: dict[str, list[str]] = {}
    for line in results(second.stdout):
        by_input.setdefault(line["source"].rsplit(":", 1)[0], []).append(line["status"])
    assert by_input[rec.name] == ["skipped"] * count  # the replayed file: nothing sent again
    assert by_input[more.name] == ["skipped"] * count + ["ok"]  # the longer copy: only its new record
    assert emulator.store.count() == count + 1
    inputs = dict(sqlite3.connect(tmp_path / "j").execute("SELECT path, id FROM inputs").fetchall())
    assert inputs == {str(rec): "F1"}  # the binding stays the original's


def test_a_moved_and_grown_recording_resumes_where_it_was(
        cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    """The same content elsewhere (a checkout in another directory: the same first 64 KiB) is the same
    input, and a line added at its end is a new record of it."""
    old = jsonl(tmp_path / "old.jsonl", [{"session_name": f"r{i}", "metadata": {"pad": "x" * 14_000}} for i in range(5)])
    assert cli("replay", str(old), "--journal", str(tmp_path / "j"), env=emu_env).exit_code == 0
    moved = tmp_path / "elsewhere.jsonl"
    moved.write_bytes(old.read_bytes() + b'{"session_name": "r5"}\n')
    old.unlink()
    again = cli("replay", str(moved), "--journal", str(tmp_path / "j"), env=emu_env)
    assert [line["status"] for line in results(again.stdout)] == ["skipped"] * 5 + ["ok"]
    assert emulator.store.count() == 6


# ----------------------------------------------------------------------------- what nothing may do to it


def _files(directory: Path) -> dict[str, bytes]:
    """Each file's bytes; of the -shm file of a live journal (SQLite's shared memory, where each reader
    marks what it reads: no data), only that it is there."""
    return {path.name: b"" if path.name.endswith("-shm") else path.read_bytes() for path in directory.iterdir()}


def test_a_dry_run_never_changes_a_byte_of_the_journal(cli: Invoker, emulator: Emulator, emu_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(6)])
    state = tmp_path / "state"
    state.mkdir()
    journal = state / "j"
    first = cli("replay", str(path), "--journal", str(journal), env=emu_env)
    assert first.exit_code == 0
    ids = {line["source"]: line["session_id"] for line in results(first.stdout)}
    jsonl(path, [{"session_name": f"r{i}"} for i in range(8)])  # two more records
    before = _files(state)
    dry = cli("replay", str(path), "--journal", str(journal), "--dry-run", "-o", "jsonl", env=emu_env)
    assert dry.exit_code == 0, dry.stderr
    assert _files(state) == before  # no byte changed, no -wal or -shm left beside it
    # While another run is writing the journal (its write-ahead log beside it), a dry run reads it all the same.
    writer = Journal(journal)
    writer.record("F9:1:x", "other:1", SID, "ok")
    during = _files(state)
    dry = cli("replay", str(path), "--journal", str(journal), "--dry-run", "-o", "jsonl", env=emu_env)
    assert dry.exit_code == 0, dry.stderr
    assert _files(state) == during
    writer.close()
    shown = [json.loads(line) for line in dry.stdout.splitlines()]
    assert len(shown) == 2  # the done ones are skipped; the new ones get the ids the real run will give them
    real = cli("replay", str(path), "--journal", str(journal), env=emu_env)
    sent = {line["source"]: line["session_id"] for line in results(real.stdout) if line["status"] == "ok"}
    assert sorted(sent.values()) == sorted(line["session_id"] for line in shown)
    assert all(sid == ids[source] for source, sid in ids.items())


def test_a_dry_run_without_a_journal_yet_creates_none(cli: Invoker, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}])
    assert cli("replay", str(path), "--journal", str(tmp_path / "j"), "--dry-run").exit_code == 0
    assert not (tmp_path / "j").exists()


def test_a_huge_id_from_the_server_fails_the_record_and_leaves_the_journal_readable(
        cli: Invoker, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(3)])
    journal = tmp_path / "j"
    with FakeServer([Reply(200, {"session_id": "x" * (1200 * 1024)})]) as server:
        env = {"HH_API_URL": server.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"}
        first = cli("replay", str(path), "--journal", str(journal), "--workers", "1", env=env)
        assert first.exit_code == 6
        assert [line["status"] for line in results(first.stdout)] == ["failed", "ok", "ok"]
        assert max(len(sid) for _, _, sid, _ in journal_rows(journal)) == 36  # only ids the client chose
        again = cli("replay", str(path), "--journal", str(journal), env=env)
        assert again.exit_code == 0, again.stderr
        assert {line["source"]: line["status"] for line in results(again.stdout)} == {
            f"{path}:1": "ok", f"{path}:2": "skipped", f"{path}:3": "skipped"}
        assert len(server.sessions) == 3


# ----------------------------------------------------------------------------- journals of hhsession 0.1 and 0.2


def _legacy_journal(path: Path, version: int, records: list[tuple[str, str, str, str]],
                    inputs: dict[str, str] | None = None, tail: str = "") -> None:
    """A JSON Lines journal as hhsession 0.1 (version 1) or 0.2 (version 2) wrote it, with the run id RUN."""
    lines = [{"journal": "hhsession-replay-journal", "version": version, "run": RUN, "created": 1764151200000}]
    lines += [{"input": ident, "path": real, "fingerprint": "f" * 32} for ident, real in (inputs or {}).items()]
    lines += [{"key": key, "source": source, "session_id": sid, "status": status} for key, source, sid, status in records]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + tail)


RUN = "5d0c7f1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f"


@pytest.mark.parametrize("version", [1, 2])
def test_a_journal_of_an_earlier_version_resumes_without_sending_a_done_record_again(
        cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        version: int) -> None:
    tmp_path = tmp_path / "work"
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(4)])
    from hhsession.inputs import read_records
    from hhsession.journal import record_digest

    records = list(read_records(["r.jsonl"]))
    key = (lambda r: f"r.jsonl:{r.line}:{record_digest(r)}") if version == 1 else (
        lambda r: f"F1:{r.line}:{record_digest(r)}")
    done = [(key(r), r.location, f"00000000-0000-4000-8000-00000000000{r.line}", "ok") for r in records[:2]]
    # A record without an id was sent under one derived from the run id and its key: again so now.
    derived = str(uuid.UUID(bytes=hashlib.sha256(f"{RUN}\0{key(records[2])}".encode()).digest()[:16], version=4))
    failed = [(key(records[2]), records[2].location, derived, "failed")]
    poisoned = [(key(records[3]), records[3].location, "x" * (1100 * 1024), "ok")]  # a server's huge id, then
    tail = '{"key": "F1:9:abc", "source": "r.jsonl:9", "sess'  # a line torn by a crash
    journal = tmp_path / "j"
    _legacy_journal(journal, version, done + failed + poisoned, {"F1": str(path)} if version == 2 else None, tail)
    old = journal.read_bytes()

    dry = cli("replay", "r.jsonl", "--journal", "j", "--dry-run", env=emu_env)  # reads it, changes nothing
    assert dry.exit_code == 0 and journal.read_bytes() == old and sorted(p.name for p in tmp_path.iterdir()) == [
        "j", "r.jsonl"]
    assert [json.loads(line)["session_id"] for line in dry.stdout.splitlines()] == [failed[0][2]]

    result = cli("replay", "r.jsonl", "--journal", "j", env=emu_env)
    assert result.exit_code == 0, result.stderr
    shown = sorted(results(result.stdout), key=lambda line: line["source"])
    assert [line["status"] for line in shown] == ["skipped", "skipped", "ok", "skipped"]
    assert [line["session_id"] for line in shown] == [sid for _, _, sid, _ in done + failed] + [None]
    assert "read the journal of an earlier hhsession (3 done records) into the SQLite journal" in result.stderr
    assert (tmp_path / "j.bak").read_bytes() == old  # the old file is kept
    assert journal.read_bytes()[:16] == b"SQLite format 3\x00"
    assert emulator.store.count() == 1  # only the failed record, under the id it was given

    again = cli("replay", "r.jsonl", "--journal", "j", env=emu_env)  # imported once: a plain resume now
    assert [line["status"] for line in results(again.stdout)] == ["skipped"] * 4
    assert "earlier hhsession" not in again.stderr


def test_the_schema_is_as_the_docs_say(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    journal.record("F1:1:abc", "r.jsonl:1", SID, "ok")
    journal.close()
    with sqlite3.connect(tmp_path / "j") as db:
        tables = {name: [column[1] for column in db.execute(f"PRAGMA table_info({name})")]
                  for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"meta": ["name", "value"], "inputs": ["id", "path", "fingerprint"],
                          "records": ["key", "source", "session_id", "status", "at"]}
        assert dict(db.execute("SELECT name, value FROM meta"))["keys"] == "2"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    page = (Path(__file__).resolve().parents[2] / "docs" / "journal.md").read_text()
    for name, columns in tables.items():
        assert f"{name}({', '.join(columns)})" in page.replace("`", "")


def test_a_journal_that_cannot_grow_is_exit_7_with_the_summary_and_resumes(tmp_path: Path, emulator: Emulator) -> None:
    # `ulimit -f` (as a full disk would): the journal's writes fail part-way. A process of its own, for the limit.
    records = 3000
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(records)])
    journal = tmp_path / "replay.journal"
    env = {**os.environ, "HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    command = [sys.executable, "-m", "hhsession", "replay", str(path), "--journal", str(journal), "-o", "none"]

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails (EFBIG) instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (128 * 1024, 128 * 1024))

    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, preexec_fn=small_files)
    assert first.returncode == 7, first.stderr
    summary, error = first.stderr.splitlines()
    assert summary.startswith("replay: ") and " ok" in summary
    assert error.startswith(f"hhsession: error: journal {journal}: cannot write it") and "run the same command" in error
    assert "Traceback" not in first.stderr
    sent = emulator.store.count()
    assert 0 < sent < records
    done = len(journal_rows(journal))
    assert done <= sent

    second = subprocess.run(command[:-2] + ["-o", "jsonl"], capture_output=True, text=True, env=env, timeout=60)
    assert second.returncode == 0, second.stderr
    assert emulator.store.count() == records  # what was sent but not written down was merged, not duplicated
    assert [json.loads(line)["status"] for line in second.stdout.splitlines()].count("skipped") == done


def test_a_copy_beside_the_original_never_takes_its_identity(cli: Invoker, emulator: Emulator,
                                                             emu_env: dict[str, str], tmp_path: Path) -> None:
    """Replayed alone, a copy shares the original's identity (nothing sent again) and the original keeps
    its binding: replaying both afterwards sends nothing either."""
    rec = jsonl(tmp_path / "rec.jsonl", [{"session_name": f"r{i}", "metadata": {"pad": "x" * 800}} for i in range(100)])
    journal = str(tmp_path / "j")
    assert cli("replay", str(rec), "--journal", journal, env=emu_env).exit_code == 0
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(rec.read_bytes())
    alone = cli("replay", str(copy), "--journal", journal, env=emu_env)
    assert [line["status"] for line in results(alone.stdout)] == ["skipped"] * 100
    both = cli("replay", str(copy), str(rec), "--journal", journal, env=emu_env)
    assert [line["status"] for line in results(both.stdout)] == ["skipped"] * 200
    assert emulator.store.count() == 100
    inputs = dict(sqlite3.connect(journal).execute("SELECT path, id FROM inputs").fetchall())
    assert inputs == {str(rec): "F1"}


def test_a_journal_left_empty_by_a_crash_while_it_was_made_is_a_new_journal(
        cli: Invoker, emulator: Emulator, emu_env: dict[str, str], tmp_path: Path) -> None:
    # What a kill -9 (or a full disk) right after SQLite made the file leaves: a database with nothing in it.
    journal = tmp_path / "j"
    sqlite3.connect(journal).execute("PRAGMA journal_mode=WAL").close()
    assert journal.read_bytes().startswith(b"SQLite format 3\x00")
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}, {"session_name": "b"}])
    dry = cli("replay", str(path), "--journal", str(journal), "--dry-run", env=emu_env)
    assert dry.exit_code == 0, dry.stderr
    result = cli("replay", str(path), "--journal", str(journal), env=emu_env)
    assert result.exit_code == 0, result.stderr
    assert [row[3] for row in journal_rows(journal)] == ["ok", "ok"]
