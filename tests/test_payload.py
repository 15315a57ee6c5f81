"""The payload builder (SPEC §2): layers, object flags, defaults, rejections."""

from __future__ import annotations

from typing import Any

import pytest

from hhsession.errors import InvalidInput
from hhsession.payload import (
    Overrides,
    build_session,
    encode_payload,
    is_uuid,
    session_json_schema,
)

SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"
T0 = 1_764_151_200_000


def clock() -> float:
    return 1_795_000_000.0


def fixed_id() -> str:
    return "00000000-0000-4000-8000-000000000001"


def build(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("clock", clock)
    kwargs.setdefault("make_id", fixed_id)
    return build_session(**kwargs).payload


def test_defaults_mirror_the_server() -> None:
    assert build() == {
        "session_id": fixed_id(),
        "event_name": "unknown",
        "source": "unknown",
        "start_time": 1_795_000_000_000,
    }


def test_event_name_falls_back_to_session_name() -> None:
    assert build(document={"session_name": "nightly"})["event_name"] == "nightly"
    assert build(document={"session_name": "nightly", "event_name": "e"})["event_name"] == "e"


def test_source_layers_profile_then_document_then_flag() -> None:
    assert build(defaults={"source": "profile"})["source"] == "profile"
    assert build(defaults={"source": "profile"}, document={"source": "doc"})["source"] == "doc"
    flags = Overrides(fields={"source": "flag"})
    assert build(defaults={"source": "profile"}, document={"source": "doc"}, overrides=flags)["source"] == "flag"


def test_object_fields_merge_key_by_key_across_layers() -> None:
    payload = build(
        document={"metadata": {"a": 1, "b": 2}, "config": {"model": "x"}},
        overrides=Overrides(objects={"metadata": {"b": 3, "c": 4}}),
    )
    assert payload["metadata"] == {"a": 1, "b": 3, "c": 4}
    assert payload["config"] == {"model": "x"}


def test_flags_win_field_by_field() -> None:
    payload = build(
        document={"session_name": "doc", "session_id": SID, "start_time": T0},
        overrides=Overrides(fields={"session_name": "flag"}),
    )
    assert (payload["session_name"], payload["session_id"], payload["start_time"]) == ("flag", SID, T0)


def test_children_ids_replace_then_append() -> None:
    assert build(document={"children_ids": ["a"]}, overrides=Overrides(add_children=["b"]))["children_ids"] == ["a", "b"]
    over = Overrides(children_ids=["x"], add_children=["y"])
    assert build(document={"children_ids": ["a"]}, overrides=over)["children_ids"] == ["x", "y"]


def test_times_in_json_strings_are_parsed() -> None:
    payload = build(document={"start_time": "2026-11-26T10:00:00Z", "end_time": "2026-11-26T10:01:30Z"})
    assert payload["start_time"] == 1795687200000
    assert payload["end_time"] == 1795687290000
    assert payload["duration"] == 90_000


def test_duration_strings_and_start_from_end_minus_duration() -> None:
    payload = build(document={"end_time": T0 + 5000, "duration": "5s"})
    assert payload["start_time"] == T0
    assert payload["duration"] == 5000


def test_duration_only_is_kept_without_inventing_end_time() -> None:
    payload = build(document={"start_time": T0, "duration": "1.5s"})
    assert payload["duration"] == 1500
    assert "end_time" not in payload


def test_consistent_times_within_one_ms_accepted() -> None:
    assert build(document={"start_time": T0, "end_time": T0 + 1000, "duration": 1001})["duration"] == 1001


def test_null_fields_count_as_absent() -> None:
    payload = build(document={"session_id": None, "metadata": None, "session_name": "n"})
    assert payload["session_id"] == fixed_id()
    assert "metadata" not in payload


def test_legacy_wrapper_is_unwrapped() -> None:
    assert build(document={"session": {"session_name": "old", "session_id": SID}})["session_id"] == SID


def test_key_order_is_the_schema_order() -> None:
    payload = build(document={"metadata": {}, "session_name": "n", "session_id": SID})
    assert list(payload) == ["session_id", "session_name", "event_name", "source", "start_time", "metadata"]


def test_a_fresh_uuid4_for_each_session() -> None:
    first = build_session().payload["session_id"]
    second = build_session().payload["session_id"]
    assert is_uuid(first) and is_uuid(second) and first != second
    assert first[14] == "4"  # version 4


# ----------------------------------------------------------------------------- rejections

REJECTIONS = [
    ({"session_id": "abc"}, "f.json: session_id: 'abc' is not a UUID", "pass --lenient"),
    ({"session_id": 42}, "f.json: session_id: expected a string, got a number", ""),
    ({"sessionName": "x"}, "f.json: sessionName: unknown field; did you mean session_name?", ""),
    ({"name": "x"}, "did you mean session_name?", ""),
    ({"startTime": T0}, "did you mean start_time?", ""),
    ({"id": SID}, "did you mean session_id?", ""),
    ({"userProperties": {}}, "did you mean user_properties?", ""),
    ({"zzz": 1}, "unknown field; allowed: session_id, session_name", ""),
    ({"session": {"a": 1}, "other": 1}, "wrapper must be the only top-level key", ""),
    ({"metadata": "x"}, 'f.json: metadata: expected an object like {"key": "value"}, got a string', ""),
    ({"config": [1]}, "config: expected an object", ""),
    ({"children_ids": "a"}, "children_ids: expected an array of strings", ""),
    ({"children_ids": ["a", 2]}, "children_ids[1]: expected a string id, got a number", ""),
    ({"children_ids": ["a", " "]}, "f.json: children_ids[1]: is empty", "give the child event's id"),
    ({"session_name": 5}, "session_name: expected a string, got a number", ""),
    ({"start_time": "tomorrow"}, "f.json: start_time: cannot read 'tomorrow' as a time", ""),
    ({"start_time": 1764151200}, "looks like Unix seconds", "1764151200s"),
    ({"end_time": 1764151200}, "end_time: 1764151200 looks like Unix seconds", ""),
    ({"start_time": T0, "end_time": T0 - 1}, "end_time: end_time 1764151199999 (", "is before start_time 1764151200000 ("),
    ({"end_time": T0}, "(start_time defaulted to now; pass --start-time)", ""),
    ({"start_time": T0, "end_time": T0 + 1000, "duration": 5000}, "duration 5000 ms does not match end_time - start_time = 1000 ms", ""),
    ({"end_time": T0, "duration": T0 + 100_000}, "f.json: duration: duration 1764151300000 ms puts the start "
     "(end_time - duration) at -100000, before 1970", "check the units of duration and end_time, or give start_time"),
    ({"end_time": T0, "duration": T0 - 100_000}, "puts the start (end_time - duration) at 100000 (1970-01-01 ", ""),
    ({"duration": "-1s"}, "duration: -1s is negative", ""),
    ({"duration": "long"}, "cannot read 'long' as a duration", ""),
    ({"event_name": ""}, 'f.json: event_name: is empty; the server would replace it with the session name or "unknown"', ""),
    ({"source": ""}, "f.json: source: is empty", "leave the field out"),
]


@pytest.mark.parametrize(("document", "message", "also"), REJECTIONS)
def test_rejections_name_the_field_and_the_fix(document: dict[str, Any], message: str, also: str) -> None:
    with pytest.raises(InvalidInput) as info:
        build(document=document, origin="f.json")
    assert message in info.value.message
    assert also in info.value.message
    assert info.value.exit_code == 2


def test_flag_errors_name_the_flag() -> None:
    with pytest.raises(InvalidInput, match=r"^--start-time: 1764151200 looks like Unix seconds"):
        build(overrides=Overrides(fields={"start_time": "1764151200"}))
    with pytest.raises(InvalidInput, match=r"^--session-id: 'nope' is not a UUID"):
        build(overrides=Overrides(fields={"session_id": "nope"}))


def test_lenient_mirrors_the_server_with_warnings() -> None:
    built = build_session(document={"session_id": "abc", "sessionName": "x", "a": 1}, origin="f", lenient=True, make_id=fixed_id)
    assert built.payload["session_id"] == fixed_id()
    assert "sessionName" not in built.payload and "a" not in built.payload
    assert any("'abc' is not a UUID; using 00000000-0000-4000-8000-000000000001" in w for w in built.warnings)
    assert any("sessionName: unknown field dropped (did you mean session_name?)" in w for w in built.warnings)


def test_encoded_payload_is_compact_utf8() -> None:
    assert encode_payload({"session_name": "café", "n": 1}) == '{"session_name":"café","n":1}'.encode()


def test_every_built_payload_validates_against_the_request_contract(request_schema: dict[str, Any]) -> None:
    import jsonschema

    payload = build(
        document={"session_name": "n", "start_time": "now-1m", "end_time": "now", "metadata": {"a": 1}, "children_ids": ["c"]},
        overrides=Overrides(objects={"config": {"m": "x"}}),
    )
    jsonschema.validate(payload, request_schema)


def test_schema_accepts_what_the_builder_accepts() -> None:
    import jsonschema

    schema = session_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate({"session_name": "x", "start_time": "now", "metadata": None}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"sessionName": "x"}, schema)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (T0 + 0.5, None, (T0 + 1, None, None)),  # half up
        (T0 + 0.4, None, (T0, None, None)),
        ("2026-11-26T10:00:00.000600Z", "2026-11-26T10:00:01.0004Z", (1795687200001, 1795687201000, 999)),
        (T0 + 0.5, T0 + 1500.5, (T0 + 1, T0 + 1501, 1500)),  # the duration from the rounded times
    ],
)
def test_times_are_sent_as_whole_milliseconds(start: Any, end: Any, expected: tuple[Any, Any, Any]) -> None:
    document = {"start_time": start} if end is None else {"start_time": start, "end_time": end}
    payload = build(document=document)
    assert (payload["start_time"], payload.get("end_time"), payload.get("duration")) == expected
    assert all(isinstance(payload[key], int) for key in ("start_time", "end_time") if key in payload)


def test_a_start_derived_from_end_and_duration_is_whole() -> None:
    payload = build(document={"end_time": T0 + 1000, "duration": 0.6})
    assert payload["start_time"] == T0 + 999 and payload["duration"] == 0.6  # a duration stays a number


def test_times_in_messages_are_shown_as_dates_too() -> None:
    from hhsession.times import format_time

    with pytest.raises(InvalidInput) as info:
        build(document={"start_time": T0, "end_time": T0 - 60_000})
    message = info.value.message
    assert f"end_time {T0 - 60_000} ({format_time(T0 - 60_000)})" in message
    assert f"start_time {T0} ({format_time(T0)})" in message and format_time(T0)[:10] in message


def test_a_uuid_with_a_trailing_newline_is_not_a_uuid() -> None:
    assert not is_uuid(SID + "\n") and not is_uuid(SID + " ") and is_uuid(SID)
    with pytest.raises(InvalidInput, match="is not a UUID"):
        build(document={"session_id": SID + "\n"})
