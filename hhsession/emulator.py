"""A local stand-in for the HoneyHive sessions and events API (SPEC §3 ``emulator``).

Standard library only: ``http.server`` with a thread per connection and
``sqlite3``. It applies the *server's* rules of SPEC §1, silent fallbacks
included, so users can see what the real service would store::

    hhsession emulator --port 8787

Use from Python (the test suite does)::

    with Emulator(port=0) as emu:
        print(emu.url)

What it serves is in ``ROUTES``; where its behaviour is a guess rather than the
vendor's documentation, ``GUESSES`` says so (docs/emulator.md lists every guess, the CLI help the main ones).
"""

from __future__ import annotations

import hmac
import json
import math
import random
import re
import shlex
import signal
import socket
import sqlite3
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any

from .errors import InvalidInput
from .payload import FIELDS, MAX_INPUT_BYTES, OBJECT_FIELDS, is_uuid
from .redact import one_line
from .times import parse_time
from .urls import is_loopback_host

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
    Route("GET", "/session/{id}", "_get_session", "the same (the TypeScript SDK's getSession reads here)"),
    Route("GET", "/v1/events/{event_id}", "_get_event", '{"event": the stored event}'),
    Route("PUT", "/v1/events/{event_id}", "_update_event",
          "UpdateEventRequest: merge metadata, feedback, metrics, config, user_properties; replace outputs, "
          "children_ids, duration, end_time"),
    Route("PUT", "/events", "_update_event_legacy",
          "the same update with event_id in the body (deprecated; the Python SDK sends it)"),
    Route("POST", "/v1/events/export", "_export",
          'events by filter ("is" on session_id, event_id, ...): {"events": [...], "count": N}; '
          "the Python SDK reads back here"),
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
    "none (or not a UUID), the session as parent_id, start_time now, end_time or duration from the other, "
    "event_type generic, event_name and source unknown; one that names no session starts a session for "
    "it (named after the event); one that names a session the emulator does not have starts that session. "
    "Events are not updated by PUT (sessions are).",
    "The health checks answer {\"ok\": true, \"sessions\": N}.",
    "A body that is not JSON (NaN and Infinity included) is a 400; a body over 16 MiB is a 413.",
    "A fractional start_time or end_time is stored as sent; the real server reads times as int64 and "
    "does not document what it does with a fraction (hhsession never sends one).",
    "Without --token any non-empty bearer is accepted; the real server checks the key and its project.",
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


class _HungUp(Exception):
    """The client went away before its request was read in full."""


def _number(value: Any) -> bool:
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
    if session.get("duration") is not None and not _number(session["duration"]):
        raise BadRequest(400, "Invalid session data: duration must be a number")

    session_id = session.get("session_id")
    if not is_uuid(session_id):  # silently replaced, as the vendor documents
        session_id = str(uuid.uuid4())
    session_id = str(session_id).lower()  # stored canonical: the vendor's tracers send ids in lower case
    session_name = session.get("session_name")
    # getInt64() only takes numbers: anything else silently becomes "now".
    start_time = session["start_time"] if _number(session.get("start_time")) else now_ms
    end_time = session.get("end_time")
    if end_time is not None and not _number(end_time):
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
            if not _number(document[key]):
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


class SessionStore:
    """Session events in SQLite; one lock makes each read-merge-write atomic."""

    #: Schema version 1: every event's event_id is its session_id.
    VERSION = 1

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sessions ("
                " session_id TEXT PRIMARY KEY, event TEXT NOT NULL, created_ms INTEGER NOT NULL)"
            )
            # The events inside sessions (a session's own event is its row in sessions).
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS events ("
                " event_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, event TEXT NOT NULL)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS events_by_session ON events (session_id)")
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _migrate(self) -> None:
        """A file written by an older emulator gave sessions a random event_id: make it the session_id."""
        if int(self._db.execute("PRAGMA user_version").fetchone()[0]) >= self.VERSION:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for session_id, text in self._db.execute("SELECT session_id, event FROM sessions").fetchall():
                event = json.loads(text)
                if event.get("event_id") != session_id:
                    event["event_id"] = session_id
                    self._db.execute("UPDATE sessions SET event = ? WHERE session_id = ?", (json.dumps(event), session_id))
            self._db.execute(f"PRAGMA user_version = {self.VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _editing(self, session_id: str) -> Iterator[tuple[dict[str, Any] | None, Callable[[dict[str, Any]], None]]]:
        """The stored event (None: there is none) and a function that writes it, in one transaction."""

        def write(event: dict[str, Any]) -> None:
            self._db.execute(
                "INSERT INTO sessions (session_id, event, created_ms) VALUES (?, ?, ?)"
                " ON CONFLICT (session_id) DO UPDATE SET event = excluded.event",
                (session_id, json.dumps(event), int(time.time() * 1000)),
            )

        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT event FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
                yield (json.loads(row[0]) if row else None), write
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def start(self, event: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store a new event, or merge metadata/user_properties into the existing one.

        Returns (the stored event, whether it was created).
        """
        with self._editing(event["session_id"]) as (stored, write):
            if stored is None:
                write(event)
                return event, True
            merged = apply_update(stored, {key: event.get(key) or {} for key in ("metadata", "user_properties")})
            write(merged)
            return merged, False

    def update(self, event_id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Apply ``changes`` (from ``parse_update``) to a stored event; None if there is no such event."""
        with self._editing(event_id) as (stored, write):
            if stored is None:
                return None
            updated = apply_update(stored, changes)
            write(updated)
            return updated

    def get(self, session_id: str) -> dict[str, Any] | None:
        session_id = session_id.lower()  # (stored in lower case)
        with self._lock:
            row = self._db.execute("SELECT event FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """A session's event, or an event inside a session."""
        found = self.get(event_id)
        if found is not None:
            return found
        with self._lock:
            row = self._db.execute("SELECT event FROM events WHERE event_id = ?", (event_id.lower(),)).fetchone()
        return json.loads(row[0]) if row else None

    def add_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Store an event inside a session (the same event_id again: replaced, as a retry's is)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO events (event_id, session_id, event) VALUES (?, ?, ?)",
                             (event["event_id"], event["session_id"], json.dumps(event)))
        return event

    def events_of(self, session_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT event FROM events WHERE session_id = ? ORDER BY rowid",
                                    (session_id.lower(),)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def find(self, query: EventQuery) -> tuple[list[dict[str, Any]], int]:
        """One page of the events ``query`` matches, start_time descending, and the number of all matches."""
        field, one = query.lookup()
        if field == "event_id" and one is not None:
            found = self.get_event(one)
            candidates = [found] if found is not None else []
        elif field == "session_id" and one is not None:  # the session and the events inside it
            found = self.get(one)
            candidates = ([found] if found is not None else []) + self.events_of(one)
        else:
            with self._lock:
                rows = self._db.execute("SELECT event FROM sessions ORDER BY rowid DESC").fetchall()
                rows += self._db.execute("SELECT event FROM events ORDER BY rowid DESC").fetchall()
            candidates = [json.loads(row[0]) for row in rows]
        matches = [event for event in candidates if query.matches(event)]
        # Stable: events with the same start_time stay newest first.
        matches.sort(key=lambda event: event["start_time"] if _number(event.get("start_time")) else 0, reverse=True)
        first = (query.page - 1) * query.limit
        return matches[first:first + query.limit], len(matches)

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])


@dataclass
class Faults:
    fail_rate: float = 0.0
    fail_status: int = 503
    retry_after: float | None = None
    latency_ms: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Dozens of simultaneous clients must not be refused at the listen queue.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line instead of http.server's traceback on stderr.

        A client that closes or resets its connection between requests has asked
        nothing and is not logged; one that hangs up mid-request or mid-answer is
        logged on its request's line by the handler.
        """
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        client = client_address[0] if isinstance(client_address, tuple) else str(client_address)
        self.emulator.log_line(f"{client} connection error: {type(exc).__name__}: {exc}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "hhsession-emulator"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass  # one line per request is written by Emulator.log_request instead

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK stall each answer by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.emulator.count_connection()

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # Methods no route takes: answered as every other request is (JSON, a 405 with Allow on a known path),
    # never with http.server's HTML page.
    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server itself refuses (a method it has no ``do_`` for, a bad request line): JSON too."""
        body = json.dumps(error_body(code, message or HTTPStatus(code).phrase)).encode()
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD" and code >= 200:
            self.wfile.write(body)

    def _handle(self, method: str) -> None:
        emulator = self.server.emulator
        with emulator.in_flight():
            started = time.monotonic()
            client = self.client_address[0]
            try:
                status, body, headers, note = self._answer(emulator, method)
            except _HungUp as exc:
                self.close_connection = True
                emulator.log_request(client, method, self.path, 0, f"client hung up mid-request ({exc})", time.monotonic() - started)
                return
            try:
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if method != "HEAD":  # (an answer to HEAD has no body, only its length)
                    self.wfile.write(body)
            except (ConnectionError, TimeoutError) as exc:  # BrokenPipeError, ConnectionResetError, ...
                self.close_connection = True
                note = f"{note} (client hung up mid-answer: {type(exc).__name__})".lstrip()
            emulator.log_request(client, method, self.path, status, note, time.monotonic() - started)

    def _answer(self, emulator: Emulator, method: str) -> tuple[int, bytes, dict[str, str], str]:
        """(status, body, extra headers, log note) for the request being handled."""
        headers: dict[str, str] = {}
        try:
            body_bytes = self._read_body()
            path = self.path.split("?", 1)[0]
            if path not in HEALTH_PATHS:  # readiness checks stay fast and truthful
                if emulator.faults.latency_ms:
                    time.sleep(emulator.faults.latency_ms / 1000)
                if emulator.should_fail():
                    fail = emulator.faults.fail_status
                    raise BadRequest(fail, f"Injected failure ({fail})", injected=True)
            status, payload, note = emulator.route(method, path, self.headers.get("Authorization"), body_bytes)
            if isinstance(payload, bytes):  # an OTLP/protobuf answer
                return status, payload, {**headers, "Content-Type": "application/x-protobuf"}, note
            return status, json.dumps(payload).encode(), headers, note
        except BadRequest as exc:
            headers.update(exc.headers)
            if exc.injected and emulator.faults.retry_after is not None:
                headers["Retry-After"] = f"{emulator.faults.retry_after:g}"
            shape = {"code": 3, "message": exc.message} if exc.otlp else error_body(exc.status, exc.message)
            return exc.status, json.dumps(shape).encode(), headers, exc.message
        except _HungUp:
            raise
        except Exception as exc:  # noqa: BLE001 - a stand-in server must answer, not die
            body = json.dumps(error_body(500, f"Emulator error: {type(exc).__name__}")).encode()
            return 500, body, headers, repr(exc)

    def _read_body(self) -> bytes:
        """The request's body (Content-Length or chunked), gunzipped when Content-Encoding says gzip."""
        body = self._read_framed_body()
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding != "gzip":
            raise BadRequest(415, f"Content-Encoding {encoding!r} is not supported (gzip is)")
        decompressor = zlib.decompressobj(wbits=31)  # gzip framing
        try:
            plain = decompressor.decompress(body, MAX_INPUT_BYTES + 1)
        except zlib.error:
            raise BadRequest(400, "The body is not valid gzip") from None
        if len(plain) > MAX_INPUT_BYTES or decompressor.unconsumed_tail:
            raise BadRequest(413, "Request body larger than 16 MiB once unzipped")
        return plain

    def _read_framed_body(self) -> bytes:
        # RFC 9112 §6.3: several Content-Length values that differ (in several fields or one list), or
        # one beside Transfer-Encoding, is a request whose end cannot be told: 400, and the connection closed.
        values = {value.strip() for field in self.headers.get_all("Content-Length") or () for value in field.split(",")}
        if not values:
            encoding = self.headers.get("Transfer-Encoding")
            if encoding is None:
                return b""
            if encoding.strip().lower() != "chunked":
                self.close_connection = True
                raise BadRequest(501, f"Transfer-Encoding {encoding!r} is not supported (chunked is)")
            return self._read_chunked()
        if len(values) > 1 or self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            raise BadRequest(400, "Conflicting Content-Length headers (or Content-Length with Transfer-Encoding)")
        (length_header,) = values
        if not length_header.isascii() or not length_header.isdigit():
            self.close_connection = True
            raise BadRequest(400, "Invalid Content-Length")
        length = int(length_header)
        if length > MAX_INPUT_BYTES + 1024:
            self.close_connection = True
            raise BadRequest(413, "Request body larger than 16 MiB")
        try:
            body = self.rfile.read(length) if length > 0 else b""
        except (ConnectionError, TimeoutError) as exc:
            raise _HungUp(type(exc).__name__) from None
        if len(body) < length:
            raise _HungUp(f"{len(body)} of {length} body bytes received")
        return body

    def _read_chunked(self) -> bytes:
        """A chunked body (RFC 9112 §7.1): chunks up to the zero chunk, trailers read and dropped."""
        body = bytearray()
        try:
            while True:
                line = self.rfile.readline(1026)
                if not line.endswith(b"\n"):
                    raise _HungUp("the chunked body ended early") if not line else BadRequest(400, "Bad chunk size line")
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    self.close_connection = True
                    raise BadRequest(400, "Bad chunk size line") from None
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(body)
                if len(body) + size > MAX_INPUT_BYTES + 1024:
                    self.close_connection = True
                    raise BadRequest(413, "Request body larger than 16 MiB")
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    raise _HungUp(f"{len(body) + len(chunk)} body bytes received, the chunk cut short")
                body += chunk
                self.rfile.readline(3)  # the chunk's CRLF
        except (ConnectionError, TimeoutError) as exc:
            raise _HungUp(type(exc).__name__) from None


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


class Emulator:
    """The server, startable in a thread (tests) or in the foreground (the CLI)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8787,
        db: str | None = None,
        token: str | None = None,
        faults: Faults | None = None,
        log: IO[str] | None = None,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = SessionStore(db or ":memory:")
        self.token = token
        self.faults = faults or Faults()
        self.log = log
        self.clock = clock
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._idle = threading.Condition()
        self._in_flight = 0
        self.requests = 0
        self.connections = 0
        try:
            self.httpd = _Server((host, port), self)
        except BaseException:
            self.store.close()
            raise
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        # Bound to every address: a client reaches it on loopback (and the key stays on the machine).
        text = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(text, text)
        shown = f"[{text}]" if ":" in text else text
        return f"http://{shown}:{port!s}"

    # -------------------------------------------------------------- lifecycle

    def start(self) -> Emulator:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="hhsession-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.wait_idle()
        self.httpd.server_close()
        self.store.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Around the answer to one request, so ``wait_idle`` can let answers on their way finish."""
        with self._idle:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 2.0) -> bool:
        """Wait (at most ``timeout`` s) until no request is being answered; True if none is."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    # -------------------------------------------------------------- behaviour

    def count_connection(self) -> None:
        with self._log_lock:
            self.connections += 1

    def should_fail(self) -> bool:
        if self.faults.fail_rate <= 0:
            return False
        with self._random_lock:
            return self._random.random() < self.faults.fail_rate

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        presented = header[len("Bearer "):].strip()
        if not presented:
            return False
        if self.token is None:
            return True
        return hmac.compare_digest(presented.encode(), self.token.encode())

    def route(self, method: str, path: str, authorization: str | None, body: bytes) -> Answer:
        """(status, JSON answer, log note) for one request; errors are raised as ``BadRequest``."""
        matched = [(route, match) for route, match in ((r, r.pattern.fullmatch(path)) for r in ROUTES) if match]
        if any(route.literal for route, _ in matched):
            matched = [(route, match) for route, match in matched if route.literal]
        for route, match in matched:
            if route.method == method:
                if route.needs_bearer and not self.authorized(authorization):
                    raise BadRequest(401, "Missing or invalid bearer token")
                handler: Callable[[re.Match[str], bytes], Answer] = getattr(self, route.handler)
                return handler(match, body)
        if matched:
            allowed = ", ".join(sorted({route.method for route, _ in matched}))
            raise BadRequest(405, f"{method} is not served on {path} (it takes {allowed})", headers={"Allow": allowed})
        raise BadRequest(404, f"Not found: {method} {path}")

    def _health(self, match: re.Match[str], body: bytes) -> Answer:
        return 200, {"ok": True, "sessions": self.store.count()}, ""

    def _start_session(self, match: re.Match[str], body: bytes) -> Answer:
        return self._start(parse_json_object(body), strict_keys=True)

    def _start_session_legacy(self, match: re.Match[str], body: bytes) -> Answer:
        session = parse_json_object(body).get("session")
        if not isinstance(session, dict):
            raise BadRequest(400, 'Request body must be {"session": {...}}')
        return self._start(session, strict_keys=False)

    def _start(self, session: dict[str, Any], *, strict_keys: bool) -> Answer:
        event = server_event(session, now_ms=int(self.clock() * 1000), strict_keys=strict_keys)
        stored, created = self.store.start(event)
        return 200, stored, f"session={stored['session_id']} {'created' if created else 'merged'}"

    def _get_session(self, match: re.Match[str], body: bytes) -> Answer:
        event = self.store.get(match["id"])
        if event is None:
            raise BadRequest(404, f"Session {match['id']} not found")
        return 200, event, ""

    def _get_event(self, match: re.Match[str], body: bytes) -> Answer:
        event_id = _event_id(match["event_id"])
        event = self.store.get_event(event_id)
        if event is None:
            raise BadRequest(404, f"Event {event_id} not found")
        return 200, {"event": read_back(event)}, ""

    # ------------------------------------------------------------------ events inside sessions

    def _create_event(self, match: re.Match[str], body: bytes) -> Answer:
        document = parse_json_object(body)
        wrapped = document.get("event")  # ({"event": {...}}, as some clients send it)
        event = self._add(wrapped if isinstance(wrapped, dict) else document, None)
        return 200, {"success": True, "event_id": event["event_id"]}, f"event={event['event_id']} in {event['session_id']}"

    def _create_events(self, match: re.Match[str], body: bytes) -> Answer:
        document = parse_json_object(body)
        events = document.get("events")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise BadRequest(400, "Invalid batch: events must be an array of objects")
        session = None
        if document.get("single_session") or document.get("is_single_session"):
            properties = document.get("session_properties") or document.get("session") or {}
            if not isinstance(properties, dict):
                raise BadRequest(400, "Invalid batch: session_properties must be an object")
            session = self._start(dict(properties), strict_keys=False)[1]["session_id"]
        added = [self._add(event, session) for event in events]
        session_id = session or (added[0]["session_id"] if added else None)
        return 200, {"success": True, "event_ids": [e["event_id"] for e in added], "session_id": session_id}, \
            f"{len(added)} event(s)"

    def _create_session_events(self, match: re.Match[str], body: bytes) -> Answer:
        session_id = _event_id(match["session_id"])
        if self.store.get(session_id) is None:
            raise BadRequest(404, f"Session {session_id} not found")
        document = parse_json_object(body)
        events = document.get("events")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise BadRequest(400, "Invalid batch: events must be an array of objects")
        added = [self._add(event, session_id) for event in events]
        return 200, {"success": True, "event_ids": [e["event_id"] for e in added], "session_id": session_id}, \
            f"{len(added)} event(s) in {session_id}"

    def _add(self, document: dict[str, Any], session_id: str | None) -> dict[str, Any]:
        """An event with the server's defaults, stored: a session sent as an event is a session."""
        if document.get("event_type") == "session":
            session: dict[str, Any] = self._start(dict(document), strict_keys=False)[1]
            return session
        session_id = session_id or document.get("session_id")
        if session_id is None:  # no session named: one is started for it (see GUESSES)
            session_id = self._start({"session_name": document.get("event_name"), "source": document.get("source")},
                                     strict_keys=False)[1]["session_id"]
        session_id = _event_id(session_id)
        if self.store.get(session_id) is None:
            self._start({"session_id": session_id}, strict_keys=False)
        event = child_event(document, session_id, now_ms=int(self.clock() * 1000))
        return self.store.add_event(event)

    def _traces(self, match: re.Match[str], body: bytes) -> Answer:
        """OTLP/HTTP: JSON or protobuf (told by the first byte: a JSON export is an object), each span an
        event of the session its attributes name; a span that names none is rejected (partialSuccess)."""
        from .otlp import MalformedExport, events_from_spans, spans_from_json, spans_from_protobuf

        protobuf = body.lstrip()[:1] != b"{"
        try:
            spans = spans_from_protobuf(body) if protobuf else spans_from_json(parse_json_object(body))
            events, rejected = events_from_spans(spans)
            for session_id, document in events:
                self._add(document, session_id)
        except (MalformedExport, BadRequest) as exc:  # OTLP's error shape: a google.rpc.Status
            message = exc.message if isinstance(exc, BadRequest) else str(exc)
            raise BadRequest(400, f"Invalid OTLP export: {message}", otlp=True) from None
        note = f"{len(events)} span(s) as events" + (f", {rejected} naming no session" if rejected else "")
        if protobuf:
            return 200, b"", note  # an ExportTraceServiceResponse with nothing to report is empty
        partial = ({"rejectedSpans": rejected, "errorMessage": "a span named no session (honeyhive.session_id)"}
                   if rejected else {})
        return 200, {"partialSuccess": partial}, note

    def _update_event(self, match: re.Match[str], body: bytes) -> Answer:
        return self._update(_event_id(match["event_id"]), parse_json_object(body))

    def _update_event_legacy(self, match: re.Match[str], body: bytes) -> Answer:
        document = parse_json_object(body)
        if "event_id" not in document:
            raise BadRequest(400, "Invalid update: event_id is required in the body of PUT /events")
        return self._update(_event_id(document["event_id"]), document)

    def _update(self, event_id: str, document: dict[str, Any]) -> Answer:
        changes = parse_update(document)
        if self.store.update(event_id, changes) is None:
            raise BadRequest(404, f"Event {event_id} not found")
        return 200, UPDATE_ANSWER, f"event={event_id} updated {','.join(changes) or 'nothing'}"

    def _export(self, match: re.Match[str], body: bytes) -> Answer:
        return self._find(parse_query(parse_json_object(body), search=False))

    def _search(self, match: re.Match[str], body: bytes) -> Answer:
        return self._find(parse_query(parse_json_object(body), search=True))

    def _find(self, query: EventQuery) -> Answer:
        events, count = self.store.find(query)
        # count is what the Python SDK reads, totalEvents what the TypeScript SDK 1.0.42 reads.
        shown = [query.shown(read_back(event)) for event in events]
        return 200, {"events": shown, "count": count, "totalEvents": count}, f"{len(events)} of {count} event(s)"

    def log_request(self, client: str, method: str, path: str, status: int, note: str, took: float) -> None:
        """One line per request (``status`` 0: the request was never answered)."""
        shown = str(status) if status else "-"
        with self._log_lock:
            self.requests += 1
        self.log_line(f"{client} {method} {path} {shown} {took * 1000:.0f}ms {note}".rstrip())

    def log_line(self, text: str) -> None:
        with self._log_lock:
            if self.log is None:
                return
            self.log.write(f"{time.strftime('%H:%M:%S')} {one_line(text)}\n")  # a path may hold escape codes
            self.log.flush()


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
    start = document["start_time"] if _number(document.get("start_time")) else now_ms
    end = document.get("end_time") if _number(document.get("end_time")) else None
    duration = document.get("duration") if _number(document.get("duration")) else None
    if end is None and duration is not None:
        end = start + duration
    if duration is None and end is not None:
        duration = end - start
    event = {
        "event_id": event_id,
        "session_id": session_id,
        "parent_id": str(parent).lower() if isinstance(parent, str) and parent else session_id,
        "children_ids": [c for c in document.get("children_ids") or [] if isinstance(c, str)],
        "event_type": document.get("event_type") if isinstance(document.get("event_type"), str) else "generic",
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
    return isinstance(wanted, str) and _number(stored) and json.dumps(stored) == wanted


def _event_id(value: Any) -> str:
    if not is_uuid(value):
        shown = value if isinstance(value, str) else json.dumps(value)
        raise BadRequest(400, f"Invalid event_id {shown[:80]!r}: must be a UUID")
    return str(value).lower()  # ids are matched whatever their case, and stored in lower case


def token_from(flag: str | None, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The emulator's token and the environment variable it came from, if any.

    ``--token`` wins; else ``$HH_EMULATOR_TOKEN`` (empty counts as unset). Naming
    the variable lets ``serve`` print exports that reuse it instead of the secret.
    """
    if flag:
        return flag, None
    from_env = environ.get(TOKEN_ENV) or None
    return (from_env, TOKEN_ENV) if from_env else (None, None)


def export_lines(url: str, token: str | None, token_env: str | None = None) -> list[str]:
    """Shell lines (paste them, or ``source`` them) that point every version of the tools at the emulator.

    The URL and the key go under the current official names (``HH_DATA_PLANE_URL``,
    ``HH_PROJECT_API_KEY``) and the older ones (``HH_API_URL``, ``HH_API_KEY``),
    the first line always ``export HH_API_URL=...``. A token is never printed:
    one from ``token_env`` is exported by reference (failing loudly in a shell
    that lacks the variable); for one from ``--token`` a line asks for it
    without echoing it.
    """
    where = shlex.quote(url)
    lines = [f"export HH_API_URL={where}", f"export HH_DATA_PLANE_URL={where}"]
    if token is None:
        key = "emulator"
    elif token_env is not None:
        key = f'"${{{token_env}:?is not set in this shell; export it first}}"'
    else:
        # Pasted into a shell on a terminal, the last line asks for the token without echoing it:
        # echo is off before the prompt shows (`read -s` turns it off only after its prompt, and what
        # is typed in between is echoed). Without a terminal (a script sourcing the lines) it reads
        # nothing and changes nothing: a script's standard input is never taken for a token.
        return [
            *lines,
            f"# the emulator accepts only the --token you gave it (never printed); in a shell the next line "
            f"asks for it (or start the emulator with ${TOKEN_ENV} set instead)",
            "[ -t 0 ] && { stty -echo; printf 'emulator token: ' >&2; IFS= read -r _hh_token; stty echo; echo >&2; "
            'export HH_PROJECT_API_KEY="$_hh_token" HH_API_KEY="$_hh_token"; }; unset _hh_token',
        ]
    return [*lines, f"export HH_PROJECT_API_KEY={key}", f"export HH_API_KEY={key}"]


def listening_lines(bound: str, port: int, url: str, where: str, has_token: bool) -> str:
    """What ``serve`` says first: where it listens, really; beyond loopback, a warning saying who can reach it."""
    if is_loopback_host(bound):
        return f"hhsession emulator on {url} (sessions {where}); Ctrl-C to stop\n"
    shown = f"[{bound}]" if ":" in bound else bound
    guard = ("it accepts only its token, sent in plain http that anyone on the path can read" if has_token
             else "it accepts any bearer token: anyone who can reach this machine can read and write its "
                  "sessions; give --token (or HH_EMULATOR_TOKEN)")
    return (f"hhsession emulator listening on {shown}:{port} (sessions {where}), on this machine {url}; "
            f"Ctrl-C to stop\n"
            f"hhsession: warning: listening beyond loopback ({bound}): {guard}, or --host 127.0.0.1 to keep it "
            f"on this machine\n")


def serve(emulator: Emulator, out: IO[str], err: IO[str], *, token_env: str | None = None) -> int:
    """Run in the foreground until Ctrl-C or SIGTERM; both stop cleanly with exit 0.

    Prints ``export_lines`` on ``out``. ``token_env`` names the environment
    variable the token came from (see ``token_from``).
    """
    where = emulator.store.path if emulator.store.path != ":memory:" else "in memory"
    host, port = emulator.httpd.server_address[:2]
    err.write(listening_lines(host.decode() if isinstance(host, bytes) else str(host), port, emulator.url,
                              where, bool(emulator.token)))
    out.write("".join(line + "\n" for line in export_lines(emulator.url, emulator.token, token_env)))
    out.flush()
    err.flush()

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        emulator.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.wait_idle()  # an answer already on its way is logged before the summary
        emulator.httpd.server_close()
        emulator.store.close()
        err.write(f"hhsession emulator stopped after {emulator.requests} request(s)\n")
        err.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    import os

    _token, _token_env = token_from(None, os.environ)
    sys.exit(serve(Emulator(token=_token, log=sys.stderr), sys.stdout, sys.stderr, token_env=_token_env))
