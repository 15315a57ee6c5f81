"""The emulator's events routes: GET/PUT /v1/events/{event_id}, the legacy PUT /events,
and POST /v1/events/export and /v1/events/search, over real HTTP on loopback."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hhsession.emulator import GUESSES, NOT_NULL_WHEN_READ, ROUTES, Emulator, Faults, read_back, server_event
from tests.emulator_http import AUTH, SID, assert_error_body, error, get, post, put

OTHER = "8d1c2b3a-4e5f-4a6b-9c7d-0e1f2a3b4c5d"
START = {
    "session_id": SID, "session_name": "n", "start_time": 1764151200000,
    "inputs": {"q": "hi"}, "outputs": {"old": 1}, "config": {"c": 1},
    "metadata": {"a": 1, "b": 1}, "user_properties": {"u": 1}, "children_ids": ["first-child"],
}
FULL_UPDATE = {
    "metadata": {"b": 2, "c": 3}, "feedback": {"rating": 5}, "metrics": {"num_words": 2},
    "config": {"d": 4}, "user_properties": {"v": 2}, "outputs": {"role": "assistant", "content": "Hello"},
    "children_ids": ["c1", "c2"], "duration": 42, "end_time": 1764151260000,
    # Not part of UpdateEventRequest: the server ignores them, as the vendor documents.
    "inputs": {"q": "changed"}, "event_name": "renamed", "session_id": OTHER, "bogus": [1],
}


@pytest.fixture
def started(emulator: Emulator) -> Emulator:
    assert post(emulator, START).status_code == 200
    return emulator


def updated_event(emu: Emulator) -> dict[str, Any]:
    event = emu.store.get(SID)
    assert event is not None
    return event


# ----------------------------------------------------------------------------- PUT /v1/events/{event_id}


@pytest.mark.parametrize("path", [f"/v1/events/{SID}", "/events"])
def test_update_merges_replaces_and_ignores_as_the_server_does(started: Emulator, path: str) -> None:
    before = updated_event(started)
    body = {**FULL_UPDATE, "event_id": SID} if path == "/events" else FULL_UPDATE
    response = put(started, path, body)
    assert response.status_code == 200 and response.json() == {"success": True}
    assert updated_event(started) == {
        **before,
        "metadata": {"a": 1, "b": 2, "c": 3},
        "feedback": {"rating": 5},
        "metrics": {"num_words": 2},
        "config": {"c": 1, "d": 4},
        "user_properties": {"u": 1, "v": 2},
        "outputs": {"role": "assistant", "content": "Hello"},  # replaced, not merged
        "children_ids": ["c1", "c2"],
        "duration": 42,
        "end_time": 1764151260000,
    }


def test_null_outputs_and_empty_children_ids_change_nothing(started: Emulator) -> None:
    before = updated_event(started)
    response = put(started, f"/v1/events/{SID}", {"outputs": None, "children_ids": [], "metadata": {}})
    assert response.status_code == 200
    assert updated_event(started) == before


def test_an_update_then_a_repeated_start_keeps_both(started: Emulator) -> None:
    put(started, f"/v1/events/{SID}", {"outputs": {"done": True}, "metadata": {"x": 1}})
    again = post(started, {"session_id": SID, "metadata": {"y": 2}}).json()
    assert again["outputs"] == {"done": True}
    assert again["metadata"] == {"a": 1, "b": 1, "x": 1, "y": 2}
    assert started.store.count() == 1


def test_concurrent_updates_lose_no_merge(started: Emulator) -> None:
    def one(index: int) -> None:
        with requests.Session() as http:
            for round_ in range(5):
                body = {"metadata": {f"k{index}-{round_}": index}, "metrics": {f"m{index}": round_}}
                assert http.put(f"{started.url}/v1/events/{SID}", json=body, headers=AUTH, timeout=30).status_code == 200

    pool = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    event = updated_event(started)
    assert len(event["metadata"]) == 2 + 20 * 5 and event["metrics"] == {f"m{i}": 4 for i in range(20)}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"outputs": "x"}, "Invalid update: outputs must be an object or null"),
        ({"outputs": ["x"]}, "Invalid update: outputs must be an object or null"),
        ({"outputs": 3}, "Invalid update: outputs must be an object or null"),
        ({"outputs": False}, "Invalid update: outputs must be an object or null"),
        ({"metadata": "x"}, "Invalid update: metadata must be an object"),
        ({"metadata": None}, "Invalid update: metadata must be an object"),
        ({"feedback": [1]}, "Invalid update: feedback must be an object"),
        ({"metrics": 1}, "Invalid update: metrics must be an object"),
        ({"config": "c"}, "Invalid update: config must be an object"),
        ({"user_properties": True}, "Invalid update: user_properties must be an object"),
        ({"children_ids": "c1"}, "Invalid update: children_ids must be a non-empty array of strings"),
        ({"children_ids": ["c1", 2]}, "Invalid update: children_ids must be a non-empty array of strings"),
        ({"children_ids": None}, "Invalid update: children_ids must be a non-empty array of strings"),
        ({"duration": "42"}, "Invalid update: duration must be a number"),
        ({"duration": True}, "Invalid update: duration must be a number"),
        ({"end_time": "now"}, "Invalid update: end_time must be a number"),
        ({"end_time": None}, "Invalid update: end_time must be a number"),
    ],
)
@pytest.mark.parametrize("path", [f"/v1/events/{SID}", "/events"])
def test_wrong_types_are_400_and_change_nothing(started: Emulator, path: str, body: dict[str, Any], message: str) -> None:
    before = updated_event(started)
    # A valid field beside the bad one must not be applied either.
    response = put(started, path, {"metadata": {"z": 1}, **body, **({"event_id": SID} if path == "/events" else {})})
    assert response.status_code == 400 and response.json() == error(400, message)
    assert updated_event(started) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"{not json", "Invalid JSON body"), (b"[1]", "Request body must be a JSON object"),
     (b'{"duration": NaN}', "NaN is not JSON"), (b'{"duration": 1e400}', "number out of range"),
     (b"\xff", "Invalid JSON body"), (b"", "Invalid JSON body")],
)
def test_bodies_that_are_not_a_json_object_are_400(started: Emulator, body: bytes, message: str) -> None:
    assert message in assert_error_body(put(started, f"/v1/events/{SID}", body), 400)["message"]


@pytest.mark.parametrize("event_id", ["not-a-uuid", "3f2b8c1e6d0a4b7e9a512c4d8e9f0a17", SID + "0"])
def test_an_event_id_that_is_not_a_uuid_is_400(started: Emulator, event_id: str) -> None:
    message = f"Invalid event_id {event_id!r}: must be a UUID"
    assert put(started, f"/v1/events/{event_id}", {"metadata": {}}).json() == error(400, message)
    assert put(started, "/events", {"event_id": event_id}).json() == error(400, message)
    assert get(started, f"/v1/events/{event_id}").json() == error(400, message)


def test_legacy_update_needs_a_string_uuid_event_id_in_the_body(started: Emulator) -> None:
    assert put(started, "/events", {"metadata": {"a": 2}}).json() == error(
        400, "Invalid update: event_id is required in the body of PUT /events")
    assert put(started, "/events", {"event_id": 7}).json() == error(400, "Invalid event_id '7': must be a UUID")
    assert put(started, "/events", {"event_id": None}).json() == error(400, "Invalid event_id 'null': must be a UUID")


def test_an_unknown_event_is_404(started: Emulator) -> None:
    missing = str(uuid.uuid4())
    assert put(started, f"/v1/events/{missing}", {"metadata": {"a": 2}}).json() == error(404, f"Event {missing} not found")
    assert put(started, "/events", {"event_id": missing}).json() == error(404, f"Event {missing} not found")
    assert get(started, f"/v1/events/{missing}").json() == error(404, f"Event {missing} not found")
    assert put(started, f"/v1/events/{missing}", {}).status_code == 404
    assert started.store.count() == 1


@pytest.mark.parametrize(
    ("method", "path"), [("PUT", f"/v1/events/{SID}"), ("PUT", "/events"), ("GET", f"/v1/events/{SID}"),
                         ("POST", "/v1/events/export"), ("POST", "/v1/events/search")],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}])
def test_every_events_route_needs_a_bearer(started: Emulator, method: str, path: str, headers: dict[str, str]) -> None:
    body = {"event_id": SID, "metadata": {"a": 9}} if path == "/events" else {"metadata": {"a": 9}}
    if method == "PUT":
        response = put(started, path, body, headers=headers)
    elif method == "GET":
        response = get(started, path, headers=headers)
    else:
        response = post(started, {}, path=path, headers=headers)
    assert response.json() == error(401, "Missing or invalid bearer token")
    assert updated_event(started)["metadata"] == {"a": 1, "b": 1}


def test_the_token_restricts_the_events_routes_too() -> None:
    with Emulator(port=0, token="s3cret") as emu:
        post(emu, START, headers={"Authorization": "Bearer s3cret"})
        wrong = {"Authorization": "Bearer other"}
        assert_error_body(put(emu, f"/v1/events/{SID}", {"metadata": {"x": 1}}, headers=wrong), 401)
        assert_error_body(get(emu, f"/v1/events/{SID}", headers=wrong), 401)
        assert put(emu, f"/v1/events/{SID}", {"metadata": {"x": 1}}, headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_wrong_methods_are_405_with_allow(started: Emulator) -> None:
    answer = get(started, "/events")
    assert answer.json() == error(405, "GET is not served on /events (it takes POST, PUT)")
    assert answer.headers["Allow"] == "POST, PUT"
    assert get(started, "/v1/events/export").json() == error(405, "GET is not served on /v1/events/export (it takes POST)")
    assert put(started, "/v1/events/search", {}).json() == error(405, "PUT is not served on /v1/events/search (it takes POST)")
    answer = post(started, {}, path=f"/v1/events/{SID}")
    assert answer.json() == error(405, f"POST is not served on /v1/events/{SID} (it takes GET, PUT)")
    assert answer.headers["Allow"] == "GET, PUT"


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PATCH", "PROPFIND"])
def test_a_method_no_route_takes_is_answered_in_json_never_html(started: Emulator, method: str) -> None:
    answer = requests.request(method, f"{started.url}/v1/sessions", headers={"Authorization": "Bearer k"}, timeout=10)
    assert answer.headers["Content-Type"] == "application/json"
    if method == "HEAD":
        assert answer.status_code == 405 and answer.content == b"" and answer.headers["Allow"] == "POST"
    else:
        assert answer.status_code in (405, 501) and "<" not in answer.text
        assert answer.json()["statusCode"] == answer.status_code


def test_updates_persist_across_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "events.sqlite")
    with Emulator(port=0, db=db) as emu:
        post(emu, START)
        put(emu, f"/v1/events/{SID}", {"outputs": {"final": True}, "metrics": {"m": 1}})
        put(emu, "/events", {"event_id": SID, "metrics": {"n": 2}, "end_time": 1764151300000})
        expected = read_back(updated_event(emu))
    with Emulator(port=0, db=db) as emu:
        event = get(emu, f"/v1/events/{SID}").json()["event"]
        assert event == expected
        assert event["outputs"] == {"final": True} and event["metrics"] == {"m": 1, "n": 2}
        assert event["end_time"] == 1764151300000


# ----------------------------------------------------------------------------- GET /v1/events/{event_id}


def test_get_event_answers_the_stored_event_wrapped(started: Emulator) -> None:
    response = get(started, f"/v1/events/{SID}")
    assert response.status_code == 200
    assert response.json() == {"event": read_back(updated_event(started))}
    assert response.json()["event"]["event_id"] == SID
    # Read back, a field the Event schema types as string or number is left out, never null.
    assert "parent_id" not in response.json()["event"] and "duration" not in response.json()["event"]
    assert all(response.json()["event"].get(key, "left out") is not None for key in NOT_NULL_WHEN_READ)
    # GET /v1/sessions/{id} keeps answering the bare event.
    assert get(started, f"/v1/sessions/{SID}").json() == updated_event(started)


# ----------------------------------------------------------------------------- export and search

SDK_EXPORT = {"filters": [{"field": "session_id", "operator": "is", "value": SID, "type": "string"}], "limit": 1000, "page": 1}


EVERYTHING = {"limit": 7500}


@pytest.fixture(scope="module")
def shared_three() -> Iterator[tuple[Emulator, Any]]:
    """An emulator holding three sessions (start_time order differs from creation order), and what an
    export of everything answers then. Started once for the module's tests that only export and search."""
    with Emulator(port=0) as emu:
        post(emu, {"session_id": SID, "session_name": "middle", "start_time": 1764151200000, "source": "ci"})
        post(emu, {"session_id": OTHER, "session_name": "latest", "start_time": 1764151300000, "source": "ci"})
        post(emu, {"session_name": "earliest", "start_time": 1764151100000, "source": "laptop"})
        yield emu, post(emu, EVERYTHING, path="/v1/events/export").json()


@pytest.fixture
def three(shared_three: tuple[Emulator, Any]) -> Iterator[Emulator]:
    """The three sessions, for a test that only reads them: afterwards they must be as they were."""
    emu, before = shared_three
    yield emu
    assert post(emu, EVERYTHING, path="/v1/events/export").json() == before, "an export or search changed what is stored"


@pytest.mark.parametrize("path", ["/v1/events/export", "/v1/events/search"])
def test_events_of_one_session(three: Emulator, path: str) -> None:
    response = post(three, SDK_EXPORT, path=path)
    assert response.status_code == 200
    assert response.json() == {"events": [read_back(three.store.get(SID) or {})], "count": 1, "totalEvents": 1}
    assert not {"parent_id", "end_time", "duration"} & set(response.json()["events"][0])  # not ended
    by_event = {"filters": [{"field": "event_id", "operator": "is", "value": OTHER}]}
    assert [e["session_name"] for e in post(three, by_event, path=path).json()["events"]] == ["latest"]
    nobody = {"filters": [{"field": "session_id", "operator": "is", "value": str(uuid.uuid4()), "type": "string"}]}
    assert post(three, nobody, path=path).json() == {"events": [], "count": 0, "totalEvents": 0}


def test_export_takes_the_sdk_body_with_a_project(three: Emulator) -> None:
    assert post(three, {**SDK_EXPORT, "project": "my-project"}, path="/v1/events/export").json()["count"] == 1


@pytest.mark.parametrize("path", ["/v1/events/export", "/v1/events/search"])
def test_filters_all_match_results_newest_start_first_and_paged(three: Emulator, path: str) -> None:
    every = post(three, {}, path=path).json()
    assert [e["session_name"] for e in every["events"]] == ["latest", "middle", "earliest"] and every["count"] == 3
    ci = {"filters": [{"field": "source", "operator": "is", "value": "ci"},
                      {"field": "event_type", "operator": "is", "value": "session", "type": "string"}]}
    assert [e["session_name"] for e in post(three, ci, path=path).json()["events"]] == ["latest", "middle"]
    both = {"filters": [{"field": "session_id", "operator": "is", "value": SID},
                        {"field": "event_name", "operator": "is", "value": "latest"}]}
    assert post(three, both, path=path).json() == {"events": [], "count": 0, "totalEvents": 0}
    page2 = post(three, {"limit": 2, "page": 2}, path=path).json()
    assert [e["session_name"] for e in page2["events"]] == ["earliest"] and page2["count"] == 3
    assert post(three, {"limit": 2, "page": 3}, path=path).json() == {"events": [], "count": 3, "totalEvents": 3}


def _filter(**changes: Any) -> dict[str, Any]:
    return {"filters": [{"field": "session_id", "operator": "is", "value": SID, "type": "string", **changes}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_filter(operator="contains"), "Filter operator 'contains' is not supported by the emulator (supported: 'is')"),
        (_filter(operator="is not"), "Filter operator 'is not' is not supported by the emulator (supported: 'is')"),
        (_filter(operator="like"), "Invalid {route} request: unknown filter operator 'like'"),
        (_filter(field="metadata.cost"), "Filter on field 'metadata.cost' is not supported by the emulator "
                                         "(supported: session_id, event_id, event_type, event_name, source)"),
        (_filter(value=None), "Invalid {route} request: filter value for session_id must be a string, number or boolean"),
        (_filter(value={"a": 1}), "Invalid {route} request: filter value for session_id must be a string, number or boolean"),
        (_filter(type="id"), "Invalid {route} request: unknown filter type 'id' (one of string, number, boolean, datetime)"),
        (_filter(extra=1), "Invalid {route} request: filter unknown key(s) extra"),
        ({"filters": [{"field": "session_id", "operator": "is"}]}, "Invalid {route} request: filter missing value"),
        ({"filters": ["session_id"]}, "Invalid {route} request: each filter must be an object"),
        ({"filters": {"session_id": SID}}, "Invalid {route} request: filters must be an array"),
        ({"dateRange": {"from": "2026-01-01T00:00:00Z"}},
         'Invalid {route} request: dateRange must be {{"$gte": ..., "$lte": ...}} or {{"start_time": ..., "end_time": ...}}'),
        ({"evaluation_id": 5}, "Invalid {route} request: evaluation_id must be a string"),
        ({"limit": 0}, "Invalid {route} request: limit must be an integer from 1 to {max}"),
        ({"limit": "10"}, "Invalid {route} request: limit must be an integer from 1 to {max}"),
        ({"limit": True}, "Invalid {route} request: limit must be an integer from 1 to {max}"),
        ({"page": 0}, "Invalid {route} request: page must be an integer from 1"),
        ({"page": 1.5}, "Invalid {route} request: page must be an integer from 1"),
        ({"sort": "asc"}, "Invalid {route} request: unknown field(s) sort"),
    ],
)
@pytest.mark.parametrize("route", ["export", "search"])
def test_what_the_emulator_cannot_answer_exactly_is_a_clear_400(three: Emulator, route: str, body: dict[str, Any], message: str) -> None:
    expected = message.format(route=route, max=1000 if route == "search" else 7500)
    assert post(three, body, path=f"/v1/events/{route}").json() == error(400, expected)


def test_each_route_has_its_own_fields_and_limits(three: Emulator) -> None:
    # Search is SearchEventsRequest (additionalProperties: false): no project, no projections.
    assert post(three, {"project": "p"}, path="/v1/events/search").json() == error(
        400, "Invalid search request: unknown field(s) project")
    assert post(three, {"projections": ["event_id"]}, path="/v1/events/search").json() == error(
        400, "Invalid search request: unknown field(s) projections")
    assert post(three, {"projections": "event_id"}, path="/v1/events/export").json() == error(
        400, "Invalid export request: projections must be an array of field names")
    assert post(three, {"project": 1}, path="/v1/events/export").json() == error(
        400, "Invalid export request: project must be a string")
    assert post(three, {"ignore_order": "yes"}, path="/v1/events/search").json() == error(
        400, "Invalid search request: ignore_order must be a boolean")
    assert post(three, {"ignore_order": True, "limit": 1000}, path="/v1/events/search").json()["count"] == 3
    assert post(three, {"limit": 1001}, path="/v1/events/search").status_code == 400
    assert post(three, {"limit": 7500}, path="/v1/events/export").json()["count"] == 3
    assert post(three, {"limit": 7501}, path="/v1/events/export").status_code == 400


# ----------------------------------------------------------------------------- fault injection


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("PUT", f"/v1/events/{SID}", {"metadata": {"x": 1}}), ("PUT", "/events", {"event_id": SID, "metadata": {"x": 1}}),
     ("GET", f"/v1/events/{SID}", None), ("POST", "/v1/events/export", SDK_EXPORT), ("POST", "/v1/events/search", SDK_EXPORT)],
)
def test_fault_injection_applies_to_the_events_routes(method: str, path: str, body: Any) -> None:
    def send() -> requests.Response:
        if method == "PUT":
            return put(emu, path, body)
        return get(emu, path) if method == "GET" else post(emu, body, path=path)

    stored = server_event({"session_id": SID, "start_time": 1764151200000}, now_ms=0, strict_keys=True)
    with Emulator(port=0, faults=Faults(fail_rate=1.0, fail_status=503, retry_after=2)) as emu:
        emu.store.start(stored)
        response = send()
        assert response.status_code == 503 and response.headers["Retry-After"] == "2"
        assert response.json() == error(503, "Injected failure (503)")
        assert emu.store.get(SID) == stored  # a failed update changes nothing
        emu.faults.fail_rate = 0.0
        emu.faults.latency_ms = 250
        started = time.monotonic()
        assert send().status_code == 200 and time.monotonic() - started >= 0.25


# ----------------------------------------------------------------------------- what the help and docs/emulator.md list


def test_every_listed_route_is_served(emulator: Emulator) -> None:
    for route in ROUTES:
        path = route.path.replace("{id}", SID).replace("{event_id}", SID)
        response = requests.request(route.method, emulator.url + path, data=b"{}", timeout=5)
        if route.needs_bearer:
            assert response.json() == error(401, "Missing or invalid bearer token"), route
        else:
            assert response.status_code == 200, route
    assert all(isinstance(guess, str) and guess.endswith(".") for guess in GUESSES)


def test_the_docs_and_the_help_name_the_guesses() -> None:
    # Each of the emulator's guesses has its bullet in docs/emulator.md, and the help points there.
    from pathlib import Path

    from typer.testing import CliRunner

    from hhsession.cli import app
    from hhsession.emulator import GUESSES

    page = (Path(__file__).resolve().parents[1] / "docs" / "emulator.md").read_text()
    section = page.split("**What is a guess.**", 1)[1].split("\n## ", 1)[0]
    bullets = [line for line in section.splitlines() if line.startswith("- ")]
    assert len(bullets) == len(GUESSES)
    shown = CliRunner().invoke(app, ["emulator", "--help"]).stdout
    assert "Guesses where the vendor documents nothing" in shown
    assert "docs/emulator.md lists them all" in " ".join(shown.split())


def test_the_help_and_the_docs_list_every_route() -> None:
    from pathlib import Path

    from typer.testing import CliRunner

    from hhsession.cli import app

    page = (Path(__file__).resolve().parents[1] / "docs" / "emulator.md").read_text()
    shown = CliRunner().invoke(app, ["emulator", "--help"]).stdout
    for route in ROUTES:
        assert f"{route.method:<6} {route.path}\n" in shown, route
        assert route.path in page, route


def test_an_emulator_bound_to_every_address_prints_a_loopback_url() -> None:
    from hhsession.emulator import Emulator

    with Emulator(host="0.0.0.0", port=0) as emu:
        assert emu.url.startswith("http://127.0.0.1:")


def test_ids_are_matched_whatever_their_case_and_stored_in_lower_case() -> None:
    upper = SID.upper()
    with Emulator(port=0) as emu:
        started = post(emu, {"session_id": upper, "session_name": "u"})
        assert started.json()["session_id"] == SID and started.json()["event_id"] == SID
        assert get(emu, f"/v1/sessions/{upper}").json()["session_id"] == SID
        assert get(emu, f"/session/{upper}").json()["session_id"] == SID  # (the TypeScript SDK's getSession)
        assert get(emu, f"/v1/events/{upper}").json()["event"]["session_id"] == SID
        assert put(emu, f"/v1/events/{upper}", {"metadata": {"x": 1}}).status_code == 200
        found = post(emu, {"filters": [{"field": "session_id", "operator": "is", "value": upper}]},
                     path="/v1/events/export").json()
        assert found["count"] == 1 and found["events"][0]["metadata"] == {"x": 1}
        assert emu.store.count() == 1


@pytest.mark.parametrize("path", ["/v1/events/export", "/v1/events/search"])
def test_every_field_of_the_sdk_request_models_is_taken(three: Emulator, path: str) -> None:
    every = post(three, {}, path=path).json()["events"]
    starts = sorted(event["start_time"] for event in every)
    # Both date-range shapes, ISO 8601 or milliseconds: start_time within the bounds, both included.
    for date_range in ({"$gte": str(starts[1]), "$lte": str(starts[2])},
                       {"start_time": starts[1], "end_time": starts[2]}):
        found = post(three, {"dateRange": date_range}, path=path).json()
        assert sorted(event["start_time"] for event in found["events"]) == starts[1:] and found["totalEvents"] == 2
    # Typed filter values, and a string that spells a stored number.
    typed = {"filters": [{"field": "source", "operator": "is", "value": "ci", "type": "string"}], "ignore_order": True}
    assert post(three, typed, path=path).json()["count"] == 2
    number = {"filters": [{"field": "event_type", "operator": "is", "value": 5, "type": "number"}]}
    assert post(three, number, path=path).json()["count"] == 0
    assert post(three, {"evaluation_id": "run-1"}, path=path).json()["count"] == 0  # (no session of an evaluation)


def test_export_projections_keep_only_the_fields_asked_for(three: Emulator) -> None:
    found = post(three, {"projections": ["event_id", "session_name"]}, path="/v1/events/export").json()
    assert found["count"] == 3 and all(set(event) == {"event_id", "session_name"} for event in found["events"])


# ----------------------------------------------------------------------------- events inside sessions

CHILD = "5a0c8f3e-1d2b-4c6e-8f90-a1b2c3d4e5f6"


@pytest.mark.parametrize("path", ["/events", "/v1/events"])
def test_one_event_gets_the_servers_defaults_and_is_read_back(started: Emulator, path: str) -> None:
    answer = post(started, {"session_id": SID.upper(), "event_type": "tool", "event_name": "grep", "inputs": {"q": 1},
                            "start_time": 1764151200000, "duration": 250}, path=path)
    assert answer.status_code == 200 and answer.json()["success"] is True
    event_id = answer.json()["event_id"]
    event = get(started, f"/v1/events/{event_id}").json()["event"]
    assert event["session_id"] == SID and event["parent_id"] == SID  # the session is its parent by default
    assert event["end_time"] == 1764151200250 and event["inputs"] == {"q": 1} and event["source"] == "unknown"
    session_and_children = post(started, SDK_EXPORT, path="/v1/events/export").json()
    assert {e["event_id"] for e in session_and_children["events"]} == {SID, event_id}


def test_a_batch_into_one_new_session_and_into_a_named_one(started: Emulator) -> None:
    batch = {"events": [{"event_type": "model", "event_name": "llm", "inputs": {}},
                        {"event_id": CHILD, "event_type": "tool", "inputs": {}, "parent_id": CHILD}],
             "single_session": True, "session_properties": {"session_name": "batch"}}
    answer = post(started, batch, path="/v1/events/batch").json()
    assert answer["success"] is True and len(answer["event_ids"]) == 2 and answer["event_ids"][1] == CHILD
    assert started.store.get(answer["session_id"])["session_name"] == "batch"  # type: ignore[index]
    into = post(started, {"events": [{"event_type": "chain", "inputs": {}}]}, path=f"/v1/sessions/{SID}/events/batch").json()
    assert into["session_id"] == SID and len(into["event_ids"]) == 1
    assert post(started, {"events": []}, path=f"/v1/sessions/{CHILD}/events/batch").status_code == 404
    assert post(started, {"events": "x"}, path="/events/batch").status_code == 400


def test_a_session_sent_as_an_event_is_a_session(emulator: Emulator) -> None:
    answer = post(emulator, {"event_type": "session", "session_id": CHILD, "session_name": "as an event"}, path="/events")
    assert answer.json()["event_id"] == CHILD
    assert emulator.store.get(CHILD)["session_name"] == "as an event"  # type: ignore[index]


# ----------------------------------------------------------------------------- OTLP traces

TRACE = "5b8efff798038103d269b633813fc60c"


def _otlp_json(*spans: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "t"}, "spans": list(spans)}]}]}


def _span(span_id: str, parent: str = "", session: str | None = SID, **attributes: Any) -> dict[str, Any]:
    attrs = ({"honeyhive.session_id": session} if session else {}) | attributes
    kinds = {str: "stringValue", bool: "boolValue", int: "intValue", float: "doubleValue"}
    return {"traceId": TRACE, "spanId": span_id, "parentSpanId": parent, "name": f"span-{span_id[:4]}",
            "startTimeUnixNano": "1764151200000000000", "endTimeUnixNano": "1764151200250000000",
            "attributes": [{"key": k, "value": {kinds[type(v)]: str(v) if type(v) is int else v}} for k, v in attrs.items()]}


def test_an_otlp_json_export_becomes_events_of_the_sessions_its_spans_name(started: Emulator) -> None:
    export = _otlp_json(
        _span("eee19b7ec3c1b174", **{"honeyhive_event_type": "chain"}),
        _span("eee19b7ec3c1b175", parent="eee19b7ec3c1b174", **{"honeyhive_event_type": "model",
              "honeyhive_inputs.query": "hi", "honeyhive_metadata": '{"k": 1}'}),
        _span("eee19b7ec3c1b176", session=None),
    )
    answer = post(started, export, path="/opentelemetry/v1/traces")
    assert answer.status_code == 200 and answer.json()["partialSuccess"]["rejectedSpans"] == 1
    events = post(started, SDK_EXPORT, path="/v1/events/export").json()["events"]
    by_type = {e["event_type"]: e for e in events}
    assert set(by_type) == {"session", "chain", "model"}  # the span that named no session: not stored
    chain, model = by_type["chain"], by_type["model"]
    assert chain["parent_id"] == SID and model["parent_id"] == chain["event_id"]  # the trace's shape
    assert model["inputs"] == {"query": "hi"} and model["metadata"] == {"k": 1}
    assert model["start_time"] == 1764151200000 and model["end_time"] == 1764151200250 and model["duration"] == 250
    # The same export again: the same events (their ids come from the trace and span ids), none added.
    post(started, export, path="/opentelemetry/v1/traces")
    assert len(post(started, SDK_EXPORT, path="/v1/events/export").json()["events"]) == 3


def test_an_otlp_protobuf_export_gzipped_is_taken_too(started: Emulator) -> None:
    import gzip

    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    document = _otlp_json(_span("abcdef0123456789", **{"honeyhive_event_type": "tool"}))
    for span in document["resourceSpans"][0]["scopeSpans"][0]["spans"]:  # (protobuf's JSON form: ids in base64)
        for key in ("traceId", "spanId"):
            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
        del span["parentSpanId"]
    message = ParseDict(document, ExportTraceServiceRequest()).SerializeToString()
    answer = requests.post(f"{started.url}/opentelemetry/v1/traces", data=gzip.compress(message), timeout=10,
                           headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip",
                                    "Authorization": "Bearer k"})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/x-protobuf"
    tools = [e for e in post(started, SDK_EXPORT, path="/v1/events/export").json()["events"] if e["event_type"] == "tool"]
    assert len(tools) == 1 and tools[0]["parent_id"] == SID


@pytest.mark.parametrize("body", [b'{"resourceSpans": 5}', b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz"}]}]}]}',
                                  b"\x0a\xff\xff\xff"])
def test_a_malformed_otlp_export_is_a_400_in_otlps_error_shape(started: Emulator, body: bytes) -> None:
    answer = requests.post(f"{started.url}/opentelemetry/v1/traces", data=body, timeout=10,
                           headers={"Authorization": "Bearer k"})
    assert answer.status_code == 400
    assert answer.json()["code"] == 3 and answer.json()["message"].startswith("Invalid OTLP export: ")


@pytest.mark.parametrize("path", [f"/v1/events/{CHILD}", "/events"])
def test_an_event_inside_a_session_is_updated_as_a_session_is(started: Emulator, path: str) -> None:
    child = {"event_id": CHILD, "session_id": SID, "event_type": "tool", "inputs": {"q": 1}, "outputs": {"old": 1},
             "metadata": {"a": 1, "b": 1}, "config": {"c": 1}, "start_time": 1764151200000, "duration": 5}
    assert post(started, child, path="/events").status_code == 200
    before = started.store.get_event(CHILD)
    session = updated_event(started)
    body = {**FULL_UPDATE, "event_id": CHILD.upper()} if path == "/events" else FULL_UPDATE
    assert put(started, path, body).json() == {"success": True}
    assert started.store.get_event(CHILD) == {
        **before,  # type: ignore[dict-item]
        "metadata": {"a": 1, "b": 2, "c": 3}, "feedback": {"rating": 5}, "metrics": {"num_words": 2},
        "config": {"c": 1, "d": 4}, "user_properties": {"v": 2}, "outputs": {"role": "assistant", "content": "Hello"},
        "children_ids": ["c1", "c2"], "duration": 42, "end_time": 1764151260000,
    }
    assert updated_event(started) == session  # its session is left alone
    assert put(started, f"/v1/events/{CHILD}", {"metadata": "x"}).status_code == 400


def test_updates_of_an_event_inside_a_session_persist_and_lose_no_merge(tmp_path: Path) -> None:
    db = str(tmp_path / "events.sqlite")
    with Emulator(port=0, db=db) as emu:
        post(emu, {"event_id": CHILD, "session_id": SID, "event_type": "tool"}, path="/v1/events")

        def one(index: int) -> None:
            with requests.Session() as http:
                for round_ in range(3):
                    body = {"event_id": CHILD, "metadata": {f"k{index}-{round_}": index}}
                    assert http.put(f"{emu.url}/events", json=body, headers=AUTH, timeout=30).status_code == 200

        pool = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    with Emulator(port=0, db=db) as emu:
        assert len(get(emu, f"/v1/events/{CHILD}").json()["event"]["metadata"]) == 8 * 3


# ----------------------------------------------------------------------------- what the TypeScript SDK 1.0.42 showed


def test_the_typescript_sdks_reads_get_session_and_legacy_export(started: Emulator) -> None:
    # getSession parses GET /session/{id} as an Event (no null number), getEvents posts to /events/export.
    assert get(started, f"/session/{SID}").json() == read_back(updated_event(started))
    assert "end_time" not in get(started, f"/session/{SID}").json()
    legacy = post(started, {**SDK_EXPORT, "project": "p"}, path="/events/export").json()
    assert legacy == post(started, SDK_EXPORT, path="/v1/events/export").json() and legacy["totalEvents"] == 1


def test_an_event_without_a_type_is_a_tool_and_a_computed_end_is_whole_ms(started: Emulator) -> None:
    # The Event schema's types are model, tool, chain, session (the TypeScript SDK refuses another), and
    # its end_time an integer: a duration measured by performance.now() has a fraction.
    answer = post(started, {"session_id": SID, "start_time": 1764151200000, "duration": 12.6}, path="/events").json()
    event = get(started, f"/v1/events/{answer['event_id']}").json()["event"]
    assert event["event_type"] == "tool" and event["end_time"] == 1764151200013 and event["duration"] == 12.6


def test_a_spans_source_may_come_from_its_association_property(started: Emulator) -> None:
    # The Node tracer (Traceloop) names the source only there; honeyhive.source (the Python tracer's) wins.
    post(started, _otlp_json(_span("eee19b7ec3c1b174", **{"traceloop.association.properties.source": "node"}),
                             _span("eee19b7ec3c1b175", **{"traceloop.association.properties.source": "node",
                                                          "honeyhive.source": "python"}),
                             _span("eee19b7ec3c1b176")), path="/opentelemetry/v1/traces")
    events = post(started, SDK_EXPORT, path="/v1/events/export").json()["events"]
    assert sorted(e["source"] for e in events if e["event_type"] != "session") == ["node", "otel", "python"]
