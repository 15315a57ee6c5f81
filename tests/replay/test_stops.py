"""How a replay stops: Ctrl-C, SIGTERM, a closed stdout, a killed process; and what it leaves behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from hhsession.client import Client
from hhsession.emulator import Emulator
from hhsession.errors import ReplayInterrupted
from hhsession.inputs import read_records
from tests.conftest import API_KEY
from tests.replay.conftest import journal_rows, jsonl


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_python_caller_gets_its_own_signal_handlers_back_after_a_stop(
        emulator: Emulator, tmp_path: Path, signum: int) -> None:
    """The library takes Ctrl-C and SIGTERM only while it runs: after a stop, the caller's handlers are
    there again (not ignored: a process it starts later would inherit an ignored Ctrl-C)."""
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": f"r{i}"} for i in range(200)])
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    sent = []

    def stop_once(outcome: object) -> None:
        if not sent:
            sent.append(outcome)
            os.kill(os.getpid(), signum)  # as a terminal's Ctrl-C, or a CI runner's cancel

    with Client(api_key=API_KEY, api_url=emulator.url) as hh, pytest.raises(ReplayInterrupted) as stopped:
        hh.replay(read_records([str(path)]), workers=2, journal=tmp_path / "j", on_result=stop_once)
    assert stopped.value.signum == signum
    assert {sig: signal.getsignal(sig) for sig in before} == before
    done = [row for row in journal_rows(tmp_path / "j") if row[3] == "ok"]
    assert 1 <= len(done) == stopped.value.summary.counts["ok"] < 200  # written down before it said so
