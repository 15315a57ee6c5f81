"""The emulator itself: its routes' handlers, the store behind them, the server it runs."""

from __future__ import annotations

import hmac
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from ..redact import one_line
from .handler import Server
from .rules import (
    ROUTES,
    UPDATE_ANSWER,
    Answer,
    BadRequest,
    EventQuery,
    child_event,
    event_id_of,
    parse_json_object,
    parse_query,
    parse_update,
    read_back,
    server_event,
)
from .store import SessionStore


@dataclass
class Faults:
    fail_rate: float = 0.0
    fail_status: int = 503
    retry_after: float | None = None
    latency_ms: float = 0.0





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
            self.httpd = Server((host, port), self)
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

    def _get_session_legacy(self, match: re.Match[str], body: bytes) -> Answer:
        """The TypeScript SDK parses this answer as an Event: no null where the schema says number."""
        status, event, note = self._get_session(match, body)
        return status, read_back(event), note

    def _get_event(self, match: re.Match[str], body: bytes) -> Answer:
        event_id = event_id_of(match["event_id"])
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
        session_id = event_id_of(match["session_id"])
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
        session_id = event_id_of(session_id)
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
        note = (f"{len(events)} span(s) as events, from OTLP/{'protobuf' if protobuf else 'JSON'}"
                + (f", {rejected} naming no session" if rejected else ""))
        if protobuf:
            return 200, b"", note  # an ExportTraceServiceResponse with nothing to report is empty
        partial = ({"rejectedSpans": rejected, "errorMessage": "a span named no session (honeyhive.session_id)"}
                   if rejected else {})
        return 200, {"partialSuccess": partial}, note

    def _update_event(self, match: re.Match[str], body: bytes) -> Answer:
        return self._update(event_id_of(match["event_id"]), parse_json_object(body))

    def _update_event_legacy(self, match: re.Match[str], body: bytes) -> Answer:
        document = parse_json_object(body)
        if "event_id" not in document:
            raise BadRequest(400, "Invalid update: event_id is required in the body of PUT /events")
        return self._update(event_id_of(document["event_id"]), document)

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


