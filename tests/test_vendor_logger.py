"""The vendor's ``honeyhive-logger`` (pinned in the ``test`` extra) runs against the emulator.

What ``honeyhive-logger==0.0.11`` sends, read from its source (one module, urllib only):

- ``start(...)``: ``POST /session/start`` with ``{"session": {"project", "session_name", "source",
  "session_id" (a uuid4 of its own when none is given), "config", "inputs", "metadata",
  "user_properties", "start_time" (ms)}}``; it needs a 200 whose JSON has ``session_id``, and returns it.
- ``log(...)``: ``POST /events`` with ``{"event": {"session_id", "project", "source", "event_name",
  "event_type" (lowered), "config", "inputs", "outputs", "metadata", "start_time", "duration"}}``;
  it needs a 200 whose JSON has ``event_id``. Without a ``session_id`` it sends a uuid4 no session has.
- ``update(event_id=..., ...)``: ``PUT /events`` with ``event_id`` and the fields not None
  (``duration_ms`` sent as ``duration``); it needs a 200. The id may be a session's or an event's.

Each retries a URLError 3 times (1, 2, 4 s) and never raises: it prints "HoneyHive: Failed to ..."
(and re-raises only when ``verbose``). Here every call is verbose, so a failure raises, and what
they print is checked too. Each call also sets ``socket.setdefaulttimeout(5)`` for the whole
process: the fixture below puts the default back.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import honeyhive_logger
import pytest

from hhsession.emulator import Emulator
from tests.emulator_http import SID, Log, export_by_session, only_loopback


@pytest.fixture(autouse=True)
def no_network_but_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    only_loopback(monkeypatch)


@pytest.fixture(autouse=True)
def default_timeout_restored() -> Iterator[None]:
    before = socket.getdefaulttimeout()
    yield
    socket.setdefaulttimeout(before)


@pytest.fixture
def logged() -> Iterator[tuple[Emulator, Log]]:
    log = Log()
    with Emulator(port=0, log=log) as emu:
        yield emu, log


def test_start_log_update_every_call_answered_and_read_back(
    logged: tuple[Emulator, Log], capsys: pytest.CaptureFixture[str]
) -> None:
    emu, log = logged
    common = {"api_key": "emulator-key", "server_url": emu.url, "verbose": True}
    session_id = honeyhive_logger.start(
        project="proj", session_name="logger-run", source="ci", session_id=SID, config={"model": "m"},
        inputs={"q": "hi"}, metadata={"run": 1}, user_properties={"user": "u"}, **common,
    )
    assert session_id == SID
    llm = honeyhive_logger.log(
        project="proj", session_id=session_id, event_name="llm", event_type="Model", config={"t": 0},
        inputs={"prompt": "p"}, outputs={"text": "draft"}, metadata={"a": 1}, duration_ms=42, source="ci", **common,
    )
    tool = honeyhive_logger.log(project="proj", session_id=session_id, event_name="grep", **common)
    assert honeyhive_logger.update(event_id=session_id, metadata={"done": True}, outputs={"answer": "42"},
                                   feedback={"ok": 1}, **common) is None
    assert honeyhive_logger.update(event_id=llm, metadata={"b": 2}, outputs={"text": "final"}, metrics={"tokens": 7},
                                   feedback={"rating": 5}, config={"u": 1}, user_properties={"v": 2},
                                   duration_ms=50, **common) is None

    printed = capsys.readouterr()
    assert "Failed" not in printed.out + printed.err and "Error" not in printed.out + printed.err
    assert printed.out.count("Successfully updated event") == 2
    emu.wait_idle()
    lines = log.wait_for(5)
    assert len(lines) == 5 and all(" 200 " in line for line in lines), lines  # one request each, no retry

    found = export_by_session(emu, session_id)
    by_id = {event["event_id"]: event for event in found["events"]}
    assert set(by_id) == {session_id, llm, tool} and found["count"] == 3
    session = by_id[session_id]
    assert session["session_name"] == "logger-run" and session["source"] == "ci"
    assert session["metadata"] == {"run": 1, "done": True} and session["outputs"] == {"answer": "42"}
    assert session["inputs"] == {"q": "hi"} and session["config"] == {"model": "m"}
    assert session["user_properties"] == {"user": "u"} and session["feedback"] == {"ok": 1}
    event = by_id[llm]
    assert event["event_type"] == "model" and event["event_name"] == "llm" and event["parent_id"] == session_id
    assert event["inputs"] == {"prompt": "p"} and event["outputs"] == {"text": "final"}  # replaced
    assert event["metadata"] == {"a": 1, "b": 2} and event["config"] == {"t": 0, "u": 1}  # merged
    assert event["metrics"] == {"tokens": 7} and event["feedback"] == {"rating": 5}
    assert event["user_properties"] == {"v": 2} and event["duration"] == 50
    assert event["end_time"] == event["start_time"] + 42  # from the logged duration (the update sets only duration)
    assert by_id[tool]["event_type"] == "tool" and by_id[tool]["duration"] == 10  # the logger's defaults


def test_an_event_logged_without_a_session_is_read_back_through_the_one_it_names(
    logged: tuple[Emulator, Log], capsys: pytest.CaptureFixture[str]
) -> None:
    # log() without session_id sends a fresh uuid4: the emulator starts that session for it (a guess).
    emu, _ = logged
    event_id = honeyhive_logger.log(api_key="k", project="proj", event_name="alone", event_type="chain",
                                    server_url=emu.url, verbose=True)
    assert "Failed" not in capsys.readouterr().out
    stored = emu.store.get_event(event_id)
    assert stored is not None
    found = export_by_session(emu, stored["session_id"])
    assert {(e["event_type"], e["event_id"]) for e in found["events"]} == {
        ("session", stored["session_id"]), ("chain", event_id)}
