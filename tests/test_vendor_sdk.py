"""The vendor's own Python SDK (``honeyhive``, pinned in the ``test`` extra) runs against the emulator.

What ``honeyhive==1.7.0`` sends, read from its source:

- ``sessions.start(StartSessionRequest(session={...}))``: ``POST /session/start``
  with ``{"session": {...}}`` (``model_dump(exclude_none=True)``); it parses the
  answer as ``PostSessionStartResponse`` (``event_id``, ``session_id``,
  ``org_id``, ``workspace_id``, ``project_id`` required).
- ``events.update(UpdateEventRequest(event_id=..., ...))``: ``PUT /events`` with
  ``event_id`` in the body; it calls ``response.json()`` on a 200, so the answer
  must be JSON, and returns None.
- ``events.get_by_session_id(sid)`` (deprecated) and ``events.export(filters=[...])``:
  ``POST /v1/events/export`` with ``{"filters": [{"field": "session_id", "operator":
  "is", "value": sid, "type": "string"}], "limit": 1000, "page": 1}``, plus
  ``"project"`` when one is passed; it reads ``events`` and ``totalEvents`` or
  ``count``. Only export retries (408/429/5xx, its own backoff, not Retry-After).

The HoneyHive client starts no tracer and sends no telemetry; the guard below
fails the test if anything here tries to leave the machine.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from honeyhive import HoneyHive
from honeyhive._generated.api_config import HTTPException
from honeyhive.models import EventFilter, StartSessionRequest, UpdateEventRequest
from honeyhive.utils.error_handler import APIError
from honeyhive.utils.retry import RetryConfig

from hhsession.emulator import Emulator, Faults, export_lines
from tests.emulator_http import SID, Log, export_by_session, get, only_loopback, post


@pytest.fixture(autouse=True)
def no_network_but_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the SDK does, it may reach the emulator and nothing else."""
    only_loopback(monkeypatch)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """The emulator, with its request log kept: the vendor's calls must all be answered 2xx."""
    with Emulator(port=0, log=Log()) as emu:
        yield emu


def every_call_answered_2xx(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The emulator's request log: every request answered 2xx; and no client logged an error."""
    emulator.wait_idle()
    assert isinstance(emulator.log, Log)
    lines = emulator.log.getvalue().splitlines()
    assert lines and all(line.split()[4].startswith("2") for line in lines), lines
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []
    return lines


@pytest.fixture
def sdk(emulator: Emulator) -> Iterator[HoneyHive]:
    yield HoneyHive(api_key="emulator-key", server_url=emulator.url)


def read_back(client: HoneyHive, session_id: str) -> dict[str, Any]:
    with pytest.warns(DeprecationWarning, match="get_by_session_id"):
        response = client.events.get_by_session_id(session_id)
    assert response.total_events == 1 and len(response.events) == 1
    return response.events[0].model_dump()


def test_start_update_read_back(sdk: HoneyHive, emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    started = sdk.sessions.start(StartSessionRequest(session={
        "session_id": SID, "session_name": "sdk-run", "source": "sdk-test",
        "inputs": {"q": "hi"}, "outputs": {"draft": 1}, "metadata": {"a": 1, "b": 1}, "user_properties": {"u": 1},
    }))
    assert started.session_id == SID and started.event_id == SID
    assert started.project_id == "proj_emulator" and started.event_type == "session"

    result = sdk.events.update(UpdateEventRequest(
        event_id=SID, metadata={"b": 2, "c": 3}, outputs={"answer": "42"}, feedback={"rating": 5},
        metrics={"score": 0.9}, config={"model": "m"}, user_properties={"v": 2},
        children_ids=["child-1"], duration=1500, end_time=1764151201500,
    ))
    assert result is None

    event = read_back(sdk, SID)
    assert event["event_id"] == SID and event["event_name"] == "sdk-run" and event["source"] == "sdk-test"
    assert event["metadata"] == {"a": 1, "b": 2, "c": 3}  # merged
    assert event["outputs"] == {"answer": "42"}  # replaced
    assert event["user_properties"] == {"u": 1, "v": 2}
    assert event["feedback"] == {"rating": 5} and event["metrics"] == {"score": 0.9} and event["config"] == {"model": "m"}
    assert event["children_ids"] == ["child-1"] and event["duration"] == 1500 and event["end_time"] == 1764151201500
    assert len(every_call_answered_2xx(emulator, caplog)) == 3  # start, update, export: none retried
    assert event["inputs"] == {"q": "hi"}
    # What the SDK read is what the emulator stores.
    assert get(emulator, f"/v1/events/{SID}").json()["event"]["metadata"] == event["metadata"]


def test_export_with_a_filter_and_the_deprecated_project(sdk: HoneyHive) -> None:
    sdk.sessions.start(StartSessionRequest(session={"session_id": SID}))
    sdk.sessions.start(StartSessionRequest(session={"session_name": "another"}))
    only = [EventFilter(field="session_id", operator="is", value=SID, type="string")]
    response = sdk.events.export(filters=only)
    assert [e.session_id for e in response.events] == [SID] and response.total_events == 1
    with pytest.warns(DeprecationWarning, match="project"):
        assert sdk.events.export(project="my-project", filters=only).total_events == 1
    assert sdk.events.export(filters=[]).total_events == 2


def test_the_printed_exports_are_what_the_sdk_reads(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # HoneyHive() with no arguments reads HH_API_KEY and HH_API_URL: the older names serve() still prints.
    for line in export_lines(emulator.url, None):
        name, _, value = line.removeprefix("export ").partition("=")
        monkeypatch.setenv(name, value)
    assert HoneyHive().sessions.start(StartSessionRequest(session={"session_id": SID})).event_id == SID


def test_a_flat_session_dict_still_starts_with_a_warning(sdk: HoneyHive) -> None:
    with pytest.warns(DeprecationWarning, match="flat session payload"):
        started = sdk.sessions.start({"session_id": SID, "session_name": "flat"})
    assert started.event_id == SID


def test_the_sdk_sees_the_emulators_answers_to_what_it_cannot_do(sdk: HoneyHive) -> None:
    missing = "8d1c2b3a-4e5f-4a6b-9c7d-0e1f2a3b4c5d"
    with pytest.raises(HTTPException) as unknown:
        sdk.events.update(UpdateEventRequest(event_id=missing, metadata={"a": 1}))
    assert unknown.value.status_code == 404 and unknown.value.error_code == "NOT_FOUND"
    assert unknown.value.server_message == f"Event {missing} not found"

    sdk.sessions.start(StartSessionRequest(session={"session_id": SID, "outputs": {"kept": 1}}))
    # Extra fields pass the SDK's model (extra="allow") and the server ignores them; [] is ignored too.
    sdk.events.update(UpdateEventRequest(event_id=SID, unknown_field="ignored", children_ids=[]))
    assert read_back(sdk, SID)["outputs"] == {"kept": 1}

    with pytest.raises(APIError) as unsupported:
        sdk.events.export(filters=[EventFilter(field="metadata.cost", operator="greater than", value="0.01", type="number")])
    assert "status code: 400" in str(unsupported.value)
    assert "Filter on field 'metadata.cost' is not supported by the emulator" in str(unsupported.value)


def test_a_wrong_key_is_401_for_the_sdk() -> None:
    with Emulator(port=0, token="the-token") as emu:
        wrong = HoneyHive(api_key="not-the-token", server_url=emu.url)
        with pytest.raises(HTTPException) as refused:
            wrong.sessions.start(StartSessionRequest(session={"session_id": SID}))
        assert refused.value.status_code == 401 and refused.value.error_code == "UNAUTHORIZED"
        right = HoneyHive(api_key="the-token", server_url=emu.url)
        assert right.sessions.start(StartSessionRequest(session={"session_id": SID})).event_id == SID


def test_export_retries_through_injected_failures() -> None:
    # Only export retries in the SDK; its backoff is its own (Retry-After is not read).
    with Emulator(port=0, faults=Faults(fail_rate=0.5, fail_status=503, retry_after=0), seed=3) as emu:
        emu.faults.fail_rate = 0.0
        HoneyHive(api_key="k", server_url=emu.url).sessions.start(StartSessionRequest(session={"session_id": SID}))
        emu.faults.fail_rate = 0.5
        client = HoneyHive(api_key="k", server_url=emu.url, retry_config=RetryConfig.constant(delay=0.01, max_retries=20))
        only = [EventFilter(field="session_id", operator="is", value=SID)]
        for _ in range(5):
            assert client.events.export(filters=only).total_events == 1
        assert emu.requests > 6  # some answers were injected failures, and were retried


def test_hhsession_never_imports_the_sdk() -> None:
    code = (
        "import sys\n"
        "import hhsession, hhsession.emulator, hhsession.cli\n"
        "from hhsession import Emulator\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('honeyhive', 'pydantic', 'httpx')], sorted(sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))}
    help_run = subprocess.run([sys.executable, "-X", "importtime", "-m", "hhsession", "emulator", "--help"],
                              capture_output=True, text=True, timeout=60, env=env)
    assert help_run.returncode == 0
    assert "honeyhive" not in help_run.stderr and "hhsession.cli" in help_run.stderr


def test_the_sdk_logs_events_into_a_session_and_reads_them_back(sdk: HoneyHive, emulator: Emulator,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    from honeyhive.models import PostEventBatchRequest, PostEventRequest

    sdk.sessions.start(StartSessionRequest(session={"session_id": SID, "session_name": "with steps"}))
    one = sdk.events.create(PostEventRequest(event={"session_id": SID, "event_type": "tool", "event_name": "search",
                                                    "inputs": {"q": "x"}, "duration": 12}))
    assert one.success and one.event_id
    batch = sdk.events.create_batch(PostEventBatchRequest(events=[
        {"event_id": "5a0c8f3e-1d2b-4c6e-8f90-a1b2c3d4e5f6", "session_id": SID, "event_type": "model", "event_name": "llm"},
        {"event_id": "6b1d9a4f-2e3c-4d7f-9a01-b2c3d4e5f6a7", "session_id": SID, "event_type": "chain", "event_name": "plan"},
    ]))
    assert batch.success and len(batch.event_ids) == 2
    with pytest.warns(DeprecationWarning, match="get_by_session_id"):
        found = sdk.events.get_by_session_id(SID)
    names = sorted(event.model_dump()["event_name"] for event in found.events)
    assert names == ["llm", "plan", "search", "with steps"] and found.total_events == 4
    assert len(every_call_answered_2xx(emulator, caplog)) == 4


# The tracer's own calls into its SDK and OpenTelemetry are deprecated there (not ours to fix): hidden here.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:honeyhive")
def test_the_vendors_tracer_sends_its_spans_as_events_of_its_session(emulator: Emulator, caplog: pytest.LogCaptureFixture,
                                                                      capfd: pytest.CaptureFixture[str]) -> None:
    from honeyhive import HoneyHiveTracer, trace

    tracer = HoneyHiveTracer.init(api_key="k", server_url=emulator.url, session_name="traced", source="test")
    session_id = tracer.session_id

    @trace(event_type="tool")
    def double(x: int) -> int:
        return x * 2

    assert double(21) == 42
    tracer.enrich_session(metadata={"run": 1})
    tracer.flush()
    found = post(emulator, {"filters": [{"field": "session_id", "operator": "is", "value": session_id}]},
                 path="/v1/events/export").json()
    by_type = {event["event_type"]: event for event in found["events"]}
    assert set(by_type) == {"session", "tool"} and found["totalEvents"] == 2  # one session: the tracer's
    assert by_type["session"]["session_name"] == "traced" and by_type["session"]["metadata"]["run"] == 1
    tool = by_type["tool"]
    assert tool["event_name"].endswith("double") and tool["inputs"] == {"x": 21} and tool["outputs"] == {"result": 42}
    assert tool["parent_id"] == session_id
    lines = every_call_answered_2xx(emulator, caplog)
    assert any("/opentelemetry/v1/traces" in line and "from OTLP/JSON" in line for line in lines), lines
    printed = capfd.readouterr()
    assert "error" not in (printed.out + printed.err).lower(), printed


TRACED_PROGRAM = """
from honeyhive import HoneyHiveTracer, trace

tracer = HoneyHiveTracer.init()  # no session arguments: it joins the one exec gives it

@trace(event_type="tool")
def work(x):
    return x + 1

work(1)
tracer.flush()
"""


def test_a_traced_program_under_exec_joins_exec_s_session(emulator: Emulator, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    program = tmp_path / "traced.py"
    program.write_text(TRACED_PROGRAM)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("HH_", "HONEYHIVE_"))},
           "HH_API_URL": emulator.url, "HH_API_KEY": "emulator-key"}
    result = subprocess.run([sys.executable, "-m", "hhsession", "exec", "--name", "traced-job", "--", sys.executable,
                             str(program)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert emulator.store.count() == 1  # exactly one session: exec's, not a second one of the tracer's
    found = post(emulator, {}, path="/v1/events/export").json()["events"]
    by_type = {event["event_type"]: event for event in found}
    session = by_type["session"]
    assert session["session_name"] == "traced-job" and session["outputs"] == {"exit_code": 0}  # ended by exec
    tool = by_type["tool"]
    assert tool["session_id"] == session["session_id"] and tool["inputs"] == {"x": 1} and tool["outputs"] == {"result": 2}
    every_call_answered_2xx(emulator, caplog)
    assert "error" not in result.stderr.lower(), result.stderr  # the tracer in the program said nothing wrong


def test_the_sdk_updates_an_event_inside_a_session(sdk: HoneyHive, emulator: Emulator,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    # PUT /events takes any event's id, not only a session's: the same merges apply to a child event.
    from honeyhive.models import PostEventRequest

    sdk.sessions.start(StartSessionRequest(session={"session_id": SID, "metadata": {"s": 1}}))
    child = sdk.events.create(PostEventRequest(event={
        "session_id": SID, "event_type": "model", "event_name": "llm", "inputs": {"q": "x"},
        "outputs": {"draft": 1}, "metadata": {"a": 1, "b": 1}, "metrics": {"m": 1}, "start_time": 1764151200000,
    })).event_id
    assert sdk.events.update(UpdateEventRequest(
        event_id=child.upper(), metadata={"b": 2, "c": 3}, outputs={"answer": "42"}, metrics={"n": 2},
        feedback={"rating": 5}, duration=250,
    )) is None  # (a 2xx; the SDK raises on anything else)
    found = export_by_session(emulator, SID)
    by_id = {event["event_id"]: event for event in found["events"]}
    assert set(by_id) == {SID, child} and found["count"] == 2
    event = by_id[child]
    assert event["metadata"] == {"a": 1, "b": 2, "c": 3} and event["metrics"] == {"m": 1, "n": 2}  # merged
    assert event["outputs"] == {"answer": "42"} and event["feedback"] == {"rating": 5}  # replaced, set
    assert event["duration"] == 250 and event["inputs"] == {"q": "x"} and event["parent_id"] == SID
    assert by_id[SID]["metadata"] == {"s": 1}  # the session is left as it was
    assert get(emulator, f"/v1/events/{child}").json()["event"] == event
    every_call_answered_2xx(emulator, caplog)
