"""What goes on inside a session (SPEC §3 ``event``, ``get``): the events logged into it, and reading
it back.

- ``build_event``: one ``PostEventRequest`` by the same layers and refusals as a session
  (``payload.py``), with the server's defaults for events applied on the client: the event id chosen
  before the first attempt (a retry sends the same id, so it never logs a second event), the session
  as the parent, ``start_time`` now, ``end_time`` and ``duration`` from each other, whole ms.
- ``send_events``: built events through ``POST /v1/sessions/{session_id}/events/batch``, in chunks
  of at most ``CHUNK_EVENTS`` events and about ``CHUNK_BYTES``.
- ``read_session``: a session and every event in it, ``GET /v1/events/{id}`` then
  ``POST /v1/events/search`` by ``session_id``, page after page.

The sending functions take anything with the client's ``request`` (``Requester``): the client
wraps them, and this module never imports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from .errors import HHSessionError, InvalidInput, NetworkError
from .payload import (
    Overrides,
    Shape,
    canonical_id,
    check_document,
    encode_payload,
    is_uuid,
    merge_layers,
    new_session_id,
    resolve_times,
    whole_ms,
)
from .times import Clock

#: ``--type``: the vendor's event types (its Event schema: model, tool, chain) and ``generic``.
EVENT_TYPES = ("tool", "model", "chain", "generic")
#: The type of an event that names none: ``honeyhive-logger``'s ``log()`` default.
DEFAULT_EVENT_TYPE = "tool"
EVENT_OBJECT_FIELDS = ("config", "inputs", "outputs", "metadata", "feedback", "metrics", "user_properties")
#: Every field of ``PostEventRequest`` hhsession sends, in the order payloads are written (the
#: ``project_id`` of the model is left out: the server takes the project from the key).
EVENT_FIELDS = (
    "event_id", "session_id", "parent_id", "event_type", "event_name", "source",
    "start_time", "end_time", "duration", *EVENT_OBJECT_FIELDS, "error", "children_ids",
)
EVENT = Shape(
    EVENT_FIELDS,
    ("event_id", "session_id", "parent_id", "event_type", "event_name", "source", "error"),
    EVENT_OBJECT_FIELDS,
    hints={"id": "event_id", "eventid": "event_id", "name": "event_name", "type": "event_type",
           "eventtype": "event_type", "kind": "event_type", "parent": "parent_id", "parentid": "parent_id",
           "session": "session_id", "sessionid": "session_id", "exception": "error", "err": "error"},
)
#: At most this many events in one batch request...
CHUNK_EVENTS = 100
#: ... and about this many bytes of them (one event may be bigger: it goes alone).
CHUNK_BYTES = 4 * 1024 * 1024
#: Events asked for per page when reading a session (the most ``SearchEventsRequest`` allows).
PAGE_SIZE = 1000
#: A session holds at most this many events as read back: a server that never stops paging is not
#: followed forever.
MAX_EVENTS = 1_000_000


class BuiltEvent:
    """The body of one event: the payload, what the builder had to say, and its bytes."""

    __slots__ = ("payload", "warnings", "body")

    def __init__(self, payload: dict[str, Any], warnings: list[str], body: bytes) -> None:
        self.payload, self.warnings, self.body = payload, warnings, body

    def __repr__(self) -> str:
        return f"BuiltEvent(payload={self.payload!r})"

    @property
    def event_id(self) -> str:
        return str(self.payload["event_id"])


def check_session_id(session_id: Any, origin: str = "session id") -> str:
    """The session an event goes into: a UUID, in lower case."""
    if not is_uuid(session_id):
        raise InvalidInput(
            f"{origin} {session_id!r} is not a UUID (like 3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17); give the "
            f"id that `hhsession start` printed (-o env exports it as HH_SESSION_ID)"
        )
    return str(session_id).lower()


def build_event(
    session_id: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    document: Mapping[str, Any] | None = None,
    origin: str = "input",
    overrides: Overrides | None = None,
    lenient: bool = False,
    clock: Clock = time.time,
    make_id: Callable[[], str] = new_session_id,
) -> BuiltEvent:
    """One event inside ``session_id``: the layers merged (defaults, a document, the flags), the
    server's defaults filled in, and what it would silently replace or ignore refused."""
    session_id = check_session_id(session_id)
    warnings: list[str] = []
    layer2 = check_document(dict(document or {}), EVENT, origin, lenient, warnings)
    merged, where = merge_layers(EVENT, defaults, layer2, origin, overrides or Overrides())

    given_session = merged.pop("session_id", None)
    if given_session is not None and canonical_id(given_session) != session_id:
        raise InvalidInput(f"{where('session_id')}: {given_session!r} is not the session the events go into "
                           f"({session_id}); drop it, or log the event into that session")
    event_id = merged.get("event_id")
    if event_id is not None and not is_uuid(event_id):
        if not lenient:
            raise InvalidInput(
                f"{where('event_id')}: {event_id!r} is not a UUID; the server would replace it and a retry "
                f"could log the event twice; fix it, drop it, or pass --lenient (lenient=True in Python)"
            )
        replacement = make_id()
        warnings.append(f"{where('event_id')}: {event_id!r} is not a UUID; using {replacement} instead")
        event_id = replacement
    parent = merged.get("parent_id")
    if parent is not None and not is_uuid(parent):
        raise InvalidInput(f"{where('parent_id')}: {parent!r} is not a UUID; give the id of the session or of "
                           f"an event in it (a parent must be an event)")
    kind = merged.get("event_type", DEFAULT_EVENT_TYPE)
    if kind.strip().lower() not in EVENT_TYPES:
        advice = ("a session is started with `hhsession start`, not logged as an event"
                  if kind.strip().lower() == "session" else f"one of {', '.join(EVENT_TYPES)}")
        raise InvalidInput(f"{where('event_type')}: {kind!r} is not an event type; {advice}")
    for key in ("event_name", "source"):
        if merged.get(key) == "":
            raise InvalidInput(f"{where(key)}: is empty; the server would replace it with \"unknown\"; "
                               f"give a value or leave the field out")

    times, duration, _ = resolve_times(merged, where, clock)
    if "end_time" not in times and duration is not None:  # the server completes one from the other
        times["end_time"] = whole_ms(times["start_time"] + duration)
    payload: dict[str, Any] = {
        "event_id": (event_id or make_id()).lower(),
        "session_id": session_id,
        "parent_id": (parent or session_id).lower(),
        "event_type": kind.strip().lower(),
        "event_name": merged.get("event_name", "unknown"),
        "source": merged.get("source", "unknown"),
        **times,
    }
    if duration is not None:
        payload["duration"] = duration
    for key in EVENT_FIELDS:
        if key not in payload and key in merged:
            payload[key] = merged[key]
    payload.setdefault("inputs", {})  # PostEventRequest requires it
    payload = {key: payload[key] for key in EVENT_FIELDS if key in payload}
    if payload["event_id"] == session_id:
        raise InvalidInput(f"{where('event_id')}: is the session's own id; an event inside it needs its own "
                           f"(leave event_id out for a new one)")
    return BuiltEvent(payload, warnings, encode_payload(payload, origin))


# --------------------------------------------------------------------------- sending and reading


class Requester(Protocol):
    """What these functions need of ``hhsession.Client``."""

    api_url: str

    def request(self, method: str, path: str, body: Mapping[str, Any] | bytes | None = None, *,
                what: str = ..., takes: str = ..., not_found: str | None = ...,
                maybe_stored: str | None = ..., read: bool = ...) -> Any: ...

    def setting(self, name: str, value: str | None = None) -> str: ...


def chunks(events: Iterable[BuiltEvent]) -> Iterator[list[BuiltEvent]]:
    """Events in batches of at most ``CHUNK_EVENTS`` and about ``CHUNK_BYTES`` each."""
    chunk: list[BuiltEvent] = []
    size = 0
    for event in events:
        if chunk and (len(chunk) >= CHUNK_EVENTS or size + len(event.body) > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(event)
        size += len(event.body) + 1
    if chunk:
        yield chunk


def send_events(client: Requester, session_id: str, events: Iterable[BuiltEvent],
                on_sent: Callable[[list[BuiltEvent]], None] | None = None) -> int:
    """Send built events into a session, a chunk a request; ``on_sent`` hears of each chunk stored.
    Returns how many were sent. A chunk that fails raises, saying how many went before it."""
    session_id = check_session_id(session_id)
    path = f"/v1/sessions/{session_id}/events/batch"
    sent = 0
    for chunk in chunks(events):
        body = b'{"events":[' + b",".join(event.body for event in chunk) + b"]}"
        before = f"; the {sent} event(s) before them were stored" if sent else ""
        ids = f"{chunk[0].event_id}..{chunk[-1].event_id}" if len(chunk) > 1 else chunk[0].event_id
        try:
            client.request(
                "POST", path, body, what=f"events {ids}", takes="event batches",
                not_found=(f"session {session_id} was not found at {client.api_url}; start it first "
                           f"(`hhsession start`), or check the id and {client.setting('api_url')}"),
                maybe_stored=(f"the server may have stored events {ids}: sending them again with the same "
                              f"event_id is safe"),
            )
        except HHSessionError as exc:
            if sent:
                exc.message += before
                exc.args = (exc.message,)
            raise
        sent += len(chunk)
        if on_sent is not None:
            on_sent(chunk)
    return sent


def read_session(client: Requester, session_id: str) -> dict[str, Any]:
    """The session's event, with ``events``: every other event in it, oldest first."""
    session_id = check_session_id(session_id)
    answer = client.request(
        "GET", f"/v1/events/{session_id}", what=f"the read of session {session_id}", takes="event reads", read=True,
        not_found=(f"session {session_id} was not found at {client.api_url}; check the id, and that "
                   f"{client.setting('api_url')} is the server the session was started on"),
    )
    found = answer.json_object().get("event")
    if not isinstance(found, dict):
        raise NetworkError(f"GET /v1/events/{session_id} answered without an event object; check that "
                           f"{client.setting('api_url')} points at the HoneyHive API", status=answer.status)
    session = dict(found)
    events: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        query = {"filters": [{"field": "session_id", "operator": "is", "value": session_id, "type": "string"}],
                 "limit": PAGE_SIZE, "page": page}
        reply = client.request("POST", "/v1/events/search", query,
                               what=f"the search for the events of session {session_id}", takes="event searches", read=True)
        body = reply.json_object()
        listed = body.get("events")
        if not isinstance(listed, list):
            raise NetworkError(f"POST /v1/events/search answered without an events array; check that "
                               f"{client.setting('api_url')} points at the HoneyHive API", status=reply.status)
        new = 0
        for event in listed:
            if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
                continue
            key = event["event_id"].lower()
            if key != session_id and key not in events:
                events[key] = event
                new += 1
        total = body.get("count", body.get("totalEvents"))
        # The last page: short, nothing new (a server that repeats a page), or all counted.
        counted = isinstance(total, int | float) and not isinstance(total, bool)
        if len(listed) < PAGE_SIZE or not new or (counted and page * PAGE_SIZE >= total):
            break
        if len(events) >= MAX_EVENTS:
            raise NetworkError(f"session {session_id} holds more than {MAX_EVENTS} events as the server pages "
                               f"them; read it with POST /v1/events/search instead")
        page += 1
    session["events"] = sorted(events.values(), key=_start_of)
    return session


def _start_of(event: Mapping[str, Any]) -> tuple[float, str]:
    start = event.get("start_time")
    return (float(start) if isinstance(start, int | float) and not isinstance(start, bool) else 0.0,
            str(event.get("event_id")))
