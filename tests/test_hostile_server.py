"""A server that is broken or hostile (SPEC §4 "What the server sends back", §5):
it echoes the key, answers forever, sends gigabytes, loses answers."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import API_KEY, Invoker
from tests.fakeserver import Drip, Drop, FakeServer, Flood, Reply

MASKED = "hh_…TKEY"


@pytest.fixture
def env(fake: FakeServer) -> dict[str, str]:
    return {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"}


def run(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "hhsession", *args], capture_output=True, text=True,
                            env={**full, **env}, timeout=timeout)
    return result, time.monotonic() - started


# ----------------------------------------------------------------------------- the key, echoed


def test_a_key_echoed_in_a_200_is_masked_in_every_output(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    for fmt in ("json", "pretty"):
        fake.script = [Reply(200, {"session_id": "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17", "note": f"your key is {API_KEY}",
                                   "metadata": {API_KEY: [f"Bearer {API_KEY}"]}})]
        result = cli("start", "--session-id", "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17", "-o", fmt, "-v", env=env)
        assert result.exit_code == 0, result.stderr
        assert API_KEY not in result.stdout + result.stderr
        assert MASKED in result.stdout


def test_masking_comes_before_cutting_in_error_bodies(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    # The key straddles the 200th character, where an error text is cut.
    for body in ({"message": "x" * 190 + API_KEY}, "y" * 185 + API_KEY + " trailing"):
        fake.script = [Reply(400, body)]
        result = cli("start", env=env)
        assert result.exit_code == 4
        text = result.stderr
        for size in range(8, len(API_KEY) + 1):  # no piece of the key longer than the masked form shows
            assert API_KEY[:size] not in text or size <= 3, text
    records = tmp_path / "r.jsonl"
    records.write_text('{"session_name": "a"}\n')
    failures = tmp_path / "f.jsonl"
    fake.script = [Reply(400, {"message": "z" * 195 + API_KEY})]
    result = cli("replay", str(records), "--failures", str(failures), "--journal", str(tmp_path / "j"), env=env)
    written = result.stdout + result.stderr + failures.read_text() + (tmp_path / "j").read_bytes().decode("latin-1")
    assert API_KEY[:12] not in written and API_KEY[-12:] not in written


def test_a_session_id_that_is_the_key_is_not_written_anywhere(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    records = tmp_path / "r.jsonl"
    records.write_text('{"session_name": "a"}\n')
    fake.script = [Reply(200, {"session_id": API_KEY})]
    result = cli("replay", str(records), "--journal", str(tmp_path / "j"), env=env)
    assert result.exit_code == 5  # an answer about another session than the one sent: not this record's
    assert API_KEY not in result.stdout + result.stderr + (tmp_path / "j").read_bytes().decode("latin-1")


# ----------------------------------------------------------------------------- answers without end


@pytest.mark.parametrize("declared", [4 * 1024**3, None])
def test_a_4_gb_answer_is_a_server_failure_in_little_memory(fake: FakeServer, env: dict[str, str], declared: int | None) -> None:
    fake.script = [Flood(declared)]
    result, took = run(["start", "--timeout", "3"], env)
    assert result.returncode == 5, result.stderr
    assert "the answer is larger than 4 MiB" in result.stderr
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 400 * 1024  # KiB: never the whole answer
    assert took < 30


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_drip_does_not_push_the_deadline(fake: FakeServer, env: dict[str, str], where: str) -> None:
    fake.script = [Drip(interval=0.2, seconds=40, where=where)]
    result, took = run(["start", "--timeout", "1"], env)
    assert result.returncode == 5, result.stderr
    assert "no complete answer within 2 s (connect + read timeout)" in result.stderr
    assert took < 10  # the deadline (1 s connect + 1 s read), not the 40 s the drip lasts


def test_a_drip_is_retried_and_then_succeeds(fake: FakeServer, env: dict[str, str]) -> None:
    fake.script = [Drip(interval=0.2, seconds=5)]
    result, _ = run(["start", "--timeout", "1", "--max-retries", "1", "-o", "id"], {**env, "HH_MAX_RETRIES": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in fake.sessions


# ----------------------------------------------------------------------------- lost answers


def test_giving_up_after_lost_answers_names_the_id_and_the_safe_rerun(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    fake.script = [Drop(store=True), Drop(store=True)]
    result = cli("start", "--max-retries", "1", env=env)
    assert result.exit_code == 5
    (stored,) = fake.sessions
    assert f"the server may have stored session {stored}" in result.stderr
    assert f"--session-id {stored}" in result.stderr and "is safe" in result.stderr
    again = cli("start", "--session-id", stored, "-o", "id", env=env)  # the advice, followed: no second session
    assert again.exit_code == 0 and list(fake.sessions) == [stored]


def test_a_refused_connection_does_not_claim_the_session_may_exist(cli: Invoker, free_port: int) -> None:
    result = cli("start", env={"HH_API_URL": f"http://127.0.0.1:{free_port}", "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"})
    assert result.exit_code == 5 and "connection refused" in result.stderr
    assert "may have stored" not in result.stderr


def test_the_failures_file_keeps_the_id_a_record_was_sent_with(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    records = tmp_path / "r.jsonl"
    records.write_text('{"session_name": "a"}\n{"session": {"session_name": "wrapped"}}\n{"session_name": "c", "start_time": 5}\n')
    failures = tmp_path / "failed.jsonl"
    fake.script = [Drop(store=True), Drop(store=True)]  # both stored, both answers lost
    first = cli("replay", str(records), "--workers", "1", "--failures", str(failures), env=env)
    assert first.exit_code == 6 and len(fake.sessions) == 2  # an invalid record beside them: exit 6
    lines = [json.loads(line) for line in failures.read_text().splitlines()]
    sent = [line for line in lines if line["status"] == "failed"]
    assert {line["record"].get("session_id") or line["record"]["session"]["session_id"] for line in sent} == set(fake.sessions)
    invalid = [line for line in lines if line["status"] == "invalid"]
    assert invalid[0]["record"] == {"session_name": "c", "start_time": 5}  # never sent: no id added
    # Replaying the failures file, as the README suggests, creates no second session.
    again = cli("replay", str(failures), env=env)
    assert [json.loads(line)["status"] for line in again.stdout.splitlines()].count("ok") == 2
    assert len(fake.sessions) == 2


# ----------------------------------------------------------------------------- what a server writes into our lines


@pytest.mark.parametrize("body", [
    {"message": "line1\nhhsession: ok\n::error::injected \u001b[31mRED\u001b[0m"},
    "plain\r\ntext\u001b[2J",
])
def test_a_servers_text_cannot_add_lines_or_escape_codes(cli: Invoker, fake: FakeServer, env: dict[str, str], body: object) -> None:
    fake.script = [Reply(400, body)]
    result = cli("start", env=env)
    assert result.exit_code == 4
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "\x1b" not in result.stderr and "\r" not in result.stderr


def test_a_session_id_with_a_line_break_is_one_line_in_warnings(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    fake.script = [Reply(200, {"session_id": "abc\nHH_X=1"})]
    result = cli("start", "-o", "json", env=env)
    assert result.exit_code == 5 and "answered for another session (abc\\nHH_X=1)" in result.stderr
    assert not any(line.startswith("HH_X") for line in result.stderr.splitlines())


def test_a_key_echoed_in_part_or_percent_encoded_is_masked(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    from urllib.parse import quote

    fake.script = [Reply(400, {"message": f"invalid key {API_KEY[:-2]}"})]
    partial = cli("start", env=env)
    assert API_KEY[:14] not in partial.stderr and API_KEY[4:18] not in partial.stderr
    fake.script = [Reply(302, b"", {"Location": f"https://elsewhere.example/?k={quote(API_KEY, safe='')}"})]
    encoded = cli("start", env=env)
    assert encoded.exit_code == 5
    assert quote(API_KEY, safe="")[:14] not in encoded.stderr and API_KEY[:14] not in encoded.stderr
    records = tmp_path / "r.jsonl"
    records.write_text('{"session_name": "a"}\n')
    failures = tmp_path / "f.jsonl"
    fake.script = [Reply(400, {"message": f"bad {API_KEY[2:]}"})]
    replayed = cli("replay", str(records), "--failures", str(failures), env=env)
    assert API_KEY[2:16] not in replayed.stdout + replayed.stderr + failures.read_text()


# ----------------------------------------------------------------------------- interim answers


@pytest.mark.parametrize("interim", [(103,), (102, 103)])
def test_interim_answers_are_skipped_and_each_record_gets_its_own_answer(
        cli: Invoker, tmp_path: Path, interim: tuple[int, ...]) -> None:
    """Early Hints (103) or Processing (102) before each final 200, on kept-alive connections: the final
    answer is read as this request's, never left in the connection for the next request to read."""
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(12)))
    journal = tmp_path / "j"
    with FakeServer(keep_alive=True) as server:
        server.default = Reply(interim=interim, interim_delay=0.05)
        env = {"HH_API_URL": server.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"}
        result = cli("replay", str(path), "--journal", str(journal), "--workers", "3", env=env)
        assert result.exit_code == 0, result.stderr
        shown = [json.loads(line) for line in result.stdout.splitlines()]
        assert [line["status"] for line in shown] == ["ok"] * 12
        import sqlite3

        with sqlite3.connect(journal) as db:
            recorded = dict(db.execute("SELECT source, session_id FROM records WHERE status = 'ok'").fetchall())
        db.close()
        assert sorted(recorded.values()) == sorted(server.sessions)  # each record's id is the one stored
        for source, session_id in recorded.items():
            assert server.sessions[session_id]["session_name"] == f"r{int(source.rsplit(':', 1)[1]) - 1}"
        assert server.connections <= 3 + 1  # the connections were kept alive and reused

        started = cli("start", "-n", "one", "-o", "id", env=env)
        assert started.exit_code == 0 and started.stdout.strip() in server.sessions
