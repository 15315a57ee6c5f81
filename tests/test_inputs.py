"""Reading input (SPEC §2): one JSON document from a file or standard input, and the 16 MiB bound on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hhsession.errors import InvalidInput
from hhsession.inputs import MAX_INPUT_BYTES, parse_json, read_json_object, read_records
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer


def test_invalid_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "session_name": "x",\n  "metadata": {,}\n}')
    with pytest.raises(InvalidInput, match=r"bad.json: invalid JSON at line 3 column 16"):
        read_json_object(str(path))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[1, 2]", "expected a JSON object {...}, got an array"),
        (b'"x"', "got a string"),
        (b"", "empty input"),
        (b'{"session_name": "caf\xe9"}', r"not UTF-8 \(bad byte at offset 21\)"),
        (b'{"a": NaN}', "invalid JSON"),
    ],
)
def test_unreadable_documents(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(data)
    with pytest.raises(InvalidInput, match=message):
        read_json_object(str(path))


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b'\xef\xbb\xbf{"session_name": "caf\xc3\xa9"}')
    assert read_json_object(str(path)) == {"session_name": "café"}


def test_inputs_over_16_mib_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    filler = "x" * (MAX_INPUT_BYTES)
    path.write_text(json.dumps({"inputs": {"blob": filler}}))
    with pytest.raises(InvalidInput, match="larger than 16 MiB"):
        read_json_object(str(path))


def test_json_lines_given_to_start_points_to_replay() -> None:
    with pytest.raises(InvalidInput, match="line 2 column 1: Extra data; more than one JSON value: for JSON Lines"):
        parse_json('{"a": 1}\n{"a": 2}\n', "f")


def test_parse_json_error_position() -> None:
    with pytest.raises(InvalidInput, match="x: invalid JSON at line 2 column 3"):
        parse_json('{"a":\n  }', "x")


@pytest.mark.parametrize(("text", "valid"), [
    ('[{"session_name": "a"}]\n{"session_name": "b"}\n{"session_name": "c"}\n', 1),  # JSON Lines whose first line is an array
    ('[{"session_name": "a"}]\ngarbage\n', 1),
    ('[{"session_name": "a"}, {"session_name": "b"}]\n\n  \n', 2),  # white space after it: nothing more
])
def test_what_follows_a_json_array_is_not_dropped_silently(tmp_path: Path, text: str, valid: int) -> None:
    path = tmp_path / "r.json"
    path.write_text(text)
    got = list(read_records([str(path)]))
    assert sum(1 for record in got if not record.error and isinstance(record.value, dict)) == valid
    trailing = [record for record in got if record.error and "more after the end of the JSON array" in record.error]
    assert len(trailing) == (0 if text.rstrip().endswith("]") else 1)


def test_the_16_mib_bound_holds_for_what_is_sent(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    count = 1_000_000  # "1e15," is 5 bytes in the file and "1000000000000000.0," 19 bytes on the wire
    doc = tmp_path / "doc.json"
    doc.write_text('{"inputs": {"v": [' + ",".join(["1e15"] * count) + "]}}")
    assert doc.stat().st_size < MAX_INPUT_BYTES
    result = cli("start", "-f", str(doc), env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2, result.stderr
    assert "more than 16 MiB" in result.stderr and fake.requests == []
