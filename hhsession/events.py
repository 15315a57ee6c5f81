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

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from .errors import AnswerTooLarge, HHSessionError, InvalidInput, NetworkError
from .payload import (
    MAX_INPUT_BYTES,
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
from .times import MAX_TIME_MS, Clock

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
#: Events asked for per page when reading a session (``SearchEventsRequest`` allows up to 1000; an
#: event with a long chat in its inputs is tens of KiB). A power of two: a page too large is asked
#: again in halves.
PAGE_SIZE = 256
#: The most bytes read of one page, and of every page together: a server that never stops paging,
#: or pages gigabytes, is not followed.
PAGE_BYTES = 64 * 1024 * 1024
READ_BYTES = 128 * 1024 * 1024
#: The session's own event, as ``start`` may send it (16 MiB) and the server echo it.
SESSION_BYTES = 3 * MAX_INPUT_BYTES
#: A session holds at most this many events as read back.
MAX_EVENTS = 200_000


class BuiltEvent:
    """The body of one event: the payload, what the builder had to say, and its bytes."""

    __slots__ = ("payload", "warnings", "body", "fixed")

    def __init__(self, payload: dict[str, Any], warnings: list[str], body: bytes, fixed: bool = True) -> None:
        self.payload, self.warnings, self.body = payload, warnings, body
        #: The id is the input's, or derived from it: sending the same input again names the same event.
        self.fixed = fixed

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
    position: int | None = None,
) -> BuiltEvent:
    """One event inside ``session_id``: the layers merged (defaults, a document, the flags), the
    server's defaults filled in, and what it would silently replace or ignore refused.

    ``position``: the event's place in the input it was read from. An event that names no id, and whose
    times the input gives (not now, nor relative to now), then gets one derived from the session, the
    position and the content (``derived_event_id``): sending the same input into the same session again
    names the same events, so none is logged twice. Without times an event is "now": each sending is
    another event, and it gets a new random id (two identical steps logged by two runs stay two)."""
    session_id = check_session_id(session_id)
    warnings: list[str] = []
    layer2 = check_document(dict(document or {}), EVENT, origin, lenient, warnings)
    merged, where = merge_layers(EVENT, defaults, layer2, origin, overrides or Overrides())

    given_session = merged.pop("session_id", None)
    if given_session is not None and canonical_id(given_session) != session_id:
        raise InvalidInput(f"{where('session_id')}: {given_session!r} is not the session the events go into "
                           f"({session_id}); drop it, or log the event into that session")
    event_id = merged.get("event_id")
    given_id = event_id is not None
    if event_id is not None and not is_uuid(event_id):
        if not lenient:
            raise InvalidInput(
                f"{where('event_id')}: {event_id!r} is not a UUID; the server would replace it and a retry "
                f"could log the event twice; fix it, drop it, or pass --lenient (lenient=True in Python)"
            )
        replacement = make_id()  # (SPEC: a new UUIDv4; the same invalid id may name two different events)
        warnings.append(f"{where('event_id')}: {event_id!r} is not a UUID; using {replacement} instead")
        event_id, given_id = replacement, False
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

    now_read = False

    def reading_now() -> float:  # the times depend on when they are built: an event of "now"
        nonlocal now_read
        now_read = True
        return clock()

    times, duration, _ = resolve_times(merged, where, reading_now)
    if "end_time" not in times and duration is not None:  # the server completes one from the other
        times["end_time"] = whole_ms(times["start_time"] + duration)
        if times["end_time"] > MAX_TIME_MS:
            raise InvalidInput(f"{where('duration')}: {str(duration)[:20]} ms puts end_time (start_time + duration) after "
                               f"the year 9999; check its units (a number is milliseconds; 90s, 5m, 1h)")
    payload: dict[str, Any] = {
        "event_id": (event_id or "").lower(),
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
    derived = not event_id and position is not None and not now_read
    if not event_id:
        payload["event_id"] = derived_event_id(payload, position) if derived and position is not None else make_id()
    if payload["event_id"] == session_id:
        raise InvalidInput(f"{where('event_id')}: is the session's own id; an event inside it needs its own "
                           f"(leave event_id out for a new one)")
    if payload["parent_id"] == payload["event_id"]:
        raise InvalidInput(f"{where('parent_id')}: is the event's own id; an event's parent is the session or "
                           f"another event (leave parent_id out for the session)")
    return BuiltEvent(payload, warnings, encode_payload(payload, origin), fixed=given_id or derived)


def derived_event_id(payload: Mapping[str, Any], position: int) -> str:
    """A UUID (version 5) named by an event's session, its position in its input and its content (its
    times included: an event at another moment is another event)."""
    content = {key: value for key, value in payload.items() if key != "event_id"}
    name = json.dumps([position, content], sort_keys=True, default=str)
    return str(uuid.uuid5(uuid.UUID(str(payload["session_id"])), name))


# --------------------------------------------------------------------------- sending and reading


class Requester(Protocol):
    """What these functions need of ``hhsession.Client``."""

    api_url: str

    def request(self, method: str, path: str, body: Mapping[str, Any] | bytes | None = None, *,
                what: str = ..., takes: str = ..., not_found: str | None = ...,
                maybe_stored: str | None = ..., read: bool = ..., too_large: str | None = ...,
                answer_limit: int | None = ...) -> Any: ...

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
        ids = f"{chunk[0].event_id}..{chunk[-1].event_id}" if len(chunk) > 1 else chunk[0].event_id
        if all(event.fixed for event in chunk):
            again = "sending the same events again (the same command) is safe: each keeps its event_id"
        else:
            again = ("some had new ids (an event without an event_id or times of its own is an event of now), "
                     "so sending them again may log those twice; to make a rerun safe, give each event its "
                     "event_id or start_time (--event-id, --start-time for one event)")
        try:
            answer = client.request(
                "POST", path, body, what=f"events {ids}", takes="event batches",
                not_found=(f"session {session_id} was not found at {client.api_url}; start it first "
                           f"(`hhsession start`), or check the id and {client.setting('api_url')}"),
                maybe_stored=f"the server may have stored events {ids}; {again}",
            )
            _check_stored(answer, chunk, ids, client.setting("api_url"), again)
        except HHSessionError as exc:
            if sent:
                exc.message += f"; the {sent} event(s) before them were stored"
                exc.args = (exc.message,)
            raise
        sent += len(chunk)
        if on_sent is not None:
            on_sent(chunk)
    return sent


def _check_stored(answer: Any, chunk: list[BuiltEvent], ids: str, api_url: str, again: str) -> None:
    """A batch's answer says it stored these events: a JSON object, with no ``success`` other than true
    nor an error ``statusCode``, and the ids it names (when it names them) the ids sent. Else a server
    failure (exit 5) that may have stored them."""
    try:
        reply = answer.json_object()
    except NetworkError as exc:
        exc.message += f"; the events {ids} may have been stored; {again}"
        exc.args = (exc.message,)
        raise
    named = reply.get("event_ids")
    status = reply.get("statusCode")
    if "success" in reply and reply["success"] is not True:
        problem = f"success: {json.dumps(reply['success'])}"[:60]
    elif isinstance(status, int) and not isinstance(status, bool) and status >= 400:
        problem = f"statusCode {status} in its body"
    elif named is not None and not isinstance(named, list):
        problem = "event_ids that is not a list"
    elif isinstance(named, list) and sorted(str(one).lower() for one in named) != sorted(e.event_id for e in chunk):
        problem = f"the ids of other events ({len(named)} named, {len(chunk)} sent)"
    else:
        return
    raise NetworkError(f"the server answered {answer.status} to events {ids} but with {problem}; they may or may "
                       f"not be stored: check {api_url} and read the session back with `hhsession get`; {again}",
                       status=answer.status)


class SessionRead(dict[str, Any]):
    """A session as read back (its event, with ``events``), and ``warnings``: what the server's pages
    left unsure (events counted but not sent, events of other sessions left out)."""

    def __init__(self, event: Mapping[str, Any], warnings: list[str]) -> None:
        super().__init__(event)
        self.warnings = warnings


def read_session(client: Requester, session_id: str) -> SessionRead:
    """The session's event, with ``events``: every other event in it, oldest first.

    Bounded against a broken or hostile server: the session's event up to ``3 x MAX_INPUT_BYTES`` (what
    ``start`` may send, echoed); a page up to ``PAGE_BYTES`` (a larger one is asked again in halves, down
    to one event a page, growing back after); ``READ_BYTES`` and ``MAX_EVENTS`` in all; no page past one more than the
    server's count needs, nor after a full page that is mostly what came before."""
    session_id = check_session_id(session_id)
    api_url = client.setting("api_url")
    answer = client.request(
        "GET", f"/v1/events/{session_id}", what=f"the read of session {session_id}", takes="event reads", read=True,
        not_found=(f"session {session_id} was not found at {client.api_url}; check the id, and that "
                   f"{api_url} is the server the session was started on (its base URL, without /v1)"),
        answer_limit=SESSION_BYTES,
        too_large=f"a session's event is at most {SESSION_BYTES // 2**20} MiB as hhsession sends it: check {api_url}",
    )
    found = answer.json_object().get("event")
    if not isinstance(found, dict):
        raise NetworkError(f"GET /v1/events/{session_id} answered without an event object; check that "
                           f"{api_url} points at the HoneyHive API", status=answer.status)
    named = {str(found[key]).lower() for key in ("event_id", "session_id") if found.get(key) is not None}
    if named - {session_id}:
        raise NetworkError(f"GET /v1/events/{session_id} answered with another event ({', '.join(sorted(named))}); "
                           f"check that {api_url} points at the HoneyHive API", status=answer.status)
    warnings: list[str] = []
    events: dict[str, dict[str, Any]] = {}
    listed_ids: set[str] = set()  # every event id the pages named, the session's own too
    foreign = unreadable = 0
    read = offset = 0
    size = PAGE_SIZE
    total: int | None = None
    while True:
        page = offset // size + 1  # (a size halves, or doubles at a multiple of it: whole pages always)
        query = {"filters": [{"field": "session_id", "operator": "is", "value": session_id, "type": "string"}],
                 "limit": size, "page": page}
        try:
            reply = client.request("POST", "/v1/events/search", query, answer_limit=PAGE_BYTES, read=True,
                                   what=f"the search for the events of session {session_id}", takes="event searches")
        except AnswerTooLarge as exc:
            if size == 1:
                exc.message = (f"event {offset + 1} of session {session_id}, as the server lists them, is larger "
                               f"than {PAGE_BYTES // 2**20} MiB; hhsession reads no larger answer")
                exc.args = (exc.message,)
                raise
            size //= 2  # the same events, in smaller pages
            continue
        read += len(reply.body)
        body = reply.json_object()
        listed = body.get("events")
        if not isinstance(listed, list):
            raise NetworkError(f"POST /v1/events/search answered without an events array; check that "
                               f"{api_url} points at the HoneyHive API", status=reply.status)
        count = body.get("count", body.get("totalEvents"))
        if total is None and isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            total = count
        new = 0
        for event in listed:
            if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
                unreadable += 1
                continue
            key = event["event_id"].lower()
            if key in listed_ids:
                continue
            listed_ids.add(key)
            new += 1
            owner = event.get("session_id")
            if isinstance(owner, str) and owner.lower() != session_id:
                foreign += 1
            elif key != session_id:
                events[key] = event
        offset += size
        if len(listed) < size or (total is not None and len(listed_ids) >= total):
            break  # the last page, or all counted
        if 2 * new < len(listed):  # a full page, mostly repeats (or not events): the server pages badly
            if total is None:
                warnings.append(f"page {page} of the events of session {session_id} repeated most of what came "
                                f"before; hhsession stopped there, and the list may be incomplete")
            break
        if total is not None and offset >= total + size:
            break  # one page more than the count needs (a session that grows while it is read): no more
        if size < PAGE_SIZE and offset % (2 * size) == 0:
            size *= 2  # past a large event: back towards full pages, as the offset allows
        if read > READ_BYTES or len(listed_ids) >= MAX_EVENTS:
            raise NetworkError(
                f"the events of session {session_id} passed {read // 2**20} MiB or {len(listed_ids)} events after "
                f"{page} page(s){'' if total is None else f' ({total} counted)'}; hhsession reads no more of a "
                f"session (at most {READ_BYTES // 2**20} MiB, {MAX_EVENTS} events): read them with "
                f"POST /v1/events/search", status=reply.status)
    if total is not None and len(listed_ids) != total:
        warnings.append(f"the server counted {total} event(s) in session {session_id} but its pages listed "
                        f"{len(listed_ids)}; the session may be changing (read it again), or the server pages badly")
    if unreadable:
        warnings.append(f"the server listed {unreadable} item(s) that are not events (an object with a string "
                        f"event_id) for session {session_id}; they are left out")
    if foreign:
        warnings.append(f"the server listed {foreign} event(s) of other sessions for session {session_id}; "
                        f"they are left out")
    session = SessionRead(found, warnings)
    session["events"] = sorted(events.values(), key=_start_of)
    return session


def _start_of(event: Mapping[str, Any]) -> tuple[int | float, str]:
    start = event.get("start_time")  # compared as it is: a huge int is no float
    if isinstance(start, int | float) and not isinstance(start, bool) and start == start:
        return (start, str(event.get("event_id")))
    return (0, str(event.get("event_id")))
