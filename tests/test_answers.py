"""What the server answers is not trusted (SPEC §4, §5): every output mode works with the
full event or the legacy ``{"session_id": ...}``, and -o id / -o env print only plain ids."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer, Reply

SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"


@pytest.fixture
def env(fake: FakeServer) -> dict[str, str]:
    return {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0", "NO_COLOR": "1", "COLUMNS": "120"}


@pytest.mark.parametrize("fmt", ["json", "id", "env", "pretty", "none"])
def test_every_output_mode_works_with_the_minimal_legacy_answer(cli: Invoker, fake: FakeServer, env: dict[str, str], fmt: str) -> None:
    fake.script = [Reply(200, {"session_id": SID})]
    result = cli("start", "--session-id", SID, "-n", "legacy", "--start-time", "1795687200000", "-o", fmt, env=env)
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


def test_the_full_event_without_org_workspace_or_project(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    event = {"event_id": SID, "session_id": SID, "event_name": "n", "source": "unknown", "start_time": 1795687200000}
    fake.script = [Reply(200, event)] * 2
    assert cli("start", "--session-id", SID, "-n", "n", "-o", "pretty", env=env).exit_code == 0
    result = cli("start", "--session-id", SID, "-n", "n", "-o", "env", env=env)
    assert "HH_SESSION_START_TIME=1795687200000" in result.stdout


def test_replay_works_with_the_minimal_answer(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Any) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"session_name": f"r{i}"}) + "\n" for i in range(3)))
    fake.default = Reply(minimal=True)
    result = cli("replay", str(path), "--workers", "2", env=env)
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
def test_env_and_id_print_only_plain_ids(cli: Invoker, fake: FakeServer, env: dict[str, str], answer: dict[str, Any]) -> None:
    for fmt in ("env", "id"):
        fake.script = [Reply(200, answer)]
        result = cli("start", "--session-id", SID, "-o", fmt, env=env)
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


def test_an_answer_about_another_session_is_not_taken_as_this_one(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    """The client chose the id: an answer naming another session (a crossed answer) is a server failure."""
    fake.script = [Reply(200, {"session_id": OTHER})]
    result = cli("start", "-n", "x", "--session-id", SID, "-o", "id", env=env)
    assert result.exit_code == 5 and result.stdout == ""
    assert f"answered for another session ({OTHER}) than the one sent ({SID})" in result.stderr
    assert f"run again with --session-id {SID}, which is safe" in result.stderr


def test_the_same_id_in_upper_case_is_the_same_session(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    fake.script = [Reply(200, {"session_id": SID.upper()})]
    result = cli("start", "-n", "x", "--session-id", SID, "-o", "json", env=env)
    assert result.exit_code == 0, result.stderr


def test_replay_fails_a_crossed_answer_and_says_which_notes_new_ids_would_help(
        cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Any) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"session_name": "a"}) + "\n" + json.dumps({"session_name": "b", "session_id": SID}) + "\n")
    fake.script = [Reply(200, {"session_id": OTHER}), Reply(200, {"session_id": SID, "session_name": "old"})]
    result = cli("replay", str(path), "--workers", "1", "-v", "-o", "jsonl", env=env)
    assert result.exit_code == 6, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["failed", "ok"]
    assert lines[0]["session_id"] != OTHER and "answered for another session" in lines[0]["error"]
    existed = next(line for line in result.stderr.splitlines() if f"session {SID} already existed" in line)
    assert "--new-ids replays records as new sessions" in existed
    summary = result.stderr.strip().splitlines()[-1]
    assert "1 ok, 1 failed (1 of the ok already existed on the server" in summary
