"""How a replay stops: Ctrl-C, SIGTERM, a closed stdout, a killed process; and what it leaves behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hhsession.client import Client
from hhsession.emulator import Emulator, Faults
from hhsession.errors import ReplayInterrupted
from hhsession.inputs import read_records
from tests.conftest import API_KEY, Invoker
from tests.emulator_http import Log
from tests.replay.conftest import journal_rows, jsonl, numbered


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_python_caller_gets_its_own_signal_handlers_back_after_a_stop(tmp_path: Path, signum: int) -> None:
    """The library takes Ctrl-C and SIGTERM only while it runs: after a stop, the caller's handlers are
    there again (not ignored: a process it starts later would inherit an ignored Ctrl-C)."""
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(200)])
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    sent = []

    def stop_once(outcome: object) -> None:
        if not sent:
            sent.append(outcome)
            os.kill(os.getpid(), signum)  # as a terminal's Ctrl-C, or a CI runner's cancel

    # 20 ms an answer: the 200 records take 2 s, and the stop is looked for every tenth of a second.
    with Emulator(port=0, faults=Faults(latency_ms=20)) as emulator, Client(api_key=API_KEY, api_url=emulator.url) as hh, \
            pytest.raises(ReplayInterrupted) as stopped:
        hh.replay(read_records([str(path)]), workers=2, journal=tmp_path / "j", on_result=stop_once)
    assert stopped.value.signum == signum
    assert {sig: signal.getsignal(sig) for sig in before} == before
    done = [row for row in journal_rows(tmp_path / "j") if row[3] == "ok"]
    assert 1 <= len(done) == stopped.value.summary.counts["ok"] < 200  # written down before it said so


def test_a_closed_stdout_is_not_a_success_and_the_journal_stays_consistent(
        cli: Invoker, emulator: Emulator, tmp_path: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 300)  # far more than are sent (about 10) before `head` has its line
    journal = tmp_path / "j"
    env = {**os.environ, "HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    cmd = f"set -o pipefail; {sys.executable} -m hhsession replay {path} --journal {journal} -o jsonl | head -1"
    result = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 141, result.stderr  # as a process stopped by SIGPIPE: not a success
    assert "standard output was closed" in result.stderr and "replay: " in result.stderr
    assert "Traceback" not in result.stderr
    sent = emulator.store.count()
    assert 0 < sent < 300
    resumed = cli("replay", str(path), "--journal", str(journal), "-o", "none", env=env)
    assert resumed.exit_code == 0, resumed.stderr
    assert emulator.store.count() == 300  # every record once: none lost, none twice


def test_a_dry_run_whose_stdout_closes_does_not_talk_of_resuming(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(20000)))
    cmd = f"set -o pipefail; {sys.executable} -m hhsession replay {path} --dry-run | head -1"
    result = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert result.returncode == 141, result.stderr
    assert "standard output was closed after" in result.stderr and "nothing was sent (--dry-run)" in result.stderr
    assert "resume" not in result.stderr


def test_a_double_ctrl_c_is_always_130_with_the_journal_flushed(cli: Invoker, tmp_path: Path) -> None:
    path = numbered(tmp_path / "r.jsonl", 400)
    journal = tmp_path / "j"
    log = Log()
    with Emulator(port=0, faults=Faults(latency_ms=20), log=log) as emu:
        env = {**os.environ, "HH_API_URL": emu.url, "HH_API_KEY": API_KEY}
        for gap in (0.0, 0.002, 0.005, 0.02, 0.05):
            emu.wait_idle()  # the answers to the run before have landed
            before = log.count("created")
            proc = subprocess.Popen([sys.executable, "-m", "hhsession", "replay", str(path), "--journal", str(journal),
                                     "--workers", "8", "-o", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            log.wait_for(before + 5, "created")  # this run is sending
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
        final = cli("replay", str(path), "--journal", str(journal), "-o", "none", env=env)
        assert final.exit_code == 0, final.stderr
        assert emu.store.count() == 400


def _replay_process(path: Path, journal: Path, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HH_API_URL": url, "HH_API_KEY": API_KEY}
    return subprocess.Popen(
        [sys.executable, "-m", "hhsession", "replay", str(path), "--journal", str(journal), "--workers", "4", "-o", "jsonl"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_killed_or_interrupted_then_resumed_gives_one_session_per_record(cli: Invoker, tmp_path: Path, sig: int) -> None:
    records = 200
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(records)])
    journal = tmp_path / "replay.journal"
    log = Log()
    with Emulator(port=0, faults=Faults(latency_ms=50), log=log) as emu:
        proc = _replay_process(path, journal, emu.url)
        log.wait_for(10, "created")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        shown_ok = [json.loads(line)["status"] for line in out.splitlines()].count("ok")
        if sig == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL
        else:  # Ctrl-C, or SIGTERM (`kill`, a cancelled CI job): the journal flushed, the summary said
            assert proc.returncode == 128 + sig, err
            assert "replay: " in err and ("interrupted" if sig == signal.SIGINT else "stopped by SIGTERM") in err
            assert "Traceback" not in err
            # A CI log (stderr not a terminal): the summary says it once, with no blank lines around it.
            assert err.startswith("replay: ") and "\n\n" not in err and err.count("; interrupted") <= 1, err
        started_before = emu.store.count()
        assert 10 <= started_before < records
        # What the journal holds after the stop: a sound database (a SIGKILL may lose the group of rows in
        # flight, never tear one), and every row in it is skipped on resume.
        with sqlite3.connect(journal) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            journaled = db.execute("SELECT count(*) FROM records WHERE status = 'ok'").fetchone()[0]
        db.close()

        emu.faults.latency_ms = 0
        resumed = cli("replay", str(path), "--journal", str(journal), "--workers", "4", "-o", "jsonl",
                      env={"HH_API_URL": emu.url, "HH_API_KEY": API_KEY})
        assert resumed.exit_code == 0, resumed.stderr
        assert emu.store.count() == records  # no record started twice, none lost
        statuses = [json.loads(line)["status"] for line in resumed.stdout.splitlines()]
        assert statuses.count("skipped") == journaled and len(statuses) == records
        if sig != signal.SIGKILL:  # every result shown before the stop was written down first
            assert statuses.count("skipped") >= shown_ok


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_dry_run_waiting_for_its_input_stops_on_a_signal(sig: int) -> None:
    # A writer that says nothing (`sleep 30 | hhsession replay --dry-run`): the read waits, and the signal
    # must still end the run. -v: its settings lines say it has started (then a moment for the run to begin).
    proc = subprocess.Popen([sys.executable, "-m", "hhsession", "replay", "--dry-run", "-v"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stderr is not None
    try:
        assert proc.stderr.readline().startswith("hhsession: ")
        time.sleep(0.5)
        proc.send_signal(sig)
        proc.wait(timeout=20)
        err = proc.stderr.read()
    finally:
        proc.kill()
        proc.stdin.close()
    assert proc.returncode == 128 + sig, err
    assert ("interrupted" if sig == signal.SIGINT else "stopped by SIGTERM") in err
