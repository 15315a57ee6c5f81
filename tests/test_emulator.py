"""`hhsession emulator`: the server's rules of SPEC §1 over real HTTP on loopback."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from hhsession.emulator import Emulator, Faults, export_lines, listening_lines, token_from
from tests.emulator_http import (
    AUTH,
    SID,
    Log,
    assert_error_body,
    handler_threads,
    join_new_handlers,
    post,
    raw_connection,
)


def test_full_session_event_is_returned(emulator: Emulator) -> None:
    response = post(emulator, {"session_id": SID, "session_name": "n", "start_time": 1764151200000, "metadata": {"a": 1}})
    assert response.status_code == 200
    event = response.json()
    for key in ("event_id", "session_id", "org_id", "workspace_id", "project_id"):
        assert isinstance(event[key], str) and event[key]
    assert event["session_id"] == SID
    assert event["event_id"] == SID  # a session is the root event of its trace
    assert event["event_type"] == "session"
    assert event["event_name"] == "n"
    assert event["source"] == "unknown"
    assert event["start_time"] == 1764151200000
    assert event["metadata"] == {"a": 1}


def test_silent_fallbacks_as_the_vendor_documents(emulator: Emulator) -> None:
    before = int(time.time() * 1000)
    event = post(emulator, {"session_id": "not-a-uuid", "start_time": "2026-11-26T10:00:00Z", "end_time": "later"}).json()
    after = int(time.time() * 1000)
    assert event["session_id"] != "not-a-uuid"
    assert uuid.UUID(event["session_id"]).version == 4
    assert event["event_id"] == event["session_id"]
    assert before <= event["start_time"] <= after  # a string time becomes "now"
    assert before <= event["end_time"] <= after
    assert event["event_name"] == "unknown" and event["source"] == "unknown"
    assert post(emulator, {"session_name": "s"}).json()["event_name"] == "s"
    assert post(emulator, {}).json()["start_time"] >= before


def test_same_session_id_merges_metadata_and_user_properties(emulator: Emulator) -> None:
    first = post(emulator, {"session_id": SID, "session_name": "first", "metadata": {"a": 1, "b": 1}, "user_properties": {"u": 1}}).json()
    second = post(emulator, {"session_id": SID, "session_name": "second", "metadata": {"b": 2}, "user_properties": {"v": 2}}).json()
    assert second["event_id"] == first["event_id"] == SID
    assert second["session_name"] == "first"  # the existing event, not a new one
    assert second["metadata"] == {"a": 1, "b": 2}
    assert second["user_properties"] == {"u": 1, "v": 2}
    assert emulator.store.count() == 1


def test_legacy_route_takes_the_wrapper(emulator: Emulator) -> None:
    event = post(emulator, {"session": {"session_id": SID, "session_name": "old", "extra": 1}}, path="/session/start").json()
    assert event["session_id"] == SID and event["event_id"] == SID and event["session_name"] == "old"
    assert_error_body(post(emulator, {"session_name": "bare"}, path="/session/start"), 400)


def test_get_returns_the_stored_event_or_404(emulator: Emulator) -> None:
    post(emulator, {"session_id": SID, "session_name": "n"})
    got = requests.get(f"{emulator.url}/v1/sessions/{SID}", headers=AUTH, timeout=5)
    assert got.status_code == 200 and got.json()["session_name"] == "n"
    missing = requests.get(f"{emulator.url}/v1/sessions/{uuid.uuid4()}", headers=AUTH, timeout=5)
    assert_error_body(missing, 404)


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"{not json", "Invalid JSON body"), (b"[1, 2]", "must be a JSON object"), (b"\xff\xfe", "Invalid JSON body"),
     (json.dumps({"sessionName": "x"}).encode(), "unknown field(s) sessionName"),
     (json.dumps({"metadata": "x"}).encode(), "metadata must be an object")],
)
def test_bad_bodies_are_400_with_the_documented_error(emulator: Emulator, body: bytes, message: str) -> None:
    error = assert_error_body(post(emulator, body), 400)
    assert message in error["message"] and error["errorCode"] == "BAD_REQUEST"
    assert emulator.store.count() == 0


def test_missing_bearer_is_401(emulator: Emulator) -> None:
    assert_error_body(post(emulator, {}, headers={}), 401)
    assert_error_body(post(emulator, {}, headers={"Authorization": "Bearer "}), 401)
    assert_error_body(post(emulator, {}, headers={"Authorization": "Basic abc"}), 401)


def test_token_restricts_the_bearer() -> None:
    with Emulator(port=0, token="s3cret") as emu:
        assert_error_body(post(emu, {}, headers={"Authorization": "Bearer other"}), 401)
        assert post(emu, {}, headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_unknown_path_is_404(emulator: Emulator) -> None:
    assert_error_body(requests.get(emulator.url + "/v2/nothing", timeout=5), 404)
    assert_error_body(requests.get(emulator.url + "/v1/sessions", timeout=5), 405)


def test_sqlite_file_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "sessions.sqlite")
    with Emulator(port=0, db=db) as emu:
        post(emu, {"session_id": SID, "metadata": {"a": 1}})
    with Emulator(port=0, db=db) as emu:
        got = requests.get(f"{emu.url}/v1/sessions/{SID}", headers=AUTH, timeout=5)
        assert got.json()["metadata"] == {"a": 1}
        post(emu, {"session_id": SID, "metadata": {"b": 2}})
        assert emu.store.count() == 1
        assert emu.store.get(SID)["metadata"] == {"a": 1, "b": 2}  # type: ignore[index]


def test_a_db_from_an_older_emulator_gets_event_id_equal_to_session_id(tmp_path: Path) -> None:
    # Older emulators gave a session a random event_id; its events must still be found by session id.
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as old:
        old.execute("CREATE TABLE sessions (session_id TEXT PRIMARY KEY, event TEXT NOT NULL, created_ms INTEGER NOT NULL)")
        event = {"event_id": str(uuid.uuid4()), "session_id": SID, "event_type": "session", "metadata": {"a": 1}}
        old.execute("INSERT INTO sessions VALUES (?, ?, 0)", (SID, json.dumps(event)))
    old.close()
    with Emulator(port=0, db=str(db)) as emu:
        assert emu.store.get(SID) == {**event, "event_id": SID}
        assert requests.get(f"{emu.url}/v1/sessions/{SID}", headers=AUTH, timeout=5).json()["event_id"] == SID
    with sqlite3.connect(db) as again:
        assert again.execute("PRAGMA user_version").fetchone()[0] == 1
    again.close()


def test_concurrent_clients_lose_and_double_nothing(emulator: Emulator) -> None:
    threads, per_thread = 24, 10
    ids = [[str(uuid.uuid4()) for _ in range(per_thread)] for _ in range(threads)]
    shared = str(uuid.uuid4())
    errors: list[str] = []

    def worker(mine: list[str], index: int) -> None:
        with requests.Session() as http:
            for sid in mine:
                response = http.post(emulator.url + "/v1/sessions", json={"session_id": sid}, headers=AUTH, timeout=30)
                if response.status_code != 200 or response.json()["session_id"] != sid:
                    errors.append(f"{sid}: {response.status_code}")
            # Everyone also merges one key into the same session, at once.
            http.post(emulator.url + "/v1/sessions", json={"session_id": shared, "metadata": {f"k{index}": index}}, headers=AUTH, timeout=30)

    pool = [threading.Thread(target=worker, args=(ids[i], i)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    assert emulator.store.count() == threads * per_thread + 1
    merged = emulator.store.get(shared)
    assert merged is not None and len(merged["metadata"]) == threads  # no lost merge


def test_fault_injection_share_status_and_retry_after() -> None:
    with Emulator(port=0, faults=Faults(fail_rate=0.5, fail_status=503, retry_after=2), seed=7) as emu, \
            requests.Session() as http:  # one kept-alive connection: the share is the emulator's, not the client's
        statuses = [http.post(emu.url + "/v1/sessions", json={}, headers=AUTH, timeout=10) for _ in range(200)]
        stored = emu.store.count()
    failed = [r for r in statuses if r.status_code == 503]
    assert 60 <= len(failed) <= 140
    assert all(r.headers["Retry-After"] == "2" for r in failed)
    assert all(r.json()["errorCode"] == "SERVICE_UNAVAILABLE" for r in failed)
    assert stored == 200 - len(failed)  # an injected failure stores nothing


def test_fault_rate_one_fails_everything_and_stores_nothing() -> None:
    with Emulator(port=0, faults=Faults(fail_rate=1.0, fail_status=429)) as emu:
        response = post(emu, {"session_id": SID})
        assert_error_body(response, 429)
        assert "Retry-After" not in response.headers
        assert emu.store.count() == 0
        # The health checks are not fault targets: scripts wait on them.
        for path in ("/healthz", "/healthcheck"):
            assert requests.get(emu.url + path, timeout=5).json() == {"ok": True, "sessions": 0}


def test_health_checks_need_no_bearer_and_are_not_delayed() -> None:
    with Emulator(port=0, faults=Faults(latency_ms=1500)) as emu:
        for path in ("/healthz", "/healthcheck"):
            started = time.monotonic()
            response = requests.get(emu.url + path, timeout=5)
            assert time.monotonic() - started < 1.0
            assert response.status_code == 200 and response.json() == {"ok": True, "sessions": 0}
        assert_error_body(requests.post(emu.url + "/healthcheck", timeout=5), 405)


def test_latency_does_not_block_other_requests() -> None:
    with Emulator(port=0, faults=Faults(latency_ms=400)) as emu:
        results: list[float] = []

        def one() -> None:
            started = time.monotonic()
            post(emu, {})
            results.append(time.monotonic() - started)

        started = time.monotonic()
        pool = [threading.Thread(target=one) for _ in range(8)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        total = time.monotonic() - started
    assert min(results) >= 0.4
    # Eight delayed answers in parallel take about one delay, not eight.
    assert total < 0.4 * 8 / 2


def _emulator_process(*args: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """The running command, its URL and the export lines it printed (the last one names HH_API_KEY)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hhsession", "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline()]
    match = re.match(r"export HH_API_URL=(http://127\.0\.0\.1:\d+)", lines[0])
    assert match, lines[0]
    while "HH_API_KEY" not in lines[-1] and lines[-1]:
        lines.append(proc.stdout.readline())
    return proc, match[1], [line.rstrip("\n") for line in lines]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_command_prints_exports_logs_requests_and_stops_cleanly(sig: int) -> None:
    proc, url, exports = _emulator_process()
    try:
        response = requests.post(url + "/v1/sessions", json={"session_id": SID}, headers=AUTH, timeout=5)
        assert response.status_code == 200
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert exports == [f"export HH_API_URL={url}", f"export HH_DATA_PLANE_URL={url}",
                       "export HH_PROJECT_API_KEY=emulator", "export HH_API_KEY=emulator"]
    assert out == ""  # nothing after the exports
    assert re.search(rf"POST /v1/sessions 200 \d+ms session={SID} created", err)
    assert "stopped after 1 request(s)" in err
    assert "Traceback" not in err


def test_command_does_not_echo_the_token() -> None:
    proc, url, exports = _emulator_process("--token", "very-secret-token")
    try:
        ok = requests.post(url + "/v1/sessions", json={}, headers={"Authorization": "Bearer very-secret-token"}, timeout=5)
        assert ok.status_code == 200
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert "very-secret-token" not in "\n".join(exports) + out + err
    # Nothing to paste that could not work: the URLs, then a line that asks for the key.
    assert exports[:2] == [f"export HH_API_URL={url}", f"export HH_DATA_PLANE_URL={url}"]
    assert len(exports) == 4 and exports[2].startswith("# ") and "HH_EMULATOR_TOKEN" in exports[2]
    # Pasted into a shell on a terminal, with the token typed at the prompt: both key variables hold it.
    from tests.terminal import Terminal

    for shell in ("bash", "zsh", "dash"):
        program = shutil.which(shell)
        if program is None:
            continue  # zsh is installed by .ci/run where apt can; bash always is
        script = "\n".join(exports) + '\nprintf "\\n<%s|%s|%s>\\n" "$HH_API_URL" "$HH_PROJECT_API_KEY" "$HH_API_KEY"'
        term = Terminal(["-c", script], env={"PATH": os.environ["PATH"], "TERM": "dumb"}, program=program)
        term.read_until(b"emulator token: ")
        term.type("very-secret-token\n")
        assert term.wait(20) == 0
        shown = term.output.decode(errors="replace")
        assert f"<{url}|very-secret-token|very-secret-token>" in shown
        assert "very-secret-token" not in shown.split("<", 1)[0]  # typed without echo: only the printf shows it


def test_port_in_use_is_a_clear_error(emulator: Emulator) -> None:
    port = emulator.url.rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, "-m", "hhsession", "emulator", "--port", port], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize("content", [None, b"this is not a database at all, just text\n" * 10])
def test_bad_db_path_is_a_clear_error(tmp_path: Path, content: bytes | None) -> None:
    db = tmp_path / "no-such-dir" / "x.db" if content is None else tmp_path / "notes.db"
    if content is not None:
        db.write_bytes(content)
    result = subprocess.run([sys.executable, "-m", "hhsession", "emulator", "--port", "0", "--db", str(db)],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert f"--db {db}: cannot open it as an SQLite database" in result.stderr


# ----------------------------------------------------------------------------- clients that hang up


def _request_bytes(path: str = "/v1/sessions", body: bytes = b"{}", length: int | None = None) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n\r\n")
    return head.encode() + body


def test_a_client_that_closes_before_reading_is_one_line_never_a_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    log = Log()
    before = handler_threads()
    with Emulator(port=0, log=log, faults=Faults(latency_ms=100)) as emu:
        with raw_connection(emu) as sock:
            sock.sendall(_request_bytes(body=json.dumps({"session_id": SID}).encode()))
        log.wait_for(1)
        join_new_handlers(before)  # the connection is over: a second line, if one were coming, is written
    lines = log.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert re.search(rf"POST /v1/sessions 200 \d+ms session={SID} created", lines[0])
    assert "Traceback" not in capfd.readouterr().err


def test_a_reset_while_the_answer_is_written_is_noted_on_the_request_line(capfd: pytest.CaptureFixture[str]) -> None:
    log = Log()
    before = handler_threads()
    with Emulator(port=0, log=log, faults=Faults(latency_ms=300)) as emu:
        sock = raw_connection(emu)
        sock.sendall(_request_bytes())
        time.sleep(0.1)  # the emulator has read the request and is in its --latency
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST: the answer can only fail to go out
        log.wait_for(1)
        join_new_handlers(before)
        lines = log.getvalue().splitlines()
        assert requests.get(emu.url + "/healthz", timeout=5).json()["sessions"] == 1  # still serving
    assert len(lines) == 1
    assert re.search(r"POST /v1/sessions 200 \d+ms session=\S+ created \(client hung up mid-answer: "
                     r"(BrokenPipeError|ConnectionResetError)\)$", lines[0]), lines
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_that_hangs_up_mid_request_is_one_line(capfd: pytest.CaptureFixture[str]) -> None:
    log = Log()
    before = handler_threads()
    with Emulator(port=0, log=log) as emu:
        with raw_connection(emu) as sock:
            sock.sendall(_request_bytes(body=b'{"session_na', length=100))
        lines = log.wait_for(1)
        join_new_handlers(before)
        assert emu.store.count() == 0
    assert len(log.getvalue().splitlines()) == 1
    assert re.search(r"POST /v1/sessions - \d+ms client hung up mid-request \(12 of 100 body bytes received\)$", lines[0])
    assert "Traceback" not in capfd.readouterr().err


def test_a_20_mb_body_is_refused_unread() -> None:
    with Emulator(port=0) as emu:
        with raw_connection(emu) as sock:
            sock.sendall(_request_bytes(path=f"/v1/events/{SID}", body=b"", length=20 * 1024 * 1024).replace(b"POST", b"PUT", 1))
            answer = sock.makefile("rb").read()
        assert emu.store.count() == 0
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body) == {"statusCode": 413, "message": "Request body larger than 16 MiB",
                                "success": False, "errorCode": "PAYLOAD_TOO_LARGE"}


def test_stop_waits_for_an_answer_on_its_way_so_its_line_is_logged() -> None:
    log = io.StringIO()
    with Emulator(port=0, log=log, faults=Faults(latency_ms=300)) as emu:
        sender = threading.Thread(target=lambda: post(emu, {"session_id": SID}))
        sender.start()
        time.sleep(0.1)
    sender.join()
    assert emu.requests == 1 and f"session={SID} created" in log.getvalue()


# ----------------------------------------------------------------------------- the export lines


def _source(lines: list[str], env: dict[str, str], *, shell_options: str = "", stdin: Any = None) -> subprocess.CompletedProcess[str]:
    """Paste ``lines`` into a bash script, then print what they exported (``stdin``: text, or a file for it)."""
    script = "\n".join([shell_options, *lines,
                        'printf "%s|%s|%s|%s\\n" "$HH_API_URL" "$HH_DATA_PLANE_URL" "${HH_PROJECT_API_KEY-unset}" "${HH_API_KEY-unset}"'])
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    given = {"input": stdin} if isinstance(stdin, str) else {"stdin": stdin if stdin is not None else subprocess.DEVNULL}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env={**clean, **env}, timeout=20, **given)


def test_export_lines_without_a_token_paste_as_they_read() -> None:
    lines = export_lines("http://127.0.0.1:8787", None)
    assert lines == ["export HH_API_URL=http://127.0.0.1:8787", "export HH_DATA_PLANE_URL=http://127.0.0.1:8787",
                     "export HH_PROJECT_API_KEY=emulator", "export HH_API_KEY=emulator"]
    result = _source(lines, {})
    assert result.returncode == 0 and result.stdout == "http://127.0.0.1:8787|http://127.0.0.1:8787|emulator|emulator\n"


def test_an_ipv6_url_is_quoted_for_the_shell() -> None:
    lines = export_lines("http://[::1]:8787", None)
    assert lines[0] == "export HH_API_URL='http://[::1]:8787'"
    result = _source(lines, {}, shell_options="shopt -s failglob")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("http://[::1]:8787|http://[::1]:8787|")


def test_a_token_from_the_environment_is_exported_by_reference_never_by_value() -> None:
    lines = export_lines("http://127.0.0.1:8787", "s3cret-token", "HH_EMULATOR_TOKEN")
    assert "s3cret-token" not in "\n".join(lines)
    assert lines[2:] == ['export HH_PROJECT_API_KEY="${HH_EMULATOR_TOKEN:?is not set in this shell; export it first}"',
                         'export HH_API_KEY="${HH_EMULATOR_TOKEN:?is not set in this shell; export it first}"']
    pasted = _source(lines, {"HH_EMULATOR_TOKEN": "s3cret-token"})
    assert pasted.returncode == 0 and pasted.stdout.endswith("|s3cret-token|s3cret-token\n")
    # In a shell without the variable the lines fail loudly instead of exporting an empty key.
    missing = _source(lines, {})
    assert missing.returncode != 0 and "HH_EMULATOR_TOKEN: is not set in this shell" in missing.stderr
    assert missing.stdout == ""


def test_a_token_from_the_flag_is_asked_for_not_printed_or_put_in_a_placeholder() -> None:
    lines = export_lines("http://127.0.0.1:8787", "s3cret-token")
    assert "s3cret-token" not in "\n".join(lines) and "<" not in "\n".join(lines)
    assert len(lines) == 4 and lines[2].startswith("# ")
    # Sourced by a `set -eu` script (no terminal): nothing is read or changed, and the script goes on,
    # even when its standard input holds a line (never taken for a token) and a key was set before.
    for stdin in (subprocess.DEVNULL, "a line of the script's input\n"):
        result = _source(lines, {"HH_API_KEY": "kept"}, shell_options="set -eu", stdin=stdin)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "http://127.0.0.1:8787|http://127.0.0.1:8787|unset|kept\n"
    dash = shutil.which("dash")
    if dash is not None:  # sh on Debian: the line is harmless there too
        result = subprocess.run([dash, "-c", "set -eu\n" + "\n".join(lines) + "\necho ok"], capture_output=True,
                                text=True, stdin=subprocess.DEVNULL, timeout=10)
        assert result.returncode == 0 and result.stdout == "ok\n"


@pytest.mark.parametrize(
    ("flag", "environ", "expected"),
    [("f", {"HH_EMULATOR_TOKEN": "e"}, ("f", None)), (None, {"HH_EMULATOR_TOKEN": "e"}, ("e", "HH_EMULATOR_TOKEN")),
     (None, {"HH_EMULATOR_TOKEN": ""}, (None, None)), (None, {}, (None, None))],
)
def test_token_from_flag_then_environment(flag: str | None, environ: dict[str, str], expected: tuple[str | None, str | None]) -> None:
    assert token_from(flag, environ) == expected


def test_serve_with_the_token_from_the_environment_prints_lines_that_work() -> None:
    # What the CLI does with HH_EMULATOR_TOKEN (see token_from), end to end in a process of its own.
    code = (
        "import os, sys\n"
        "from hhsession.emulator import Emulator, serve, token_from\n"
        "token, token_env = token_from(None, os.environ)\n"
        "sys.exit(serve(Emulator(port=0, token=token, log=sys.stderr), sys.stdout, sys.stderr, token_env=token_env))\n"
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HH_")}, "HH_EMULATOR_TOKEN": "env-token-123"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(4)]
        pasted = _source(lines, {"HH_EMULATOR_TOKEN": "env-token-123"})
        url, _, _, key = pasted.stdout.strip().split("|")
        assert key == "env-token-123"
        assert requests.post(url + "/v1/sessions", json={}, headers={"Authorization": f"Bearer {key}"}, timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "env-token-123" not in "\n".join(lines) + out + err


@pytest.mark.parametrize(("bound", "token"), [("0.0.0.0", False), ("::", False), ("192.0.2.7", True)])
def test_listening_beyond_loopback_says_where_and_warns(bound: str, token: bool) -> None:
    # (Said from the address bound; a test binds only loopback, so the lines are checked as serve writes them.)
    first, warning = listening_lines(bound, 8787, "http://127.0.0.1:8787", "in memory", token).splitlines()
    shown = f"[{bound}]" if ":" in bound else bound
    assert first.startswith(f"hhsession emulator listening on {shown}:8787 ") and "http://127.0.0.1:8787" in first
    assert warning.startswith(f"hhsession: warning: listening beyond loopback ({bound})")
    assert ("any bearer token" in warning) is not token and "--host 127.0.0.1" in warning
    assert listening_lines("127.0.0.1", 1, "http://127.0.0.1:1", "in memory", False).count("\n") == 1  # no warning


@pytest.mark.parametrize("lengths", [(b"5", b"6"), (b"5, 6",), (b"5", b"5, 7")])
def test_conflicting_content_lengths_are_400_and_close(lengths: tuple[bytes, ...]) -> None:
    with Emulator(port=0) as emu, raw_connection(emu) as sock:
        fields = b"".join(b"Content-Length: " + value + b"\r\n" for value in lengths)
        sock.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\n"
                     + fields + b"\r\n{}\r\n")
        answer = sock.makefile("rb").read()  # to the end: the emulator closes the connection
        assert answer.startswith(b"HTTP/1.1 400 ") and b"Conflicting Content-Length" in answer
        assert emu.store.count() == 0


def test_equal_content_lengths_are_one() -> None:
    with Emulator(port=0) as emu, raw_connection(emu) as sock:
        sock.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        assert sock.makefile("rb").read().startswith(b"HTTP/1.1 200 ")


def _answer_to(emu: Emulator, head: bytes, body: bytes) -> bytes:
    with raw_connection(emu) as sock:
        sock.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\n" + head + b"\r\n" + body)
        return sock.makefile("rb").read()


def test_a_chunked_body_is_read_as_vendor_tracers_send_it() -> None:
    document = json.dumps({"session_id": SID, "session_name": "chunked"}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (document[:10], document[10:])) + b"0\r\n\r\n"
    with Emulator(port=0) as emu:
        answer = _answer_to(emu, b"Transfer-Encoding: chunked\r\n", chunks)
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        assert emu.store.get(SID)["session_name"] == "chunked"  # type: ignore[index]


def test_a_gzipped_body_is_unzipped_and_what_cannot_be_read_is_said() -> None:
    import gzip

    document = json.dumps({"session_id": SID, "session_name": "zipped"}).encode()
    packed = gzip.compress(document)
    with Emulator(port=0) as emu:
        ok = _answer_to(emu, b"Content-Encoding: gzip\r\nContent-Length: %d\r\n" % len(packed), packed)
        assert ok.startswith(b"HTTP/1.1 200 ") and emu.store.get(SID)["session_name"] == "zipped"  # type: ignore[index]
        bad = _answer_to(emu, b"Content-Encoding: gzip\r\nContent-Length: 4\r\n", b"nope")
        assert bad.startswith(b"HTTP/1.1 400 ") and b"not valid gzip" in bad
        other = _answer_to(emu, b"Content-Encoding: br\r\nContent-Length: 2\r\n", b"{}")
        assert other.startswith(b"HTTP/1.1 415 ")
        framing = _answer_to(emu, b"Transfer-Encoding: gzip\r\n", b"")
        assert framing.startswith(b"HTTP/1.1 501 ") and b"application/json" in framing
