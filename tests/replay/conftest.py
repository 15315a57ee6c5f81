"""What the replay tests share: records written as JSON Lines, result lines read back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hhsession.emulator import Emulator
from tests.conftest import API_KEY

SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"


def jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def numbered(path: Path, count: int) -> Path:
    """A JSON Lines file of ``count`` records named r0, r1, ..."""
    return jsonl(path, [{"session_name": f"r{i}"} for i in range(count)])


def results(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def journal_rows(path: Path) -> list[tuple[str, str, str, str]]:
    """(key, source, session_id, status) of every record in a journal, read as the README says to."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return [tuple(row) for row in db.execute("SELECT key, source, session_id, status FROM records ORDER BY source")]


@pytest.fixture
def emu_env(emulator: Emulator) -> dict[str, str]:
    return {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
