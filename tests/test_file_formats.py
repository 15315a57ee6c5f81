"""`-f` and replay inputs in JSON, JSONC and YAML, told by the extension (SPEC §2, issue 22 point 6):
through the real CLI, every refusal exit 2 with its line and column and nothing sent."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hhsession.emulator import Emulator
from hhsession.formats import JSON, JSONC, YAML, format_of, strip_jsonc
from hhsession.inputs import MAX_INPUT_BYTES, count_lines, read_json_object, read_records
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer
from tests.replay.conftest import results
from tests.test_startup import imported_modules

SID = "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def sent(cli: Invoker, fake: FakeServer, env: dict[str, str], *args: str) -> dict[str, object]:
    result = cli("start", *args, "-o", "id", env=env)
    assert result.exit_code == 0, result.stderr
    body: dict[str, object] = fake.requests[-1].json()
    return body


def refused(cli: Invoker, fake: FakeServer, env: dict[str, str], *args: str, command: str = "start") -> str:
    """The one error line of a refused command: exit 2, nothing sent."""
    result = cli(command, *args, env=env)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert fake.requests == [] and fake.connections == 0
    return result.stderr.strip()


# ----------------------------------------------------------------------------- by extension


@pytest.mark.parametrize(("name", "kind"), [
    ("a.json", JSON), ("a.JSON", JSON), ("a.jsonl", JSON), ("a.txt", JSON), ("a.toml", JSON), ("a", JSON),
    ("-", JSON), ("a.jsonc", JSONC), ("A.JsonC", JSONC), ("a.yaml", YAML), ("a.YAML", YAML), ("a.yml", YAML),
    ("dir.yaml/a.json", JSON), (".yaml", JSON),
])
def test_the_format_is_told_by_the_extension_in_any_case(name: str, kind: str) -> None:
    assert format_of(name) == kind


DOCUMENT = {"session_name": "eval", "source": "ci", "metadata": {"branch": "main", "n": 3, "ok": True}}
SAME_DOCUMENT = {
    "s.json": json.dumps(DOCUMENT),
    "s.JSON": json.dumps(DOCUMENT),
    "s.jsonc": '// the nightly run\n{\n  "session_name": "eval", /* named */\n  "source": "ci",\n'
               '  "metadata": {"branch": "main", "n": 3, "ok": true,},\n}\n',
    "s.JSONC": '{"session_name": "eval", "source": "ci", "metadata": {"branch": "main", "n": 3, "ok": true}}',
    "s.yaml": "# the nightly run\nsession_name: eval\nsource: ci\nmetadata:\n  branch: main\n  n: 3\n  ok: true\n",
    "s.YML": "{session_name: eval, source: ci, metadata: {branch: main, n: 3, ok: True}}",
}


@pytest.mark.parametrize("name", sorted(SAME_DOCUMENT))
def test_start_reads_each_format(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path, name: str) -> None:
    body = sent(cli, fake, key_env, "-f", write(tmp_path, name, SAME_DOCUMENT[name]))
    assert {key: body[key] for key in DOCUMENT} == DOCUMENT


def test_end_and_exec_read_yaml_too(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path) -> None:
    fake.sessions[SID] = {"session_id": SID, "event_id": SID}
    update = write(tmp_path, "u.yml", "metadata:\n  result: pass\nfeedback: {rating: 5}\n")
    result = cli("end", SID, "-f", update, "-o", "none", env=key_env)
    assert result.exit_code == 0, result.stderr
    body = fake.requests[-1].json()
    assert (body["metadata"], body["feedback"]) == ({"result": "pass"}, {"rating": 5})
    fake.requests.clear()
    start = write(tmp_path, "s.jsonc", '{"session_name": "wrapped", // exec reads it as start does\n}')
    result = cli("exec", "-f", start, "--", "true", env=key_env)
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].json()["session_name"] == "wrapped"


def test_an_unknown_extension_is_json(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path) -> None:
    assert sent(cli, fake, key_env, "-f", write(tmp_path, "s.txt", '{"session_name": "t"}'))["session_name"] == "t"
    fake.requests.clear()
    fake.connections = 0
    line = refused(cli, fake, key_env, "-f", write(tmp_path, "s.toml", 'session_name = "t"\n'))
    assert line.endswith("s.toml: invalid JSON at line 1 column 1: Expecting value")


def test_standard_input_stays_json(cli: Invoker, fake: FakeServer, key_env: dict[str, str]) -> None:
    result = cli("start", "-f", "-", input="session_name: x\n", env=key_env)
    assert result.exit_code == 2
    assert "standard input: invalid JSON at line 1 column 1" in result.stderr
    assert fake.requests == []


def test_yaml_dry_run_prints_what_would_be_sent(cli: Invoker, tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", f"session_id: {SID.upper()}\nsession_name: x\nstart_time: 2026-11-26T10:00:00Z\n"
                                     f"metadata:\n  day: 2026-11-26\n  on: false\n  200: ok\n  version: 1.10\n")
    result = cli("start", "-f", path, "--dry-run")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["start_time"] == 1795687200000  # the time's text, read by the time grammar
    assert body["metadata"] == {"day": "2026-11-26", "on": False, "200": "ok", "version": 1.1}  # keys: the text written


# ----------------------------------------------------------------------------- refusals: exit 2, line and column, nothing sent

REFUSED = [
    # JSONC: JSON's refusals, with the file's own lines and columns
    ("c.jsonc", '{\n  "a": 1, /* never\n closed\n}', "invalid JSONC at line 2 column 11: a /* comment is never closed; end it with */"),
    ("c.jsonc", '{\n  // a comment\n  "a": NaN\n}', "invalid JSONC at line 3 column 8: NaN is not a number JSON allows"),
    ("c.jsonc", "{'session_name': 'x'}", "invalid JSONC at line 1 column 2: Expecting property name enclosed in double quotes"),
    ("c.jsonc", '{"metadata": {"a": [1,,]}}', "invalid JSONC at line 1 column 23: Expecting value"),
    ("c.jsonc", '{"metadata": [,]}', "invalid JSONC at line 1 column 15: Expecting value"),
    ("c.jsonc", '{"metadata": {"a": 1,},,}', "invalid JSONC at line 1 column 24: Expecting property name"),
    ("c.jsonc", "{session_name: 1}", "invalid JSONC at line 1 column 2: Expecting property name enclosed in double quotes"),
    ("c.jsonc", '{"a": 1}\n{"a": 2}', "invalid JSONC at line 2 column 1: Extra data; more than one JSON value: a .jsonc file holds one"),
    ("c.jsonc", '{"session_name": "x", "n": 1e400}', "invalid JSONC at line 1 column 28: 1e400 is too large for a number"),
    # YAML syntax
    ("y.yaml", "session_name: x\nmetadata:\n\tbranch: main\n", "invalid YAML at line 3 column 1: found character that cannot start any token"),
    ("y.yaml", "session_name: x\nmetadata:\n\tbranch: main\n", "; indent with spaces: YAML does not allow tabs there"),
    ("y.yaml", "metadata: {a: 1\nsession_name: x\n", "invalid YAML at line 2 column 13: did not find expected ',' or '}'"),
    ("y.yaml", "session_name: x\n---\nsession_name: y\n", "invalid YAML at line 2 column 1: a second YAML document (---)"),
    ("y.yaml", "session_name: \"x\x00\"\n", "invalid YAML at line 1 column 17: control characters are not allowed (#x0000)"),
    # YAML values JSON has no form for
    ("y.yaml", "session_name: x\ninputs:\n  score: .nan\n", "YAML at line 3 column 10: .nan is not a number JSON allows"),
    ("y.yaml", "inputs: {big: -.inf}\n", "YAML at line 1 column 15: -.inf is not a number JSON allows"),
    ("y.yaml", "inputs: {blob: !!binary aGVsbG8=}\n", "YAML at line 1 column 16: binary data (!!binary) has no JSON form"),
    ("y.yaml", "inputs: !!set {a, b}\n", "YAML at line 1 column 9: a set (!!set) has no JSON form; use a list"),
    ("y.yaml", "inputs: !!omap [a: 1]\n", "YAML at line 1 column 9: an ordered map (!!omap) has no JSON form"),
    ("y.yaml", "inputs:\n  ? [a, b]\n  : 1\n", "YAML at line 2 column 5: a key must be a string, not a list or a mapping"),
    ("y.yaml", "inputs: !python/object:os.system x\n", "YAML at line 1 column 9: unknown tag !python/object:os.system; remove it"),
    ("y.yaml", "inputs: &a {self: *a}\n", "YAML at line 1 column 19: *a is inside its own anchor &a"),
    ("y.yaml", "inputs: *nowhere\n", "YAML at line 1 column 9: *nowhere has no anchor &nowhere before it"),
    ("y.yaml", "inputs: {n: !!int twelve}\n", "YAML at line 1 column 13: 'twelve' is not a valid !!int"),
    ("y.yaml", "inputs: {n: " + "7" * 5000 + "}\n", "YAML at line 1 column 13: a number has more than 4300 digits"),
    ("y.yaml", "inputs: {<<: 1}\n", "YAML at line 1 column 14: << merges a mapping or a list of mappings"),
    # what YAML 1.1 and YAML 1.2 read differently: refused, never guessed
    ("y.yaml", "session_name: x\nmetadata: {country: no}\n", "YAML at line 2 column 21: no means the boolean false in YAML 1.1 but not"),
    ("y.yaml", "metadata:\n  enabled: On\n", "YAML at line 2 column 12: On means the boolean true in YAML 1.1"),
    ("y.yaml", "inputs: {took: 1:30}\n", "YAML at line 1 column 16: 1:30 means a base-60 number in YAML 1.1"),
    ("y.yaml", "inputs: {mode: 0755}\n", "YAML at line 1 column 16: 0755 means an octal number in YAML 1.1"),
    ("y.yaml", "inputs: {n: 1_000}\n", "YAML at line 1 column 13: 1_000 means a number (_ is skipped) in YAML 1.1"),
    ("y.yaml", "inputs: {n: 0b101}\n", "; quote it for text, or write it as JSON would"),
    ("y.yaml", "metrics: {cost: 1e-3}\n", "YAML at line 1 column 17: 1e-3 is text to PyYAML (YAML 1.1) but a number in YAML 1.2"),
    ("y.yaml", "inputs: {mode: 0o17}\n", "YAML at line 1 column 16: 0o17 is text to PyYAML (YAML 1.1) but a number"),
    ("y.yaml", "inputs: {day: 08}\n", "YAML at line 1 column 15: 08 is text to PyYAML (YAML 1.1) but a number"),
    # not one object
    ("y.yaml", "- session_name: a\n- session_name: b\n",
     "expected one object (a YAML mapping of key: value), got a list; to start a session for each, use hhsession replay"),
    ("y.yaml", "just a string\n", "expected one object (a YAML mapping of key: value), got a string"),
    ("y.yaml", "---\n", "expected one object (a YAML mapping of key: value), got null"),
    ("c.jsonc", "[{}] // a list", "expected one JSON object {...}, got an array; to start a session for each"),
    # empty
    ("e.yaml", "", "empty input (nothing but white space or comments); expected one object"),
    ("e.yaml", "# only a comment\n\n", "empty input (nothing but white space or comments); expected one object"),
    ("e.jsonc", "/* nothing */ // here\n", "empty input (nothing but white space or comments); expected one JSON object"),
    ("e.json", "\xef\xbb\xbf \n", "empty input (nothing but white space); expected one JSON object"),
    ("e.json", "", "empty input (nothing but white space); expected one JSON object"),
    # the same refusals as JSON, after reading
    ("y.yml", "sessionName: x\n", "sessionName: unknown field; did you mean session_name?"),
    ("y.yml", "start_time: 1764151200\n", "start_time: 1764151200 looks like Unix seconds"),
    ("y.yml", "session_id: not-a-uuid\n", "session_id: 'not-a-uuid' is not a UUID"),
]


@pytest.mark.parametrize(("name", "text", "message"), REFUSED)
def test_refusals_give_line_and_column_and_send_nothing(
    cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path, name, text.encode("latin-1") if text.startswith("\xef") else text.encode())
    line = refused(cli, fake, key_env, "-f", path)
    assert line.startswith(f"hhsession: error: {path}: "), line
    assert message in line


def test_crlf_line_endings_keep_lines_and_columns(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path) -> None:
    good = {"y.yaml": "session_name: x\r\nmetadata:\r\n  a: 1\r\n", "c.jsonc": '{\r\n "session_name": "x", // c\r\n}\r\n'}
    for name, text in good.items():
        assert sent(cli, fake, key_env, "-f", write(tmp_path, name, text))["session_name"] == "x"
    fake.requests.clear()
    fake.connections = 0
    yaml_line = refused(cli, fake, key_env, "-f", write(tmp_path, "bad.yaml", "session_name: x\r\ninputs: {a: .inf}\r\n"))
    assert "YAML at line 2 column 13: .inf" in yaml_line
    jsonc_line = refused(cli, fake, key_env, "-f", write(tmp_path, "bad.jsonc", '{\r\n // c\r\n "a": [1,,]\r\n}'))
    assert "invalid JSONC at line 3 column 10: Expecting value" in jsonc_line


def test_a_byte_order_mark_is_accepted(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path) -> None:
    for name, text in {"b.yaml": "session_name: café\n", "b.jsonc": '{"session_name": "café", }'}.items():
        assert sent(cli, fake, key_env, "-f", write(tmp_path, name, b"\xef\xbb\xbf" + text.encode()))["session_name"] == "café"


def test_not_utf8_and_too_large(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path) -> None:
    assert "not UTF-8 (bad byte at offset 17)" in refused(cli, fake, key_env, "-f", write(tmp_path, "l.yaml", b"session_name: caf\xe9\n"))
    big = write(tmp_path, "big.yaml", b"inputs: {blob: " + b"x" * MAX_INPUT_BYTES + b"}\n")
    assert "larger than 16 MiB" in refused(cli, fake, key_env, "-f", big)


def test_an_alias_bomb_is_refused_quickly_in_little_memory(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path) -> None:
    # "billion laughs": 10 levels of 10 aliases each, 10^10 strings once expanded
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 11)]
    path = write(tmp_path, "bomb.yaml", "inputs:\n" + "".join(f"  {line}\n" for line in lines))
    began = time.monotonic()
    line = refused(cli, fake, key_env, "-f", path)
    assert time.monotonic() - began < 5
    assert re.search(r"invalid YAML at line 8 column \d+: aliases expand this document by more than 16 MiB", line), line


def test_aliases_that_stay_small_are_fine(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path) -> None:
    text = "defaults: &d {team: ml, tier: 2}\nsession_name: x\nmetadata:\n  <<: *d\n  tier: 3\nuser_properties: *d\n"
    path = write(tmp_path, "a.yaml", text.replace("defaults: &d {team: ml, tier: 2}\n", "")
                 .replace("metadata:\n  <<: *d", "metadata:\n  <<: &d {team: ml, tier: 2}"))
    body = sent(cli, fake, key_env, "-f", path)
    assert body["metadata"] == {"team": "ml", "tier": 3}
    assert body["user_properties"] == {"team": "ml", "tier": 2}


def test_nesting_is_bounded_as_in_json(cli: Invoker, fake: FakeServer, key_env: dict[str, str], tmp_path: Path) -> None:
    deep = write(tmp_path, "deep.yaml", "inputs: {a: " + "[" * 950 + "]" * 950 + "}\n")
    assert "nested too deep (at most about 900 levels)" in refused(cli, fake, key_env, "-f", deep)
    deeper = write(tmp_path, "deeper.yaml", "inputs: {a: " + "[" * 5000 + "]" * 5000 + "}\n")
    assert "invalid YAML at line 1 column" in refused(cli, fake, key_env, "-f", deeper)


def test_a_key_given_twice_keeps_the_last_as_json_does(tmp_path: Path) -> None:
    for name, text in {"d.json": '{"session_name": "a", "session_name": "b"}', "d.jsonc": '{"session_name": "a", "session_name": "b",}',
                       "d.yaml": "session_name: a\nsession_name: b\n"}.items():
        assert read_json_object(write(tmp_path, name, text)) == {"session_name": "b"}


# ----------------------------------------------------------------------------- JSONC: comments and trailing commas, nothing else


@pytest.mark.parametrize(("text", "value"), [
    ('{"url": "http://example.com/*x*/", "c": "// not a comment"}', {"url": "http://example.com/*x*/", "c": "// not a comment"}),
    ('{"q": "a \\" // still a string", /* c */ "n": 1}', {"q": 'a " // still a string', "n": 1}),
    ('[[1, 2,], [3,], {"a": [4,],},]', [[1, 2], [3], {"a": [4]}]),
    ('[1, 2 /* ] */, 3]', [1, 2, 3]),
    ('[1, // ]\n 2,\n // last\n]', [1, 2]),
    ('{"a": 1 /* , } */ ,\n}', {"a": 1}),
    ('{"a": "\\\\"} // an escaped backslash ends the string', {"a": "\\"}),
    ('/**/[/***/1/* * / */]', [1]),
])
def test_jsonc_comments_and_trailing_commas(text: str, value: object) -> None:
    assert json.loads(strip_jsonc(text)) == value


@given(st.text(alphabet='{}[],:"\\/*\n\r ab1', max_size=60))
def test_jsonc_keeps_every_line_and_column(text: str) -> None:
    try:
        stripped = strip_jsonc(text)
    except Exception as exc:  # only a /* never closed
        assert "never closed" in str(exc)
        return
    assert len(stripped) == len(text)
    assert [i for i, c in enumerate(stripped) if c in "\r\n"] == [i for i, c in enumerate(text) if c in "\r\n"]
    changed = [i for i, (a, b) in enumerate(zip(text, stripped, strict=True)) if a != b]
    assert all(stripped[i] == " " for i in changed)


# ----------------------------------------------------------------------------- records: replay and event


def test_read_records_from_yaml_and_jsonc(tmp_path: Path) -> None:
    yaml_path = write(tmp_path, "r.yaml", "# records\n- session_name: a\n  metadata: &m {k: 1}\n\n- session_name: b\n  metadata: *m\n"
                                          "- {session_name: c, inputs: {x: .nan}}\n- session_name: d\n")
    jsonc_path = write(tmp_path, "r.jsonc", '// records\n[\n  {"session_name": "e"}, // one\n  /* two */\n  {\n    "session_name": "f",\n  },\n]\n')
    one_path = write(tmp_path, "one.YML", "\n\nsession_name: g\n")
    object_path = write(tmp_path, "one.jsonc", '/* one */\n\n{"session_name": "h",}\n')
    records = list(read_records([yaml_path, jsonc_path, one_path, object_path]))
    assert [r.location for r in records] == [f"{yaml_path}:2", f"{yaml_path}:5", f"{yaml_path}:7", f"{yaml_path}:8",
                                             f"{jsonc_path}:3", f"{jsonc_path}:5", f"{one_path}:3", f"{object_path}:3"]
    assert [r.index for r in records] == list(range(8))
    assert [r.element for r in records] == [0, 1, 2, 3, 0, 1, None, None]
    assert [r.value["session_name"] for r in records if r.value] == ["a", "b", "d", "e", "f", "g", "h"]
    assert records[1].value == {"session_name": "b", "metadata": {"k": 1}}
    assert records[2].error is not None and records[2].error.startswith("YAML at line 7 column 33: .nan is not a number")
    assert records[2].text == "{session_name: c, inputs: {x: .nan}}"  # a refused record as written
    assert count_lines([yaml_path]) is None and count_lines([jsonc_path]) is None


def test_a_broken_yaml_input_ends_with_one_invalid_record_after_what_was_read(tmp_path: Path) -> None:
    path = write(tmp_path, "r.yaml", "- session_name: a\n- session_name: b\n- {session_name: c\n- session_name: d\n")
    records = list(read_records([path, write(tmp_path, "next.json", '{"session_name": "n"}\n')]))
    assert [r.value for r in records[:2]] == [{"session_name": "a"}, {"session_name": "b"}]
    assert records[2].value is None and records[2].error is not None
    assert records[2].error.startswith("invalid YAML at line 4 column 15: did not find expected ',' or '}'")
    assert records[2].error.endswith("; the rest of the file is skipped")
    assert records[3].value == {"session_name": "n"}


def test_yaml_and_jsonc_inputs_are_read_whole_up_to_16_mib(tmp_path: Path) -> None:
    path = write(tmp_path, "big.yaml", b"- " + b"x" * MAX_INPUT_BYTES + b"\n")
    [record] = list(read_records([path]))
    assert record.error == ("a YAML input is read whole, so at most 16 MiB; split it, or give JSON Lines, "
                            "which may be any size")


def test_replay_sends_yaml_records_and_resumes_from_its_journal(cli: Invoker, emulator: Emulator, tmp_path: Path) -> None:
    env = {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY}
    path = write(tmp_path, "backfill.yaml", "- session_name: a\n  start_time: 2026-11-26T10:00:00Z\n- session_name: b\n"
                                            "- session_name: c\n  metadata: {score: .inf}\n")
    jsonc = write(tmp_path, "more.jsonc", '[{"session_name": "d"}, // last\n]')
    journal = str(tmp_path / "run.journal")
    result = cli("replay", path, jsonc, "--journal", journal, env=env)
    assert result.exit_code == 6, result.stderr  # one invalid record; the others are sent
    lines = {line["source"]: line for line in results(result.stdout)}
    assert {source: line["status"] for source, line in lines.items()} == {
        f"{path}:1": "ok", f"{path}:3": "ok", f"{path}:4": "invalid", f"{jsonc}:1": "ok"}
    assert "YAML at line 5 column 21: .inf is not a number JSON allows" in lines[f"{path}:4"]["error"]
    assert emulator.store.count() == 3
    stored = emulator.store.get(lines[f"{path}:1"]["session_id"])
    assert stored is not None and stored["start_time"] == 1795687200000
    again = cli("replay", path, jsonc, "--journal", journal, env=env)
    assert emulator.store.count() == 3  # the journal knows them: nothing is sent twice
    assert [line["status"] for line in results(again.stdout)].count("ok") == 0


def test_event_reads_many_from_yaml(cli: Invoker, emulator: Emulator, tmp_path: Path) -> None:
    env = {"HH_API_URL": emulator.url, "HH_API_KEY": API_KEY, "HH_SESSION_ID": SID}
    assert cli("start", "--session-id", SID, "-n", "run", "-o", "none", env=env).exit_code == 0
    path = write(tmp_path, "steps.yaml", "- {event_type: tool, event_name: lint}\n- event_type: tool\n  event_name: test\n")
    result = cli("event", "-f", path, "-o", "id", env=env)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.split()) == 2


# ----------------------------------------------------------------------------- PyYAML only when a YAML file is read


def test_yaml_is_imported_only_for_a_yaml_file(tmp_path: Path) -> None:
    assert "yaml" not in imported_modules(["start", "-n", "x", "--dry-run"])
    json_file = write(tmp_path, "s.jsonc", '{"session_name": "x",}')
    assert "yaml" not in imported_modules(["start", "-f", json_file, "--dry-run"])
    yaml_file = write(tmp_path, "s.yaml", "session_name: x\n")
    assert "yaml" in imported_modules(["start", "-f", yaml_file, "--dry-run"])


@pytest.mark.parametrize("libyaml", [True, False])
def test_pyyaml_without_libyaml_reads_and_refuses_the_same(monkeypatch: pytest.MonkeyPatch, libyaml: bool) -> None:
    import yaml

    from hhsession.errors import InvalidInput
    from hhsession.formats import load_yaml

    if not libyaml:
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    elif not hasattr(yaml, "CSafeLoader"):
        pytest.skip("this PyYAML has no libyaml")
    text = "base: &b {x: 1}\nkey: {<<: *b, y: [2026-11-26, 0x1F, TRUE, ~, '1e3', 'no']}\n"
    assert load_yaml(text, "f") == (True, {"base": {"x": 1}, "key": {"x": 1, "y": ["2026-11-26", 31, True, None, "1e3", "no"]}})
    for bad, message in [("a: é\x00\n", "f: invalid YAML at line 1 column 5: "), ("a: [1,\n", "f: invalid YAML at line 2 column 1: "),
                         ("a: .nan\n", "f: YAML at line 1 column 4: .nan is not a number"), ("a:\n\t- x\n", "tabs"),
                         ("a: [1, no]\n", "f: YAML at line 1 column 8: no means the boolean false in YAML 1.1")]:
        with pytest.raises(InvalidInput) as caught:
            load_yaml(bad, "f")
        assert message in caught.value.message
