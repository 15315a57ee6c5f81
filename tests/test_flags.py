"""Flag values with a grammar of their own (SPEC §2): object flags, children ids, shards; and an empty
value (a name, a child id, a shard), which is an unset shell variable, not a value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hhsession.cli.flags import parse_object_arg, parse_object_args, parse_shard
from hhsession.errors import InvalidInput
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer
from tests.replay.conftest import numbered


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("a=1", {"a": "1"}),
        ("a=", {"a": ""}),
        ("a=b=c", {"a": "b=c"}),
        ("gen_ai.system=openai", {"gen_ai.system": "openai"}),
        ("n:=3", {"n": 3}),
        ("ok:=true", {"ok": True}),
        ('tags:=["a","b"]', {"tags": ["a", "b"]}),
        ('o:={"x": null}', {"o": {"x": None}}),
        ('{"a": 1, "b": {"c": 2}}', {"a": 1, "b": {"c": 2}}),
        ("url=http://x/?q=1", {"url": "http://x/?q=1"}),
    ],
)
def test_object_flag_values(arg: str, expected: dict[str, Any]) -> None:
    assert parse_object_arg("metadata", arg) == expected


def test_object_flags_apply_left_to_right() -> None:
    assert parse_object_args("metadata", ["a=1", "a:=2", '{"b": 3}', "b=4"]) == {"a": 2, "b": "4"}


def test_object_flag_from_file(tmp_path: Path) -> None:
    path = tmp_path / "cfg.json"
    path.write_text('{"model": "gpt", "temperature": 0.2}')
    assert parse_object_arg("config", f"@{path}") == {"model": "gpt", "temperature": 0.2}


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("novalue", "--metadata 'novalue': expected key=value, key:=JSON, a JSON object or @file.json"),
        ("=x", "the key before = is empty"),
        (":=1", "the key before := is empty"),
        ("n:=three", "invalid JSON at line 1 column 1"),
        ("[1,2]", "expected key=value"),
        ('{"a": }', "invalid JSON at line 1 column 7"),
        ("@", "give a file name after @"),
        ("@/nonexistent/file.json", "/nonexistent/file.json: no such file"),
    ],
)
def test_object_flag_errors(arg: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_object_arg("metadata", arg)
    assert message in info.value.message


def test_object_flag_file_must_hold_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1]")
    with pytest.raises(InvalidInput, match="expected a JSON object"):
        parse_object_arg("config", f"@{path}")


@pytest.mark.parametrize(("text", "expected"), [("0/1", (0, 1)), ("3/4", (3, 4)), (" 1 / 2 ", (1, 2))])
def test_shards(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("4/4", "K must be from 0 to N-1"), ("1/0", "N at least 1"), ("x", "expected K/N"), ("-1/2", "K must be from 0"),
    ("1_0/20", "expected K/N"), ("0/4/1", "expected K/N"), ("", "is empty: an unset shell variable"),
    (" ", "is empty"), ("１/２", "expected K/N"),
])
def test_bad_shards(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_shard(text)


# ----------------------------------------------------------------------------- empty values: an unset shell variable


@pytest.mark.parametrize("flag", ["--name", "--event-name", "--source", " --source"])
def test_an_empty_name_is_refused_as_an_unset_variable(cli: Invoker, fake: FakeServer, tmp_path: Path, flag: str) -> None:
    if flag.startswith(" "):  # replay: refused once, before any record, not once per record
        path = numbered(tmp_path / "r.jsonl", 3)
        result = cli("replay", str(path), flag.strip(), "  ", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    else:
        result = cli("start", flag, "", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "is empty: an unset shell variable?" in result.stderr
    assert fake.requests == []


def test_an_empty_shard_is_refused_not_read_as_every_record(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    """`--shard "$K/$N"` with both unset is "/"; `--shard "$SHARD"` unset is "": neither means "all of it"."""
    path = numbered(tmp_path / "r.jsonl", 3)
    for value in ("", "/"):
        result = cli("replay", str(path), "--shard", value, env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
        assert result.exit_code == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "--shard" in result.stderr
    assert "is empty: an unset shell variable?" in cli("replay", str(path), "--shard", "").stderr
    assert fake.requests == []


@pytest.mark.parametrize("args", [["start", "-n", "x", "--child", ""], ["start", "-n", "x", "--children-ids", '["a", " "]'],
                                  ["end", "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17", "--child", "  "]])
def test_an_empty_child_id_is_refused(cli: Invoker, fake: FakeServer, args: list[str]) -> None:
    result = cli(*args, env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "is empty" in result.stderr
    assert fake.requests == []


@pytest.mark.parametrize("value", ["{a:1}", "a:={b:1}", "a:=[b]"])
def test_json_the_shell_took_the_quotes_from_gets_a_hint_to_quote(cli: Invoker, value: str) -> None:
    result = cli("start", "--dry-run", "-m", value)
    assert result.exit_code == 2 and result.stdout == ""
    assert "the shell may have removed its double quotes: put the whole value in single quotes" in result.stderr
    assert len(result.stderr.splitlines()) == 1
