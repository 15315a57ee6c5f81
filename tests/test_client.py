"""``hhsession.Client``: the library every command uses, tested as a Python caller uses it.

Against real servers on loopback: the recording fake server (which checks every
body against tests/contract/) and the emulator.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import hhsession
from hhsession import AuthError, Client, ExitCode, InvalidInput, NetworkError, RejectedError
from hhsession.emulator import Emulator
from hhsession.retry import RetryPolicy
from tests.conftest import API_KEY
from tests.fakeserver import FakeServer, Reply

SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"
REPO = Path(__file__).resolve().parents[1]


def client_for(server: FakeServer, **kwargs: Any) -> Client:
    kwargs.setdefault("api_key", API_KEY)
    return Client(api_url=server.url, **kwargs)


def no_sleep_policy(retries: int = 3) -> RetryPolicy:
    return RetryPolicy(max_retries=retries, sleep=lambda s: None, jitter=lambda: 0.5)


# ----------------------------------------------------------------------------- start


def test_start_takes_typed_fields_and_returns_the_started_session(fake: FakeServer) -> None:
    with client_for(fake, source="lib") as hh:
        s = hh.start(session_name="nightly", metadata={"run": 3}, start_time=datetime(2026, 11, 26, 10, tzinfo=UTC))
    (request,) = fake.requests
    assert request.method == "POST" and request.path == "/v1/sessions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    sent = request.json()
    assert sent == {**s.payload}
    assert sent["session_name"] == "nightly" and sent["metadata"] == {"run": 3} and sent["source"] == "lib"
    assert sent["start_time"] == 1795687200000
    assert s.session_id == sent["session_id"] and s.session_id in fake.sessions
    assert s.event["event_type"] == "session" and s.event_id == s.event["event_id"]


def test_start_merges_keywords_over_a_document(fake: FakeServer) -> None:
    with client_for(fake) as hh:
        s = hh.start({"session_name": "doc", "metadata": {"a": 1, "b": 1}}, metadata={"b": 2})
    assert s.payload["session_name"] == "doc" and s.payload["metadata"] == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"session_name": 5}, "start(): session_name: expected a string, got a number"),
        ({"sessionName": "x"}, "start(): sessionName: unknown field; did you mean session_name?"),
        ({"session_id": "abc"}, "'abc' is not a UUID"),
        ({"start_time": 1764151200}, "looks like Unix seconds"),
        ({"metadata": ["a"]}, "start(): metadata: expected an object"),
    ],
)
def test_bad_input_is_invalid_input_and_nothing_is_sent(fake: FakeServer, fields: dict[str, Any], message: str) -> None:
    with client_for(fake) as hh, pytest.raises(InvalidInput) as info:
        hh.start(**fields)
    assert message in info.value.message
    assert info.value.exit_code == ExitCode.USAGE == 2
    assert fake.requests == []


def test_no_key_is_an_auth_error_before_anything_is_sent(fake: FakeServer) -> None:
    hh = Client(api_url=fake.url)
    assert hh.build_start(session_name="dry").payload["event_name"] == "dry"  # building needs no key
    with pytest.raises(AuthError) as info:
        hh.start(session_name="x")
    assert info.value.exit_code == 3 and "no API key" in info.value.message
    assert fake.requests == [] and fake.connections == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_url": "ftp://x"}, "Client(api_url=...): 'ftp://x' is not an http(s) URL"),
        ({"api_url": "http://[::1"}, "is not a valid URL"),
        ({"timeout": 0}, "Client(timeout=...)"),
        ({"max_retries": -1}, "Client(max_retries=...)"),
        ({"api_key": "has space"}, "Client(api_key=...): the API key contains spaces"),
    ],
)
def test_bad_construction_is_invalid_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Client(**kwargs)
    assert message in info.value.message and info.value.exit_code == 2


def test_plain_http_to_a_remote_host_is_refused_before_any_connection() -> None:
    hh = Client(api_url="http://192.0.2.1:8080", api_key=API_KEY)  # TEST-NET-1: never reachable
    with pytest.raises(InvalidInput, match="refusing to send the API key over plain http to 192.0.2.1"):
        hh.start()


def test_repr_and_errors_never_show_the_key(fake: FakeServer) -> None:
    fake.script = [Reply(400, {"message": f"bad key {API_KEY} here"})]
    hh = client_for(fake)
    assert API_KEY not in repr(hh) and "hh_…TKEY" in repr(hh)
    with pytest.raises(RejectedError) as info:
        hh.start()
    assert API_KEY not in info.value.message and "hh_…TKEY" in info.value.message


def test_a_warning_goes_to_the_callback_or_to_python_warnings(fake: FakeServer) -> None:
    said: list[str] = []
    with client_for(fake, warn=said.append) as hh:
        hh.start({"session_name": "x", "extra": 1}, lenient=True)
    assert said == ["start(): extra: unknown field dropped (allowed: " + ", ".join(hhsession.payload.FIELDS) + ")"]
    with client_for(fake) as hh, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hh.start({"session_name": "x", "extra": 1}, lenient=True)
    assert "extra: unknown field dropped" in str(caught[0].message)


def test_from_env_resolves_as_the_cli_does_without_flags(fake: FakeServer, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.ci]\napi_url = "{fake.url}"\nsource = "from-profile"\n')
    environ = {"HHSESSION_CONFIG": str(config), "HH_API_KEY": API_KEY}
    with Client.from_env("ci", environ=environ) as hh:
        s = hh.start(session_name="env")
    assert s.payload["source"] == "from-profile"
    assert fake.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    with pytest.raises(InvalidInput, match="profile 'nope'"):
        Client.from_env("nope", environ=environ)


# ----------------------------------------------------------------------------- end


def test_end_puts_the_update_and_knows_the_start_of_a_session_it_started(fake: FakeServer) -> None:
    with client_for(fake) as hh:
        s = hh.start(session_name="job", start_time="now-90s")
        e = hh.end(s.session_id, outputs={"ok": True}, metadata={"exit": 0}, metrics={"n": 2})
    put = fake.requests[-1]
    assert put.method == "PUT" and put.path == f"/v1/events/{s.session_id}"
    body = put.json()
    assert body == e.update
    assert set(body) == {"end_time", "duration", "outputs", "metadata", "metrics"}
    assert isinstance(body["end_time"], int) and body["duration"] == body["end_time"] - s.payload["start_time"]
    assert 90_000 <= body["duration"] < 100_000
    assert fake.sessions[s.session_id]["outputs"] == {"ok": True}
    assert e.answer == {"success": True}


def test_end_of_a_started_session_object_and_an_explicit_start(fake: FakeServer) -> None:
    with client_for(fake) as hh:
        s = hh.start(session_name="job")
        hh.end(s, end_time=s.payload["start_time"] + 1500)
        hh.end(s.session_id, start_time="2026-11-26T10:00:00Z", end_time="2026-11-26T10:00:02.5Z")
        hh.end(s.session_id, duration=timedelta(seconds=3), children_ids=["c1"])
    first, second, third = (r.json() for r in fake.requests[1:])
    assert first["duration"] == 1500
    assert second == {"end_time": 1795687202500, "duration": 2500}
    assert third["duration"] == 3000 and third["children_ids"] == ["c1"]


def test_end_without_a_known_start_sends_no_duration(fake: FakeServer) -> None:
    fake.sessions[SID] = {"session_id": SID}
    with client_for(fake) as hh:
        e = hh.end(SID)
    assert set(e.update) == {"end_time"}


@pytest.mark.parametrize(
    ("session", "fields", "message"),
    [
        ("not-a-uuid", {}, "session id 'not-a-uuid' is not a UUID"),
        (SID, {"outputs": "done"}, "end(): outputs: expected an object"),
        (SID, {"children_ids": []}, "children_ids: is empty; the server ignores an empty children_ids"),
        (SID, {"feedbacks": {"x": 1}}, "end(): feedbacks: unknown field (the server would silently ignore it); did you mean feedback?"),
        (SID, {"session_name": "x"}, "session_name: unknown field (the server would silently ignore it)"),
        (SID, {"start_time": "now", "end_time": "now-1h"}, "is before the session's start"),
        (SID, {"event_id": "00000000-0000-4000-8000-000000000000"}, "is not the session being ended"),
    ],
)
def test_end_refuses_what_the_server_would_ignore_or_reject(
    fake: FakeServer, session: str, fields: dict[str, Any], message: str
) -> None:
    with client_for(fake) as hh, pytest.raises(InvalidInput) as info:
        hh.end(session, **fields)
    assert message in info.value.message and info.value.exit_code == 2
    assert fake.requests == []


def test_end_lenient_drops_unknown_fields_with_a_warning(fake: FakeServer) -> None:
    fake.sessions[SID] = {"session_id": SID}
    said: list[str] = []
    with client_for(fake, warn=said.append) as hh:
        e = hh.end(SID, {"outputs": {"a": 1}, "bogus": 1}, lenient=True)
    assert "bogus" not in e.update and said and "bogus: unknown field dropped" in said[0]


def test_end_of_an_unknown_session_is_rejected_naming_the_server(fake: FakeServer) -> None:
    with client_for(fake) as hh, pytest.raises(RejectedError) as info:
        hh.end(SID)
    assert info.value.exit_code == 4
    assert f"session {SID} was not found at {fake.url}" in info.value.message
    assert "(404 X: Event not found)" in info.value.message


def test_end_is_retried_with_the_same_body_and_errors_name_the_operation(fake: FakeServer) -> None:
    fake.sessions[SID] = {"session_id": SID}
    fake.script = [Reply(503), Reply(503)]
    with client_for(fake, retry=no_sleep_policy()) as hh:
        e = hh.end(SID, outputs={"ok": True})
    assert e.attempts == 3 and len({r.body for r in fake.requests}) == 1
    fake.script = [Reply(503, {"message": "down"})] * 2
    with client_for(fake, retry=no_sleep_policy(1)) as hh, pytest.raises(NetworkError) as info:
        hh.end(SID)
    assert f"PUT {fake.url}/v1/events/{SID} failed: 503 X: down (2 attempts over" in info.value.message
    fake.script = [Reply(400, {"message": "nope"})]
    with client_for(fake) as hh, pytest.raises(RejectedError) as rejected:
        hh.end(SID)
    assert f"the server rejected the update of session {SID} (400 X: nope)" in rejected.value.message


def test_end_answers_that_are_not_json_are_server_failures(fake: FakeServer) -> None:
    fake.sessions[SID] = {"session_id": SID}
    fake.script = [Reply(200, b""), Reply(200, "<html>portal</html>")]
    with client_for(fake) as hh:
        assert hh.end(SID).answer == {}  # no body: the vendor documents none
        with pytest.raises(NetworkError, match="not with JSON: '<html>portal</html>'"):
            hh.end(SID)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"workers": 0}, "replay(workers=...)"), ({"workers": -1}, "replay(workers=...)"),
     ({"shard": (0, 0)}, "replay(shard=...)"), ({"shard": (5, 2)}, "replay(shard=...)"), ({"rate": 0}, "replay(rate=...)")],
)
def test_replay_refuses_bad_arguments(fake: FakeServer, kwargs: dict[str, Any], message: str) -> None:
    with client_for(fake) as hh, pytest.raises(InvalidInput, match=re.escape(message)):
        hh.replay([{"session_name": "x"}], **kwargs)
    assert fake.requests == []


def test_odd_python_values_are_invalid_records_not_crashes(fake: FakeServer) -> None:
    with client_for(fake) as hh:
        summary = hh.replay([{1: "a"}, {"session_name": "ok"}])
    assert summary.counts["invalid"] == 1 and summary.counts["ok"] == 1
    with pytest.raises(InvalidInput, match="must be a string"):
        Client(api_key=123)  # type: ignore[arg-type]


def test_a_large_session_is_started_though_its_answer_echoes_it(emulator: Emulator) -> None:
    with Client(api_url=emulator.url, api_key=API_KEY) as hh:
        started = hh.start(inputs={"blob": "x" * (5 * 1024 * 1024)})
    assert emulator.store.get(started.session_id) is not None


def test_a_compressed_answer_is_read_and_a_compression_bomb_is_not(fake: FakeServer) -> None:
    import gzip

    answer = {"session_id": SID, "event_id": SID}
    fake.script = [Reply(200, gzip.compress(json.dumps(answer).encode()), headers={"Content-Encoding": "gzip"})]
    with client_for(fake, retry=no_sleep_policy(0)) as hh:
        assert hh.start(session_id=SID).event == answer
        fake.script = [Reply(200, gzip.compress(b"0" * (64 * 1024 * 1024)), headers={"Content-Encoding": "gzip"})]
        with pytest.raises(NetworkError, match="the answer is larger than 4 MiB"):
            hh.start(session_id=SID)


def test_verbose_names_the_session_id_before_sending(fake: FakeServer) -> None:
    said: list[str] = []
    with client_for(fake, log=said.append) as hh:
        hh.start(session_id=SID)
    assert f"session_id: {SID}" in said and said.index(f"session_id: {SID}") < [i for i, s in enumerate(said) if s.startswith("attempt")][0]


# ----------------------------------------------------------------------------- the request path


def test_one_request_path_for_any_verb(fake: FakeServer) -> None:
    fake.script = [Reply(200, {"anything": 1})]
    with client_for(fake) as hh:
        answer = hh.request("GET", "/v1/anything")
    assert answer.json() == {"anything": 1} and answer.attempts == 1
    assert fake.requests[0].method == "GET" and fake.requests[0].body == b""


def test_the_client_is_a_context_manager_that_closes_its_connections(fake: FakeServer) -> None:
    with client_for(fake) as hh:
        hh.start()
        assert hh._transport is not None
    assert hh._transport is None


# ----------------------------------------------------------------------------- replay


def test_replay_of_python_values(emulator: Emulator, tmp_path: Path) -> None:
    journal = tmp_path / "j"
    with Client(api_url=emulator.url, api_key=API_KEY) as hh:
        summary = hh.replay([{"session_name": f"r{i}"} for i in range(6)] + [{"bad": 1}], journal=journal, workers=3)
        again = hh.replay([{"session_name": f"r{i}"} for i in range(6)], journal=journal)
    assert summary.counts == {"ok": 6, "failed": 0, "invalid": 1, "skipped": 0} and not summary.clean
    assert again.counts["skipped"] == 6 and emulator.store.count() == 6


def test_a_refused_key_names_the_request_it_refused(fake: FakeServer) -> None:
    fake.script = [Reply(403, {"message": "no"})] * 2
    with client_for(fake) as hh:
        with pytest.raises(AuthError, match=rf"refused the API key for POST {re.escape(fake.url)}/v1/sessions \(403"):
            hh.start(session_name="x")
        with pytest.raises(AuthError, match=rf"refused the API key for PUT {re.escape(fake.url)}/v1/events/{SID} \(403"):
            hh.end(SID)
    assert len(fake.requests) == 2  # a refused key is not retried


def test_replay_stopped_by_a_refused_key_raises_with_the_summary(fake: FakeServer) -> None:
    fake.script = [Reply(401, {"message": "bad key"})] * 50
    with client_for(fake) as hh, pytest.raises(AuthError) as info:
        hh.replay([{"session_name": str(i)} for i in range(50)], workers=2)
    assert info.value.summary is not None and info.value.summary.counts["failed"] >= 1


# ----------------------------------------------------------------------------- the example of docs/python-api.md


def readme_python_example() -> str:
    text = (REPO / "docs" / "python-api.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)[0]


def test_the_readme_python_example_runs(fake: FakeServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HH_API_URL", fake.url)
    monkeypatch.setenv("HH_API_KEY", API_KEY)
    exec(compile(readme_python_example(), "docs/python-api.md", "exec"), {})
    (started,) = fake.sessions.values()
    assert started["session_name"] == "nightly" and started["metadata"] == {"run": 3}
    assert started["outputs"] == {"ok": True}
    assert [r.method for r in fake.requests] == ["POST", "PUT"]
    put = json.loads(fake.requests[1].body)
    assert isinstance(put["duration"], int | float)
    assert capsys.readouterr().out.strip() == started["session_id"]


# ----------------------------------------------------------------------------- failures, notes, odd values, the client's own settings
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("HTTPSConnectionPool(host='x.invalid', port=443): Max retries exceeded (Caused by NameResolutionError("
         "\"Failed to resolve 'x.invalid' ([Errno -2] Name or service not known)\"))", "DNS lookup failed"),
        ("('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))",
         "the server closed the connection without answering"),
        ("('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))", "connection reset by the server"),
    ],
)
def test_failure_reasons_are_short(text: str, reason: str) -> None:
    from hhsession.transport import _reason

    assert _reason(Exception(text)) == reason


def test_existing_session_note() -> None:
    from hhsession.answers import existing_session_note

    sent = {"session_id": "a", "session_name": "n", "start_time": 1764151200000.5}
    assert existing_session_note(sent, {**sent, "start_time": 1764151200000}) is None  # whole ms kept
    assert existing_session_note(sent, {**sent, "metrics": {}}) is None
    assert "already existed: the server kept its session_name" in (existing_session_note(sent, {**sent, "session_name": "old"}) or "")


def test_huge_numbers_from_python_are_invalid_input_not_crashes(fake: FakeServer) -> None:
    with client_for(fake) as hh:
        for call in (lambda: hh.build_start(start_time=10**5000), lambda: hh.build_end(SID, end_time=10**5000),
                     lambda: hh.start(metadata={"x": 10**5000})):
            with pytest.raises(InvalidInput):
                call()
        deep: dict[str, Any] = {}
        node = deep
        for _ in range(100_000):
            node["x"] = {}
            node = node["x"]
        summary = hh.replay([{"metadata": {"x": 10**5000}}, {"metadata": deep}, {"session_name": "fine"}], dry_run=True)
    assert summary.counts["invalid"] == 2 and summary.counts["ok"] == 1
    assert fake.requests == []


def test_a_resent_record_whose_start_was_now_is_not_said_to_have_existed(fake: FakeServer) -> None:
    # A crash lost a success's journal line: the record is sent again, same id, a later "now".
    with client_for(fake) as hh:
        first = hh.start(session_id=SID, session_name="r")
        time.sleep(0.01)
        again = hh.start(session_id=SID, session_name="r")
    assert again.payload["start_time"] != first.payload["start_time"]
    assert again.note is None


def test_a_replay_leaves_the_clients_own_settings_as_they_were(free_port: int) -> None:
    # A replay gives up on a server that refuses everything within seconds; the client's later calls do not.
    with Client(api_url=f"http://127.0.0.1:{free_port}", api_key=API_KEY, max_retries=0) as hh:
        assert hh.refused_deadline is None
        summary = hh.replay([{"session_name": "a"}], workers=1)
        assert summary.counts["failed"] == 1
        assert hh.refused_deadline is None


@pytest.mark.parametrize("kwargs", [{"fields": {"source": "  "}}, {"fields": {"session_name": ""}}, {"add_children": ["a", " "]}])
def test_empty_flag_values_are_refused_by_the_library_too(kwargs: dict[str, Any]) -> None:
    from hhsession.payload import Overrides

    with pytest.raises(InvalidInput, match="is empty: an unset shell variable"):
        Overrides(**kwargs)


def test_an_empty_event_name_or_source_in_a_document_is_refused_a_blank_one_sent() -> None:
    # The server replaces an empty one (documented: "not provided"); a blank one it keeps, as a recording may hold it.
    with pytest.raises(InvalidInput, match="event_name: is empty"):
        Client().build_start({"event_name": ""})
    with pytest.raises(InvalidInput, match="source: is empty"):
        Client().build_start(source="")
    assert Client().build_start({"event_name": " "}).payload["event_name"] == " "


def test_python_values_that_are_not_json_are_refused(fake: FakeServer) -> None:
    from hhsession import Client, InvalidInput

    with Client(api_url=fake.url, api_key=API_KEY) as hh:
        for bad in (float("nan"), float("inf"), object()):
            with pytest.raises(InvalidInput):
                hh.start(metadata={"x": bad})
    assert fake.requests == []


# ----------------------------------------------------------------------------- bad arguments, in Python's terms

_CIRCLE: dict[str, object] = {}
_CIRCLE["self"] = _CIRCLE


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.start("notadict"), "start(document): expected a dict of session fields"),
    (lambda c: c.start(5), "start(document): expected a dict of session fields, e.g. {'session_name': 'nightly'}, got int"),
    (lambda c: c.end("3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17", [1]), "end(document): expected a dict of session fields"),
    (lambda c: c.replay(5), "replay(records): expected an iterable of dicts"),
    (lambda c: c.replay("recording.jsonl"), "replay(records): expected an iterable of dicts"),
    (lambda c: c.start({"metadata": _CIRCLE}), "a value contains itself (a circular reference)"),
])
def test_bad_arguments_are_invalid_input_in_pythons_terms(call: Any, message: str, fake: FakeServer) -> None:
    client = Client(api_key=API_KEY, api_url=fake.url)
    with pytest.raises(InvalidInput) as raised:
        call(client)
    assert message in str(raised.value) and "--" not in str(raised.value)
    assert fake.requests == []


def test_advice_to_python_callers_names_parameters_not_flags(free_port: int) -> None:
    client = Client(api_key=API_KEY, api_url=f"http://127.0.0.1:{free_port}", max_retries=0)
    with pytest.raises(NetworkError) as raised:
        client.start({"session_name": "x"})
    assert "raise max_retries=" in str(raised.value) and "--max-retries" not in str(raised.value)


def test_a_replay_summary_tells_a_python_caller_in_pythons_terms(emulator: Emulator) -> None:
    sid = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"
    with Client(api_key=API_KEY, api_url=emulator.url) as hh:
        hh.start({"session_id": sid, "session_name": "first"})
        summary = hh.replay([{"session_id": sid, "session_name": "second"}])
    assert "replay(..., new_ids=True)" in summary.line() and "--new-ids" not in summary.line()
