"""Build and validate a session object (SPEC §1–2). Pure: no network, no CLI.

One builder serves every command. Layers, lowest first, a higher one winning
field by field (object fields merge key by key):

1. defaults (the profile's or ``HH_SOURCE``'s ``source``);
2. a JSON document (``-f`` file, standard input, or one replay record);
3. the field flags.

Then the server's defaults are filled in on the client, so the payload that
leaves the machine is exactly the event the server will store, and everything
the server would silently replace is refused instead.
"""

from __future__ import annotations

import difflib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .errors import InvalidInput
from .times import Clock, Number, json_type, parse_duration, parse_time

MAX_INPUT_BYTES = 16 * 1024 * 1024

STRING_FIELDS = ("session_id", "session_name", "event_name", "source")
TIME_FIELDS = ("start_time", "end_time")
OBJECT_FIELDS = ("config", "inputs", "outputs", "metadata", "user_properties")
#: Every field of ``StartSessionRequest``, in the order payloads are written.
FIELDS = (
    "session_id",
    "session_name",
    "event_name",
    "source",
    "start_time",
    "end_time",
    "duration",
    "config",
    "inputs",
    "outputs",
    "metadata",
    "user_properties",
    "children_ids",
)

#: Keys people write by mistake, and what they meant.
SUGGESTIONS = {
    "id": "session_id",
    "sessionid": "session_id",
    "session_uuid": "session_id",
    "uuid": "session_id",
    "name": "session_name",
    "sessionname": "session_name",
    "title": "session_name",
    "eventname": "event_name",
    "event": "event_name",
    "starttime": "start_time",
    "start": "start_time",
    "started_at": "start_time",
    "timestamp": "start_time",
    "endtime": "end_time",
    "end": "end_time",
    "ended_at": "end_time",
    "durationms": "duration",
    "duration_ms": "duration",
    "meta": "metadata",
    "input": "inputs",
    "output": "outputs",
    "userproperties": "user_properties",
    "user_props": "user_properties",
    "user": "user_properties",
    "childrenids": "children_ids",
    "children": "children_ids",
    "child_ids": "children_ids",
    "configuration": "config",
}

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(value: object) -> bool:
    """True for the canonical 8-4-4-4-12 hex form the server accepts."""
    return isinstance(value, str) and bool(_UUID.match(value))


def new_session_id() -> str:
    return str(uuid.uuid4())


def suggest_field(key: str) -> str | None:
    """The field a mistaken key most likely meant, if any."""
    folded = key.strip().lower().replace("-", "_")
    if folded in FIELDS:
        return folded
    compact = folded.replace("_", "")
    if folded in SUGGESTIONS or compact in SUGGESTIONS:
        return SUGGESTIONS.get(folded) or SUGGESTIONS[compact]
    close = difflib.get_close_matches(folded, FIELDS, n=1, cutoff=0.75)
    return close[0] if close else None


# --------------------------------------------------------------------------- reading JSON


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(data: bytes | str, origin: str) -> Any:
    """Parse JSON text, with errors that give line and column."""
    if isinstance(data, bytes):
        if len(data) > MAX_INPUT_BYTES:
            raise InvalidInput(f"{origin}: input is larger than 16 MiB; split it into smaller files")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{origin}: not UTF-8 (bad byte at offset {exc.start}); "
                f"convert it, e.g. iconv -f latin1 -t utf-8"
            ) from None
    else:
        text = data
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        hint = ""
        if exc.msg == "Extra data":
            hint = "; more than one JSON value: for JSON Lines (one object per line) use hhsession replay"
        raise InvalidInput(
            f"{origin}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{origin}: invalid JSON: {exc}") from None


def open_input(path: str) -> BinaryIO:
    """Open a file for reading, with errors a person can act on."""
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise InvalidInput(f"{path}: permission denied; check the file's permissions") from None


def read_bytes(path: str, stdin: BinaryIO | None = None) -> bytes:
    """Read a file, or standard input for ``-``, refusing more than 16 MiB."""
    if path == "-":
        if stdin is None:
            raise InvalidInput("-: standard input is not available")
        data = stdin.read(MAX_INPUT_BYTES + 1)
    else:
        with open_input(path) as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        label = "standard input" if path == "-" else path
        raise InvalidInput(f"{label}: input is larger than 16 MiB; split it into smaller files")
    return data


def read_json_object(path: str, stdin: BinaryIO | None = None) -> dict[str, Any]:
    """Read one JSON object from a file or ``-`` (standard input)."""
    origin = "standard input" if path == "-" else path
    data = read_bytes(path, stdin)
    if not data.strip():
        raise InvalidInput(f"{origin}: empty input; expected one JSON object")
    return expect_object(parse_json(data, origin), origin)


def expect_object(value: Any, origin: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{origin}: expected a JSON object {{...}}, got {json_type(value)}")
    return value


# --------------------------------------------------------------------------- flag values


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
        data = (read_file or (lambda p: read_bytes(p)))(path)
        return expect_object(parse_json(data, f"{flag} {arg}"), f"{flag} {arg}")
    if arg.lstrip().startswith("{"):
        return expect_object(parse_json(arg, f"{flag} {arg!r}"), f"{flag} {arg!r}")
    key, sep, value = arg.partition("=")
    if not sep:
        raise InvalidInput(
            f"{flag} {arg!r}: expected key=value, key:=JSON, a JSON object or @file.json"
        )
    if key.endswith(":"):
        key = key[:-1]
        typed = parse_json(value, f"{flag} {arg!r}")
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
    value = parse_json(arg, f"--children-ids {arg!r}")
    return _check_children(value, "--children-ids")


# --------------------------------------------------------------------------- the builder


@dataclass
class Overrides:
    """Layer 3: what the field flags say. ``None`` means the flag was not given."""

    fields: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    children_ids: list[str] | None = None
    add_children: list[str] = field(default_factory=list)


@dataclass
class BuiltSession:
    payload: dict[str, Any]
    warnings: list[str]

    @property
    def session_id(self) -> str:
        return str(self.payload["session_id"])


def _check_children(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidInput(f'{where}: expected an array of strings, e.g. ["id1", "id2"], got {json_type(value)}')
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidInput(
                f"{where}[{index}]: expected a string id, got {json_type(item)}; quote it"
            )
    return list(value)


def unwrap_legacy(document: dict[str, Any]) -> dict[str, Any]:
    """Accept the deprecated ``{"session": {...}}`` shape (nothing else at the top)."""
    if set(document) == {"session"} and isinstance(document["session"], dict):
        return document["session"]
    return document


def _check_document(
    document: Mapping[str, Any], origin: str, lenient: bool, warnings: list[str]
) -> dict[str, Any]:
    """Type-check a layer-2 document; drop nulls (a null field counts as absent)."""
    checked: dict[str, Any] = {}
    for key, value in document.items():
        where = f"{origin}: {key}"
        if key not in FIELDS:
            hint = suggest_field(key)
            if key == "session":
                advice = 'the deprecated {"session": {...}} wrapper must be the only top-level key'
            elif hint:
                advice = f"did you mean {hint}?"
            else:
                advice = "allowed: " + ", ".join(FIELDS)
            if lenient:
                warnings.append(f"{where}: unknown field dropped ({advice})")
                continue
            raise InvalidInput(f"{where}: unknown field; {advice} (or pass --lenient to drop it)")
        if value is None:
            continue
        if key in STRING_FIELDS:
            if not isinstance(value, str) and not (key == "session_id" and lenient):
                raise InvalidInput(f"{where}: expected a string, got {json_type(value)}")
        elif key in OBJECT_FIELDS:
            if not isinstance(value, dict):
                raise InvalidInput(
                    f'{where}: expected an object like {{"key": "value"}}, got {json_type(value)}'
                )
        elif key == "children_ids":
            value = _check_children(value, where)
        checked[key] = value
    return checked


def build_session(
    *,
    defaults: Mapping[str, Any] | None = None,
    document: Mapping[str, Any] | None = None,
    origin: str = "input",
    overrides: Overrides | None = None,
    lenient: bool = False,
    clock: Clock = time.time,
    make_id: Callable[[], str] = new_session_id,
) -> BuiltSession:
    """Merge the three layers, fill the server's defaults, refuse what it would mangle."""
    warnings: list[str] = []
    overrides = overrides or Overrides()
    layer2 = _check_document(unwrap_legacy(dict(document or {})), origin, lenient, warnings)

    merged: dict[str, Any] = {}
    origin_of: dict[str, str] = {}
    for layer, label in ((defaults or {}, "default"), (layer2, origin)):
        for key, value in layer.items():
            if value is None:
                continue
            merged[key] = {**merged.get(key, {}), **value} if key in OBJECT_FIELDS else value
            origin_of[key] = label
    for key, value in overrides.fields.items():
        if value is not None:
            merged[key] = value
            origin_of[key] = f"--{key.replace('_', '-')}"
    for key, value in overrides.objects.items():
        if value:
            merged[key] = {**merged.get(key, {}), **value}
    if overrides.children_ids is not None:
        merged["children_ids"] = list(overrides.children_ids)
    if overrides.add_children:
        merged["children_ids"] = list(merged.get("children_ids", [])) + overrides.add_children

    def where(key: str) -> str:
        label = origin_of.get(key, origin)
        return f"{label}: {key}" if not label.startswith("--") else label

    # session_id: refuse what the server would silently replace.
    session_id = merged.get("session_id")
    if session_id is not None and not is_uuid(session_id):
        if not lenient:
            raise InvalidInput(
                f"{where('session_id')}: {session_id!r} is not a UUID "
                f"(like 3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17); the server would replace it "
                f"and retries could create a second session; fix it, drop it, or pass --lenient"
            )
        replacement = make_id()
        warnings.append(
            f"{where('session_id')}: {session_id!r} is not a UUID; using {replacement} instead"
        )
        merged["session_id"] = replacement
    for key, fallback in (("event_name", "the session name or \"unknown\""), ("source", '"unknown"')):
        if merged.get(key) == "":
            # The server treats an empty value as missing and silently falls back.
            raise InvalidInput(
                f"{where(key)}: is empty; the server would replace it with {fallback}; "
                f"give a value or leave the field out"
            )

    # Times: strings and numbers become Unix milliseconds.
    times: dict[str, Number] = {}
    for key in TIME_FIELDS:
        if key in merged:
            times[key] = parse_time(merged[key], where(key), clock=clock)
    duration = parse_duration(merged["duration"], where("duration")) if "duration" in merged else None

    # Defaults the server would apply, applied here so they are visible.
    start_defaulted = False
    if "start_time" not in times:
        if "end_time" in times and duration is not None:
            times["start_time"] = _round(times["end_time"] - duration)
        else:
            times["start_time"] = int(clock() * 1000)
            start_defaulted = True
    start = times["start_time"]
    end = times.get("end_time")
    if end is not None and end < start:
        why = " (start_time defaulted to now; pass --start-time)" if start_defaulted else ""
        raise InvalidInput(
            f"{where('end_time')}: end_time {end} is before start_time {start}{why}; "
            f"check the order or the units"
        )
    if end is not None:
        if duration is None:
            duration = _round(end - start)
        elif abs((end - start) - duration) > 1:
            raise InvalidInput(
                f"{where('duration')}: duration {duration} ms does not match "
                f"end_time - start_time = {_round(end - start)} ms; drop one of the three"
            )

    payload: dict[str, Any] = {}
    for key in FIELDS:
        if key in times:
            payload[key] = times[key]
        elif key == "duration":
            if duration is not None:
                payload[key] = duration
        elif key in merged:
            payload[key] = merged[key]
    payload.setdefault("session_id", make_id())
    payload.setdefault("event_name", payload.get("session_name") or "unknown")
    payload.setdefault("source", "unknown")
    return BuiltSession(payload=_ordered(payload), warnings=warnings)


def _round(value: float) -> Number:
    return int(value) if float(value).is_integer() else round(value, 3)


def _ordered(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: payload[key] for key in FIELDS if key in payload}


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent: compact UTF-8 JSON. Every retry sends these same bytes."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def session_json_schema() -> dict[str, Any]:
    """JSON Schema of what ``-f`` and replay records accept (a null counts as absent)."""

    def prop(types: list[str], description: str, **extra: Any) -> dict[str, Any]:
        return {"type": [*types, "null"], "description": description, **extra}

    time_text = "Unix milliseconds, or a string: 1764151200s, 2026-11-26T10:00:00Z, now-5m"
    properties: dict[str, Any] = {
        "session_id": prop(["string"], "A UUID; a new UUIDv4 when omitted", format="uuid"),
        "session_name": prop(["string"], "Display name for the session"),
        "event_name": prop(["string"], 'Defaults to session_name, else "unknown"'),
        "source": prop(["string"], 'Defaults to the profile\'s source or HH_SOURCE, else "unknown"'),
        "start_time": prop(["number", "string"], "Defaults to now. " + time_text),
        "end_time": prop(["number", "string"], time_text),
        "duration": prop(
            ["number", "string"], "Milliseconds, or 250ms, 1.5s, 2m; defaults to end_time - start_time"
        ),
    }
    for name in OBJECT_FIELDS:
        properties[name] = prop(["object"], f"Merged key by key with the --{name.replace('_', '-')} flags")
    properties["children_ids"] = prop(["array"], "IDs of child events", items={"type": "string"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "hhsession session object",
        "description": (
            "What `hhsession start -f` and replay records accept. A null field counts as absent. "
            'The deprecated {"session": {...}} wrapper is also accepted.'
        ),
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
