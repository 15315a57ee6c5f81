"""``hhsession.Client``: the library every command and every Python caller uses.

::

    import hhsession

    with hhsession.Client.from_env() as hh:      # flag-less settings: env > profile > default
        s = hh.start(session_name="nightly", metadata={"run": 3})
        hh.end(s.session_id, outputs={"ok": True})

One request path serves every verb: ``Client.request`` owns auth, timeouts,
retries, the 429 gate, the answer bound (in the transport) and the mapping of
failures to errors with exit codes. ``start``, ``end`` and ``replay`` are the
payload builders of ``payload.py`` plus that path.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .answers import Answer, existing_session_note, server_message
from .errors import AnswerTooLarge, AuthError, HHSessionError, InvalidInput, NetworkError, RejectedError
from .payload import (
    BuiltSession,
    BuiltUpdate,
    Overrides,
    build_session,
    build_update,
    canonical_id,
    encode_payload,
    is_uuid,
    merge_documents,
    new_session_id,
)
from .redact import mask_secret, one_line, redact
from .retry import Gate, RetryPolicy, parse_retry_after
from .sessions import EndedSession, LoggedEvents, StartedSession
from .settings import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, NO_KEY_HINT, Settings, resolve_settings
from .times import Number, format_duration
from .urls import DEFAULT_API_URL, check_plain_http

if TYPE_CHECKING:
    from .events import BuiltEvent, SessionRead
    from .inputs import Record
    from .outcomes import Outcome, ReplaySummary
    from .transport import Attempt, Transport

SESSIONS_PATH = "/v1/sessions"
EVENTS_PATH = "/v1/events"
Log = Callable[[str], None]
#: How many start times ``end`` remembers for sessions this client started.
_REMEMBERED_STARTS = 10_000


class Client:
    """A HoneyHive client for sessions: start, end, replay. Thread-safe; a context manager.

    ``api_key`` may be left out for building payloads only; sending without one
    is an ``AuthError`` (exit code 3) before anything leaves the machine.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_url: str = DEFAULT_API_URL,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        source: str | None = None,
        allow_http: bool = False,
        retry: RetryPolicy | None = None,
        log: Log | None = None,
        warn: Log | None = None,
        environ: Mapping[str, str] | None = None,
        ca_bundle: str | None = None,
        ingestion_api_key: str | None = None,
    ) -> None:
        # A Python caller's values enter here, and are checked here, once.
        settings = Settings.of(api_key=api_key, api_url=api_url, timeout=timeout, max_retries=max_retries,
                               source=source, ingestion_api_key=ingestion_api_key)
        self._configure(settings, allow_http=allow_http, retry=retry, log=log, warn=warn, environ=environ,
                        ca_bundle=ca_bundle)

    def _configure(self, settings: Settings, *, allow_http: bool, retry: RetryPolicy | None, log: Log | None,
                   warn: Log | None, environ: Mapping[str, str] | None, ca_bundle: str | None) -> None:
        self.settings = settings
        self.api_key = settings.api_key
        #: What writes (start, end, update, events, replay) are sent with: the ingestion key when one is
        #: set, else the project key. Reads (``get``) always go with the project key.
        self.write_key = settings.ingestion_api_key or settings.api_key
        #: Every key this client holds: masked in whatever it shows.
        self.secrets = tuple(key for key in (settings.api_key, settings.ingestion_api_key) if key)
        self.api_url = settings.api_url
        self.source = settings.source
        self.allow_http = allow_http
        self.retry = retry or RetryPolicy(max_retries=settings.max_retries)
        # A 429 pauses every request of this client (every worker of a replay), on the policy's clock.
        self.gate = Gate(clock=self.retry.clock, sleep=self.retry.sleep)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.ca_bundle = ca_bundle
        self._log = log
        self._warn = warn
        self._lock = threading.Lock()
        self._transport: Transport | None = None
        self._pool_size = 1
        #: Give up (all requests of this client) once the server has refused every connection for
        #: this many seconds; None: never early. A replay sets it: a server that is down is not
        #: ground through record by record.
        self.refused_deadline: float | None = None
        self._refused_since: float | None = None
        self._starts: OrderedDict[str, Number] = OrderedDict()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_settings(
        cls, settings: Settings, *, allow_http: bool = False, log: Log | None = None, warn: Log | None = None,
        environ: Mapping[str, str] | None = None, retry: RetryPolicy | None = None, ca_bundle: str | None = None,
    ) -> Client:
        """A client for resolved settings (what the CLI does after reading its flags), trusted as they are."""
        client = cls.__new__(cls)
        client._configure(settings, allow_http=allow_http, retry=retry, log=log, warn=warn, environ=environ,
                          ca_bundle=ca_bundle)
        return client

    @classmethod
    def from_env(
        cls, profile: str | None = None, *, environ: Mapping[str, str] | None = None, allow_http: bool = False,
        log: Log | None = None, warn: Log | None = None,
    ) -> Client:
        """A client from the environment and the config file, as the CLI resolves them without flags.

        Each setting: environment (``HH_PROJECT_API_KEY``, ``HH_API_KEY``, ...) > the profile >
        the built-in default.
        """
        from .config import open_config

        environ = os.environ if environ is None else environ
        config = open_config(environ)
        client = cls.from_settings(resolve_settings({}, environ, config, profile=profile), allow_http=allow_http,
                                   log=log, warn=warn, environ=environ)
        for warning in config.permission_warnings():
            client.warn(warning)
        return client

    #: How messages name a setting: ``max_retries=`` for a Python caller; the command line makes its
    #: clients with ``"flag"`` (``--max-retries``).
    naming = "python"
    #: Told of every attempt as it ends: (HTTP status or None, seconds, a failure worth retrying). A
    #: replay with ``workers="auto"`` adapts its concurrency to these while it runs.
    on_attempt: Callable[[int | None, float, bool], None] | None = None

    def setting(self, name: str, value: str | None = None) -> str:
        """A setting (and a value for it) as the caller gives it: ``max_retries=`` or ``--max-retries``."""
        if self.naming == "flag":
            return f"--{name.replace('_', '-')}" + (f" {value}" if value is not None else "")
        return f"{name}=" + (repr(value) if value is not None else "")

    def __repr__(self) -> str:
        return f"Client(api_url={self.api_url!r}, api_key={mask_secret(self.api_key)!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    # ------------------------------------------------------------------ the one request path

    def say(self, message: str) -> None:
        """A line for ``--verbose`` (the ``log`` callback); nothing without one."""
        if self._log is not None:
            self._log(redact(message, self.secrets))

    def warn(self, message: str) -> None:
        """A warning for a person: to the ``warn`` callback, else Python's ``warnings``."""
        message = redact(message, self.secrets)
        if self._warn is not None:
            self._warn(message)
        else:
            import warnings

            warnings.warn(message, stacklevel=3)

    def check_ready(self, connections: int = 1) -> None:
        """Everything that must hold before anything is sent: a key, an acceptable transport; and
        ``connections`` kept alive (one per worker of a replay)."""
        self._ready(connections)

    def _ready(self, pool_size: int = 1, read: bool = False) -> Transport:
        if read and not self.api_key and self.write_key:
            raise AuthError("reading needs the project API key (an ingestion key only writes): set "
                            f"HH_PROJECT_API_KEY (or HH_API_KEY), or pass {self.setting('api_key')}")
        if read and self.api_key and self.api_key.startswith("hh_ingst_"):
            raise AuthError(f"the API key is an ingestion key (hh_ingst_...), which only writes; reading needs "
                            f"the project API key: set HH_PROJECT_API_KEY (or HH_API_KEY) or pass "
                            f"{self.setting('api_key')}, and give the ingestion key as HH_INGESTION_API_KEY")
        if not self.write_key:
            raise AuthError(NO_KEY_HINT)
        with self._lock:
            self._pool_size = max(self._pool_size, pool_size)
            transport = self._transport
            if transport is None or transport.pool_size < self._pool_size:
                warning = check_plain_http(self.api_url, self.allow_http, self.settings.origin("api_url"))
                if warning and transport is None:
                    self.warn(warning)
                from .transport import Transport

                transport = Transport(
                    self.api_url,
                    timeout=self.settings.timeout,
                    connect_timeout=self.settings.connect_timeout,
                    pool_size=self._pool_size,
                    environ=self.environ,
                    ca_file=self.ca_bundle,
                    headers={
                        "User-Agent": f"hhsession/{__version__}",
                        "Accept": "application/json",
                        "Accept-Encoding": "identity",
                        "Authorization": f"Bearer {self.write_key}",
                    },
                )
                if self._transport is not None:
                    self._transport.close()
                self._transport = transport
                if transport.proxy is not None:
                    from .urls import mask_proxy

                    self.say(f"through the proxy {mask_proxy(transport.proxy)}")
        return transport

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | bytes | None = None,
        *,
        what: str = "the request",
        takes: str = "requests",
        not_found: str | None = None,
        maybe_stored: str | None = None,
        read: bool = False,
        too_large: str | None = None,
        answer_limit: int | None = None,
    ) -> Answer:
        """Send one request, retrying what is safe to retry, with the same bytes every attempt.

        ``what`` names the object for messages ("the session"), ``takes`` what the
        path is for ("sessions"); ``not_found`` replaces the message for a 404, ``maybe_stored``
        the advice when giving up after an attempt the server may have carried out (its answer
        lost). ``read``: sent with the project key, not the ingestion key. ``answer_limit``: the most
        bytes of answer read; ``too_large`` the advice when the answer is larger. Returns a 2xx ``Answer``; raises
        ``AuthError`` (401/403), ``RejectedError`` (other 4xx), ``NetworkError``
        (connection, timeout, 5xx, 429, a redirect, after retries).
        """
        transport = self._ready(read=read)
        data = body if isinstance(body, bytes) or body is None else encode_payload(body)
        url = self.api_url + path
        headers = {"Content-Type": "application/json"} if data is not None else {}
        key = self.write_key
        if read and key != self.api_key:
            key = self.api_key
            headers["Authorization"] = f"Bearer {key}"
        policy = self.retry
        started = policy.clock()
        verbose = self._log is not None  # (the lines are not even built otherwise: a replay sends thousands)
        if verbose:
            self.say(f"{method} {url}")
            self.say(f"  Authorization: Bearer {mask_secret(key)}")
            if data is not None:
                self.say(f"  Content-Type: application/json; Content-Length: {len(data)}")
        attempt = 0
        maybe_delivered = False
        while True:
            attempt += 1
            held = self.gate.wait()
            if held:
                self.say(f"waited {held:.2f} s: the server asked the whole run to slow down")
            attempt_started = policy.clock()
            try:
                reply = transport.send(method, path, data, headers, answer_limit)
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM with the request in flight
                if maybe_stored:
                    exc.add_note(maybe_stored)
                raise
            delay: float | None = None
            if reply.status == 429:  # slow down: the gate closes for every worker before anything else
                header = reply.headers.get("Retry-After") if reply.headers is not None else None
                retry_after = parse_retry_after(header, policy.wall_clock())
                if retry_after is None or retry_after <= policy.max_retry_after:
                    delay = policy.wait_before(attempt, retry_after)
                    self.gate.hold(delay)
            took = policy.clock() - attempt_started
            if self.on_attempt is not None:
                self.on_attempt(reply.status, took, not reply.ok and reply.retryable)
            if verbose:
                self.say(f"attempt {attempt}/{policy.attempts}: {reply.problem or reply.status} "
                          f"after {took * 1000:.0f} ms")
            maybe_delivered = maybe_delivered or reply.maybe_delivered
            refused_for = self._note_refusal(reply.unreachable)
            if reply.ok:
                assert reply.status is not None
                return Answer(reply.status, reply.body, attempt, policy.clock() - started, self.secrets)
            if not reply.retryable:
                raise self._final_error(reply, method, url, what, takes, not_found, ingestion=key != self.api_key,
                                        advice=too_large or maybe_stored)

            header = reply.headers.get("Retry-After") if reply.headers is not None else None
            retry_after = parse_retry_after(header, policy.wall_clock())
            if retry_after is not None and retry_after > policy.max_retry_after:
                raise NetworkError(
                    f"{self._what(reply, method, url)}: the server asks to wait {_wait_text(retry_after)} "
                    f"(Retry-After: {header}), longer than hhsession waits; try again after "
                    f"{_after(policy.wall_clock(), retry_after)}",
                    status=reply.status,
                    retry_after=retry_after,
                )
            if self.refused_deadline is not None and refused_for >= self.refused_deadline:
                raise NetworkError(
                    f"{self._what(reply, method, url)}: the server has refused every connection for "
                    f"{refused_for:.0f} s; check that it is up and that the API URL ({self.api_url}) is right",
                    unreachable=True,
                    refused=True,
                )
            if delay is None:  # (a 429's was taken above, as the gate closed)
                delay = policy.wait_before(attempt, retry_after)
            if reply.unreachable and self.refused_deadline is not None:
                # Refused again and again: give up at the deadline, not a backoff later.
                delay = min(delay, max(0.05, self.refused_deadline - refused_for))
            if attempt >= policy.attempts:
                advice = (maybe_stored if maybe_delivered and maybe_stored else
                          f"check the server or the network and try again, or raise {self.setting('max_retries')}")
                raise NetworkError(
                    f"{self._what(reply, method, url)} ({_attempts(attempt)} over "
                    f"{policy.clock() - started:.1f} s); {advice}",
                    status=reply.status,
                    unreachable=reply.unreachable,
                    maybe_delivered=maybe_delivered,
                )
            why = f" (Retry-After: {header})" if retry_after is not None else ""
            self.say(f"waiting {delay:.2f} s before attempt {attempt + 1}{why}")
            policy.sleep(delay)

    def _note_refusal(self, refused: bool) -> float:
        """How long every attempt of this client has been refused (0: the last one was not)."""
        now = self.retry.clock()
        with self._lock:
            if not refused:
                self._refused_since = None
                return 0.0
            if self._refused_since is None:
                self._refused_since = now
            return now - self._refused_since

    def _what(self, reply: Attempt, method: str, url: str) -> str:
        return f"{method} {url} failed: {reply.problem}{self._detail(reply)}"

    def _detail(self, reply: Attempt) -> str:
        """The server's message as ": message", or "" when there was no answer or no message."""
        message = server_message(reply.body, self.secrets)
        return f": {message}" if message else ""

    def _final_error(
        self, reply: Attempt, method: str, url: str, what: str, takes: str, not_found: str | None,
        ingestion: bool = False, advice: str | None = None,
    ) -> HHSessionError:
        status = reply.status
        detail = self._detail(reply)
        if status is None:  # an answer too large: the server acted, and would answer alike again
            return AnswerTooLarge(f"{self._what(reply, method, url)}; "
                                  + (advice or f"a session event is a few KiB: check {self.setting('api_url')}"),
                                  maybe_delivered=reply.maybe_delivered)
        if 300 <= status < 400:
            location = (reply.headers or {}).get("Location", "(no Location header)")
            return NetworkError(
                f"the server answered {reply.problem} redirecting to {redact(location, self.secrets)}; "
                f"redirects are not followed (the API key would go along); set {self.setting('api_url')} to the final address",
                status=status,
            )
        if status in (401, 403) and ingestion:
            return AuthError(
                f"the server refused the ingestion API key for {method} {url} ({reply.problem}{detail}); check "
                f"HH_INGESTION_API_KEY, {self.setting('ingestion_api_key')}"
                + (" or `hhsession config set ingestion_api_key`" if self.naming == "flag" else ""),
                status=status,
            )
        if status in (401, 403):
            return AuthError(
                f"the server refused the API key for {method} {url} ({reply.problem}{detail}); check HH_PROJECT_API_KEY "
                f"(or HH_API_KEY), {self.setting('api_key')}"
                + (" or `hhsession config set api_key`" if self.naming == "flag" else ""),
                status=status,
            )
        if status == 404 and not_found:
            return RejectedError(f"{not_found} ({reply.problem}{detail})", status=status)
        if status in (404, 405):
            return RejectedError(
                f"the server rejected {what} ({reply.problem}{detail}); {url} does not take "
                f"{takes}: check {self.setting('api_url')} (the base URL, without /v1)",
                status=status,
            )
        if status == 413:
            return RejectedError(f"the server rejected {what} as too large ({reply.problem}{detail}); make its "
                                 f"inputs, outputs or metadata smaller (a large blob belongs in storage, by link)",
                                 status=status)
        if 400 <= status < 500:
            return RejectedError(f"the server rejected {what} ({reply.problem}{detail})", status=status)
        if status == 501:  # "not implemented": no HoneyHive API behind this URL
            return NetworkError(f"{self._what(reply, method, url)}; the server does not implement {method} "
                                f"there: it does not look like the HoneyHive API; check {self.setting('api_url')}",
                                status=status)
        return NetworkError(f"{self._what(reply, method, url)}; the server failed, try again later", status=status)

    # ------------------------------------------------------------------ start

    def build_start(
        self,
        document: Mapping[str, Any] | None = None,
        /,
        *,
        origin: str = "start()",
        overrides: Overrides | None = None,
        lenient: bool = False,
        make_id: Callable[[], str] = new_session_id,
        **fields: Any,
    ) -> BuiltSession:
        """The payload ``start`` would send, by the builder's rules; nothing is sent, no key needed."""
        _check_document(document, "start")
        if fields:
            document = merge_documents(document, fields)
        return build_session(
            defaults={"source": self.source} if self.source else None,
            document=document,
            origin=origin,
            overrides=overrides,
            lenient=lenient,
            make_id=make_id,
        )

    def start(self, document: Mapping[str, Any] | None = None, /, *, lenient: bool = False, **fields: Any) -> StartedSession:
        """Start a session from a document and/or fields (``session_name=``, ``metadata=``, ...).

        Bad input is ``InvalidInput`` (exit code 2) and nothing is sent.
        """
        built = self.build_start(document, lenient=lenient, **fields)
        for warning in built.warnings:
            self.warn(warning)
        return self.send_start(built)

    def send_start(self, built: BuiltSession | Mapping[str, Any], *, remember: bool = True) -> StartedSession:
        """Send a built payload: ``POST /v1/sessions``, the same bytes on every attempt.

        ``remember``: keep its start time, so that ``end`` knows the duration (a
        replay, which ends nothing, does not).
        """
        if isinstance(built, BuiltSession):
            payload, body = built.payload, built.body or encode_payload(built.payload)
        else:
            payload = dict(built)
            body = encode_payload(payload)
        sent_id = str(payload["session_id"])
        self.say(f"session_id: {sent_id}")
        answer = self.request(
            "POST", SESSIONS_PATH, body, what="the session", takes="sessions",
            # The server may hold the session: say how to finish without a second one.
            maybe_stored=(f"the server may have stored session {sent_id}: run again with the same session_id "
                          f"({self.setting('session_id', sent_id)}), which is safe (the server merges, never duplicates)"),
        )
        event = answer.json_object()
        answered = event.get("session_id")
        if answered is None:  # the legacy answer may hold nothing but the id; an empty one, not even that
            session_id = sent_id
        elif is_uuid(sent_id) and not (isinstance(answered, str) and answered.lower() == sent_id.lower()):
            # The client chose the id: an answer about another session is not this one's (a crossed
            # answer, a broken proxy); the session may still be stored under the id sent.
            raise NetworkError(
                f"the server answered for another session ({one_line(str(answered))[:80]}) than the one sent "
                f"({sent_id}), so it is not taken as stored; run again with {self.setting('session_id', sent_id)}, which is safe "
                f"(the server merges, never duplicates)",
                status=answer.status,
                maybe_delivered=True,
            )
        elif is_uuid(sent_id):  # the same id, however the server spelled it: the one chosen (as the journal keeps it)
            session_id = sent_id
        else:
            session_id = str(answered)
        started = StartedSession(
            session_id=session_id,
            event=event,
            payload=payload,
            attempts=answer.attempts,
            elapsed=answer.elapsed,
            note=existing_session_note(payload, event, built.defaulted if isinstance(built, BuiltSession) else ()),
        )
        if remember:
            self._remember_start(session_id, started.start_time)
        return started

    def _remember_start(self, session_id: str, start_time: Number) -> None:
        with self._lock:
            self._starts[session_id] = start_time
            while len(self._starts) > _REMEMBERED_STARTS:
                self._starts.popitem(last=False)

    # ------------------------------------------------------------------ end

    def build_end(
        self,
        session: str | StartedSession,
        document: Mapping[str, Any] | None = None,
        /,
        *,
        origin: str = "end()",
        overrides: Overrides | None = None,
        start_time: Any = None,
        start_origin: str = "start_time",
        lenient: bool = False,
        **fields: Any,
    ) -> BuiltUpdate:
        """The update ``end`` would send; nothing is sent, no key needed.

        ``start_time`` (any time the grammar reads) gives the duration; it is
        known without it for a session this client started.
        """
        session_id = session.session_id if isinstance(session, StartedSession) else canonical_id(session)
        if start_time is None:
            if isinstance(session, StartedSession):
                start_time = session.start_time
            else:
                with self._lock:
                    start_time = self._starts.get(session_id)
        _check_document(document, "end")
        if fields:
            document = merge_documents(document, fields)
        return build_update(
            session_id, document=document, origin=origin, overrides=overrides, start_time=start_time,
            start_origin=start_origin, lenient=lenient,
        )

    def end(
        self,
        session: str | StartedSession,
        document: Mapping[str, Any] | None = None,
        /,
        *,
        start_time: Any = None,
        lenient: bool = False,
        **fields: Any,
    ) -> EndedSession:
        """End a session: ``end_time`` now unless given, ``duration`` when the start is known,
        and any of ``outputs``, ``metadata``, ``feedback``, ``metrics``, ``config``,
        ``user_properties``, ``children_ids`` (``PUT /v1/events/{session_id}``)."""
        built = self.build_end(session, document, start_time=start_time, lenient=lenient, **fields)
        for warning in built.warnings:
            self.warn(warning)
        return self.send_end(built)

    def build_update(
        self,
        session: str | StartedSession,
        document: Mapping[str, Any] | None = None,
        /,
        *,
        origin: str = "update()",
        overrides: Overrides | None = None,
        lenient: bool = False,
        **fields: Any,
    ) -> BuiltUpdate:
        """The update ``update`` would send (no ``end_time``, no ``duration``); nothing is sent, no key needed."""
        session_id = session.session_id if isinstance(session, StartedSession) else session
        _check_document(document, "update")
        if fields:
            document = merge_documents(document, fields)
        return build_update(session_id, document=document, origin=origin, overrides=overrides, lenient=lenient,
                            ending=False)

    def update(
        self, session: str | StartedSession, document: Mapping[str, Any] | None = None, /, *, lenient: bool = False,
        **fields: Any,
    ) -> EndedSession:
        """Enrich a session and leave it running: any of ``outputs``, ``metadata``, ``feedback``,
        ``metrics``, ``config``, ``user_properties``, ``children_ids``, merged by the server as for
        ``end`` (``PUT /v1/events/{session_id}``), without ``end_time`` or ``duration``."""
        built = self.build_update(session, document, lenient=lenient, **fields)
        for warning in built.warnings:
            self.warn(warning)
        return self.send_end(built)

    def send_end(self, built: BuiltUpdate) -> EndedSession:
        """Send a built update: ``PUT /v1/events/{session_id}``, the same body on every attempt."""
        session_id = built.session_id
        answer = self.request(
            "PUT",
            f"{EVENTS_PATH}/{session_id}",
            built.body or encode_payload(built.payload),
            what=f"the update of session {session_id}",
            takes="event updates",
            not_found=(
                f"session {session_id} was not found at {self.api_url}; check the id, and that {self.setting('api_url')} "
                f"is the server the session was started on"
            ),
        )
        reply = answer.json()  # the vendor documents no body for this answer
        return EndedSession(
            session_id=session_id,
            update=built.payload,
            answer=reply if isinstance(reply, dict) else {},
            attempts=answer.attempts,
            elapsed=answer.elapsed,
        )

    # ------------------------------------------------------------------ inside a session

    def build_event(
        self, session: str | StartedSession, document: Mapping[str, Any] | None = None, /, *,
        origin: str = "event()", overrides: Overrides | None = None, lenient: bool = False,
        position: int | None = None, **fields: Any,
    ) -> BuiltEvent:
        """The event ``event`` would log into a session; nothing is sent, no key needed. ``position``:
        its place in an input, for an id derived from it (``hhsession.events.build_event``)."""
        from .events import build_event

        _check_document(document, "event")
        if fields:
            document = merge_documents(document, fields)
        session_id = session.session_id if isinstance(session, StartedSession) else session
        return build_event(session_id, defaults={"source": self.source} if self.source else None,
                           document=document, origin=origin, overrides=overrides, lenient=lenient,
                           position=position)

    def event(self, session: str | StartedSession, document: Mapping[str, Any] | None = None, /, *,
              lenient: bool = False, **fields: Any) -> LoggedEvents:
        """Log one event into a session (``event_type=``, ``event_name=``, ``inputs=``, ``outputs=``,
        ``metadata=``, ``metrics=``, ``duration=``, ``parent_id=``, ``error=``, ...). Its ``event_id`` is
        chosen before the first attempt, so a retry never logs it twice."""
        return self._log_events(session, [self.build_event(session, document, lenient=lenient, **fields)])

    def events(self, session: str | StartedSession, documents: Iterable[Mapping[str, Any] | Record], *,
               lenient: bool = False, overrides: Overrides | None = None, derive_ids: bool = False,
               on_sent: Callable[[list[BuiltEvent]], None] | None = None) -> LoggedEvents:
        """Log many events into a session: every one is checked first (a bad one is ``InvalidInput``
        and nothing is sent), then they go in batches (``POST /v1/sessions/{id}/events/batch``).
        ``derive_ids``: an event without ``event_id`` gets one derived from the session, its position
        and its content, so sending the same documents again logs none twice (as ``event -f`` does)."""
        built = self.build_events(session, documents, overrides=overrides, lenient=lenient, derive_ids=derive_ids)
        return self._log_events(session, built, on_sent)

    def _log_events(self, session: str | StartedSession, built: list[BuiltEvent],
                    on_sent: Callable[[list[BuiltEvent]], None] | None = None) -> LoggedEvents:
        from .events import send_events

        for event in built:
            for warning in event.warnings:
                self.warn(warning)
        session_id = session.session_id if isinstance(session, StartedSession) else canonical_id(session)
        if built:
            send_events(self, session_id, built, on_sent)
        return LoggedEvents(session_id=session_id, events=[event.payload for event in built])

    def build_events(self, session: str | StartedSession, documents: Iterable[Mapping[str, Any] | Record], *,
                     overrides: Overrides | None = None, lenient: bool = False,
                     derive_ids: bool = False) -> list[BuiltEvent]:
        """Every event ``events`` would log, built and checked; nothing is sent, no key needed. Two
        events with one ``event_id`` are refused: the server would keep one."""
        from .inputs import Record

        if isinstance(documents, str | bytes | Mapping) or not isinstance(documents, Iterable):
            raise InvalidInput(f"events(documents): expected an iterable of dicts, got {type(documents).__name__}")
        built = []
        seen: dict[str, str] = {}
        for index, document in enumerate(documents):
            origin = f"events[{index}]"
            if isinstance(document, Record):
                origin, value = document.location, document.value
                if document.error is not None:
                    raise InvalidInput(f"{origin}: {document.error}")
                document = value
            if not isinstance(document, Mapping):
                raise InvalidInput(f'{origin}: expected an object of event fields, e.g. {{"event_name": "tests"}}, '
                                   f"got {type(document).__name__}")
            event = self.build_event(session, document, origin=origin, overrides=overrides, lenient=lenient,
                                     position=index if derive_ids else None)
            if event.event_id in seen:
                raise InvalidInput(f"{origin}: event_id {event.event_id} is also the id of {seen[event.event_id]}; "
                                   f"the server would keep only one of them: give each event its own id, or none")
            seen[event.event_id] = origin
            built.append(event)
        return built

    def get(self, session: str | StartedSession) -> SessionRead:
        """A session as the server holds it, with ``events``: every other event in it, oldest first
        (``GET /v1/events/{id}``, then ``POST /v1/events/search`` by ``session_id``, every page).
        An unknown session is ``RejectedError`` (exit code 4). ``warnings`` says what the server's pages
        left unsure (counted events not listed, events of other sessions left out)."""
        from .events import read_session

        return read_session(self, session.session_id if isinstance(session, StartedSession) else session)

    # ------------------------------------------------------------------ replay

    def replay(
        self,
        records: Iterable[Record | Mapping[str, Any]],
        *,
        workers: int | str = "auto",
        rate: float | None = None,
        shard: tuple[int, int] | None = None,
        new_ids: bool = False,
        fail_fast: bool = False,
        dry_run: bool = False,
        lenient: bool = False,
        overrides: Overrides | None = None,
        journal: str | Path | None = None,
        failures: str | Path | None = None,
        on_result: Callable[[Outcome], None] | None = None,
    ) -> ReplaySummary:
        """Start one session per record, concurrently; see ``hhsession.replay``.

        ``records``: dicts, or ``hhsession.read_records(paths)``. With a
        ``journal`` the run is resumable and never starts a second session for
        a record. Failed records do not raise (see the summary, and
        ``failures``); a failure that stops the run (no key, a refused key, a
        server that cannot be reached) raises, carrying ``.summary``.
        """
        from .outcomes import ReplayOptions
        from .replay import run_replay

        if isinstance(records, str | bytes | Mapping) or not isinstance(records, Iterable):
            raise InvalidInput(f"replay(records): expected an iterable of dicts (a list, a generator, or "
                               f"hhsession.read_records(paths)), got {type(records).__name__}")
        if workers != "auto" and (isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 1024):
            raise InvalidInput(f"replay(workers=...): {workers!r} must be \"auto\" or a whole number from 1 to 1024")
        if shard is not None and not (
            isinstance(shard, tuple) and len(shard) == 2 and all(isinstance(n, int) for n in shard)
            and shard[1] >= 1 and 0 <= shard[0] < shard[1]
        ):
            raise InvalidInput(f"replay(shard=...): {shard!r} must be (K, N) with 0 <= K < N, e.g. (0, 4)")
        if rate is not None and not (isinstance(rate, int | float) and rate > 0):
            raise InvalidInput(f"replay(rate=...): {rate!r} must be a number of sessions per second above 0")
        options = ReplayOptions(
            workers=workers, rate=rate, shard=shard, new_ids=new_ids, fail_fast=fail_fast, dry_run=dry_run,
            lenient=lenient, overrides=overrides,
        )
        return run_replay(
            self, records, options,
            journal=Path(journal) if journal is not None else None,
            failures=Path(failures) if failures is not None else None,
            on_result=on_result,
        )


# --------------------------------------------------------------------------- helpers


def _check_document(document: object, call: str) -> None:
    if document is not None and not isinstance(document, Mapping):
        raise InvalidInput(f"{call}(document): expected a dict of session fields, e.g. {{'session_name': 'nightly'}}, "
                           f"got {type(document).__name__}")


def _wait_text(seconds: float) -> str:
    return format_duration(seconds * 1000) if seconds < 10 * 365 * 86400 else "years"


def _after(now: float, seconds: float) -> str:
    """The local time after which to try again, or a plain word for absurd waits."""
    try:
        when = datetime.fromtimestamp(now + seconds).astimezone()
    except (OverflowError, OSError, ValueError):
        return "a very long time (the server's Retry-After is out of range)"
    return when.isoformat(sep=" ", timespec="seconds")


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"
