"""`hhsession end`: PUT /v1/events/{id} with the UpdateEventRequest rules (SPEC §3 end)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hhsession.emulator import Emulator
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer, Reply

SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"
START = 1795687200000


@pytest.fixture
def env(fake: FakeServer) -> dict[str, str]:
    fake.sessions[SID] = {"session_id": SID, "event_id": SID}
    return {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"}


def sent(fake: FakeServer) -> dict[str, Any]:
    (request,) = [r for r in fake.requests if r.method == "PUT"]
    assert request.path == f"/v1/events/{SID}"
    return request.json()  # type: ignore[no-any-return]


def test_the_session_and_its_start_come_from_what_start_exported(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    result = cli("end", "-o", "json", env={**env, "HH_SESSION_ID": SID, "HH_SESSION_START_TIME": str(START)})
    assert result.exit_code == 0, result.stderr
    body = sent(fake)
    assert set(body) == {"end_time", "duration"}
    assert body["duration"] == body["end_time"] - START and isinstance(body["end_time"], int)
    assert json.loads(result.stdout) == {"session_id": SID, "update": body}


def test_an_explicit_id_does_not_take_another_sessions_start(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    other = "00000000-0000-4000-8000-000000000001"
    result = cli("end", SID, "-o", "none", env={**env, "HH_SESSION_ID": other, "HH_SESSION_START_TIME": str(START)})
    assert result.exit_code == 0, result.stderr
    assert set(sent(fake)) == {"end_time"}  # no duration from a start that is not this session's
    assert result.stdout == ""


def test_flags_fill_the_update(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    doc = tmp_path / "update.json"
    doc.write_text(json.dumps({"metadata": {"from_file": 1, "both": "file"}, "feedback": {"note": "x"}}))
    result = cli(
        "end", SID, "-f", str(doc), "--end-time", "2026-11-26T10:01:00Z", "--start-time", "2026-11-26T10:00:00Z",
        "--outputs", "result=passed", "-m", "both=flag", "--feedback", "rating:=5", "--metrics", "n:=2",
        "--config", '{"model": "m"}', "-u", "user=alice", "--child", "c1", "--child", "c2", "-o", "json", env=env,
    )
    assert result.exit_code == 0, result.stderr
    assert sent(fake) == {
        "end_time": 1795687260000, "duration": 60000, "outputs": {"result": "passed"},
        "metadata": {"from_file": 1, "both": "flag"}, "feedback": {"note": "x", "rating": 5},
        "metrics": {"n": 2}, "config": {"model": "m"}, "user_properties": {"user": "alice"},
        "children_ids": ["c1", "c2"],
    }


@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        ([], {}, "no session to end: give SESSION_ID, or set HH_SESSION_ID"),
        (["not-a-uuid"], {}, "session id 'not-a-uuid' is not a UUID"),
        ([], {"HH_SESSION_ID": "abc"}, "session id 'abc' is not a UUID"),
        ([SID, "--children-ids", "[]"], {}, "children_ids: is empty"),
        ([SID, "--end-time", "soon"], {}, "--end-time: cannot read 'soon' as a time"),
        ([SID, "--start-time", "now", "--end-time", "now-1h"], {}, "is before the session's start"),
        ([], {"HH_SESSION_ID": SID, "HH_SESSION_START_TIME": "yesterday"}, "HH_SESSION_START_TIME: cannot read 'yesterday'"),
        ([SID, "--start-time", "1764151200000", "--end-time", "1764151210000", "--duration", "5s"], {},
         "duration 5000 ms does not match end_time - start = 10000 ms (the start from --start-time)"),
        (["--end-time", "1764151210000", "--duration", "5s"], {"HH_SESSION_ID": SID, "HH_SESSION_START_TIME": "1764151200000"},
         "(the start from HH_SESSION_START_TIME); drop one"),
    ],
)
def test_bad_input_is_exit_2_and_nothing_is_sent(
    cli: Invoker, fake: FakeServer, env: dict[str, str], args: list[str], extra_env: dict[str, str], message: str
) -> None:
    result = cli("end", *args, env={**env, **extra_env})
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert fake.requests == []


def test_a_duration_with_an_end_time_left_to_default_is_sent_as_given(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    result = cli("end", SID, "--start-time", "now-1h", "--duration", "5s", env=env)
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].json()["duration"] == 5000
    fake.requests.clear()
    result = cli("end", SID, "--start-time", "1764151200000", "--end-time", "1764151210000", "--duration", "10000.6", env=env)
    assert result.exit_code == 0, result.stderr  # within a millisecond, as for start
    assert fake.requests[0].json()["duration"] == 10000.6


def test_unknown_fields_are_refused_unless_lenient(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    doc = tmp_path / "u.json"
    doc.write_text('{"output": {"a": 1}, "metadata": {"k": 1}}')
    refused = cli("end", SID, "-f", str(doc), env=env)
    assert refused.exit_code == 2 and "output: unknown field (the server would silently ignore it); did you mean outputs?" in refused.stderr
    assert fake.requests == []
    lenient = cli("end", SID, "-f", str(doc), "--lenient", "-o", "none", env=env)
    assert lenient.exit_code == 0 and "warning: " in lenient.stderr and "output: unknown field dropped" in lenient.stderr
    assert "output" not in sent(fake) and sent(fake)["metadata"] == {"k": 1}


def test_outputs_must_be_an_object(cli: Invoker, fake: FakeServer, env: dict[str, str], tmp_path: Path) -> None:
    doc = tmp_path / "u.json"
    doc.write_text('{"outputs": "done"}')
    result = cli("end", SID, "-f", str(doc), env=env)
    assert result.exit_code == 2 and "outputs: expected an object" in result.stderr and fake.requests == []


def test_dry_run_needs_no_key_and_sends_nothing(cli: Invoker, fake: FakeServer) -> None:
    result = cli("end", SID, "--end-time", "1795687260000", "--start-time", str(START), "--dry-run", env={"HH_API_URL": fake.url})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"session_id": SID, "update": {"end_time": 1795687260000, "duration": 60000}}
    assert fake.connections == 0


def test_an_unknown_session_is_exit_4_naming_the_server(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    other = "00000000-0000-4000-8000-000000000009"
    result = cli("end", other, env=env)
    assert result.exit_code == 4
    assert f"session {other} was not found at {fake.url}" in result.stderr


def test_retried_with_the_same_body(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    fake.script = [Reply(503), Reply(503)]
    result = cli("end", SID, "-o", "none", env={**env, "HH_MAX_RETRIES": "3"})
    assert result.exit_code == 0, result.stderr
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert len(puts) == 3 and len({r.body for r in puts}) == 1


def test_pretty_on_a_terminal_and_the_key_never_shown(cli: Invoker, fake: FakeServer, env: dict[str, str]) -> None:
    from hhsession.cli import main
    from tests.test_environment import environment

    injected = environment({**env, "HOME": os.environ["HOME"], "NO_COLOR": "1"}, stdout_isatty=True)
    assert main(["end", SID, "--outputs", "ok:=true", "-v"], injected) == 0
    shown = injected.stdout.getvalue()  # type: ignore[attr-defined]
    assert "HoneyHive session ended" in shown and SID in shown and '"ok": true' in shown
    assert API_KEY not in shown + injected.stderr.getvalue()  # type: ignore[attr-defined]


def test_start_then_end_in_separate_ci_steps_through_github_env(cli: Invoker, emulator: Emulator, tmp_path: Path) -> None:
    # Step 1: `hhsession start -o env >> "$GITHUB_ENV"`; step 2 runs with those variables.
    github_env = tmp_path / "github_env"
    base = {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY, "GITHUB_ENV": str(github_env)}
    step1 = cli("start", "-n", "deploy", "-o", "env", env=base)
    assert step1.exit_code == 0, step1.stderr
    github_env.write_text(step1.stdout)
    exported = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
    assert set(exported) == {"HH_SESSION_ID", "HH_SESSION_EVENT_ID", "HH_SESSION_START_TIME"}
    step2 = cli("end", "--outputs", "status=deployed", env={**base, **exported})
    assert step2.exit_code == 0, step2.stderr
    stored = emulator.store.get(exported["HH_SESSION_ID"])
    assert stored is not None and stored["outputs"] == {"status": "deployed"}
    assert stored["duration"] == stored["end_time"] - int(exported["HH_SESSION_START_TIME"]) >= 0


def test_an_empty_session_id_to_end_is_refused(cli: Invoker, fake: FakeServer) -> None:
    result = cli("end", "", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "SESSION_ID is empty" in result.stderr
    assert fake.requests == []
