"""Exactly once by default (SPEC §3 replay): every replay keeps a journal, in the user's state directory,
found again by the same command; ``--no-journal`` opts out and then nothing promises a resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hhsession.emulator import Emulator, Faults
from hhsession.journal import DEFAULT_KEPT_DAYS, default_journal
from tests.conftest import API_KEY, Invoker
from tests.emulator_http import Log
from tests.replay.conftest import jsonl, numbered, results


def journals(home: Path) -> list[Path]:
    where = home / ".local" / "state" / "hhsession" / "replay"
    return sorted(where.glob("*.journal")) if where.exists() else []


def test_the_same_command_twice_sends_each_record_once(cli: Invoker, emulator: Emulator, emu_env: dict[str, str],
                                                        tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = numbered(tmp_path / "r.jsonl", 20)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    first = cli("replay", str(path), env=emu_env)
    assert first.exit_code == 0, first.stderr
    second = cli("replay", str(path), env=emu_env)
    assert second.exit_code == 0, second.stderr
    assert [line["status"] for line in results(second.stdout)] == ["skipped"] * 20
    assert emulator.store.count() == 20
    assert list(work.iterdir()) == []  # never in the working directory
    assert len(journals(isolated_home)) == 1
    # Spelled another way, from another directory: the same inputs, the same journal.
    monkeypatch.chdir(tmp_path)
    third = cli("replay", "./r.jsonl", env=emu_env)
    assert [line["status"] for line in results(third.stdout)] == ["skipped"] * 20
    assert len(journals(isolated_home)) == 1


def test_standard_input_replayed_twice_is_sent_once(cli: Invoker, emulator: Emulator, emu_env: dict[str, str]) -> None:
    records = "".join(f'{{"session_name": "s{i}"}}\n' for i in range(5))
    assert cli("replay", input=records, env=emu_env).exit_code == 0
    again = cli("replay", "-", input=records, env=emu_env)
    assert again.exit_code == 0 and "5 skipped" in again.stderr
    assert emulator.store.count() == 5


def test_another_destination_or_new_ids_is_another_journal(cli: Invoker, emulator: Emulator, emu_env: dict[str, str],
                                                           tmp_path: Path, isolated_home: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 3)
    assert cli("replay", str(path), env=emu_env).exit_code == 0
    other_key = cli("replay", str(path), env={**emu_env, "HH_API_KEY": API_KEY + "-other-project"})
    assert [line["status"] for line in results(other_key.stdout)] == ["ok"] * 3
    as_new = cli("replay", str(path), "--new-ids", env=emu_env)
    assert [line["status"] for line in results(as_new.stdout)] == ["ok"] * 3
    assert len(journals(isolated_home)) == 3
    # Field flags are not part of it: what got a session keeps it.
    flagged = cli("replay", str(path), "-m", "added=1", env=emu_env)
    assert [line["status"] for line in results(flagged.stdout)] == ["skipped"] * 3


def test_interrupted_without_journal_flag_resumes_exactly_once(tmp_path: Path, isolated_home: Path) -> None:
    records = 150
    path = numbered(tmp_path / "r.jsonl", records)
    log = Log()
    with Emulator(port=0, faults=Faults(latency_ms=50), log=log) as emu:
        env = {**os.environ, "HH_API_URL": emu.url, "HH_API_KEY": API_KEY}
        command = [sys.executable, "-m", "hhsession", "replay", str(path), "--workers", "4", "-o", "none"]
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        log.wait_for(10, "created")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        (journal,) = journals(isolated_home)
        assert f"run the same command to resume (journal {journal})" in err
        assert 10 <= emu.store.count() < records
        emu.faults.latency_ms = 0
        again = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
        assert again.returncode == 0, again.stderr
        assert emu.store.count() == records
        assert " skipped" in again.stderr


def test_no_journal_keeps_none_and_promises_no_resume(tmp_path: Path, isolated_home: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 150)
    log = Log()
    with Emulator(port=0, faults=Faults(latency_ms=50), log=log) as emu:
        env = {**os.environ, "HH_API_URL": emu.url, "HH_API_KEY": API_KEY}
        proc = subprocess.Popen([sys.executable, "-m", "hhsession", "replay", str(path), "--no-journal", "-o", "none"],
                                stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        log.wait_for(5, "created")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "resume" not in err and "with no journal, running it again sends every record again" in err
    assert journals(isolated_home) == []


def test_journal_and_no_journal_together_is_exit_2_and_sends_nothing(cli: Invoker, emulator: Emulator,
                                                                     emu_env: dict[str, str], tmp_path: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 2)
    result = cli("replay", str(path), "--journal", str(tmp_path / "j"), "--no-journal", env=emu_env)
    assert result.exit_code == 2
    assert result.stderr == "hhsession: error: --journal and --no-journal: give one of them\n"
    assert emulator.store.count() == 0 and not (tmp_path / "j").exists()


def test_a_dry_run_creates_no_default_journal(cli: Invoker, emu_env: dict[str, str], tmp_path: Path, isolated_home: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 2)
    assert cli("replay", str(path), "--dry-run", env=emu_env).exit_code == 0
    assert not (isolated_home / ".local" / "state" / "hhsession").exists()


def test_old_default_journals_are_removed_recent_ones_kept(cli: Invoker, emulator: Emulator, emu_env: dict[str, str],
                                                           tmp_path: Path, isolated_home: Path) -> None:
    where = isolated_home / ".local" / "state" / "hhsession" / "replay"
    where.mkdir(parents=True)
    old, recent, other = where / "old-0.journal", where / "recent-0.journal", where / "notes.txt"
    for file in (old, Path(f"{old}-wal"), recent, other):
        file.write_text("x")
    long_ago = time.time() - (DEFAULT_KEPT_DAYS + 1) * 86400
    for file in (old, Path(f"{old}-wal"), other):
        os.utime(file, (long_ago, long_ago))
    path = jsonl(tmp_path / "r.jsonl", [{}])
    assert cli("replay", str(path), env=emu_env).exit_code == 0
    assert not old.exists() and not Path(f"{old}-wal").exists()
    assert recent.exists() and other.exists()  # only journals, and only old ones


def test_the_state_directory_follows_xdg(tmp_path: Path) -> None:
    inputs = [str(tmp_path / "r.jsonl")]
    kwargs = {"new_ids": False}
    at = default_journal(inputs, "https://api.honeyhive.ai", "k", environ={"XDG_STATE_HOME": "/s", "HOME": "/h"}, **kwargs)
    assert at.parent == Path("/s/hhsession/replay") and at.name.startswith("r.jsonl-")
    relative = default_journal(inputs, "https://api.honeyhive.ai", "k", environ={"XDG_STATE_HOME": "s", "HOME": "/h"}, **kwargs)
    assert relative.parent == Path("/h/.local/state/hhsession/replay")  # a relative XDG path is ignored, as the spec says
    assert default_journal(["-"], "https://api.honeyhive.ai", "k", environ={"HOME": "/h"}, **kwargs).name.startswith("stdin-")
    home = {"HOME": "/h"}
    same = default_journal(inputs, "http://127.0.0.1:8787", "k", environ=home, **kwargs)
    for spelled in ("http://localhost:8787/", "HTTP://LocalHost:8787", "http://127.0.0.1:8787/"):
        assert default_journal(inputs, spelled, "k", environ=home, **kwargs) == same
    assert default_journal(inputs, "http://127.0.0.1:8788", "k", environ=home, **kwargs) != same
    assert default_journal(inputs, "http://127.0.0.1:8787", "k", environ=home, new_ids=True) != same


def test_the_shards_of_a_run_share_its_journal(cli: Invoker, emulator: Emulator, emu_env: dict[str, str],
                                              tmp_path: Path, isolated_home: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 20)
    assert cli("replay", str(path), "--shard", "0/2", env=emu_env).exit_code == 0
    whole = cli("replay", str(path), env=emu_env)  # the other shard's records only
    assert [line["status"] for line in results(whole.stdout)].count("skipped") == 10
    for shard in ("0/1", "1/2", "1/3"):
        again = cli("replay", str(path), "--shard", shard, env=emu_env)
        assert {line["status"] for line in results(again.stdout)} == {"skipped"}
    assert emulator.store.count() == 20
    assert len(journals(isolated_home)) == 1
