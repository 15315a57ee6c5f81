"""The HTTP client (SPEC §4–5): auth, timeouts, retries, error mapping.

Usable without the CLI::

    client = SessionsClient(api_url="http://127.0.0.1:8787", api_key="...")
    event = client.start_session(build_session(...).payload).event
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from . import __version__
from .errors import AuthError, HHSessionError, InvalidInput, NetworkError, RejectedError
from .payload import encode_payload
from .retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from .settings import mask_secret, redact
from .times import format_duration

SESSIONS_PATH = "/v1/sessions"
Log = Callable[[str], None]


class BearerAuth(requests.auth.AuthBase):
    """Setting an auth object stops requests from reading ``~/.netrc`` for this host."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.api_key}"
        return request


@dataclass
class StartResult:
    event: dict[str, Any]
    attempts: int
    elapsed: float

    @property
    def session_id(self) -> str:
        return str(self.event.get("session_id", ""))


@dataclass
class _Outcome:
    """What one attempt ended with: a response, or a failure to get one."""

    status: int | None = None
    headers: Mapping[str, str] | None = None
    body: bytes = b""
    problem: str = ""
    retryable: bool = False


class SessionsClient:
    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        log: Log | None = None,
        session: requests.Session | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self.retry = retry or RetryPolicy()
        self.log = log
        self.http = session or requests.Session()
        # trust_env stays on for proxies and REQUESTS_CA_BUNDLE; netrc cannot win
        # because an auth object is set.
        self.http.auth = BearerAuth(api_key)
        # TLS is always verified; a private CA comes from REQUESTS_CA_BUNDLE (which
        # requests reads itself) or SSL_CERT_FILE (which it does not, so we do).
        self.verify: bool | str = (
            ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or True
        )
        self.http.headers.update(
            {"User-Agent": f"hhsession/{__version__}", "Accept": "application/json"}
        )

    def close(self) -> None:
        self.http.close()

    def _say(self, message: str) -> None:
        if self.log:
            self.log(redact(message, self.api_key))

    # ------------------------------------------------------------------ one attempt

    def _attempt(self, url: str, body: bytes) -> _Outcome:
        try:
            response = self.http.post(
                url,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=(self.connect_timeout, self.timeout),
                allow_redirects=False,
                verify=self.verify,
            )
        except requests.exceptions.SSLError as exc:
            raise NetworkError(
                f"TLS verification failed for {url}: {_reason(exc)}; if you use a private CA, "
                f"point REQUESTS_CA_BUNDLE or SSL_CERT_FILE at its certificate"
            ) from None
        except requests.exceptions.ConnectTimeout:
            return _Outcome(problem=f"could not connect within {self.connect_timeout:g} s", retryable=True)
        except requests.exceptions.ReadTimeout:
            return _Outcome(problem=f"no response within {self.timeout:g} s (read timeout)", retryable=True)
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            return _Outcome(problem=_reason(exc), retryable=True)
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
            raise InvalidInput(f"invalid API URL {self.api_url!r}: {exc}; check --api-url") from None
        status = response.status_code
        return _Outcome(
            status=status,
            headers=response.headers,
            body=response.content,
            problem=f"{status} {response.reason or ''}".strip(),
            retryable=status in RETRY_STATUSES,
        )

    # ------------------------------------------------------------------ the retry loop

    def start_session(self, payload: Mapping[str, Any]) -> StartResult:
        """POST the session, retrying what is safe to retry, with the same bytes each time."""
        url = self.api_url + SESSIONS_PATH
        body = encode_payload(payload)
        policy = self.retry
        started = policy.clock()
        self._say(f"POST {url}")
        self._say(f"  Authorization: Bearer {mask_secret(self.api_key)}")
        self._say(f"  Content-Type: application/json; Content-Length: {len(body)}")
        self._say(f"  session_id: {payload.get('session_id')}")
        attempt = 0
        while True:
            attempt += 1
            if policy.gate is not None:
                held = policy.gate.wait()
                if held:
                    self._say(f"waited {held:.2f} s: the server asked the whole run to slow down")
            attempt_started = policy.clock()
            outcome = self._attempt(url, body)
            took = policy.clock() - attempt_started
            self._say(
                f"attempt {attempt}/{policy.attempts}: {outcome.problem or outcome.status} "
                f"after {took * 1000:.0f} ms"
            )
            if outcome.status is not None and 200 <= outcome.status < 300:
                event = _parse_event(outcome)
                return StartResult(event=event, attempts=attempt, elapsed=policy.clock() - started)
            if not outcome.retryable:
                raise self._final_error(outcome, url)

            header = outcome.headers.get("Retry-After") if outcome.headers is not None else None
            retry_after = parse_retry_after(header, policy.wall_clock())
            if retry_after is not None and retry_after > policy.max_retry_after:
                raise NetworkError(
                    f"{self._what(outcome)}: the server asks to wait {_wait_text(retry_after)} "
                    f"(Retry-After: {header}), longer than hhsession waits; try again after "
                    f"{_after(policy.wall_clock(), retry_after)}",
                    status=outcome.status,
                )
            delay = policy.wait_before(attempt, retry_after)
            if outcome.status == 429 and policy.gate is not None:
                policy.gate.hold(delay)  # the server said slow down: every worker waits, not just this one
            if attempt >= policy.attempts:
                raise NetworkError(
                    f"{self._what(outcome)} ({_attempts(attempt)} over {policy.clock() - started:.1f} s); "
                    f"check the server or the network and try again, or raise --max-retries",
                    status=outcome.status,
                )
            why = f" (Retry-After: {header})" if retry_after is not None else ""
            self._say(f"waiting {delay:.2f} s before attempt {attempt + 1}{why}")
            policy.sleep(delay)

    def _what(self, outcome: _Outcome) -> str:
        return f"POST {self.api_url}{SESSIONS_PATH} failed: {outcome.problem}{_detail(outcome)}"

    def _final_error(self, outcome: _Outcome, url: str) -> HHSessionError:
        status = outcome.status
        detail = _detail(outcome)
        if status is None:  # pragma: no cover - only retryable problems have no status
            return NetworkError(self._what(outcome))
        if 300 <= status < 400:
            location = (outcome.headers or {}).get("Location", "(no Location header)")
            return NetworkError(
                f"the server answered {outcome.problem} redirecting to {location}; redirects are "
                f"not followed (the API key would go along); set --api-url to the final address",
                status=status,
            )
        if status in (401, 403):
            return AuthError(
                f"the server refused the API key ({outcome.problem}{detail}); check HH_API_KEY, "
                f"--api-key or `hhsession config set api_key`"
            )
        if status in (404, 405):
            return RejectedError(
                f"the server rejected the session ({outcome.problem}{detail}); {url} does not take "
                f"sessions: check --api-url (the base URL, without /v1)",
                status=status,
            )
        if 400 <= status < 500:
            return RejectedError(f"the server rejected the session ({outcome.problem}{detail})", status=status)
        return NetworkError(f"{self._what(outcome)}; the server failed, try again later", status=status)


def existing_session_note(payload: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    """Say so when the server answered with a session that already existed.

    The server is idempotent on session_id: for an id it already has, it merges
    metadata and user_properties and returns the existing event, silently
    ignoring every other field that was sent. (A retry after a lost response
    gets back exactly what was sent, so it is not flagged.)
    """
    sent_id, got_id = payload.get("session_id"), event.get("session_id")
    if got_id and sent_id and got_id != sent_id:
        return f"the server stored the session under {got_id}, not the id sent ({sent_id})"

    def differs(key: str) -> bool:
        sent, got = payload.get(key), event.get(key)
        if sent is None or got is None:
            return False
        if key in ("start_time", "end_time", "duration") and isinstance(got, int | float):
            return bool(abs(got - sent) >= 1)  # the server may keep whole milliseconds only
        return bool(got != sent)

    differing = [key for key in ("session_name", "event_name", "source", "start_time", "end_time", "duration") if differs(key)]
    if not differing:
        return None
    return (
        f"session {sent_id} already existed: the server kept its {', '.join(differing)} and merged only "
        f"metadata and user_properties; use a new --session-id (or none) to start a new session"
    )


def _parse_event(outcome: _Outcome) -> dict[str, Any]:
    try:
        event = json.loads(outcome.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        event = None
    if not isinstance(event, dict):
        shown = outcome.body[:200].decode("utf-8", "replace")
        raise NetworkError(
            f"the server answered {outcome.status} but not with a JSON object: {shown!r}; "
            f"check --api-url points at the HoneyHive API",
            status=outcome.status,
        )
    return event


def _detail(outcome: _Outcome) -> str:
    """The server's message as ": message", or "" when there was no answer or no message."""
    message = _server_message(outcome.body)
    return f": {message}" if message else ""


def _server_message(body: bytes) -> str:
    """The ``message`` of the documented error body, else the start of the body."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        message = parsed.get("message") or parsed.get("error")
        if isinstance(message, str | int | float) and str(message):
            return str(message)[:500]
    return " ".join(text[:200].split())


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


def _reason(exc: BaseException) -> str:
    """A short reason from a requests exception (which wraps urllib3's)."""
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "DNS lookup failed"),
        ("nodename nor servname", "DNS lookup failed"),
        ("Temporary failure in name resolution", "DNS lookup failed"),
        ("RemoteDisconnected", "the server closed the connection without answering"),
        ("Connection reset", "connection reset by the server"),
        ("Connection aborted", "connection closed by the server"),
        ("IncompleteRead", "connection closed while reading the response"),
        ("Response ended prematurely", "connection closed while reading the response"),
        ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed"),
        ("Network is unreachable", "network is unreachable"),
    ):
        if needle in text:
            return reason
    return " ".join(text.split())[:200]

