"""Build and validate what is sent (SPEC §1–3). Pure: no I/O, no network, no CLI.

Two builders, one per request body, shared by every command and the Python API:

- ``build_session`` (``POST /v1/sessions``, a ``StartSessionRequest``) for
  ``start``, ``replay`` and ``exec``;
- ``build_update`` (``PUT /v1/events/{id}``, an ``UpdateEventRequest``) for ``end``.

Layers, lowest first, a higher one winning field by field (object fields merge
key by key): 1. defaults (the profile's or ``HH_SOURCE``'s ``source``); 2. a
JSON document (``-f``, standard input, one replay record, or a Python caller's
keyword arguments); 3. the field flags (``Overrides``).

Then the server's defaults are filled in on the client, so the payload that
leaves the machine is exactly the event the server will store, and everything
the server would silently replace or ignore is refused instead.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInput
from .times import SECONDS_THRESHOLD_MS, Clock, Number, format_time, json_type, parse_duration, parse_time

#: One JSON document in (a `start -f` input, one replay record) and one body out are at most this big.
MAX_INPUT_BYTES = 16 * 1024 * 1024

__all__ = ["MAX_INPUT_BYTES", "build_session", "build_update", "Overrides", "BuiltSession", "BuiltUpdate"]

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

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: object) -> bool:
    """True for the canonical 8-4-4-4-12 hex form the server accepts."""
    return isinstance(value, str) and bool(_UUID.fullmatch(value))  # fullmatch: "$" would allow a trailing newline


def new_session_id() -> str:
    return str(uuid.uuid4())


def canonical_id(value: Any) -> Any:
    """A UUID in lower case, as the vendor's tracers send ids (SPEC §2); anything else as it is."""
    return value.lower() if is_uuid(value) else value


class Shape:
    """The fields of one request body and what type each must be.

    (A plain class here and for the built bodies, not dataclasses: making a
    dataclass costs about half a millisecond at import; ``Overrides`` is one
    dataclass, which the callers build.)
    """

    __slots__ = ("fields", "strings", "objects", "hints")

    def __init__(self, fields: tuple[str, ...], strings: tuple[str, ...], objects: tuple[str, ...],
                 hints: Mapping[str, str] | None = None) -> None:
        self.fields, self.strings, self.objects = fields, strings, objects
        #: Mistaken keys of this body, before the common ``SUGGESTIONS``.
        self.hints = hints or {}

    def suggest(self, key: str) -> str | None:
        """The field a mistaken key most likely meant, if any."""
        folded = key.strip().lower().replace("-", "_")
        if folded in self.fields:
            return folded
        compact = folded.replace("_", "")
        hint = (self.hints.get(folded) or self.hints.get(compact) or SUGGESTIONS.get(folded)
                or SUGGESTIONS.get(compact))
        if hint in self.fields:
            return hint
        import difflib  # only on the way to an error message

        close = difflib.get_close_matches(folded, self.fields, n=1, cutoff=0.75)
        return close[0] if close else None


#: ``StartSessionRequest``: POST /v1/sessions.
SESSION = Shape(FIELDS, STRING_FIELDS, OBJECT_FIELDS)
#: ``UpdateEventRequest``: PUT /v1/events/{event_id}. ``outputs`` replaces, the
#: other objects merge on the server; ``children_ids`` replaces.
UPDATE_OBJECT_FIELDS = ("outputs", "metadata", "feedback", "metrics", "config", "user_properties")
UPDATE_FIELDS = ("end_time", "duration", *UPDATE_OBJECT_FIELDS, "children_ids")
UPDATE = Shape(UPDATE_FIELDS, (), UPDATE_OBJECT_FIELDS)


# --------------------------------------------------------------------------- the layers


@dataclass
class Overrides:
    """Layer 3: what the field flags say. ``None`` means the flag was not given.

    ``fields`` holds scalar fields as given (times and durations as text);
    ``objects`` the object fields, already parsed, merged key by key.
    """

    fields: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    children_ids: list[str] | None = None
    add_children: list[str] = field(default_factory=list)
    #: How a field's flag is spelled where it is not ``--field-name`` (``event``'s ``--type``).
    flags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """An empty flag is an unset shell variable (`--name "$UNSET"`): refused once, before any record."""
        for key in ("session_name", "event_name", "source"):
            value = self.fields.get(key)
            if value is not None and not str(value).strip():
                flag = self.flags.get(key) or ("--name (session_name)" if key == "session_name"
                                               else "--" + key.replace("_", "-"))
                raise InvalidInput(
                    f"{flag} is empty: an unset shell variable? give it a value, or leave the flag out for its default"
                )
        if any(not str(one).strip() for one in self.add_children):
            raise InvalidInput("--child is empty: an unset shell variable? give the child event's id, or leave the flag out")


def merge_documents(base: Mapping[str, Any] | None, top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, object fields merged key by key (a Python caller's keywords over a document)."""
    merged = dict(base or {})
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def check_children(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidInput(f'{where}: expected an array of strings, e.g. ["id1", "id2"], got {json_type(value)}')
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidInput(
                f"{where}[{index}]: expected a string id, got {json_type(item)}; quote it"
            )
        if not item.strip():
            raise InvalidInput(f"{where}[{index}]: is empty; give the child event's id, or leave it out")
    return list(value)


def unwrap_legacy(document: dict[str, Any]) -> dict[str, Any]:
    """Accept the deprecated ``{"session": {...}}`` shape (nothing else at the top)."""
    if set(document) == {"session"} and isinstance(document["session"], dict):
        return document["session"]
    return document


def check_document(
    document: Mapping[str, Any], shape: Shape, origin: str, lenient: bool, warnings: list[str]
) -> dict[str, Any]:
    """Type-check a layer-2 document; drop nulls (a null field counts as absent)."""
    checked: dict[str, Any] = {}
    for key, value in document.items():
        if not isinstance(key, str):  # only a Python caller's dict can hold one
            raise InvalidInput(f"{origin}: {key!r}: a field name must be a string")
        where = f"{origin}: {key}"
        if key not in shape.fields:
            hint = shape.suggest(key)
            if key == "session" and shape is SESSION:
                advice = 'the deprecated {"session": {...}} wrapper must be the only top-level key'
            elif hint:
                advice = f"did you mean {hint}?"
            else:
                advice = "allowed: " + ", ".join(shape.fields)
            if lenient:
                warnings.append(f"{where}: unknown field dropped ({advice})")
                continue
            ignored = " (the server would silently ignore it)" if shape is not SESSION else ""
            raise InvalidInput(f"{where}: unknown field{ignored}; {advice} (or pass --lenient, lenient=True in Python, to drop it)")
        if value is None:
            continue
        if key in shape.strings:
            if not isinstance(value, str) and not (key == "session_id" and lenient):
                raise InvalidInput(f"{where}: expected a string, got {json_type(value)}")
        elif key in shape.objects:
            if not isinstance(value, dict):
                raise InvalidInput(
                    f'{where}: expected an object like {{"key": "value"}}, got {json_type(value)}'
                )
        elif key == "children_ids":
            value = check_children(value, where)
        checked[key] = value
    return checked


def merge_layers(
    shape: Shape,
    defaults: Mapping[str, Any] | None,
    document: Mapping[str, Any],
    origin: str,
    overrides: Overrides,
) -> tuple[dict[str, Any], Callable[[str], str]]:
    """The three layers merged, and a function naming where a field came from."""
    merged: dict[str, Any] = {}
    origin_of: dict[str, str] = {}
    for layer, label in ((defaults or {}, "default"), (document, origin)):
        for key, value in layer.items():
            if value is None:
                continue
            merged[key] = {**merged.get(key, {}), **value} if key in shape.objects else value
            origin_of[key] = label
    for key, value in overrides.fields.items():
        if value is None:
            continue
        merged[key] = value
        origin_of[key] = overrides.flags.get(key) or f"--{key.replace('_', '-')}"
    for key, value in overrides.objects.items():
        if value:
            merged[key] = {**merged.get(key, {}), **value}
    if overrides.children_ids is not None:
        merged["children_ids"] = list(overrides.children_ids)
    if overrides.add_children:
        merged["children_ids"] = list(merged.get("children_ids", [])) + overrides.add_children
    if "children_ids" in merged:
        merged["children_ids"] = [canonical_id(child) for child in merged["children_ids"]]

    def where(key: str) -> str:
        label = origin_of.get(key, origin)
        return f"{label}: {key}" if not label.startswith("--") else label

    return merged, where


# --------------------------------------------------------------------------- starting a session


class BuiltSession:
    """The body of ``POST /v1/sessions``: the payload, what the builder had to say, the bytes to send."""

    __slots__ = ("payload", "warnings", "body", "defaulted")

    def __init__(self, payload: dict[str, Any], warnings: list[str], body: bytes = b"",
                 defaulted: tuple[str, ...] = ()) -> None:
        self.payload = payload
        self.warnings = warnings
        #: The exact bytes to send (``encode_payload``), the same on every attempt.
        self.body = body
        #: Fields the builder filled in with "now" (another run would fill in another value).
        self.defaulted = defaulted

    def __repr__(self) -> str:
        return f"BuiltSession(payload={self.payload!r}, warnings={self.warnings!r})"

    @property
    def session_id(self) -> str:
        return str(self.payload["session_id"])


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
    layer2 = check_document(unwrap_legacy(dict(document or {})), SESSION, origin, lenient, warnings)
    merged, where = merge_layers(SESSION, defaults, layer2, origin, overrides or Overrides())

    # session_id: refuse what the server would silently replace.
    session_id = merged.get("session_id")
    if session_id is not None and not is_uuid(session_id):
        if not lenient:
            raise InvalidInput(
                f"{where('session_id')}: {session_id!r} is not a UUID "
                f"(like 3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17); the server would replace it "
                f"and retries could create a second session; fix it, drop it, or pass --lenient (lenient=True in Python)"
            )
        replacement = make_id()
        warnings.append(
            f"{where('session_id')}: {session_id!r} is not a UUID; using {replacement} instead"
        )
        merged["session_id"] = replacement
    elif session_id is not None:
        merged["session_id"] = session_id.lower()  # canonical, as the vendor's tracers send ids (SPEC §2)
    for key, fallback in (("event_name", "the session name or \"unknown\""), ("source", '"unknown"')):
        if merged.get(key) == "":
            # The server treats an empty value as missing and silently falls back.
            raise InvalidInput(
                f"{where(key)}: is empty; the server would replace it with {fallback}; "
                f"give a value or leave the field out"
            )

    times, duration, start_defaulted = resolve_times(merged, where, clock)

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
    payload = _ordered(payload, FIELDS)
    return BuiltSession(payload=payload, warnings=warnings, body=encode_payload(payload, origin),
                        defaulted=("start_time",) if start_defaulted else ())


def resolve_times(
    merged: Mapping[str, Any], where: Callable[[str], str], clock: Clock
) -> tuple[dict[str, int], Number | None, bool]:
    """``start_time`` and ``end_time`` as whole Unix milliseconds (the server reads int64), ``duration``
    in ms, and whether the start defaulted to now: the start from ``end_time - duration`` or now when
    not given, the duration from the times; times out of order, or three that disagree, refused."""
    times: dict[str, int] = {}
    for key in TIME_FIELDS:
        if key in merged:
            times[key] = whole_ms(parse_time(merged[key], where(key), clock=clock))
    duration = parse_duration(merged["duration"], where("duration")) if "duration" in merged else None

    # Defaults the server would apply, applied here so they are visible.
    start_defaulted = False
    if "start_time" not in times:
        if "end_time" in times and duration is not None:
            derived = whole_ms(times["end_time"] - duration)
            if derived < SECONDS_THRESHOLD_MS:  # what a given start_time would be refused as
                raise InvalidInput(
                    f"{where('duration')}: duration {duration} ms puts the start (end_time - duration) at "
                    f"{derived}{f' ({format_time(derived)})' if derived >= 0 else ', before 1970'}; "
                    f"check the units of duration and end_time, or give start_time"
                )
            times["start_time"] = derived
        else:
            times["start_time"] = int(clock() * 1000)
            start_defaulted = True
    start = times["start_time"]
    end = times.get("end_time")
    if end is not None and end < start:
        why = " (start_time defaulted to now; pass --start-time)" if start_defaulted else ""
        raise InvalidInput(
            f"{where('end_time')}: end_time {end} ({format_time(end)}) is before start_time {start} "
            f"({format_time(start)}){why}; "
            f"check the order or the units"
        )
    if end is not None:
        if duration is None:
            duration = end - start  # from the rounded times
        elif abs((end - start) - duration) > 1:
            raise InvalidInput(
                f"{where('duration')}: duration {duration} ms does not match "
                f"end_time - start_time = {end - start} ms; drop one of the three"
            )
    return times, duration, start_defaulted


# --------------------------------------------------------------------------- ending a session


class BuiltUpdate:
    """The body of ``PUT /v1/events/{session_id}``: an ``UpdateEventRequest``."""

    __slots__ = ("session_id", "payload", "warnings", "body")

    def __init__(self, session_id: str, payload: dict[str, Any], warnings: list[str], body: bytes = b"") -> None:
        self.session_id = session_id
        self.payload = payload
        self.warnings = warnings
        #: The exact bytes to send, the same on every attempt.
        self.body = body

    def __repr__(self) -> str:
        return f"BuiltUpdate(session_id={self.session_id!r}, payload={self.payload!r})"


def build_update(
    session_id: str,
    *,
    document: Mapping[str, Any] | None = None,
    origin: str = "input",
    overrides: Overrides | None = None,
    start_time: Any = None,
    start_origin: str = "start time",
    lenient: bool = False,
    clock: Clock = time.time,
    ending: bool = True,
) -> BuiltUpdate:
    """An update by the server's ``UpdateEventRequest`` rules: one that ends a session, or (``ending``
    false: ``update``) one that enriches it and leaves it running.

    Ending, ``end_time`` defaults to now; ``duration`` to end minus ``start_time`` when
    the start is known. Not ending, neither is sent (given, they are refused: that is ``end``), and an
    update with nothing in it is refused. The server silently ignores unknown fields and an empty
    ``children_ids``, so both are refused here (unknown fields are dropped with a
    warning when ``lenient``). Times are whole milliseconds; the id is sent in lower case.
    """
    if not is_uuid(session_id):
        raise InvalidInput(
            f"session id {session_id!r} is not a UUID (like 3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17); give the "
            f"id that `hhsession start` printed (-o env exports it as HH_SESSION_ID)"
        )
    session_id = session_id.lower()
    verb = "ended" if ending else "updated"
    warnings: list[str] = []
    document = dict(document or {})
    for id_key in ("event_id", "session_id"):  # the legacy PUT /events form carries the id in the body
        value = document.pop(id_key, None)
        if value is not None and canonical_id(value) != session_id:
            raise InvalidInput(
                f"{origin}: {id_key} {value!r} is not the session being {verb} ({session_id}); "
                f"drop it from the document or give that session's id instead"
            )
    layer2 = check_document(document, UPDATE, origin, lenient, warnings)
    merged, where = merge_layers(UPDATE, None, layer2, origin, overrides or Overrides())
    if "children_ids" in merged and not merged["children_ids"]:
        raise InvalidInput(
            f"{where('children_ids')}: is empty; the server ignores an empty children_ids (it only "
            f"replaces them with a non-empty list); leave it out or give at least one id"
        )
    if not ending:
        for key in ("end_time", "duration"):
            if key in merged:
                raise InvalidInput(f"{where(key)}: an update leaves the session running, so it sends no {key}; "
                                   f"drop it, or end the session with `hhsession end` (Client.end in Python)")
        merges = ("metadata", "feedback", "metrics", "config", "user_properties")  # (an empty one changes nothing)
        if all(key in merges and value == {} for key, value in merged.items()):
            raise InvalidInput("nothing to update: give at least one of outputs, metadata, feedback, metrics, "
                               "config, user_properties, children_ids (the flags --outputs, -m, --feedback, "
                               "--metrics, --config, -u, --child, or -f)")
        payload = _ordered(merged, UPDATE_FIELDS)
        return BuiltUpdate(session_id=session_id, payload=payload, warnings=warnings,
                           body=encode_payload(payload, origin))
    end = whole_ms(parse_time(merged.get("end_time", "now"), where("end_time"), clock=clock))
    start = None if start_time is None else whole_ms(parse_time(start_time, start_origin, clock=clock))
    if start is not None and end < start:
        said = f"{where('end_time')}: end_time" if "end_time" in merged else "end_time (now, by default)"
        raise InvalidInput(
            f"{said} {end} ({format_time(end)}) is before the session's start {start} "
            f"({format_time(start)}); "
            f"check --end-time, --start-time or HH_SESSION_START_TIME"
        )
    if "duration" in merged:
        duration: Number | None = parse_duration(merged["duration"], where("duration"))
        # All three given: they must agree, as for start (an end_time left to default to
        # now leaves an explicit duration alone: it may measure only part of the span).
        if start is not None and "end_time" in merged and duration is not None and abs((end - start) - duration) > 1:
            raise InvalidInput(
                f"{where('duration')}: duration {duration} ms does not match end_time - start "
                f"= {end - start} ms (the start from {start_origin}); drop one of the three"
            )
    else:
        duration = None if start is None else end - start
    payload = {**merged, "end_time": end}
    if duration is not None:
        payload["duration"] = duration
    payload = _ordered(payload, UPDATE_FIELDS)
    return BuiltUpdate(session_id=session_id, payload=payload, warnings=warnings, body=encode_payload(payload, origin))


# --------------------------------------------------------------------------- numbers


def whole_ms(value: Number) -> int:
    """A time as whole milliseconds, a fraction rounded half up (the server reads int64)."""
    if isinstance(value, int):
        return value
    from decimal import ROUND_HALF_UP, Decimal  # exact: a float's .5 is not always 0.5

    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _ordered(payload: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    return {key: payload[key] for key in order if key in payload}


def encode_payload(payload: Mapping[str, Any], origin: str = "input") -> bytes:
    """The exact bytes sent: compact UTF-8 JSON. Every retry sends these same bytes.

    Refused (exit 2), so that nothing the server cannot read leaves the machine:
    a non-finite number (NaN and Infinity are not JSON), nesting too deep to
    encode, and a body over 16 MiB as encoded (a number can grow: ``1e5`` is
    sent as ``100000.0``).
    """
    try:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except ValueError as exc:
        why = ("a number has more than 4300 digits" if "digits" in str(exc)
               else "a value contains itself (a circular reference); give plain JSON values" if "Circular" in str(exc)
               else "a string holds a lone surrogate (\\ud800 to \\udfff alone), which is no UTF-8 text; fix "
                    "the text, or give the character as a whole pair" if "surrogate" in str(exc)
               else f"{exc}: NaN and Infinity are not JSON; give a finite number")
        raise InvalidInput(f"{origin}: {why}") from None
    except RecursionError:
        raise InvalidInput(f"{origin}: nested too deep to send (at most about 900 levels)") from None
    except TypeError as exc:  # a Python caller's value that JSON has no form for
        raise InvalidInput(f"{origin}: {exc}; give JSON values (str, int, float, bool, None, dict, list)") from None
    if len(body) > MAX_INPUT_BYTES:
        raise InvalidInput(
            f"{origin}: the body to send is {len(body) / 1048576:.1f} MiB, more than 16 MiB; make the record smaller"
        )
    return body


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
