"""One HTTP attempt, and nothing more (SPEC §4–5): no retries, no error texts for people.

The client's one request path (``client.Client.request``) calls ``Transport.send``
once per attempt. It speaks urllib3 directly (requests' own transport: a
``requests.Session`` costs several times more CPU per call, and importing it
twice the time). What requests did for us is done here, by the SPEC's rules:

- proxies from ``https_proxy``/``http_proxy``/``all_proxy`` (either case) and
  ``no_proxy`` (``urls.proxy_for``), except that a loopback URL is always sent directly;
- TLS always verified, against ``Client(ca_bundle=...)``, ``REQUESTS_CA_BUNDLE``,
  ``SSL_CERT_FILE`` or ``CURL_CA_BUNDLE``, else certifi's bundle (what requests
  used), else the system's;
- no ``~/.netrc``, no redirects, no content decoding (we ask for identity);
- only final answers: an interim ``1xx`` is skipped (``_FinalAnswer``), and a
  connection whose answer was not read to its end is closed, never reused.

And what it never did: an answer is read up to ``MAX_ANSWER_BYTES``, and every
attempt has one deadline (connect plus read timeout) that a slow drip of bytes
cannot push back. A watchdog thread shuts the socket of an attempt that is
past it, wherever that attempt is blocked (headers or body).
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from .errors import InvalidInput, NetworkError
from .redact import one_line
from .retry import RETRY_STATUSES
from .urls import mask_proxy, proxy_for

#: An answer larger than this, or than three times the body sent (a session event
#: echoes its inputs and outputs: up to 16 MiB of them), is a server failure.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
ANSWER_PER_BODY = 3


class Attempt:
    """What one attempt ended with: an answer, or a problem before one arrived."""

    __slots__ = ("status", "headers", "body", "problem", "retryable", "unreachable", "maybe_delivered")

    def __init__(self, status: int | None = None, headers: Mapping[str, str] | None = None, body: bytes = b"",
                 problem: str = "", retryable: bool = False, unreachable: bool = False,
                 maybe_delivered: bool = False) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        #: For people: "503 Service Unavailable", "connection refused", ...
        self.problem = problem
        self.retryable = retryable
        #: The server could not be reached at all (refused, DNS, no route): the
        #: request never left, and every other request will likely fail alike.
        self.unreachable = unreachable
        #: The request may have reached the server without its answer reaching us
        #: (a timeout or a dropped connection after sending, a gateway's 502/504).
        self.maybe_delivered = maybe_delivered

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# --------------------------------------------------------------------------- deadlines


class _Watch:
    __slots__ = ("deadline", "seq", "sock", "active", "fired")

    def __init__(self, deadline: float, seq: int) -> None:
        self.deadline = deadline
        self.seq = seq
        self.sock: socket.socket | None = None
        self.active = True
        self.fired = False

    def __lt__(self, other: _Watch) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


class _Watchdog:
    """Shuts the socket of any attempt still running at its deadline.

    One thread for the whole process, started on first use; it sleeps until
    the earliest deadline. Attempts that finish in time only mark their entry
    inactive (no wake-up, no lock held for long): this costs next to nothing
    per request.
    """

    def __init__(self) -> None:
        self._heap: list[_Watch] = []
        self._cond = threading.Condition(threading.Lock())
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._sweep_at = 1024

    def watch(self, deadline: float) -> _Watch:
        entry = _Watch(deadline, next(self._seq))
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hhsession-deadlines", daemon=True)
                self._thread.start()
            if len(self._heap) >= self._sweep_at:
                # Thousands of requests a second, each done long before its deadline: drop the finished
                # ones now and then, so the heap holds about the attempts running, not a timeout's worth.
                self._heap = [watch for watch in self._heap if watch.active]
                heapq.heapify(self._heap)
                self._sweep_at = max(1024, 2 * len(self._heap))
            earliest = not self._heap or entry < self._heap[0]
            heapq.heappush(self._heap, entry)
            if earliest:
                self._cond.notify()
        return entry

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and not self._heap[0].active:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0].deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                entry = heapq.heappop(self._heap)
            with _FIRING:  # not between an attempt's end and its connection's return to the pool
                if not entry.active:
                    continue
                entry.fired = True
                sock = entry.sock
                if sock is not None:
                    try:
                        # The plain socket's shutdown, also for TLS: SSLSocket.shutdown
                        # would drop its TLS state under the reading thread's feet.
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)
                    except OSError:
                        pass


_WATCHDOG = _Watchdog()
_FIRING = threading.Lock()
_current = threading.local()


def _watched(sock: Any) -> None:
    """Put the socket of the attempt running on this thread under the watchdog."""
    entry: _Watch | None = getattr(_current, "watch", None)
    if entry is not None:
        entry.sock = sock
        if entry.fired:  # the deadline passed while connecting or sending
            raise TimeoutError("deadline")


#: What OpenSSL says when the other end answered a TLS hello with something else (plain http).
_NOT_TLS = ("WRONG_VERSION_NUMBER", "WRONG VERSION NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
            "UNKNOWN_PROTOCOL")


class _FinalAnswer(http.client.HTTPResponse):
    """A response that is the final answer: interim ``1xx`` answers before it are read and dropped.

    ``http.client`` skips ``100 Continue`` only, and takes a ``102 Processing``
    or ``103 Early Hints`` for the answer (RFC 9110 §15.2: a client must parse
    any number of them before the final one); the real answer would then stay
    in the socket and be read as the next request's on the same connection.
    ``_read_status`` is the hook ``http.client`` and urllib3 both read the
    status line through.
    """

    def _read_status(self) -> tuple[str, int, str]:
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 102 <= status < 200:  # (100: skipped by http.client itself; 101: never asked for)
                return version, status, reason
            http.client.parse_headers(self.fp)  # the interim answer's header fields: read, and dropped


class _WatchedHTTPConnection(HTTPConnection):
    response_class = _FinalAnswer

    def _new_conn(self) -> Any:
        sock = super()._new_conn()
        _watched(sock)  # from its creation: a proxy's CONNECT answer is read before any response
        return sock

    def getresponse(self) -> Any:
        _watched(self.sock)  # a kept-alive connection was made by an earlier attempt
        return super().getresponse()


class _WatchedHTTPSConnection(HTTPSConnection):
    response_class = _FinalAnswer

    def _new_conn(self) -> Any:
        sock = super()._new_conn()
        _watched(sock)
        return sock

    def getresponse(self) -> Any:
        _watched(self.sock)
        return super().getresponse()


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


# --------------------------------------------------------------------------- TLS


def ca_bundle(environ: Mapping[str, str], explicit: str | None = None) -> str | None:
    """The CA file (or directory) TLS is verified against, as requests chose it; None: the system's store."""
    chosen = (explicit or environ.get("REQUESTS_CA_BUNDLE") or environ.get("SSL_CERT_FILE")
              or environ.get("CURL_CA_BUNDLE"))  # the last as requests read it
    if chosen:
        return chosen
    try:
        import certifi
    except ImportError:  # pragma: no cover - a dependency of hhsession
        return None
    return str(certifi.where())


# --------------------------------------------------------------------------- the transport


class Transport:
    """Keep-alive connections to one server; ``send`` makes one attempt. Thread-safe."""

    def __init__(
        self,
        api_url: str,
        *,
        timeout: float,
        connect_timeout: float,
        pool_size: int = 1,
        environ: Mapping[str, str] | None = None,
        ca_file: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.api_url = api_url.rstrip("/")
        self._path = urlsplit(self.api_url).path  # a base URL may have a path prefix (a gateway)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_answer_bytes = max_answer_bytes
        self.pool_size = max(1, pool_size)
        self.headers = dict(headers or {})
        self.proxy = proxy_for(self.api_url, environ)
        kwargs: dict[str, Any] = {
            "num_pools": 2,
            "maxsize": self.pool_size,
            "block": False,
            "retries": False,
            "timeout": urllib3.Timeout(connect=self.connect_timeout, read=self.timeout),
        }
        if urlsplit(self.api_url).scheme == "https":
            kwargs["cert_reqs"] = "CERT_REQUIRED"
            bundle = ca_bundle(environ, ca_file)
            if bundle is not None:
                if not os.path.exists(bundle):
                    raise InvalidInput(
                        f"the CA bundle {bundle} does not exist; fix Client(ca_bundle=...), REQUESTS_CA_BUNDLE, "
                        f"SSL_CERT_FILE or CURL_CA_BUNDLE, whichever names it"
                    )
                kwargs["ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"] = bundle  # a hashed directory, or a file
        manager: urllib3.PoolManager
        if self.proxy is not None:
            proxy = urlsplit(self.proxy)
            if proxy.scheme not in ("http", "https"):
                raise InvalidInput(
                    f"proxy {mask_proxy(self.proxy)} ({proxy.scheme}) is not supported, only http(s) proxies; "
                    f"unset it, or add {urlsplit(self.api_url).hostname} to NO_PROXY"
                )
            proxy_headers = {}
            if proxy.username is not None:
                credentials = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
                proxy_headers = urllib3.make_headers(proxy_basic_auth=credentials)
            plain = proxy._replace(netloc=proxy.netloc.rsplit("@", 1)[-1]).geturl()
            manager = urllib3.ProxyManager(plain, proxy_headers=proxy_headers, **kwargs)
        else:
            manager = urllib3.PoolManager(**kwargs)
        manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        self._manager = manager
        # Direct connections go through their pool, skipping the manager's URL
        # parsing and pool lookup on every request; a proxy needs the manager.
        try:
            self._send: Any = (manager.urlopen if self.proxy is not None
                               else manager.connection_from_url(self.api_url).urlopen)
        except LocationParseError as exc:  # what the settings' check let through: still a usage error
            raise InvalidInput(f"invalid API URL {self.api_url!r}: {exc}; check --api-url") from None
        self._absolute = self.proxy is not None

    def close(self) -> None:
        self._manager.clear()

    def send(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str],
             answer_limit: int | None = None) -> Attempt:
        """One attempt: an answer (any status), or a problem. Raises only for what retrying cannot fix.
        ``answer_limit``: the most bytes of answer read (default ``max_answer_bytes``, more for a large body)."""
        url = self.api_url + path
        entry = _WATCHDOG.watch(time.monotonic() + self.connect_timeout + self.timeout)
        _current.watch = entry
        response: Any = None
        complete = False
        try:
            response = self._send(
                method, url if self._absolute else self._path + path, body=body, headers={**self.headers, **headers},
                retries=False, redirect=False, preload_content=False, decode_content=False,
            )
            limit = answer_limit or max(self.max_answer_bytes, ANSWER_PER_BODY * len(body or b""))
            length = response.headers.get("Content-Length")
            if length is not None and length.strip().isdigit() and int(length) > limit:
                return self._too_large(limit)
            data = response.read(limit + 1)
            if entry.fired:  # the watchdog cut it short: what came may look whole and is not
                return self._late()
            if len(data) > limit:
                return self._too_large(limit)
            if response.length_remaining:  # Content-Length promised more than came before the close
                return Attempt(problem="connection closed while reading the response", retryable=True,
                               maybe_delivered=True)
            complete = True
            encoding = (response.headers.get("Content-Encoding") or "").strip().lower()
            if encoding in ("gzip", "x-gzip", "deflate"):  # sent though we asked for identity (a CDN, a proxy)
                data = _decompress(data, limit)
                if data is None:
                    return self._too_large(limit)
            status = int(response.status)
            return Attempt(
                status=status,
                headers=response.headers,
                body=data,
                problem=one_line(f"{status} {response.reason or ''}".strip())[:120],
                retryable=status in RETRY_STATUSES,
                maybe_delivered=status in (502, 504),  # a gateway's: the server behind it may have acted
            )
        except SSLError as exc:
            if entry.fired:
                return self._late()
            reason = _reason(exc)
            if any(sign in reason.upper() for sign in _NOT_TLS):
                raise NetworkError(
                    f"{url}: the server does not speak TLS there ({reason}): the port serves plain http; "
                    f"use an http:// URL if this is the emulator or another local server, else check the port"
                ) from None
            raise NetworkError(
                f"TLS verification failed for {url}: {reason}; if you use a private CA, "
                f"point REQUESTS_CA_BUNDLE or SSL_CERT_FILE at its certificate"
            ) from None
        except LocationParseError as exc:
            raise InvalidInput(f"invalid API URL {self.api_url!r}: {exc}; check --api-url") from None
        except ProxyError as exc:
            cause = exc.original_error if isinstance(exc.original_error, BaseException) else exc
            return Attempt(problem=f"through the proxy {mask_proxy(self.proxy or '')}: {_reason(cause)}", retryable=True)
        except NewConnectionError as exc:  # refused, DNS, no route: before ConnectTimeoutError, its base
            return Attempt(problem=_reason(exc), retryable=True, unreachable=True)
        except ConnectTimeoutError:
            return Attempt(problem=f"could not connect within {self.connect_timeout:g} s", retryable=True)
        except (HTTPError, http.client.HTTPException, OSError) as exc:
            if entry.fired:
                return self._late()
            if isinstance(exc, ReadTimeoutError | TimeoutError):
                return Attempt(problem=f"no response within {self.timeout:g} s (read timeout)", retryable=True,
                               maybe_delivered=True)
            return Attempt(problem=_reason(exc), retryable=True, maybe_delivered=True)
        finally:
            with _FIRING:
                entry.active = False
                entry.sock = None
            _current.watch = None
            if response is not None:
                if not complete:
                    response.close()  # what is left of the answer must not be read as the next one
                response.release_conn()

    def _late(self) -> Attempt:
        total = self.connect_timeout + self.timeout
        return Attempt(
            problem=f"no complete answer within {total:g} s (connect + read timeout); the server is too slow",
            retryable=True,
            maybe_delivered=True,
        )

    def _too_large(self, limit: int) -> Attempt:
        """Not retried: the server answered, and would answer alike again."""
        mib = f"{limit / (1024 * 1024):.0f}"
        return Attempt(status=None, problem=f"the answer is larger than {mib} MiB", maybe_delivered=True)


def _decompress(data: bytes, limit: int) -> bytes | None:
    """A gzip or zlib body, inflated to at most ``limit`` bytes (None: more: a bomb, or a huge answer)."""
    import zlib

    try:
        inflater = zlib.decompressobj(47)  # 32 + 15: gzip or zlib, told by the header
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        try:
            inflater = zlib.decompressobj(-15)  # raw deflate, as some servers send "deflate"
            out = inflater.decompress(data, limit + 1)
        except zlib.error:
            return data  # not compressed after all: let the JSON reader say what it is
    return None if len(out) > limit or inflater.unconsumed_tail else out


def _reason(exc: BaseException) -> str:
    """A short reason from a urllib3 or socket exception."""
    text = f"{type(exc).__name__}: {exc}"
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "DNS lookup failed"),
        ("nodename nor servname", "DNS lookup failed"),
        ("Temporary failure in name resolution", "DNS lookup failed"),
        ("NameResolutionError", "DNS lookup failed"),
        ("Failed to resolve", "DNS lookup failed"),
        ("RemoteDisconnected", "the server closed the connection without answering"),
        ("Remote end closed connection", "the server closed the connection without answering"),
        ("Connection reset", "connection reset by the server"),
        ("Connection aborted", "connection closed by the server"),
        ("IncompleteRead", "connection closed while reading the response"),
        ("Response ended prematurely", "connection closed while reading the response"),
        ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed"),
        ("Network is unreachable", "network is unreachable"),
        ("No route to host", "no route to host"),
        ("BadStatusLine", "the server did not answer with HTTP"),
        ("LineTooLong", "the server sent a header line that is too long"),
    ):
        if needle in text:
            return reason
    return " ".join(str(exc).split())[:200] or type(exc).__name__
