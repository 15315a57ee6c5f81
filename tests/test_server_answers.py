"""What the server sends is never trusted (SPEC §4 "What the server sends back", §5).

Its answers: every output mode works with the full event or the legacy ``{"session_id": ...}``;
-o id / -o env print only plain ids; an answer about another session is not this one's. A server that
is broken or hostile: it echoes the key, answers forever, sends gigabytes, loses answers, writes
lines or escape codes into ours, sends interim answers first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, Invoker
from tests.fakeserver import Drip, Drop, FakeServer, Flood, Reply

MASKED = "hh_…TKEY"


@pytest.fixture
def env(fake: FakeServer) -> dict[str, str]:
    return {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"}


def run_measured(args: list[str], env: dict[str, str], workdir: Path,
                 timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """``hhsession ARGS`` in a process of its own: what it did, how long it took, its peak memory (KiB).

    The peak is that process's own (``wait4``), not the largest of every child this test worker ever had."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    started = time.monotonic()
    with (workdir / "out").open("w+") as out, (workdir / "err").open("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "hhsession", *args], stdout=out, stderr=err, text=True,
                                env={**full, **env})
        guard = threading.Timer(timeout, proc.kill)  # a hang is a failure, not a stuck run
        guard.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            guard.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
    return result, time.monotonic() - started, usage.ru_maxrss


SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"


@pytest.fixture
def plain_env(fake: FakeServer) -> dict[str, str]:
    """No colours, a wide terminal: what is printed is compared as text."""
    return {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0", "NO_COLOR": "1", "COLUMNS": "120"}


# ----------------------------------------------------------------------------- what it answers: the full event, the legacy id


@pytest.mark.parametrize("fmt", ["json", "id", "env", "pretty", "none"])
def test_every_output_mode_works_with_the_minimal_legacy_answer(cli: Invoker, fake: FakeServer, plain_env: dict[str, str], fmt: str) -> None:
    fake.script = [Reply(200, {"session_id": SID})]
    result = cli("start", "--session-id", SID, "-n", "legacy", "--start-time", "1795687200000", "-o", fmt, env=plain_env)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    if fmt == "json":
        assert json.loads(out) == {"session_id": SID}
    elif fmt == "id":
        assert out == f"{SID}\n"
    elif fmt == "env":
        # A session's event id is its session id; its start is what was sent.
        assert out == f"HH_SESSION_ID={SID}\nHH_SESSION_EVENT_ID={SID}\nHH_SESSION_START_TIME=1795687200000\n"
    elif fmt == "pretty":
        assert SID in out and "legacy" in out and "2026-11-26" in out
    else:
        assert out == ""
    assert "already existed" not in result.stderr  # nothing in the answer contradicts what was sent


def test_the_full_event_without_org_workspace_or_project(cli: Invoker, fake: FakeServer, plain_env: dict[str, str]) -> None:
    event = {"event_id": SID, "session_id": SID, "event_name": "n", "source": "unknown", "start_time": 1795687200000}
    fake.script = [Reply(200, event)] * 2
    assert cli("start", "--session-id", SID, "-n", "n", "-o", "pretty", env=plain_env).exit_code == 0
    result = cli("start", "--session-id", SID, "-n", "n", "-o", "env", env=plain_env)
    assert "HH_SESSION_START_TIME=1795687200000" in result.stdout


def test_replay_works_with_the_minimal_answer(cli: Invoker, fake: FakeServer, plain_env: dict[str, str], tmp_path: Any) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(3)))
    fake.default = Reply(minimal=True)
    result = cli("replay", str(path), "--workers", "2", env=plain_env)
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line["status"] for line in lines} == {"ok"} and {line["session_id"] for line in lines} == set(fake.sessions)
    assert "already existed" not in result.stderr


@pytest.mark.parametrize(
    "answer",
    [
        {"session_id": f"{SID}\nNODE_OPTIONS=--require /tmp/x.js"},
        {"session_id": SID, "event_id": "x\nNODE_OPTIONS=--require /tmp/x.js"},
        {"session_id": "a b"},
        {"session_id": 42},
        {"session_id": SID, "start_time": "1795687200000\nX=1"},
        {"session_id": SID, "start_time": 1.5},
    ],
)
def test_env_and_id_print_only_plain_ids(cli: Invoker, fake: FakeServer, plain_env: dict[str, str], answer: dict[str, Any]) -> None:
    for fmt in ("env", "id"):
        fake.script = [Reply(200, answer)]
        result = cli("start", "--session-id", SID, "-o", fmt, env=plain_env)
        if fmt == "id" and answer["session_id"] == SID:
            assert result.exit_code == 0 and result.stdout == f"{SID}\n"
            continue
        assert result.exit_code == 5, (fmt, result.stdout, result.stderr)
        assert result.stdout == ""
        # An id that is not the one sent is not this session's; any other field is not printed as a line.
        said = "answered for another session" if answer["session_id"] != SID else "not printed as a line for a shell"
        assert said in result.stderr
        assert "NODE_OPTIONS" not in result.stdout


OTHER = "0b9e7d5c-1a2f-4c3e-8d4b-6f7a8e9c0d1e"


def test_an_answer_about_another_session_is_not_taken_as_this_one(cli: Invoker, fake: FakeServer, plain_env: dict[str, str]) -> None:
    """The client chose the id: an answer naming another session (a crossed answer) is a server failure."""
    fake.script = [Reply(200, {"session_id": OTHER})]
    result = cli("start", "-n", "x", "--session-id", SID, "-o", "id", env=plain_env)
    assert result.exit_code == 5 and result.stdout == ""
    assert f"answered for another session ({OTHER}) than the one sent ({SID})" in result.stderr
    assert f"run again with --session-id {SID}, which is safe" in result.stderr


def test_the_same_id_in_upper_case_is_the_same_session(cli: Invoker, fake: FakeServer, plain_env: dict[str, str]) -> None:
    fake.script = [Reply(200, {"session_id": SID.upper()})]
    result = cli("start", "-n", "x", "--session-id", SID, "-o", "json", env=plain_env)
    assert result.exit_code == 0, result.stderr


def test_replay_fails_a_crossed_answer_and_says_which_notes_new_ids_would_help(
        cli: Invoker, fake: FakeServer, plain_env: dict[str, str], tmp_path: Any) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"session_name": "a"}) + "\n" + json.dumps({"session_name": "b", "session_id": SID}) + "\n")
    fake.script = [Reply(200, {"session_id": OTHER}), Reply(200, {"session_id": SID, "session_name": "old"})]
    result = cli("replay", str(path), "--workers", "1", "-v", "-o", "jsonl", env=plain_env)
    assert result.exit_code == 6, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["failed", "ok"]
    assert lines[0]["session_id"] != OTHER and "answered for another session" in lines[0]["error"]
    existed = next(line for line in result.stderr.splitlines() if f"session {SID} already existed" in line)
    assert "--new-ids replays records as new sessions" in existed
    summary = result.stderr.strip().splitlines()[-1]
    assert "1 ok, 1 failed (1 of the ok already existed on the server" in summary


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
def test_a_4_gb_answer_is_a_server_failure_in_little_memory(
        fake: FakeServer, env: dict[str, str], tmp_path: Path, declared: int | None) -> None:
    fake.script = [Flood(declared)]
    result, took, peak = run_measured(["start", "--timeout", "3"], env, tmp_path)
    assert result.returncode == 5, result.stderr
    assert "the answer is larger than 4 MiB" in result.stderr
    assert peak < 400 * 1024  # KiB: never the whole answer
    assert took < 30


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_drip_does_not_push_the_deadline(cli: Invoker, fake: FakeServer, env: dict[str, str], where: str) -> None:
    fake.script = [Drip(interval=0.2, seconds=40, where=where)]
    started = time.monotonic()
    result = cli("start", "--timeout", "0.5", env=env)
    took = time.monotonic() - started
    assert result.exit_code == 5, result.stderr
    assert "no complete answer within 1 s (connect + read timeout)" in result.stderr
    assert took < 10  # the deadline (0.5 s connect + 0.5 s read), not the 40 s the drip lasts


def test_a_drip_is_retried_and_then_succeeds(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    fake.script = [Drip(interval=0.1, seconds=5)]
    result = cli("start", "--timeout", "0.5", "--max-retries", "1", "-o", "id", env={**env, "HH_MAX_RETRIES": "1"})
    assert result.exit_code == 0, result.stderr
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
    # Replaying the failures file, as docs/replay.md suggests, creates no second session.
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
        server.default = Reply(interim=interim, interim_delay=0.02)
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


# ----------------------------------------------------------------------------- what the server's fields do to a terminal

HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\\x9b31m\u202eevil\n::error::injected"


@pytest.mark.parametrize("fmt", ["json", "pretty"])
def test_the_servers_fields_reach_the_terminal_as_text(cli: Invoker, fake: FakeServer, plain_env: dict[str, str], fmt: str) -> None:
    answer = {"session_id": SID, "event_id": SID, "session_name": HOSTILE, "source": HOSTILE,
              "metadata": {"k": HOSTILE, HOSTILE: 1}, "error": HOSTILE}
    fake.script = [Reply(200, answer)]
    result = cli("start", "--session-id", SID, "-o", fmt, env=plain_env)
    assert result.exit_code == 0, result.stderr
    for unsafe in ("\x1b", "\x9b", "\x07", "\u202e"):
        assert unsafe not in result.stdout
    assert not any(line.lstrip("│ ").startswith("::error::") for line in result.stdout.splitlines())
    if fmt == "json":
        assert json.loads(result.stdout) == answer  # escaped, not changed: the same JSON value
    else:
        assert "evil" in result.stdout and "pwned" in result.stdout  # shown, as text


def test_replay_result_lines_are_safe_to_show(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    fake.script = [Reply(422, {"message": HOSTILE})]
    records = tmp_path / "r.jsonl"
    records.write_text('{"session_name": "a"}\n')
    result = cli("replay", str(records), "-o", "jsonl", env=env)
    assert result.exit_code == 6
    for unsafe in ("\x1b", "\x9b", "\x07", "\u202e"):
        assert unsafe not in result.stdout + result.stderr
    assert len(result.stdout.splitlines()) == 1 and json.loads(result.stdout)["status"] == "failed"


# ----------------------------------------------------------------------------- masking shows less, and never changes data


@pytest.mark.parametrize("invisible", ["\u200b", "\u2060", "\u00ad", "\ufeff", " ", "\u034f"])
def test_an_echoed_key_with_invisible_characters_between_its_characters_is_masked(
        cli: Invoker, fake: FakeServer, env: dict[str, str], invisible: str) -> None:
    spread = invisible.join(API_KEY)
    fake.script = [Reply(200, {"session_id": SID, "session_name": spread, "metadata": {"echo": f"key={spread}."}})]
    result = cli("start", "--session-id", SID, "-o", "json", env=env)
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert API_KEY not in shown["session_name"].replace(invisible, "") and shown["session_name"] == "****"
    assert shown["metadata"]["echo"] == "key=****."


@pytest.mark.parametrize("key", ["emulator", "test", "dev-key-12345"])
def test_a_short_development_key_never_rewrites_names_metadata_or_ids(cli: Invoker, key: str) -> None:
    from hhsession.emulator import Emulator

    with Emulator(port=0) as emu:
        env = {"HH_API_URL": emu.url, "HH_API_KEY": key}
        result = cli("start", "--name", f"{key}-run", "-m", f"target={key}", "-o", "json", env=env)
        assert result.exit_code == 0, result.stderr
        assert result.stderr == ""  # no warning that the session "already existed"
        event = json.loads(result.stdout)
        assert event["session_name"] == f"{key}-run" and event["metadata"]["target"] == key
        assert "****" not in result.stdout

        replayed = cli("replay", "-", "-o", "jsonl", input=f'{{"session_name": "{key}-replayed"}}\n', env=env)
        assert replayed.exit_code == 0, replayed.stderr
        assert "existed" not in replayed.stderr and "--new-ids" not in replayed.stderr


# ----------------------------------------------------------------------------- a server that is not what the URL says


def test_https_to_a_plain_http_port_says_so(cli: Invoker) -> None:
    from hhsession.emulator import Emulator

    with Emulator(port=0) as emu:  # (an http.server: it answers a TLS hello with a plain-http 400)
        result = cli("start", "-o", "id", env={"HH_API_KEY": API_KEY, "HH_API_URL": emu.url.replace("http://", "https://")})
    assert result.exit_code == 5
    assert "the server does not speak TLS there" in result.stderr and "use an http:// URL" in result.stderr
    assert "private CA" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_server_that_is_not_honeyhive_is_named_not_dumped(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    page = ("<!DOCTYPE HTML>\n<html lang=\"en\">\n<head><title>Error response</title></head>\n<body><h1>Error response</h1>"
            "<p>Error code: 501</p></body></html>\n")
    fake.script = [Reply(501, page, headers={"Content-Type": "text/html"})]
    result = cli("start", "-o", "id", env=env)
    assert result.exit_code == 5
    assert "an HTML page ('Error response'), not the API's JSON" in result.stderr
    assert "does not look like the HoneyHive API; check --api-url" in result.stderr
    assert "<" not in result.stderr and "try again later" not in result.stderr


def test_an_answer_that_spells_the_id_in_upper_case_keeps_the_id_sent(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    fake.script = [Reply(200, {"session_id": SID.upper(), "event_id": SID.upper()})]
    result = cli("start", "--session-id", SID, "-o", "id", env=env)
    assert result.exit_code == 0 and result.stdout == f"{SID}\n"


@pytest.mark.parametrize("command", [["start", "--dry-run", "-m", f"a={API_KEY}", "--name", API_KEY],
                                     ["end", SID, "--dry-run", "-m", f"a={API_KEY}"]])
def test_a_key_put_in_a_field_is_masked_in_what_a_dry_run_prints(cli: Invoker, env: dict[str, str], command: list[str]) -> None:
    result = cli(*command, env=env)
    assert result.exit_code == 0, result.stderr
    assert API_KEY not in result.stdout and MASKED in result.stdout


def test_a_key_put_in_a_record_is_masked_in_what_replay_dry_run_prints(cli: Invoker, env: dict[str, str]) -> None:
    result = cli("replay", "--dry-run", "-o", "jsonl", input=f'{{"session_name": "{API_KEY}"}}\n', env=env)
    assert result.exit_code == 0, result.stderr
    assert API_KEY not in result.stdout and MASKED in result.stdout
