"""`hhsession start` end to end against a recording server on loopback: the payload, output modes, bad input,
the server's answers, Ctrl-C; standard input it leaves unread (and says so); durations a newcomer may misread."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hhsession.emulator import Emulator
from tests.conftest import API_KEY, Invoker, assert_valid_request
from tests.fakeserver import Drop, FakeServer, Reply

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_start_sends_the_bare_payload_with_bearer_auth(
    cli: Invoker, fake: FakeServer, key_env: dict[str, str], request_schema: dict[str, Any]
) -> None:
    result = cli(
        "start", "--name", "nightly-eval", "--source", "ci", "-m", "branch=main", "-m", "run:=42",
        "-u", "gen_ai.user=alice", "--config", '{"model": "gpt"}', "--child", "c1", "--child", "c2",
        "--start-time", "2026-11-26T10:00:00Z", "--end-time", "2026-11-26T10:00:01.5Z",
        env=key_env,
    )
    assert result.exit_code == 0, result.stderr
    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/sessions")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    sent = assert_valid_request(request.body, request_schema)
    assert UUID.match(sent["session_id"])
    assert sent == {
        "session_id": sent["session_id"],
        "session_name": "nightly-eval",
        "event_name": "nightly-eval",
        "source": "ci",
        "start_time": 1795687200000,
        "end_time": 1795687201500,
        "duration": 1500,
        "config": {"model": "gpt"},
        "metadata": {"branch": "main", "run": 42},
        "user_properties": {"gen_ai.user": "alice"},
        "children_ids": ["c1", "c2"],
    }
    # Not a terminal: the returned event as one JSON document.
    event = json.loads(result.stdout)
    assert event["session_id"] == sent["session_id"]
    assert event["project_id"] == "proj_fake"


def test_session_name_alias(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    assert cli("start", "--session-name", "a", "-o", "none", env=key_env).exit_code == 0
    assert fake.requests[0].json()["session_name"] == "a"


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("id", lambda out, sid: out == f"{sid}\n"),
        ("env", lambda out, sid: out.startswith(f"HH_SESSION_ID={sid}\nHH_SESSION_EVENT_ID=")),
        ("none", lambda out, sid: out == ""),
        ("json", lambda out, sid: json.loads(out)["session_id"] == sid),
    ],
)
def test_output_formats(cli: Invoker, emulator: Emulator, fmt: str, check: Any) -> None:
    sid = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"
    result = cli("start", "--session-id", sid, "-o", fmt, env={"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 0, result.stderr
    assert check(result.stdout, sid)
    assert emulator.store.get(sid) is not None


def test_pretty_output_is_a_readable_panel(cli: Invoker, emulator: Emulator) -> None:
    result = cli(
        "start", "-n", "demo", "--source", "ci", "-m", "branch=main",
        "--start-time", "2026-11-26T10:00:00Z", "--duration", "90s", "-o", "pretty",
        env={"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY},
    )
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert emulator.store.count() == 1
    assert "HoneyHive session started" in out
    for text in ("demo", "ci", "proj_emulator", "2026-11-26", "1 m 30 s", '"branch": "main"'):
        assert text in out, text
    assert "\x1b[" not in out  # not a terminal: no colour codes


def test_file_and_flags_layer(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    path.write_text(json.dumps({"session_name": "from-file", "source": "file", "metadata": {"a": 1, "b": 1}}))
    result = cli("start", "-f", str(path), "--source", "flag", "-m", "b=2", "-o", "id", env=key_env)
    assert result.exit_code == 0, result.stderr
    sent = fake.requests[0].json()
    assert (sent["session_name"], sent["source"], sent["metadata"]) == ("from-file", "flag", {"a": 1, "b": "2"})


def test_stdin_only_when_asked(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    piped = '{"session_name": "etl", "start_time": "2026-11-26T10:00:00Z"}'
    result = cli("start", "-f", "-", "-o", "id", input=piped, env=key_env)
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].json()["session_name"] == "etl"
    assert result.stdout.strip() == fake.requests[0].json()["session_id"]
    # Without -f -, standard input is left alone.
    result = cli("start", "-o", "id", input=piped, env=key_env)
    assert result.exit_code == 0
    assert "session_name" not in fake.requests[1].json()


def test_source_default_from_hh_source(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    assert cli("start", "-o", "none", env={**key_env, "HH_SOURCE": "nightly"}).exit_code == 0
    assert fake.requests[0].json()["source"] == "nightly"


def test_legacy_wrapper_file_is_sent_bare(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text('{"session": {"session_name": "old"}}')
    assert cli("start", "-f", str(path), "-o", "none", env=key_env).exit_code == 0
    sent = fake.requests[0].json()
    assert "session" not in sent and sent["session_name"] == "old"


def test_dry_run_needs_no_key_and_sends_nothing(cli: Invoker, fake: FakeServer) -> None:
    result = cli("start", "-n", "x", "--session-id", "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17",
                 "--start-time", "1764151200000", "--dry-run", env={"HH_API_URL": fake.url})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "session_id": "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17",
        "session_name": "x",
        "event_name": "x",
        "source": "unknown",
        "start_time": 1764151200000,
    }
    assert fake.requests == [] and fake.connections == 0


def test_lenient_warns_and_sends(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    result = cli("start", "--session-id", "not-a-uuid", "--lenient", "-o", "id", env=key_env)
    assert result.exit_code == 0
    assert "hhsession: warning: --session-id: 'not-a-uuid' is not a UUID; using" in result.stderr
    assert UUID.match(fake.requests[0].json()["session_id"])


# ----------------------------------------------------------------------------- bad input: exit 2, nothing sent

BAD_INPUTS = [
    (["--session-id", "abc"], "--session-id: 'abc' is not a UUID"),
    (["--start-time", "1764151200"], "--start-time: 1764151200 looks like Unix seconds (2025-11-2"),
    (["--start-time", "1764151200"], "as seconds), not milliseconds (1970-01-2"),
    (["--start-time", "1764151200"], "); write 1764151200s or multiply by 1000 (1764151200000)"),
    (["--start-time", "next tuesday"], "--start-time: cannot read 'next tuesday' as a time"),
    (["--start-time", "now", "--end-time", "now-1h"], "--end-time: end_time"),
    (["--start-time", "1764151200000", "--end-time", "1764151201000", "--duration", "5s"], "does not match end_time - start_time"),
    (["--duration", "fast"], "--duration: cannot read 'fast' as a duration"),
    (["-m", "novalue"], "--metadata 'novalue': expected key=value, key:=JSON"),
    (["-m", "n:={bad"], "invalid JSON at line 1 column 2"),
    (["--children-ids", '["a", 1]'], "--children-ids[1]: expected a string id"),
    (["--children-ids", '"a"'], "--children-ids: expected an array of strings"),
    (["-f", "/no/such/file.json"], "/no/such/file.json: no such file"),
    (["-o", "yaml"], "hhsession: error: Invalid value for '--output' / '-o': 'yaml' is not one of 'pretty', 'json', 'id', 'env', 'none'; see hhsession start --help"),
    (["--nmae", "x"], "hhsession: error: No such option: --nmae"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_and_sends_nothing(
    cli: Invoker, fake: FakeServer, key_env: dict[str, str], args: list[str], message: str
) -> None:
    result = cli("start", *args, env=key_env)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert fake.requests == [] and fake.connections == 0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"sessionName": "x"}', "standard input: sessionName: unknown field; did you mean session_name?"),
        ('{"metadata": "x"}', "standard input: metadata: expected an object"),
        ('{"session_name": "x",\n "start_time": }', "standard input: invalid JSON at line 2 column 16"),
        ("[1]", "standard input: expected one JSON object {...}, got an array; to start a session for each, use hhsession replay"),
        ('{"start_time": 1764151200}', "standard input: start_time: 1764151200 looks like Unix seconds"),
    ],
)
def test_bad_documents_on_stdin(cli: Invoker, fake: FakeServer, key_env: dict[str, str], document: str, message: str) -> None:
    result = cli("start", "-f", "-", input=document, env=key_env)
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(message) or message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert fake.requests == []


def test_non_utf8_and_oversized_files(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path) -> None:
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"session_name": "caf\xe9"}')
    result = cli("start", "-f", str(latin), env=key_env)
    assert result.exit_code == 2 and "not UTF-8" in result.stderr
    big = tmp_path / "big.json"
    with big.open("w") as handle:
        handle.write('{"inputs": {"x": "' + "a" * (16 * 1024 * 1024) + '"}}')
    result = cli("start", "-f", str(big), env=key_env)
    assert result.exit_code == 2 and "larger than 16 MiB" in result.stderr
    assert fake.requests == []


def test_no_api_key_is_exit_3_and_sends_nothing(cli: Invoker, fake: FakeServer) -> None:
    result = cli("start", "-n", "x", env={"HH_API_URL": fake.url})
    assert result.exit_code == 3
    assert "no API key: set HH_PROJECT_API_KEY (or HH_API_KEY)" in result.stderr
    assert fake.connections == 0


# ----------------------------------------------------------------------------- server answers


@pytest.mark.parametrize(
    ("reply", "code", "message"),
    [
        (Reply(400, {"statusCode": 400, "message": "Invalid session data", "success": False, "errorCode": "BAD_REQUEST"}), 4,
         "the server rejected the session (400 X: Invalid session data)"),
        (Reply(422, "plain text problem"), 4, "422 X: plain text problem"),
        (Reply(404, {"message": "Cannot POST /v1/v1/sessions"}), 4, "does not take sessions: check --api-url (the base URL, without /v1)"),
        (Reply(401, {"message": "Invalid API key"}), 3, "the server refused the API key for POST http://127.0.0.1:"),
        (Reply(403, {"message": "Forbidden"}), 3, "/v1/sessions (403 X: Forbidden); check HH_PROJECT_API_KEY"),
        (Reply(500, {"message": "boom"}), 5, "500 X: boom (1 attempt over"),
        (Reply(501, {"message": "nope"}), 5, "does not implement POST there: it does not look like the HoneyHive API"),
        (Reply(503, {"message": "busy"}), 5, "503 X: busy (1 attempt over"),
        (Reply(200, "<html>login page</html>"), 5, "not with a JSON object: '<html>login page</html>'"),
        (Reply(200, [1, 2]), 5, "not with a JSON object"),
        (Reply(302, b"", {"Location": "https://elsewhere.example/v1/sessions"}), 5,
         "redirecting to https://elsewhere.example/v1/sessions; redirects are not followed"),
    ],
)
def test_server_answers_map_to_exit_codes(
    cli: Invoker, fake: FakeServer, key_env: dict[str, str], reply: Reply, code: int, message: str
) -> None:
    fake.script = [reply]
    result = cli("start", "-n", "x", env=key_env)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert len(fake.requests) == 1  # not retried, redirect not followed


def test_long_non_json_body_is_cut_to_200_characters(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    fake.script = [Reply(200, "x" * 1000)]
    result = cli("start", env=key_env)
    assert result.exit_code == 5
    assert "'" + "x" * 200 + "'" in result.stderr and "x" * 201 not in result.stderr


def test_netrc_cannot_replace_the_bearer(cli: Invoker, fake: FakeServer, key_env: dict[str, str], isolated_home: Path) -> None:
    netrc = isolated_home / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    assert cli("start", "-o", "none", env=key_env).exit_code == 0
    assert fake.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_read_timeout_is_a_network_failure(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    fake.script = [Reply(delay=1.5)]
    result = cli("start", "--timeout", "0.3", env=key_env)
    assert result.exit_code == 5
    assert "no response within 0.3 s (read timeout)" in result.stderr


def test_the_key_never_appears_even_when_the_server_echoes_it(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    fake.script = [Reply(400, {"message": f"bad key {API_KEY} in request"})]
    result = cli("start", "-v", env=key_env)
    assert result.exit_code == 4
    assert API_KEY not in result.stdout + result.stderr
    assert "hh_…TKEY" in result.stderr  # masked: first 3, last 4
    assert "Authorization: Bearer hh_…TKEY" in result.stderr


def test_verbose_says_where_settings_came_from(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    result = cli("start", "-v", "-o", "none", env=key_env)
    assert result.exit_code == 0
    assert "api_key: hh_…TKEY (environment HH_API_KEY)" in result.stderr
    assert f"api_url: {fake.url} (environment HH_API_URL)" in result.stderr
    assert "attempt 1/1: 200" in result.stderr
    assert API_KEY not in result.stderr


def test_schema_command_prints_a_json_schema(cli: Invoker) -> None:
    result = cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) >= {"session_id", "start_time", "children_ids"}


def test_unexpected_errors_are_one_line_and_verbose_adds_the_traceback(
    cli: Invoker, fake: FakeServer, key_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import hhsession.render

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"renderer exploded near {API_KEY}")

    monkeypatch.setattr(hhsession.render, "render_started", broken)
    quiet = cli("start", "-o", "json", env=key_env)
    assert quiet.exit_code == 1
    assert quiet.stderr.startswith("hhsession: error: internal error: RuntimeError: renderer exploded")
    assert "rerun with --verbose" in quiet.stderr
    assert len(quiet.stderr.strip().splitlines()) == 1
    loud = cli("start", "-o", "json", "-v", env=key_env)
    assert loud.exit_code == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert API_KEY not in quiet.stderr + loud.stderr


@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("1", False)])
def test_pretty_is_the_default_on_a_terminal(emulator: Emulator, no_color: str | None, coloured: bool) -> None:
    from tests.terminal import Terminal

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update({"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY, "TERM": "xterm-256color"})
    if no_color:
        env["NO_COLOR"] = no_color
    term = Terminal(["start", "-n", "on-a-tty"], env=env)
    assert term.wait() == 0
    screen = term.output.decode()
    assert "HoneyHive session started" in screen and "on-a-tty" in screen
    # NO_COLOR removes colours (SGR 30-38, 90-97), not bold: rich's rules.
    colours = re.findall(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])(?:;[0-9;]*)?m", screen)
    assert bool(colours) is coloured
    assert not screen.lstrip().startswith("{")  # not JSON


@pytest.mark.parametrize(("signum", "code", "said"), [(signal.SIGINT, 130, "interrupted"),
                                                       (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_say_which_session_may_be_stored(fake: FakeServer, signum: int, code: int,
                                                            said: str) -> None:
    import subprocess

    fake.script = [Reply(delay=10)]
    env = {**os.environ, "HH_API_URL": fake.url, "HH_API_KEY": API_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "hhsession", "start", "-n", "x"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert fake.wait_for_requests(1)  # the answer is 10 s away
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=20)
    sent = fake.requests[0].json()["session_id"]
    assert proc.returncode == code and out == ""
    assert err.strip() == (f"hhsession: {said}; the server may have stored session {sent}: run again with the same "
                           f"session_id (--session-id {sent}), which is safe (the server merges, never duplicates)")


def test_an_existing_session_id_is_flagged(cli: Invoker, emulator: Emulator) -> None:
    env = {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    sid = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"
    first = cli("start", "--session-id", sid, "-n", "first", "-m", "a=1", "-o", "id", env=env)
    assert first.exit_code == 0 and "warning" not in first.stderr
    second = cli("start", "--session-id", sid, "-n", "second", "-m", "b=2", "-o", "json", env=env)
    assert second.exit_code == 0
    assert f"warning: session {sid} already existed: the server kept its session_name, event_name and merged" in second.stderr
    event = json.loads(second.stdout)
    assert event["session_name"] == "first" and event["metadata"] == {"a": "1", "b": "2"}


def test_a_retry_after_a_lost_response_is_not_flagged(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    fake.script = [Drop(store=True)]
    result = cli("start", "-n", "once", "-o", "id", env={**key_env, "HH_MAX_RETRIES": "1"})
    assert result.exit_code == 0 and "warning" not in result.stderr


# ----------------------------------------------------------------------------- standard input left unread
# (in a process of its own: what is peeked at is a real pipe, file or closed descriptor)

PY = sys.executable
NOT_READ = "standard input holds data that is not read; to read a JSON object from it, pass -f -"


def hhsession(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    return subprocess.run([PY, "-m", "hhsession", *args], capture_output=True, text=True, env={**full, **(env or {})},
                          timeout=120, **kwargs)


REFUSED = ("hhsession: error: standard input holds JSON that is not read without -f -; nothing was sent: add -f - "
           "to start from it, or give </dev/null to start a session with no name\n")


def test_piped_json_without_f_dash_is_refused_and_nothing_is_sent(fake: FakeServer, tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HH_")}, "HH_API_URL": fake.url, "HH_API_KEY": API_KEY}
    piped = subprocess.run(f"echo '{{\"session_name\": \"x\"}}' | {PY} -m hhsession start", shell=True,
                           capture_output=True, text=True, timeout=60, env=env)
    assert piped.returncode == 2 and piped.stderr == REFUSED and piped.stdout == ""
    # A slow producer: the JSON comes after hhsession looks (within a fifth of a second).
    slow = subprocess.run(f"(sleep 0.05; echo '{{}}') | {PY} -m hhsession start", shell=True,
                          capture_output=True, text=True, timeout=60, env=env)
    assert slow.returncode == 2 and slow.stderr == REFUSED
    assert fake.requests == []
    # With a name the session is meant from the flags: the JSON is only said to be unread.
    named = subprocess.run(f"echo '{{}}' | {PY} -m hhsession start --dry-run --name n", shell=True,
                           capture_output=True, text=True, timeout=60)
    assert named.returncode == 0 and NOT_READ in named.stderr
    doc = tmp_path / "doc.json"
    doc.write_text('{"session_name": "x"}')
    with doc.open("rb") as handle:
        assert hhsession("start", "--dry-run", stdin=handle).stderr == REFUSED
        assert NOT_READ in hhsession("end", "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17", "--dry-run", stdin=handle).stderr
    asked = subprocess.run(f"echo '{{\"session_name\": \"x\"}}' | {PY} -m hhsession start -f - --dry-run", shell=True,
                           capture_output=True, text=True, timeout=60)
    assert NOT_READ not in asked.stderr and json.loads(asked.stdout)["session_name"] == "x"


def test_update_with_only_piped_json_says_so_in_one_line_and_sends_nothing(fake: FakeServer) -> None:
    # Nothing but the JSON it did not read: one error (what, how to fix), not a warning and then
    # "nothing to update". With a field flag, the update is meant from the flags: only a warning.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HH_")}, "HH_API_URL": fake.url, "HH_API_KEY": API_KEY}
    sid = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"
    piped = subprocess.run(f"echo '{{\"metadata\": {{\"a\": 1}}}}' | {PY} -m hhsession update {sid}", shell=True,
                           capture_output=True, text=True, timeout=60, env=env)
    assert piped.returncode == 2 and piped.stdout == ""
    assert piped.stderr == ("hhsession: error: standard input holds JSON that is not read without -f -; nothing was "
                            "sent: add -f - to update from it\n")
    assert fake.requests == []
    flagged = subprocess.run(f"echo '{{}}' | {PY} -m hhsession update {sid} -m b=2 --dry-run", shell=True,
                             capture_output=True, text=True, timeout=60, env=env)
    assert flagged.returncode == 0 and flagged.stderr == f"hhsession: warning: {NOT_READ}\n"


@pytest.mark.parametrize("stdin", ["devnull", "empty pipe", "closed", "text file", "blank line"])
def test_nothing_is_said_or_waited_for_on_an_empty_or_closed_stdin(tmp_path: Path, stdin: str) -> None:
    started = time.monotonic()
    if stdin == "devnull":
        result = hhsession("start", "--dry-run", stdin=subprocess.DEVNULL)
    elif stdin == "empty pipe":
        result = subprocess.run(f"true | {PY} -m hhsession start --dry-run", shell=True, capture_output=True, text=True, timeout=60)
    elif stdin == "blank line":  # `echo | hhsession start`: nothing that -f - could read
        result = subprocess.run(f"echo | {PY} -m hhsession start --dry-run", shell=True, capture_output=True, text=True, timeout=60)
    elif stdin == "closed":
        result = subprocess.run(f"{PY} -m hhsession start --dry-run <&-", shell=True, capture_output=True, text=True, timeout=60)
    else:  # a script's loop reading lines from a file: not JSON, not a mistake
        lines = tmp_path / "names.txt"
        lines.write_text("alpha\nbeta\n")
        with lines.open("rb") as handle:
            result = hhsession("start", "--dry-run", stdin=handle)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert time.monotonic() - started < 20


def test_a_shell_loop_reading_a_pipe_is_not_a_mistake_and_keeps_its_lines() -> None:
    """`producer | while read n; do hhsession start --name "$n"; done`: the pipe's next line is the loop's."""
    script = (f'printf "alpha\\nbeta\\ngamma\\n" | while read n; do '
              f'{PY} -m hhsession start --dry-run -o id --name "$n" >/dev/null; echo "got $n"; done')
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["got alpha", "got beta", "got gamma"]  # peeked at, never taken
    assert NOT_READ not in result.stderr
    # The same loop whose next line is JSON: that is what -f - would have read, so it is said.
    script = (f'printf "first\\n{{\\"session_name\\": \\"x\\"}}\\n" | (read n; '
              f'{PY} -m hhsession start --dry-run -o id --name "$n" >/dev/null; cat)')
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert NOT_READ in result.stderr and result.stdout == '{"session_name": "x"}\n'


# ----------------------------------------------------------------------------- durations a newcomer may misread


@pytest.mark.parametrize(("command", "value", "warned"), [
    (["start", "--dry-run"], "1.5", True), (["start", "--dry-run"], "999", True), (["start", "--dry-run"], "1000", False),
    (["start", "--dry-run"], "1.5s", False), (["end", "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17", "--dry-run"], "30", True),
])
def test_a_bare_small_duration_flag_shows_both_readings(cli: Invoker, command: list[str], value: str, warned: bool) -> None:
    result = cli(*command, "--duration", value)
    assert result.exit_code == 0, result.stderr
    said = f"warning: --duration {value} is {value} ms (milliseconds); if you meant seconds, write --duration {value}s"
    assert (said in result.stderr) is warned


def test_a_duration_in_json_stays_milliseconds_silently(cli: Invoker, tmp_path: Path) -> None:
    doc = tmp_path / "d.json"
    doc.write_text('{"duration": 1.5}')
    result = cli("start", "-f", str(doc), "--dry-run")
    assert result.exit_code == 0 and "warning" not in result.stderr and json.loads(result.stdout)["duration"] == 1.5


# ----------------------------------------------------------------------------- an output that cannot be written


@pytest.mark.parametrize(("tail", "why"), [(">/dev/full", "No space left on device"), (">&-", "it is closed")])
def test_an_output_that_cannot_be_written_is_exit_7_naming_it(emulator: Emulator, tail: str, why: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    env.update({"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY})
    result = subprocess.run(["sh", "-c", f'"$0" -m hhsession start -o json {tail}', sys.executable],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 7
    assert result.stderr.startswith(f"hhsession: error: cannot write standard output ({why}") and "internal" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
