"""The server's rules the emulator applies: routes, guesses, sessions and events as stored, updates, queries."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from http import HTTPStatus
from typing import Any

from ..errors import InvalidInput
from ..payload import FIELDS, OBJECT_FIELDS, is_uuid
from ..times import parse_time

ORG_ID = "org_emulator"
WORKSPACE_ID = "ws_emulator"
PROJECT_ID = "proj_emulator"
ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}

#: The environment variable the emulator's token may come from (see ``token_from``).
TOKEN_ENV = "HH_EMULATOR_TOKEN"
#: Answered without a bearer and never slowed down or failed by fault injection.
HEALTH_PATHS = ("/healthz", "/healthcheck")


@dataclass(frozen=True)
class Route:
    """One route: ``path`` as documented (``{name}`` matches one path segment), the
    ``Emulator`` method that answers it, and what it serves, in a line."""

    method: str
    path: str
    handler: str
    summary: str
    needs_bearer: bool = True

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)))

    @property
    def literal(self) -> bool:
        return "{" not in self.path


#: What the emulator serves. A literal path wins over a pattern (/v1/events/export is not an event id).
ROUTES = (
    Route("POST", "/v1/sessions", "_start_session", "start a session (a bare session object)"),
    Route("POST", "/session/start", "_start_session_legacy",
          'start a session (deprecated {"session": {...}} wrapper; the Python SDK sends it)'),
    Route("GET", "/v1/sessions/{id}", "_get_session", "the stored session event"),
    Route("GET", "/session/{id}", "_get_session_legacy",
          "the same event as reads answer it (the TypeScript SDK's getSession reads here, as an Event)"),
    Route("GET", "/v1/events/{event_id}", "_get_event", '{"event": the stored event}'),
    Route("PUT", "/v1/events/{event_id}", "_update_event",
          "UpdateEventRequest: merge metadata, feedback, metrics, config, user_properties; replace outputs, "
          "children_ids, duration, end_time"),
    Route("PUT", "/events", "_update_event_legacy",
          "the same update with event_id in the body (deprecated; the Python SDK sends it)"),
    Route("POST", "/v1/events/export", "_export",
          'events by filter ("is" on session_id, event_id, ...): {"events": [...], "count": N}; '
          "the Python SDK reads back here"),
    Route("POST", "/events/export", "_export", "the same (the TypeScript SDK's getEvents)"),
    Route("POST", "/v1/events/search", "_search", "the same, with SearchEventsRequest's fields"),
    Route("POST", "/v1/events", "_create_event", 'one event (PostEventRequest): {"success": true, "event_id"}'),
    Route("POST", "/events", "_create_event", "the same (the Python SDK's events.create, honeyhive-logger)"),
    Route("POST", "/v1/events/batch", "_create_events",
          'events (PostEventBatchRequest): {"success": true, "event_ids", "session_id"}'),
    Route("POST", "/events/batch", "_create_events", "the same (legacy: is_single_session, session)"),
    Route("POST", "/v1/sessions/{session_id}/events/batch", "_create_session_events",
          "events into that session (SessionEventBatchRequest)"),
    Route("POST", "/opentelemetry/v1/traces", "_traces",
          "an OTLP/HTTP trace export, JSON or protobuf: each span an event of the session it names"),
    *(Route("GET", path, "_health", "readiness: no bearer, no fault injection", needs_bearer=False)
      for path in HEALTH_PATHS),
)

#: Behaviour that follows no vendor documentation: the emulator's best guess.
GUESSES = (
    "A field of the wrong type in a session (session_name not a string, metadata not an object, "
    "children_ids not an array of strings, duration not a number) is a 400; the vendor documents "
    "only the silent fallbacks for session_id and the times.",
    "A session event carries end_time and duration null when they were not sent, and echoes session_name; "
    "read back (GET /v1/events/{event_id}, export, search) it leaves out parent_id, end_time, duration and "
    "any other field the Event schema types as string or number instead of null.",
    "org_id, workspace_id and project_id are fixed placeholders (org_emulator, ws_emulator, proj_emulator).",
    'A successful PUT /v1/events/{event_id} or PUT /events answers 200 {"success": true} '
    "(the body is undocumented; the Python SDK only needs it to be JSON).",
    "In an update, null is accepted only for outputs (documented: it keeps the outputs); a null "
    "metadata, feedback, metrics, config, user_properties, duration, end_time or children_ids is a 400. "
    "Object fields merge one level deep (top-level keys); end_time does not recompute duration.",
    "A bad request is a 400 before an unknown event is a 404.",
    "Export and search: several filters must all match; results are ordered by start_time descending "
    "(documented for search), newest first on ties; count is the number of matches over all pages; "
    "limit is 1..1000 for search (documented) and 1..7500 for export (the SDK's docstring); "
    "export ignores a project field and refuses fields it does not know.",
    "Only the operator \"is\" on session_id, event_id, event_type, event_name or source is served (a "
    "string, number or boolean value; a string matches a stored number or boolean it spells); any other "
    "filter is a 400 naming it. dateRange (either {\"$gte\", \"$lte\"} or {\"start_time\", \"end_time\"}, "
    "ISO 8601 or milliseconds) bounds start_time, both ends included; evaluation_id matches an event's "
    "evaluation_id or metadata.evaluation_id; projections keeps the fields named; ignore_order changes "
    "nothing; the answer carries totalEvents (what the TypeScript SDK reads) beside count.",
    "An event inside a session (POST /events, /v1/events, the batch routes) gets an event_id when it has "
    "none (or not a UUID), the session as parent_id, start_time now, end_time or duration from the other "
    "(an end_time computed in whole ms), event_type tool (as the OTLP mapping), event_name and source "
    "unknown; one that names no session starts a session for "
    "it (named after the event); one that names a session the emulator does not have starts that session. "
    "An update (PUT) applies to an event inside a session by the rules it applies to a session: duration "
    "does not recompute end_time, nor end_time duration. POST /v1/sessions/{session_id}/events/batch "
    "puts every event in that session, whatever session_id an event names; an event_type \"session\" "
    "sent through any event route starts (or merges into) a session. A negative duration, or an "
    "end_time before start_time, is stored as sent.",
    "The health checks answer {\"ok\": true, \"sessions\": N}.",
    "A body that is not JSON (NaN and Infinity included) is a 400; a body over 16 MiB is a 413.",
    "A fractional start_time or end_time is stored as sent; the real server reads times as int64 and "
    "does not document what it does with a fraction (hhsession never sends one).",
    "Without --token any non-empty bearer is accepted; the real server checks the key and its project.",
    "A span's honeyhive_<field>.a.b attributes are unflattened as sent (the Node tracer's arguments stay under "
    "inputs._params_, a return value under outputs.result); a span's event id is derived from its trace and "
    "span ids, and its source is otel when no attribute names one.",
)

#: UpdateEventRequest's object fields that are merged key by key into the stored event.
MERGED_UPDATE_FIELDS = ("metadata", "feedback", "metrics", "config", "user_properties")
#: The body of a successful update (see GUESSES).
UPDATE_ANSWER: dict[str, Any] = {"success": True}

_FILTER_FIELDS = ("session_id", "event_id", "event_type", "event_name", "source")
#: Ids, matched whatever their case (stored in lower case).
_ID_FIELDS = ("session_id", "event_id")
_FILTER_OPERATORS = (
    "exists", "not exists", "is", "is not", "contains", "not contains",
    "greater than", "less than", "after", "before",
)
_FILTER_TYPES = ("string", "number", "boolean", "datetime")


class BadRequest(Exception):
    def __init__(self, status: int, message: str, injected: bool = False, headers: dict[str, str] | None = None,
                 otlp: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.injected = injected
        self.headers = headers or {}
        self.otlp = otlp  # answered in OTLP's error shape (google.rpc.Status), not the API's


class HungUp(Exception):
    """The client went away before its request was read in full."""


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text}")
    return value


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object, or the 400 a strict JSON parser would give."""
    try:
        document = json.loads(body.decode("utf-8"), parse_float=_finite_float, parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(400, f"Invalid JSON body: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequest(400, "Request body must be a JSON object")
    return document


def server_event(session: dict[str, Any], *, now_ms: int, strict_keys: bool) -> dict[str, Any]:
    """The event the server stores for a session object (SPEC §1), fallbacks included.

    ``strict_keys`` is the v1 route (``additionalProperties: false``); the legacy
    route ignores unknown keys. A session is the root event of its trace: its
    ``event_id`` is its ``session_id``.
    """
    unknown = [key for key in session if key not in FIELDS]
    if unknown and strict_keys:
        raise BadRequest(400, f"Invalid session data: unknown field(s) {', '.join(sorted(unknown))}")
    for key in ("session_name", "event_name", "source"):
        if session.get(key) is not None and not isinstance(session[key], str):
            raise BadRequest(400, f"Invalid session data: {key} must be a string")
    for key in OBJECT_FIELDS:
        if session.get(key) is not None and not isinstance(session[key], dict):
            raise BadRequest(400, f"Invalid session data: {key} must be an object")
    children = session.get("children_ids")
    if children is not None and (
        not isinstance(children, list) or not all(isinstance(c, str) for c in children)
    ):
        raise BadRequest(400, "Invalid session data: children_ids must be an array of strings")
    if session.get("duration") is not None and not is_number(session["duration"]):
        raise BadRequest(400, "Invalid session data: duration must be a number")

    session_id = session.get("session_id")
    if not is_uuid(session_id):  # silently replaced, as the vendor documents
        session_id = str(uuid.uuid4())
    session_id = str(session_id).lower()  # stored canonical: the vendor's tracers send ids in lower case
    session_name = session.get("session_name")
    # getInt64() only takes numbers: anything else silently becomes "now".
    start_time = session["start_time"] if is_number(session.get("start_time")) else now_ms
    end_time = session.get("end_time")
    if end_time is not None and not is_number(end_time):
        end_time = now_ms
    return {
        "event_id": session_id,
        "session_id": session_id,
        "parent_id": None,
        "children_ids": list(children or []),
        "event_type": "session",
        "event_name": session.get("event_name") or session_name or "unknown",
        "session_name": session_name,
        "config": session.get("config") or {},
        "inputs": session.get("inputs") or {},
        "outputs": session.get("outputs") or {},
        "error": None,
        "source": session.get("source") or "unknown",
        "duration": session.get("duration"),
        "user_properties": session.get("user_properties") or {},
        "metrics": {},
        "feedback": {},
        "metadata": session.get("metadata") or {},
        "org_id": ORG_ID,
        "workspace_id": WORKSPACE_ID,
        "project_id": PROJECT_ID,
        "start_time": start_time,
        "end_time": end_time,
    }


def parse_update(document: Mapping[str, Any]) -> dict[str, Any]:
    """The changes an ``UpdateEventRequest`` makes, by the server's rules.

    Lenient as the server is: fields it does not know are ignored, an empty
    ``children_ids`` and a null ``outputs`` change nothing. A known field of the
    wrong type is a 400.
    """
    changes: dict[str, Any] = {}
    for key in MERGED_UPDATE_FIELDS:
        if key in document:
            if not isinstance(document[key], dict):
                raise BadRequest(400, f"Invalid update: {key} must be an object")
            changes[key] = document[key]
    outputs = document.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, dict):
            raise BadRequest(400, "Invalid update: outputs must be an object or null")
        changes["outputs"] = outputs
    if "children_ids" in document:
        children = document["children_ids"]
        if not isinstance(children, list) or not all(isinstance(c, str) for c in children):
            raise BadRequest(400, "Invalid update: children_ids must be a non-empty array of strings")
        if children:
            changes["children_ids"] = children
    for key in ("duration", "end_time"):
        if key in document:
            if not is_number(document[key]):
                raise BadRequest(400, f"Invalid update: {key} must be a number")
            changes[key] = document[key]
    return changes


def apply_update(event: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``event`` with ``changes`` (from ``parse_update``) applied: object fields merged, the rest replaced."""
    updated = dict(event)
    for key, value in changes.items():
        if key in MERGED_UPDATE_FIELDS:
            merged = dict(updated.get(key) or {})
            merged.update(value)
            updated[key] = merged
        else:
            updated[key] = value
    return updated


@dataclass(frozen=True)
class EventQuery:
    """What an export or search asks for: ``equals`` pairs that must all match, and one page."""

    equals: tuple[tuple[str, Any], ...]
    limit: int
    page: int
    start_range: tuple[float, float] | None = None  # start_time from, to (ms, both included)
    evaluation_id: str | None = None
    projections: tuple[str, ...] | None = None

    def matches(self, event: Mapping[str, Any]) -> bool:
        if self.start_range is not None:
            start = event.get("start_time")
            if not isinstance(start, int | float) or not self.start_range[0] <= start <= self.start_range[1]:
                return False
        if self.evaluation_id is not None:
            raw = event.get("metadata")
            metadata = raw if isinstance(raw, dict) else {}
            if self.evaluation_id not in (event.get("evaluation_id"), metadata.get("evaluation_id")):
                return False
        return all(_same(event.get(field), value.lower() if field in _ID_FIELDS and isinstance(value, str) else value)
                   for field, value in self.equals)

    def shown(self, event: dict[str, Any]) -> dict[str, Any]:
        """The fields ``projections`` asks for (all without it)."""
        return event if self.projections is None else {k: v for k, v in event.items() if k in self.projections}

    def lookup(self) -> tuple[str | None, str | None]:
        """An id every match must have, and its field (so the store looks it up instead of scanning)."""
        for field in ("event_id", "session_id"):
            for name, value in self.equals:
                if name == field and isinstance(value, str):
                    return field, value.lower()
        return None, None


def parse_query(document: Mapping[str, Any], *, search: bool) -> EventQuery:
    """An ``ExportEventsRequest`` (``search=False``) or ``SearchEventsRequest`` the emulator can answer.

    Anything it cannot answer exactly is a 400 naming it, never a wrong answer.
    """
    route = "search" if search else "export"
    # Every field of the vendor SDK's request models (LegacyExportEventsRequest, SearchEventsRequest).
    known = ("filters", "dateRange", "limit", "page", "ignore_order", "evaluation_id") + (
        () if search else ("project", "projections")
    )
    unknown = sorted(key for key in document if key not in known)
    if unknown:
        raise BadRequest(400, f"Invalid {route} request: unknown field(s) {', '.join(unknown)}")
    evaluation_id = document.get("evaluation_id")
    if evaluation_id is not None and not isinstance(evaluation_id, str):
        raise BadRequest(400, f"Invalid {route} request: evaluation_id must be a string")
    projections = document.get("projections")
    if projections is not None and not (isinstance(projections, list) and all(isinstance(p, str) for p in projections)):
        raise BadRequest(400, f"Invalid {route} request: projections must be an array of field names")
    if "project" in document and not isinstance(document["project"], str):
        raise BadRequest(400, f"Invalid {route} request: project must be a string")
    if "ignore_order" in document and not isinstance(document["ignore_order"], bool):
        raise BadRequest(400, f"Invalid {route} request: ignore_order must be a boolean")
    max_limit = 1000 if search else 7500
    limit = document.get("limit", 1000)
    if not _integer(limit) or not 1 <= limit <= max_limit:
        raise BadRequest(400, f"Invalid {route} request: limit must be an integer from 1 to {max_limit}")
    page = document.get("page", 1)
    if not _integer(page) or page < 1:
        raise BadRequest(400, f"Invalid {route} request: page must be an integer from 1")
    filters = document.get("filters", [])
    if not isinstance(filters, list):
        raise BadRequest(400, f"Invalid {route} request: filters must be an array")
    return EventQuery(equals=tuple(_parse_filter(f, route) for f in filters), limit=limit, page=page,
                      start_range=_date_range(document.get("dateRange"), route), evaluation_id=evaluation_id,
                      projections=tuple(projections) if projections is not None else None)


def _date_range(value: Any, route: str) -> tuple[float, float] | None:
    """A dateRange in either shape the SDKs send: ``{"$gte", "$lte"}`` (export) or ``{"start_time",
    "end_time"}`` (search); each bound ISO 8601 or Unix milliseconds (a number or its digits)."""
    if value is None:
        return None
    shapes = (("$gte", "$lte"), ("start_time", "end_time"))
    keys = next((shape for shape in shapes if isinstance(value, dict) and set(value) == set(shape)), None)
    if keys is None:
        raise BadRequest(400, f'Invalid {route} request: dateRange must be {{"$gte": ..., "$lte": ...}} or '
                              f'{{"start_time": ..., "end_time": ...}}')
    bounds = []
    for key in keys:
        try:
            bounds.append(float(parse_time(value[key], f"dateRange.{key}")))
        except InvalidInput as exc:
            raise BadRequest(400, f"Invalid {route} request: {exc.message}") from None
    return bounds[0], bounds[1]


def _parse_filter(item: Any, route: str) -> tuple[str, str]:
    if not isinstance(item, dict):
        raise BadRequest(400, f"Invalid {route} request: each filter must be an object")
    extra = sorted(key for key in item if key not in ("field", "operator", "value", "type"))
    missing = [key for key in ("field", "operator", "value") if key not in item]
    if extra or missing:
        problem = f"unknown key(s) {', '.join(extra)}" if extra else f"missing {', '.join(missing)}"
        raise BadRequest(400, f"Invalid {route} request: filter {problem}")
    field, operator, value, kind = item["field"], item["operator"], item["value"], item.get("type", "string")
    if not isinstance(field, str):
        raise BadRequest(400, f"Invalid {route} request: filter field must be a string")
    if operator not in _FILTER_OPERATORS:
        raise BadRequest(400, f"Invalid {route} request: unknown filter operator {operator!r}")
    if kind not in _FILTER_TYPES:
        raise BadRequest(400, f"Invalid {route} request: unknown filter type {kind!r} (one of {', '.join(_FILTER_TYPES)})")
    if field not in _FILTER_FIELDS:
        raise BadRequest(
            400, f"Filter on field {field!r} is not supported by the emulator (supported: {', '.join(_FILTER_FIELDS)})"
        )
    if operator != "is":
        raise BadRequest(400, f"Filter operator {operator!r} is not supported by the emulator (supported: 'is')")
    if isinstance(value, dict | list) or value is None:
        raise BadRequest(400, f"Invalid {route} request: filter value for {field} must be a string, number or boolean")
    return field, value




def error_body(status: int, message: str) -> dict[str, Any]:
    """The documented error shape."""
    return {
        "statusCode": status,
        "message": message,
        "success": False,
        "errorCode": ERROR_CODES.get(status) or _phrase_code(status),
    }


def _phrase_code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.upper().replace(" ", "_")
    except ValueError:
        return "ERROR"


Answer = tuple[int, Any, str]


#: An event's object fields (PostEventRequest).
EVENT_OBJECT_FIELDS = ("config", "inputs", "outputs", "metadata", "feedback", "metrics", "user_properties")


def child_event(document: Mapping[str, Any], session_id: str, *, now_ms: int) -> dict[str, Any]:
    """An event inside a session as the server stores it: an ``event_id`` when none (or not a UUID), the
    session as its parent when none, ``start_time`` now when not a number, ``end_time`` and ``duration``
    completed from each other; the type, name and source defaulted as a session's are."""
    for key in EVENT_OBJECT_FIELDS:
        if document.get(key) is not None and not isinstance(document[key], dict):
            raise BadRequest(400, f"Invalid event: {key} must be an object")
    event_id = document.get("event_id")
    event_id = str(event_id).lower() if is_uuid(event_id) else str(uuid.uuid4())
    parent = document.get("parent_id")
    start = document["start_time"] if is_number(document.get("start_time")) else now_ms
    end = document.get("end_time") if is_number(document.get("end_time")) else None
    duration = document.get("duration") if is_number(document.get("duration")) else None
    if end is None and duration is not None:
        # Whole ms: the Event schema types end_time as an integer (the TypeScript SDK refuses a fraction),
        # and a duration measured by a clock (performance.now()) has one.
        end = round(start + duration)
    if duration is None and end is not None:
        duration = end - start
    event = {
        "event_id": event_id,
        "session_id": session_id,
        "parent_id": str(parent).lower() if isinstance(parent, str) and parent else session_id,
        "children_ids": [c for c in document.get("children_ids") or [] if isinstance(c, str)],
        # Not "generic" (the Python SDK's EventType has it): the Event schema's enum is model, tool, chain,
        # session, and the TypeScript SDK refuses to read an event of any other type.
        "event_type": document.get("event_type") if isinstance(document.get("event_type"), str) else "tool",
        "event_name": document.get("event_name") or "unknown",
        "source": document.get("source") or "unknown",
        **{key: document.get(key) or {} for key in EVENT_OBJECT_FIELDS},
        "error": document.get("error") if isinstance(document.get("error"), str) else None,
        "start_time": start,
        "end_time": end,
        "duration": duration,
        "project_id": PROJECT_ID,
    }
    return event


#: Fields the vendor's Event schema types as a string or a number, never null (``openapi-events.yaml``;
#: the start's answer, ``PostSessionStartResponse``, allows null in them).
NOT_NULL_WHEN_READ = ("parent_id", "event_type", "event_name", "source", "start_time", "end_time", "duration")


def read_back(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as reads answer it: a field the schema types as string or number is left out rather
    than null (a session not ended has no end_time nor duration; a session has no parent_id), so
    clients that validate against the schema (the TypeScript SDK) take it."""
    return {key: value for key, value in event.items() if not (value is None and key in NOT_NULL_WHEN_READ)}


def _same(stored: Any, wanted: Any) -> bool:
    """A filter's value against a stored one: equal (a boolean only to a boolean), or a string that
    spells the stored number or boolean as JSON does ("5", "true")."""
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return stored is wanted or (isinstance(wanted, str) and isinstance(stored, bool) and json.dumps(stored) == wanted)
    if stored == wanted:
        return True
    return isinstance(wanted, str) and is_number(stored) and json.dumps(stored) == wanted


def event_id_of(value: Any) -> str:
    if not is_uuid(value):
        shown = value if isinstance(value, str) else json.dumps(value)
        raise BadRequest(400, f"Invalid event_id {shown[:80]!r}: must be a UUID")
    return str(value).lower()  # ids are matched whatever their case, and stored in lower case


