"""Property tests: the builder's payload is a fixed point and always what the server
accepts; the streaming array reader agrees with json.loads at any chunk size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hhsession import inputs
from hhsession.payload import OBJECT_FIELDS, Overrides, build_session
from hhsession.times import MAX_TIME_MS, SECONDS_THRESHOLD_MS
from tests.conftest import load_contract, validate

SCHEMA = load_contract("StartSessionRequest")

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
times = st.integers(SECONDS_THRESHOLD_MS, MAX_TIME_MS // 2)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["session_id"] = str(draw(st.uuids()))
    for key in ("session_name", "event_name", "source"):
        if draw(st.booleans()):
            doc[key] = draw(st.text(min_size=1, max_size=30))
    start = draw(times)
    if draw(st.booleans()):
        doc["start_time"] = start
        if draw(st.booleans()):
            doc["end_time"] = start + draw(st.integers(0, 10**9))
    for key in OBJECT_FIELDS:
        if draw(st.booleans()):
            doc[key] = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=4))
    if draw(st.booleans()):
        # (a blank id is refused: see test_payload's rejections)
        doc["children_ids"] = draw(st.lists(st.text(min_size=1, max_size=36).filter(str.strip), max_size=4))
    return doc


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.dictionaries(st.sampled_from(OBJECT_FIELDS), st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
def test_payload_is_a_fixed_point_and_valid(document: dict[str, Any], objects: dict[str, dict[str, Any]]) -> None:
    payload = build_session(document=document, overrides=Overrides(objects=objects)).payload
    validate(payload, SCHEMA)
    # Building from what would be sent changes nothing: every default is already filled in.
    assert build_session(document=payload).payload == payload
    for key, value in document.items():
        if key in OBJECT_FIELDS:
            assert payload[key] == {**value, **objects.get(key, {})}
        elif key not in ("start_time", "end_time"):
            assert payload[key] == value


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=3), max_size=12),
    st.sampled_from([" ", "\n", "\n  ", "\r\n", "\t"]),
    st.integers(1, 40),
)
def test_array_reader_matches_json_loads_at_any_chunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elements: list[dict[str, Any]], gap: str, chunk: int
) -> None:
    monkeypatch.setattr(inputs, "CHUNK", chunk)
    text = "[" + gap + ("," + gap).join(json.dumps(e, indent=1 if gap.startswith("\n") else None) for e in elements) + gap + "]"
    path = tmp_path / "a.json"
    path.write_text(text, encoding="utf-8")
    records = list(inputs.read_records([str(path)], None))
    assert [r.value for r in records] == json.loads(text)
    assert [r.element for r in records] == list(range(len(records)))
    for record in records:  # each source names the line where its element starts
        line = int(record.location.rsplit(":", 1)[1])
        assert text.split("\n")[line - 1].lstrip(" \t[,\r").startswith("{")


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=3), min_size=1, max_size=10), st.integers(1, 30))
def test_jsonl_reader_keeps_every_record_and_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elements: list[dict[str, Any]], chunk: int
) -> None:
    monkeypatch.setattr(inputs, "CHUNK", chunk)
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in elements) + "\n", encoding="utf-8")
    records = list(inputs.read_records([str(path)], None))
    assert [r.value for r in records] == elements
    assert [r.location for r in records] == [f"{path}:{i}" for i in range(1, len(elements) + 1)]
    assert [r.line for r in records] == list(range(1, len(elements) + 1)) and all(r.element is None for r in records)


field_names = st.sampled_from(
    ["session_id", "session_name", "event_name", "source", "start_time", "end_time", "duration",
     "config", "inputs", "outputs", "metadata", "user_properties", "children_ids", "session", "name", "x"]
)
wild_values = json_values | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40) | st.sampled_from(
    ["now", "now-5m", "1764151200s", "2026-11-26T10:00:00Z", "1.5s", "-1", "1e400", str(SECONDS_THRESHOLD_MS)]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(field_names, wild_values, max_size=6), st.booleans())
def test_any_document_is_built_or_refused_never_crashes(document: dict[str, Any], lenient: bool) -> None:
    """Whatever a file holds, the builder answers with a payload or a clear refusal (exit 2), never exit 1."""
    from hhsession.errors import InvalidInput

    try:
        payload = build_session(document=document, origin="f.json", lenient=lenient).payload
    except InvalidInput as exc:
        assert exc.message.startswith("f.json") and exc.exit_code == 2
        return
    validate(payload, SCHEMA)
