"""Flag values with a grammar of their own (SPEC §2): object flags, children ids, shards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hhsession.cli.flags import parse_object_arg, parse_object_args, parse_shard
from hhsession.errors import InvalidInput


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
