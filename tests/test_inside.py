"""What goes on inside a session (SPEC §3 ``event``, ``get``, ``update``): against the emulator (the
whole loop) and the recording fake server (exact bodies, hostile answers)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from hhsession import Client
from hhsession.emulator import Emulator
from hhsession.errors import InvalidInput, NetworkError, RejectedError
from hhsession.events import CHUNK_EVENTS, PAGE_SIZE
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer, Reply

SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"


@pytest.fixture
def emu_env(emulator: Emulator) -> dict[str, str]:
    return {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"}


def started(cli: Invoker, env: dict[str, str], *args: str) -> str:
    result = cli("start", "--name", "ci run", "-o", "id", *args, env=env)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def batches(fake: FakeServer) -> list[list[dict[str, Any]]]:
    return [r.json()["events"] for r in fake.requests if r.path.endswith("/events/batch")]


# ------------------------------------------------------------------------------------------ the loop


def test_start_event_update_get_end_on_the_emulator(cli: Invoker, emu_env: dict[str, str]) -> None:
    sid = started(cli, emu_env)
    env = {**emu_env, "HH_SESSION_ID": sid}
    tests = cli("event", "--name", "unit tests", "-m", "failed:=3", "--duration", "41s", "-o", "id", env=env)
    assert tests.exit_code == 0, tests.stderr
    build = cli("event", "-t", "chain", "--name", "build", "-o", "id", env=env).stdout.strip()
    model = cli("event", "-t", "model", "--name", "summarize", "--parent", build.upper(), "--error", "rate limited",
                "--inputs", "prompt=hi", "-o", "json", env=env)
    assert model.exit_code == 0, model.stderr
    assert cli("update", "--metrics", "passed:=41", "-o", "none", env=env).exit_code == 0

    read = cli("get", "-o", "json", env=env)
    assert read.exit_code == 0, read.stderr
    session = json.loads(read.stdout)
    assert session["session_id"] == sid and session["metrics"] == {"passed": 41}
    assert "end_time" not in session  # updated, still running
    events = {e["event_name"]: e for e in session["events"]}
    assert set(events) == {"unit tests", "build", "summarize"}
    assert events["unit tests"]["event_id"] == tests.stdout.strip()
    assert events["unit tests"]["duration"] == 41000 and events["unit tests"]["metadata"] == {"failed": 3}
    assert events["unit tests"]["event_type"] == "tool" and events["unit tests"]["parent_id"] == sid
    assert events["summarize"]["parent_id"] == build  # sent in lower case
    assert events["summarize"]["error"] == "rate limited" and events["summarize"]["inputs"] == {"prompt": "hi"}

    tree = cli("get", sid, "-o", "pretty", env=emu_env).stdout
    lines = tree.splitlines()
    assert "ci run" in lines[0] and "running" in lines[0]
    nested = [i for i, line in enumerate(lines) if "summarize" in line]
    assert nested and "build" in lines[nested[0] - 1] and "✗ rate limited" in lines[nested[0]]
    assert lines[nested[0]].index("summarize") > lines[nested[0] - 1].index("build")  # one level deeper

    jsonl = cli("get", sid, "-o", "jsonl", env=emu_env).stdout.splitlines()
    assert [json.loads(line)["event_id"] for line in jsonl][0] == sid and len(jsonl) == 4

    assert cli("end", "-o", "none", env=env).exit_code == 0
    ended = json.loads(cli("get", "-o", "json", env=env).stdout)
    assert isinstance(ended["end_time"], int) and len(ended["events"]) == 3


def test_events_from_a_file_go_in_bounded_batches_and_read_back_across_pages(emulator: Emulator) -> None:
    count = PAGE_SIZE + CHUNK_EVENTS + 7  # two pages to read, a dozen batches to send
    with Client(api_key=API_KEY, api_url=emulator.url) as hh:
        sid = hh.start(session_name="many").session_id
        logged = hh.events(sid, ({"event_name": f"step {n}", "start_time": 1795687200000 + n} for n in range(count)))
        session = hh.get(sid)
    assert len(logged.event_ids) == count == len(set(logged.event_ids))
    assert [e["event_id"] for e in session["events"]] == logged.event_ids  # every one, oldest first


def test_events_from_json_lines_on_stdin_with_flags_over_each(cli: Invoker, fake: FakeServer,
                                                              key_env: dict[str, str]) -> None:
    lines = "\n".join(json.dumps({"event_name": f"e{n}", "metadata": {"n": n}}) for n in range(CHUNK_EVENTS + 1))
    result = cli("event", "-s", SID, "-f", "-", "-m", "run=7", "-t", "model", "-o", "id", input=lines, env=key_env)
    assert result.exit_code == 0, result.stderr
    sent = batches(fake)
    assert [len(b) for b in sent] == [CHUNK_EVENTS, 1]
    assert result.stdout.split() == [e["event_id"] for b in sent for e in b]
    first = sent[0][0]
    assert first["metadata"] == {"n": 0, "run": "7"} and first["event_type"] == "model"
    assert fake.requests[0].path == f"/v1/sessions/{SID}/events/batch"


def test_one_event_as_the_server_would_default_it(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    result = cli("event", "-s", SID.upper(), "--name", "lint", "--start-time", "1795687200000", "--duration", "1.5s",
                 "-o", "json", env=key_env)
    assert result.exit_code == 0, result.stderr
    ((event,),) = batches(fake)
    assert uuid.UUID(event["event_id"]).version == 4 and event["event_id"] == event["event_id"].lower()
    assert event == {
        "event_id": event["event_id"], "session_id": SID, "parent_id": SID, "event_type": "tool",
        "event_name": "lint", "source": "unknown", "start_time": 1795687200000, "end_time": 1795687201500,
        "duration": 1500, "inputs": {},
    }
    assert json.loads(result.stdout) == {"session_id": SID, "events": [event]}


def test_a_retry_sends_the_same_event_ids(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    fake.script = [Reply(status=503)]
    result = cli("event", "-s", SID, "--name", "flaky", "-o", "id", env={**key_env, "HH_MAX_RETRIES": "1"})
    assert result.exit_code == 0, result.stderr
    first, second = batches(fake)
    assert first == second and result.stdout.strip() == first[0]["event_id"]


@pytest.mark.parametrize("fmt", ["id", "json"])
def test_a_failed_batch_says_and_prints_what_was_stored_before_it(cli: Invoker, fake: FakeServer,
                                                                  key_env: dict[str, str], tmp_path: Path,
                                                                  fmt: str) -> None:
    fake.script = [Reply(), Reply(status=400, body={"message": "too big"})]
    path = tmp_path / "steps.json"
    path.write_text(json.dumps([{"event_name": f"s{n}"} for n in range(CHUNK_EVENTS + 5)]))
    result = cli("event", "-s", SID, "-f", str(path), "-o", fmt, env=key_env)
    assert result.exit_code == 4
    assert f"the {CHUNK_EVENTS} event(s) before them were stored" in result.stderr
    assert result.stderr.count("\n") == 1 and "too big" in result.stderr
    printed = (result.stdout.split() if fmt == "id" else
               [e["event_id"] for e in json.loads(result.stdout)["events"]])
    assert printed == [e["event_id"] for e in batches(fake)[0]]  # what landed, printed


# ------------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(("args", "document", "says"), [
    ((), None, "no session to log into"),
    (("-s", "not-a-uuid"), None, "--session-id 'not-a-uuid' is not a UUID"),
    (("-s", SID, "--name", "x", "--parent", "build"), None, "--parent: 'build' is not a UUID"),
    (("-s", SID, "--name", "x", "--event-id", "12"), None, "--event-id: '12' is not a UUID"),
    (("-s", SID, "--name", "x", "--event-id", SID), None, "is the session's own id"),
    (("-s", SID, "--name", ""), None, "--name is empty"),
    (("-s", SID, "-m", "a=1"), None, 'no --name: the event would be named "unknown"'),
    (("-s", SID, "--name", "x", "--start-time", "now", "--end-time", "now-1h"), None, "is before start_time"),
    (("-s", SID, "-f", "-"), '{"event_name": "a"}\n{"name": "b"}\n', "-:2: name: unknown field"),
    (("-s", SID, "-f", "-"), '{"event_type": "session"}\n', "a session is started with `hhsession start`"),
    (("-s", SID, "-f", "-"), '[{"session_id": "00000000-0000-4000-8000-000000000001"}]',
     "is not the session the events go into"),
    (("-s", SID, "-f", "-"), '{"inputs": "x"}\n', 'inputs: expected an object'),
    (("-s", SID, "-f", "-"), "", "holds no events"),
    (("-s", SID, "-f", "-", "--event-id", SID), "{}", "--event-id names one event, and -f reads many"),
])
def test_bad_events_are_refused_and_nothing_is_sent(cli: Invoker, fake: FakeServer, key_env: dict[str, str],
                                                    args: tuple[str, ...], document: str | None, says: str) -> None:
    result = cli("event", *args, input=document, env=key_env)
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr and result.stderr.count("\n") == 1
    assert fake.requests == []


def test_type_is_a_choice(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    result = cli("event", "-s", SID, "--type", "session", env=key_env)
    assert result.exit_code == 2 and "'session' is not one of" in result.stderr and fake.requests == []


def test_an_event_into_an_unknown_session_is_exit_4(cli: Invoker, emu_env: dict[str, str]) -> None:
    result = cli("event", "-s", SID, "--name", "x", env=emu_env)
    assert result.exit_code == 4 and f"session {SID} was not found" in result.stderr


def test_dry_run_sends_nothing_and_needs_no_key(cli: Invoker, fake: FakeServer) -> None:
    result = cli("event", "-s", SID, "--name", "x", "--dry-run", "-o", "json", env={"HH_API_URL": fake.url})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["events"][0]["event_name"] == "x" and fake.requests == []


# ------------------------------------------------------------------------------------------ update


def test_update_sends_neither_end_time_nor_duration(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    fake.sessions[SID] = {"session_id": SID, "event_id": SID}
    result = cli("update", SID.upper(), "-m", "stage=tests", "--child", SID.upper(), "-o", "json",
                 env={**key_env, "HH_SESSION_START_TIME": "1795687200000"})
    assert result.exit_code == 0, result.stderr
    (request,) = fake.requests
    assert request.method == "PUT" and request.path == f"/v1/events/{SID}"
    assert request.json() == {"metadata": {"stage": "tests"}, "children_ids": [SID]}


@pytest.mark.parametrize(("args", "document", "says"), [
    ((SID,), None, "nothing to update"),
    ((SID, "-f", "-"), '{"metadata": {}, "metrics": {}}', "nothing to update"),
    ((SID, "-f", "-"), '{"end_time": 1795687200000}', "an update leaves the session running, so it sends no end_time"),
    ((SID, "-f", "-"), '{"duration": 5}', "sends no duration"),
    (("nope", "-m", "a=1"), None, "SESSION_ID 'nope' is not a UUID"),
    (("-m", "a=1"), None, "no session to update"),
])
def test_bad_updates_are_refused(cli: Invoker, fake: FakeServer, key_env: dict[str, str], args: tuple[str, ...],
                                 document: str | None, says: str) -> None:
    result = cli("update", *args, input=document, env=key_env)
    assert result.exit_code == 2 and says in result.stderr and result.stderr.count("\n") == 1
    assert fake.requests == []


# ------------------------------------------------------------------------------------------ get


def test_get_an_unknown_session_is_exit_4(cli: Invoker, emu_env: dict[str, str]) -> None:
    result = cli("get", SID, env=emu_env)
    assert result.exit_code == 4 and f"session {SID} was not found" in result.stderr


@pytest.mark.parametrize(("args", "says"), [((), "no session to read"), (("x",), "SESSION_ID 'x' is not a UUID")])
def test_get_without_a_good_id_sends_nothing(cli: Invoker, fake: FakeServer, key_env: dict[str, str],
                                             args: tuple[str, ...], says: str) -> None:
    result = cli("get", *args, env=key_env)
    assert result.exit_code == 2 and says in result.stderr and fake.requests == []


def _event(n: int, **fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.UUID(int=n + 1)), "session_id": SID, "parent_id": SID, "event_name": f"e{n}",
            "start_time": n, **fields}


def test_a_server_that_repeats_its_pages_is_not_followed_forever(cli: Invoker, fake: FakeServer,
                                                                 key_env: dict[str, str]) -> None:
    page = {"events": [_event(n) for n in range(PAGE_SIZE)], "count": 10**9}
    fake.script = [Reply(body={"event": _event(-1, event_id=SID)}), Reply(body=page), Reply(body=page)]
    fake.default = Reply(status=500)
    result = cli("get", SID, "-o", "json", env=key_env)
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["events"]) == PAGE_SIZE and len(fake.requests) == 3
    assert [r.json()["page"] for r in fake.requests[1:]] == [1, 2]


def test_what_a_server_puts_in_events_is_shown_safely(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    hostile = _event(1, event_name="evil\x1b]0;owned\x07\nline", error=f"bad key {API_KEY}", parent_id=str(uuid.UUID(int=3)))
    looping = _event(2, parent_id=str(uuid.UUID(int=2)))  # its own parent: reached from nowhere
    fake.script = [Reply(body={"event": {"event_id": SID, "session_name": "s"}}),
                   Reply(body={"events": [hostile, looping], "count": 2})]
    result = cli("get", SID, "-o", "pretty", env=key_env)
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout and API_KEY not in result.stdout
    assert "e2" in result.stdout and "evil" in result.stdout  # both shown, under the session
    for fmt in ("json", "jsonl"):
        fake.script = [Reply(body={"event": {"event_id": SID}}), Reply(body={"events": [hostile], "count": 1})]
        shown = cli("get", SID, "-o", fmt, env=key_env).stdout
        assert API_KEY not in shown and "\x1b" not in shown and "\x07" not in shown


def test_get_reads_with_the_project_key_and_an_ingestion_key_alone_cannot(cli: Invoker, fake: FakeServer,
                                                                          key_env: dict[str, str]) -> None:
    ingest = "hh_ingst_" + "A" * 24 + "_" + "b" * 64
    fake.script = [Reply(body={"event": {"event_id": SID}}), Reply(body={"events": [], "count": 0})]
    assert cli("get", SID, env={**key_env, "HH_INGESTION_API_KEY": ingest}).exit_code == 0
    assert {r.headers["authorization"] for r in fake.requests} == {f"Bearer {API_KEY}"}
    alone = cli("get", SID, env={"HH_API_URL": fake.url, "HH_INGESTION_API_KEY": ingest})
    assert alone.exit_code == 3 and "reading needs the project API key" in alone.stderr
    misplaced = cli("get", SID, env={"HH_API_URL": fake.url, "HH_API_KEY": ingest})
    assert misplaced.exit_code == 3 and "the API key is an ingestion key" in misplaced.stderr
    assert ingest[-64:] not in misplaced.stderr and misplaced.stderr.count("\n") == 1
    assert len(fake.requests) == 2


# ------------------------------------------------------------------------------------------ Python


def test_the_client_logs_updates_and_reads(emulator: Emulator) -> None:
    with Client(api_key=API_KEY, api_url=emulator.url) as hh:
        session = hh.start(session_name="py")
        one = hh.event(session, event_name="step", metrics={"n": 1}, duration=5)
        hh.update(session, feedback={"ok": True})
        read = hh.get(session.session_id.upper())
        with pytest.raises(InvalidInput, match="nothing to update"):
            hh.update(session)
        with pytest.raises(InvalidInput, match=r"events\[1\]: expected an object"):
            hh.events(session, [{}, "x"])  # type: ignore[list-item]
        with pytest.raises(RejectedError) as missing:
            hh.get(str(uuid.uuid4()))
    assert missing.value.exit_code == 4
    assert read["feedback"] == {"ok": True} and [e["event_id"] for e in read["events"]] == one.event_ids


# ------------------------------------------------------------------------------------------ a hostile server's pages

def _session_then(*pages: Reply) -> list[Reply]:
    return [Reply(body={"event": {"event_id": SID, "session_id": SID, "session_name": "s"}}), *pages]


def test_a_page_over_4_mib_is_read_and_one_too_large_is_asked_again_in_halves(
        emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(api_key=API_KEY, api_url=emulator.url) as hh:
        big = hh.start(session_name="big", inputs={"blob": "x" * (6 * 1024 * 1024)}).session_id  # its event: 6 MiB
        assert hh.get(big)["inputs"]["blob"] == "x" * (6 * 1024 * 1024)
        sid = hh.start(session_name="many big events").session_id
        blob = "y" * (1536 * 1024)
        logged = hh.events(sid, [{"event_name": f"e{n}", "start_time": 1795687200000 + n, "inputs": {"blob": blob}}
                                 for n in range(5)])  # 7.5 MiB in one page
        read = hh.get(sid)
        assert [e["event_id"] for e in read["events"]] == logged.event_ids and not read.warnings
        monkeypatch.setattr("hhsession.events.PAGE_BYTES", 4 * 1024 * 1024)  # 2 events a page at most
        emulator.wait_idle()
        before = emulator.requests
        read = hh.get(sid)
        assert [e["event_id"] for e in read["events"]] == logged.event_ids and not read.warnings
        emulator.wait_idle()  # (a request is counted once its answer is written)
        # The session's GET; 7 pages too large (256, 128, ... 4 a page); 3 pages of 2 (the session, 5 events).
        assert emulator.requests - before == 1 + 7 + 3
        small = hh.events(sid, [{"event_name": f"s{n}", "start_time": 1795680000000 + n} for n in range(600)])
        emulator.wait_idle()
        before = emulator.requests
        read = hh.get(sid)  # the large events first (the newest), then 600 small ones
        assert len(read["events"]) == 605 and {e["event_id"] for e in read["events"]} >= set(small.event_ids)
        emulator.wait_idle()
        assert emulator.requests - before < 30  # past the large ones, pages grow back (not 300 pages of 2)
        monkeypatch.setattr("hhsession.events.PAGE_BYTES", 1024 * 1024)  # smaller than one event
        with pytest.raises(NetworkError, match=r"event 2 of session .* is larger than 1 MiB"):
            hh.get(sid)  # (the first listed, the session, is small)


def test_a_too_large_answer_is_not_asked_again(cli: Invoker, fake: FakeServer, key_env: dict[str, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hhsession.events.SESSION_BYTES", 1024 * 1024)
    fake.script = [Reply(body={"event": {"event_id": SID, "inputs": {"blob": "x" * (2 * 1024 * 1024)}}})]
    result = cli("get", SID, env={**key_env, "HH_MAX_RETRIES": "3"})
    assert result.exit_code == 5 and "the answer is larger than 1 MiB" in result.stderr and result.stdout == ""
    assert result.stderr.count("\n") == 1 and len(fake.requests) == 1  # it would answer alike: not asked again


def test_a_server_that_pages_new_events_forever_is_stopped(cli: Invoker, fake: FakeServer, key_env: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hhsession.events.READ_BYTES", 512 * 1024)
    pages = [Reply(body={"events": [_event(p * PAGE_SIZE + n) for n in range(PAGE_SIZE)]}) for p in range(40)]
    fake.script = _session_then(*pages)
    result = cli("get", SID, env=key_env)
    assert result.exit_code == 5 and "hhsession reads no more of a session" in result.stderr and result.stdout == ""
    assert len(fake.requests) < 40


def test_pages_past_the_count_are_not_followed_and_a_short_read_is_said(cli: Invoker, fake: FakeServer,
                                                                        key_env: dict[str, str]) -> None:
    # Each page after the first repeats half of the one before: never the count (10 pages' worth).
    half = PAGE_SIZE // 2
    pages = [Reply(body={"events": [_event(n) for n in range(half)] + [_event(10_000 + p * half + n) for n in range(half)],
                         "count": 10 * PAGE_SIZE}) for p in range(30)]
    fake.script = _session_then(*pages)
    result = cli("get", SID, "-o", "json", env=key_env)
    assert result.exit_code == 0, result.stderr
    assert len(fake.requests) == 1 + 11  # the count needs 10 pages; one more for a session that grows, no more
    assert f"the server counted {10 * PAGE_SIZE} event(s)" in result.stderr and f"listed {12 * half}" in result.stderr

    fake.requests.clear()
    fake.script = _session_then(Reply(body={"events": [_event(1)], "count": 7}))
    result = cli("get", SID, "-o", "json", env=key_env)
    assert result.exit_code == 0 and "counted 7 event(s)" in result.stderr and "listed 1" in result.stderr


def test_a_full_page_of_mostly_repeats_ends_the_read(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    # A page of non-events with one new event each time, and no count: it would never end.
    drip = [Reply(body={"events": ["x"] * (PAGE_SIZE - 1) + [_event(p)]}) for p in range(20)]
    fake.script = _session_then(*drip)
    result = cli("get", SID, "-o", "json", env=key_env)
    assert result.exit_code == 0 and len(fake.requests) == 2
    assert "page 1 of the events" in result.stderr and "may be incomplete" in result.stderr


def test_a_session_read_that_answers_another_event_is_exit_5(cli: Invoker, fake: FakeServer,
                                                             key_env: dict[str, str]) -> None:
    other = str(uuid.UUID(int=2))
    fake.script = [Reply(body={"event": {"event_id": other, "session_id": other}})]
    result = cli("get", SID, env=key_env)
    assert result.exit_code == 5 and f"answered with another event ({other})" in result.stderr
    assert result.stdout == "" and len(fake.requests) == 1


def test_items_that_are_not_events_are_left_out_and_said(cli: Invoker, fake: FakeServer,
                                                        key_env: dict[str, str]) -> None:
    fake.script = _session_then(Reply(body={"events": [_event(1), "x", {"event_id": 5}, None], "count": 4}))
    result = cli("get", SID, "-o", "json", env=key_env)
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["events"]) == 1 and "3 item(s) that are not events" in result.stderr


def test_events_of_other_sessions_are_left_out_and_said(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    other = _event(2, session_id=str(uuid.UUID(int=99)), event_name="not mine")
    fake.script = _session_then(Reply(body={"events": [_event(1), other], "count": 2}))
    result = cli("get", SID, "-o", "json", env=key_env)
    assert result.exit_code == 0, result.stderr
    assert [e["event_name"] for e in json.loads(result.stdout)["events"]] == ["e1"]
    assert "1 event(s) of other sessions" in result.stderr


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_cannot_carry_are_a_server_failure(cli: Invoker, fake: FakeServer, key_env: dict[str, str],
                                                        number: str) -> None:
    page = json.dumps({"events": [_event(1)], "count": 1}).replace('"start_time": 1', f'"start_time": {number}')
    fake.script = _session_then(Reply(body=page.encode()))
    result = cli("get", SID, "-o", "json", env=key_env)
    assert result.exit_code == 5 and "the server answered 200 but not with" in result.stderr and result.stdout == ""


def test_a_huge_integer_is_shown_not_a_crash(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    huge = 10**400
    for fmt in ("json", "pretty"):
        fake.script = _session_then(Reply(body={"events": [_event(1, start_time=huge, duration=huge), _event(2, duration=1e300)],
                                                "count": 2}))
        result = cli("get", SID, "-o", fmt, env=key_env)
        assert result.exit_code == 0, result.stderr
        if fmt == "json":
            assert [e["event_name"] for e in json.loads(result.stdout)["events"]] == ["e2", "e1"]
        else:
            assert "e1" in result.stdout and "1000000000" in result.stdout
            assert len(result.stdout.splitlines()) == 3  # the session and two events: cut, one line each


def test_an_ended_session_without_a_duration_is_not_running(cli: Invoker, fake: FakeServer,
                                                            key_env: dict[str, str]) -> None:
    fake.script = [Reply(body={"event": {"event_id": SID, "session_name": "s", "end_time": 1795687200000}}),
                   Reply(body={"events": [], "count": 0})]
    result = cli("get", SID, "-o", "pretty", env=key_env)
    assert result.exit_code == 0 and "running" not in result.stdout and "s" in result.stdout


def test_a_deep_chain_of_parents_is_shown_whole_and_narrow(cli: Invoker, fake: FakeServer,
                                                          key_env: dict[str, str]) -> None:
    from hhsession.render import MAX_DEPTH

    chain = [_event(n, parent_id=str(uuid.UUID(int=n)) if n else SID) for n in range(300)]  # each under the one before
    fake.script = _session_then(Reply(body={"events": chain, "count": 300}))
    result = cli("get", SID, "-o", "pretty", env=key_env)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(f"e{n} " in result.stdout for n in range(300))
    deepest = max(len(line) - len(line.lstrip("│├└─ ")) for line in lines)
    assert deepest <= 4 * (MAX_DEPTH + 1)  # no wider than MAX_DEPTH levels
    assert sum("↳ child of" in line for line in lines) == 300 - MAX_DEPTH


# ------------------------------------------------------------------------------------------ a hostile server's batch answers

@pytest.mark.parametrize("answer", [b"<html>ok</html>", {"success": False}, {"event_ids": [str(uuid.UUID(int=5))]}, b"",
                                    {"success": "false"}, {"statusCode": 404, "message": "session not found"},
                                    {"success": True, "event_ids": "a,b"}])
def test_a_batch_answer_that_does_not_say_stored_is_exit_5(cli: Invoker, fake: FakeServer, key_env: dict[str, str],
                                                           answer: Any) -> None:
    fake.script = [Reply(body=answer)]
    result = cli("event", "-s", SID, "--name", "x", "-o", "id", env=key_env)
    assert result.exit_code == 5 and result.stdout == "" and result.stderr.count("\n") == 1
    assert "may have been stored" in result.stderr or "may or may not be stored" in result.stderr
    assert "--event-id" in result.stderr  # how to send it again without a duplicate


# ------------------------------------------------------------------------------------------ sending again

def test_the_same_file_sent_again_names_the_same_events(cli: Invoker, emulator: Emulator, emu_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    sid = started(cli, emu_env)
    path = tmp_path / "steps.jsonl"
    path.write_text("".join(json.dumps({"event_name": f"s{n % 3}", "start_time": 1795687200000 + n % 2}) + "\n"
                            for n in range(CHUNK_EVENTS + 20)))
    first = cli("event", "-s", sid, "-f", str(path), "-o", "id", env=emu_env).stdout.split()
    again = cli("event", "-s", sid, "-f", str(path), "-o", "id", env=emu_env).stdout.split()
    assert first == again and len(set(first)) == CHUNK_EVENTS + 20  # same content, other position: other id
    assert len(emulator.store.events_of(sid)) == CHUNK_EVENTS + 20  # sent twice, stored once
    other = cli("event", "-s", str(uuid.uuid4()), "-f", str(path), "--dry-run", "-o", "id", env=emu_env).stdout.split()
    assert not set(other) & set(first)  # another session: other ids
    new = cli("event", "-s", sid, "-f", str(path), "--new-ids", "-o", "id", env=emu_env).stdout.split()
    assert not set(new) & set(first) and len(emulator.store.events_of(sid)) == 2 * (CHUNK_EVENTS + 20)


def test_events_without_times_are_events_of_now_each_run(cli: Invoker, emulator: Emulator,
                                                        emu_env: dict[str, str], tmp_path: Path) -> None:
    sid = started(cli, emu_env)
    step = '{"event_name": "deploy attempt", "outputs": {"status": "failed"}}'
    relative = tmp_path / "relative.jsonl"
    relative.write_text('{"event_name": "a", "start_time": "now-5m"}\n{"event_name": "b", "end_time": 4102444800000}\n')
    runs = [cli("event", "-s", sid, "-f", "-", "-o", "id", input=step, env=emu_env).stdout.split() for _ in range(3)]
    runs += [cli("event", "-s", sid, "-f", str(relative), "-o", "id", env=emu_env).stdout.split() for _ in range(2)]
    runs += [cli("event", "-s", sid, "-f", "-", "--start-time", "now", "-o", "id", input=step.replace("failed", "x"),
                 env=emu_env).stdout.split() for _ in range(2)]
    ids = [one for run in runs for one in run]
    assert len(ids) == len(set(ids)) == 3 + 4 + 2  # three attempts are three events, and so on
    assert len(emulator.store.events_of(sid)) == len(ids)


def test_a_lenient_replacement_id_is_new_each_time(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    # The same invalid id may name two different events (SPEC §2: a new UUIDv4): none may take another's place.
    document = '{"event_id": "step", "event_name": "x", "start_time": 1795687200000}\n'
    runs = [cli("event", "-s", SID, "-f", "-", "--lenient", "--dry-run", "-o", "id", input=document * 2, env=key_env)
            for _ in range(2)]
    assert runs[0].exit_code == 0 and "'step' is not a UUID" in runs[0].stderr
    ids = runs[0].stdout.split() + runs[1].stdout.split()
    assert len(ids) == len(set(ids)) == 4


def test_a_lone_surrogate_is_a_usage_error(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    result = cli("event", "-s", SID, "-f", "-", input='{"event_name": "a\\ud800", "start_time": 1795687200000}',
                 env=key_env)
    assert result.exit_code == 2 and "lone surrogate" in result.stderr and result.stderr.count("\n") == 1
    assert fake.requests == []


def test_a_duration_past_the_year_9999_is_refused(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    for document in ('[{"duration": 1e300}]', '[{"duration": 1e15}]'):
        result = cli("event", "-s", SID, "-f", "-", input=document, env=key_env)
        assert result.exit_code == 2 and "puts end_time (start_time + duration) after the year 9999" in result.stderr
        assert result.stderr.count("\n") == 1
    assert fake.requests == []


def test_a_lost_answer_says_how_to_send_again(cli: Invoker, fake: FakeServer, key_env: dict[str, str],
                                              tmp_path: Path) -> None:
    fake.script = [Reply(status=504)]  # a gateway's: the server behind it may have stored them
    fake.default = Reply(status=504)
    one = cli("event", "-s", SID, "--name", "x", env={**key_env, "HH_MAX_RETRIES": "0"})
    sent = batches(fake)[0][0]["event_id"]
    assert one.exit_code == 5 and "--event-id" in one.stderr and sent in one.stderr
    path = tmp_path / "e.json"
    path.write_text('[{"event_name": "a", "start_time": 1795687200000}, {"event_name": "b", "start_time": 1795687200000}]')
    fake.script = [Reply()]
    many = cli("event", "-s", SID, "-f", str(path), "-o", "json", env={**key_env, "HH_MAX_RETRIES": "0"})
    assert many.exit_code == 0
    fake.script, fake.default = [Reply(status=504)], Reply(status=504)
    failed = cli("event", "-s", SID, "-f", str(path), "-o", "json", env={**key_env, "HH_MAX_RETRIES": "0"})
    assert failed.exit_code == 5 and "the same command) is safe" in failed.stderr


# ------------------------------------------------------------------------------------------ careless input

@pytest.mark.parametrize(("args", "says"), [
    (("update", "", "-m", "a=1"), "SESSION_ID is empty"),
    (("end", ""), "SESSION_ID is empty"),
    (("get", ""), "SESSION_ID is empty"),
    (("event", "-s", "", "--name", "x"), "--session-id is empty"),
    (("event", "-s", " ", "--name", "x"), "--session-id is empty"),
])
def test_an_empty_session_id_is_not_the_exported_one(cli: Invoker, fake: FakeServer, key_env: dict[str, str],
                                                     args: tuple[str, ...], says: str) -> None:
    result = cli(*args, env={**key_env, "HH_SESSION_ID": SID})
    assert result.exit_code == 2 and says in result.stderr and result.stderr.count("\n") == 1
    assert fake.requests == []


@pytest.mark.parametrize(("args", "document", "says"), [
    (("-f", "-"), f'[{{"event_id": "{uuid.UUID(int=7)}"}}, {{"event_id": "{str(uuid.UUID(int=7)).upper()}"}}]',
     "-:1: event_id 00000000-0000-0000-0000-000000000007 is also the id of"),
    (("--name", "x", "--event-id", str(uuid.UUID(int=7)), "--parent", str(uuid.UUID(int=7)).upper()), None, "is the event's own id"),
    (("-f", "-"), f'{{"event_id": "{uuid.UUID(int=7)}", "parent_id": "{uuid.UUID(int=7)}"}}', "is the event's own id"),
    (("--name", "x", "--new-ids"), None, "--new-ids is for the events of -f"),
])
def test_ids_that_would_collide_are_refused(cli: Invoker, fake: FakeServer, key_env: dict[str, str],
                                            args: tuple[str, ...], document: str | None, says: str) -> None:
    result = cli("event", "-s", SID, *args, input=document, env=key_env)
    assert result.exit_code == 2 and says in result.stderr and result.stderr.count("\n") == 1
    assert fake.requests == []


def test_piped_events_without_f_dash_are_refused(fake: FakeServer) -> None:
    import os
    import subprocess
    import sys

    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HH_")}, "HH_API_URL": fake.url,
           "HH_API_KEY": API_KEY, "HH_SESSION_ID": SID}
    piped = subprocess.run(f"echo '[{{\"event_name\": \"x\"}}]' | {sys.executable} -m hhsession event", shell=True,
                           capture_output=True, text=True, timeout=60, env=env)
    assert piped.returncode == 2 and piped.stdout == ""
    assert piped.stderr == ('hhsession: error: no --name: the event would be named "unknown"; give --name, or read '
                            'events from a file with -f FILE (-f - for standard input)\n')
    late = subprocess.run(f"(sleep 0.5; echo '[{{}}]') | {sys.executable} -m hhsession event", shell=True,
                          capture_output=True, text=True, timeout=60, env=env)
    assert late.returncode == 2 and late.stderr == piped.stderr  # however late the JSON comes
    named = subprocess.run(f"echo '[{{}}]' | {sys.executable} -m hhsession event --name n --dry-run", shell=True,
                           capture_output=True, text=True, timeout=60, env=env)
    assert named.returncode == 0 and "not read" in named.stderr
    assert fake.requests == []


def test_a_413_says_what_to_make_smaller(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    fake.script = [Reply(status=413, body={"message": "Payload Too Large"})]
    result = cli("event", "-s", SID, "--name", "x", "--inputs", "blob=" + "x" * 1000, env=key_env)
    assert result.exit_code == 4 and result.stderr.count("\n") == 1
    assert "as too large (413" in result.stderr and "make its inputs, outputs or metadata smaller" in result.stderr


def test_the_type_flag_takes_any_case(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    result = cli("event", "-s", SID, "-t", "Model", "--name", "x", "--dry-run", "-o", "json", env=key_env)
    assert result.exit_code == 0 and json.loads(result.stdout)["events"][0]["event_type"] == "model"


def test_the_client_derives_ids_only_when_asked(emulator: Emulator) -> None:
    steps = [{"event_name": f"s{n}", "start_time": 1795687200000 + n} for n in range(3)]
    with Client(api_key=API_KEY, api_url=emulator.url) as hh:
        sid = hh.start(session_name="py").session_id
        first, again = (hh.events(sid, steps, derive_ids=True).event_ids for _ in range(2))
        fresh = hh.events(sid, steps).event_ids
        assert first == again and not set(fresh) & set(first)
        assert len(hh.get(sid)["events"]) == 6  # sent three times, stored twice: the derived ones once
