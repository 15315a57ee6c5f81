"""Flag values that are small languages of their own (SPEC §2): ``key=value``,
``key:=JSON``, a JSON object, ``@file.json``; children ids; ``--shard K/N``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import InvalidInput
from ..inputs import expect_object, parse_json, read_bytes
from ..payload import check_children


def parse_object_arg(
    field_name: str, arg: str, read_file: Callable[[str], bytes] | None = None
) -> dict[str, Any]:
    """One object-field flag value as a dict to merge in.

    ``key=value`` (string), ``key:=JSON`` (typed), ``{"a": 1}`` (an object) or
    ``@path.json`` (an object read from a file). Dots in keys are literal.
    """
    flag = f"--{field_name.replace('_', '-')}"
    if arg.startswith("@"):
        path = arg[1:]
        if not path:
            raise InvalidInput(f"{flag} @: give a file name after @, e.g. @{field_name}.json")
        try:
            data = (read_file or read_bytes)(path)
        except InvalidInput as exc:  # which flag asked for the file
            raise InvalidInput(f"{flag} {arg}: {exc.message}") from None
        return expect_object(parse_json(data, f"{flag} {arg}"), f"{flag} {arg}")
    if arg.lstrip().startswith("{"):
        return expect_object(parse_json(arg, f"{flag} {arg!r}", quoting_hint=flag), f"{flag} {arg!r}")
    key, sep, value = arg.partition("=")
    if not sep:
        raise InvalidInput(
            f"{flag} {arg!r}: expected key=value, key:=JSON, a JSON object or @file.json"
        )
    if key.endswith(":"):
        key = key[:-1]
        typed = parse_json(value, f"{flag} {arg!r}", quoting_hint=flag)
        if not key:
            raise InvalidInput(f"{flag} {arg!r}: the key before := is empty")
        return {key: typed}
    if not key:
        raise InvalidInput(f"{flag} {arg!r}: the key before = is empty")
    return {key: value}


def parse_object_args(
    field_name: str, args: Iterable[str], read_file: Callable[[str], bytes] | None = None
) -> dict[str, Any]:
    """Apply a repeated object-field flag left to right."""
    merged: dict[str, Any] = {}
    for arg in args:
        merged.update(parse_object_arg(field_name, arg, read_file))
    return merged


def parse_children_json(arg: str) -> list[str]:
    return check_children(parse_json(arg, f"--children-ids {arg!r}"), "--children-ids")


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` in plain digits (an empty value is refused: an unset variable must not mean "every record")."""
    if not text.strip():
        raise InvalidInput("--shard is empty: an unset shell variable? give K/N, e.g. 0/4, "
                           "or leave the flag out to replay every record")
    match = re.fullmatch(r"\s*(-?[0-9]+)\s*/\s*(-?[0-9]+)\s*", text)
    if match is None:
        raise InvalidInput(f"--shard {text!r}: expected K/N, e.g. 0/4 (this job takes records whose index % 4 == 0)")
    k, n = int(match[1]), int(match[2])
    if n < 1 or not 0 <= k < n:
        raise InvalidInput(f"--shard {text!r}: K must be from 0 to N-1 and N at least 1, e.g. 0/4")
    return k, n


def parse_workers(text: str) -> int | str:
    """``--workers``: ``auto`` or a whole number from 1 to 256."""
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    if value.isascii() and value.isdigit() and 1 <= int(value) <= 256:
        return int(value)
    raise InvalidInput(f"--workers {text!r}: give auto (the default: adapts to the server) or a whole number "
                       f"from 1 to 256, e.g. --workers 16")
