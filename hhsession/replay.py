"""Replay recorded sessions (SPEC §3 ``replay``): streamed, concurrent, resumable.

Records are read one at a time (JSON Lines, or one JSON array parsed
incrementally), built by the same payload builder as ``start``, and sent by a
pool of workers, each with its own keep-alive connection. Memory stays flat:
the queues between reader, workers and writer are bounded.

Never a second session for a record: with a journal, a record without a
``session_id`` gets an id *derived* from the journal's run id and the record's
identity, so the same record gets the same id in every run, even when a crash
came before its success was written down; the server is idempotent on it.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

from .errors import AuthError, HHSessionError, InvalidInput, NetworkError, RejectedError
from .payload import MAX_INPUT_BYTES, Overrides, build_session, open_input, parse_json
from .times import json_type

CHUNK = 256 * 1024
JOURNAL_KIND = "hhsession-replay-journal"
FAILURE_KEYS = {"source", "record", "error", "status", "http_status"}


# --------------------------------------------------------------------------- reading records


@dataclass
class Record:
    index: int  # position across all inputs, from 0 (what --shard divides)
    source: str  # "file:line", as shown to people
    key: str  # identity across runs: real path, line and a hash of the text
    text: str  # the record's JSON text
    value: Any = None
    error: str | None = None


def _key(name: str, line: int, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"{name}:{line}:{digest}"


def check_inputs(paths: list[str]) -> None:
    """Every input is readable, before anything is sent (a missing third file is exit 2, not exit 6)."""
    if paths.count("-") > 1:
        raise InvalidInput("- (standard input) is given more than once; give it once")
    for path in paths:
        if path != "-":
            open_input(path).close()


def iter_records(paths: Iterable[str], stdin: BinaryIO | None) -> Iterator[Record]:
    """Every record of every input, in order, one at a time."""
    index = 0
    for path in paths:
        if path == "-":
            if stdin is None:
                raise InvalidInput("-: standard input is not available")
            label, name, stream, close = "-", "-", stdin, False
        else:
            stream = open_input(path)
            # The path as given (not its real path): the same command resumes even
            # where a CI checkout lands in another directory.
            label, name, close = path, os.path.normpath(path), True
        try:
            for record in _iter_stream(stream, label, name):
                record.index = index
                index += 1
                yield record
        finally:
            if close:
                stream.close()


def _iter_stream(stream: BinaryIO, label: str, name: str) -> Iterator[Record]:
    first = _peek_first_byte(stream)
    if first == b"[":
        yield from _iter_array(stream, label, name)
    else:
        yield from _iter_lines(stream, label, name)


def _peek_first_byte(stream: BinaryIO) -> bytes:
    peek = getattr(stream, "peek", None)
    if peek is None:
        return b""
    data: bytes = peek(CHUNK)
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]


def _iter_lines(stream: BinaryIO, label: str, name: str) -> Iterator[Record]:
    line_number = 0
    while True:
        raw = stream.readline(MAX_INPUT_BYTES + 1)
        if not raw:
            return
        line_number += 1
        source = f"{label}:{line_number}"
        if len(raw) > MAX_INPUT_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the giant line
                raw = stream.readline(CHUNK)
            yield Record(0, source, _key(name, line_number, "<too large>"), "", error="record is larger than 16 MiB")
            continue
        if line_number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", "replace").strip()
            yield Record(0, source, _key(name, line_number, text), text,
                         error=f"not UTF-8 (bad byte at offset {exc.start})")
            continue
        if not text:
            continue
        yield _parsed(Record(0, source, _key(name, line_number, text), text))


def _parsed(record: Record) -> Record:
    try:
        record.value = parse_json(record.text, record.source)
    except InvalidInput as exc:
        record.error = exc.message.removeprefix(f"{record.source}: ")
        if record.text.startswith("{") and not record.text.endswith("}"):
            record.error += (
                " (JSON Lines holds one whole object per line; for one pretty-printed object "
                "use hhsession start -f, for many put them in a JSON array)"
            )
    return record


class _BrokenArray(Exception):
    """The rest of an array cannot be read (cut short, invalid, not UTF-8)."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(why)
        self.line = line
        self.why = why


def _iter_array(stream: BinaryIO, label: str, name: str) -> Iterator[Record]:
    """The elements of one JSON array; where the rest is unreadable, one invalid record ends it.

    Elements before the damage were already sent, so this is not a usage error:
    the run goes on with the next input and ends with exit 6.
    """
    try:
        yield from _array_elements(stream, label, name)
    except _BrokenArray as exc:
        yield Record(0, f"{label}:{exc.line}", _key(name, exc.line, exc.why), "", error=exc.why)


def _array_elements(stream: BinaryIO, label: str, name: str) -> Iterator[Record]:
    """The elements of one JSON array, parsed as they come, never the whole file at once."""
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8-sig")()
    buf, pos, line, eof = "", 0, 1, False

    def fill() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        chunk = stream.read(CHUNK)
        try:
            text = utf8.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise _BrokenArray(line, f"not UTF-8 (bad byte near offset {exc.start} of a chunk); the rest of the file is skipped") from None
        if not chunk:
            eof = True
        buf = buf[pos:] + text
        pos = 0
        return bool(chunk) or bool(text)

    def skip_space() -> str:
        nonlocal pos, line
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                if buf[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buf):
                return buf[pos]
            if not fill():
                return ""

    if skip_space() != "[":  # pragma: no cover - _iter_stream checked it
        raise InvalidInput(f"{label}: expected a JSON array")
    pos += 1
    expect_value = True
    while True:
        char = skip_space()
        if char == "]":
            return
        if char == "":
            raise _BrokenArray(line, "the JSON array is not closed; the file may be cut short")
        if not expect_value:
            if char != ",":
                raise _BrokenArray(line, f"expected , or ] between array elements, got {char!r}; the rest of the file is skipped")
            pos += 1
            expect_value = True
            continue
        start_line = line
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                break
            except json.JSONDecodeError as exc:
                if len(buf) - pos > MAX_INPUT_BYTES:
                    raise _BrokenArray(start_line, "an array element is larger than 16 MiB or invalid; the rest of the file is skipped") from None
                if not fill():
                    lineno = start_line + buf.count("\n", pos, exc.pos)
                    raise _BrokenArray(lineno, f"invalid JSON in the array: {exc.msg}; the rest of the file is skipped") from None
        text = buf[pos:end]
        line += text.count("\n")
        pos = end
        expect_value = False
        yield Record(0, f"{label}:{start_line}", _key(name, start_line, text), text, value=value)


def count_lines(paths: Iterable[str]) -> int | None:
    """Non-empty lines of JSON Lines files, for a progress bar's ETA; None when it cannot tell."""
    total = 0
    for path in paths:
        if path == "-":
            return None
        try:
            with open(path, "rb") as handle:
                if _peek_first_byte(handle) == b"[":
                    return None
                previous = b"\n"
                while chunk := handle.read(CHUNK):
                    total += chunk.count(b"\n")
                    previous = chunk[-1:]
                if previous != b"\n":
                    total += 1
        except OSError:
            return None
    return total


def unwrap_failure(value: Any) -> Any:
    """A line of a --failures file is replayed as the record it holds."""
    if isinstance(value, dict) and "record" in value and "source" in value and set(value) <= FAILURE_KEYS:
        return value["record"]
    return value


# --------------------------------------------------------------------------- the journal


class Journal:
    """Append-only JSON Lines: a header with the run id, then one line per success.

    Usable after a crash at any moment: a torn last line is dropped on load; a
    success that was not written yet is sent again with the same session id.
    """

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.done: dict[str, str] = {}
        self.run = ""
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._last_sync = time.monotonic()
        if path.exists():
            self._load()
        elif create:
            self._create()
        else:
            self.run = str(uuid.uuid4())  # a dry run without a journal yet: nothing is written

    def _create(self) -> None:
        self.run = str(uuid.uuid4())
        header = {"journal": JOURNAL_KIND, "version": 1, "run": self.run, "created": int(time.time() * 1000)}
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except OSError as exc:
            raise InvalidInput(f"journal {self.path}: cannot create it ({exc.strerror}); check the path") from None
        self._write(header)
        os.fsync(self._fd)  # the run id must survive: every derived session id hangs on it
        _fsync_dir(self.path.parent)

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"journal {self.path}: cannot read it ({exc.strerror})") from None
        lines = data.split(b"\n")
        keep = len(data)
        if lines and lines[-1]:  # a torn last line from a crash mid-write
            keep -= len(lines[-1])
            lines = lines[:-1]
        try:
            header = json.loads(lines[0]) if lines else None
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("journal") != JOURNAL_KIND or not header.get("run"):
            raise InvalidInput(
                f"journal {self.path} is not an hhsession replay journal; give a new path, or delete it "
                f"(its sessions would then be sent again as new ones)"
            )
        self.run = str(header["run"])
        for raw in lines[1:]:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # a torn line in the middle cannot happen with O_APPEND; skip it anyway
            if isinstance(entry, dict) and entry.get("status") == "ok" and isinstance(entry.get("key"), str):
                self.done[entry["key"]] = str(entry.get("session_id", ""))
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            if keep != len(data):
                os.truncate(self.path, keep)
        except OSError as exc:
            raise InvalidInput(f"journal {self.path}: cannot write it ({exc.strerror})") from None

    def session_id_for(self, key: str) -> str:
        """The session id this run gives a record without one: the same in every run."""
        digest = hashlib.sha256(f"{self.run}\0{key}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def _write(self, entry: dict[str, Any]) -> None:
        assert self._fd is not None
        data = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        os.write(self._fd, data)  # one write per line: a crash tears at most the last line

    def record(self, key: str, source: str, session_id: str, status: str) -> None:
        """Write down a record's outcome and the session id it was given.

        Only "ok" lines make a record done; a "failed" line says which id a
        later run will send it with again.
        """
        with self._lock:
            if self._fd is None:
                return
            self._write({"key": key, "source": source, "session_id": session_id, "status": status})
            if status == "ok":
                self.done[key] = session_id
            if time.monotonic() - self._last_sync > 1.0:
                os.fsync(self._fd)
                self._last_sync = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - not every platform opens directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- pacing


class RateLimiter:
    """At most ``rate`` starts per second across all workers."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self.sleep(slot - now)


# --------------------------------------------------------------------------- the run


@dataclass
class Outcome:
    record: Record
    status: str  # ok | failed | invalid | skipped
    session_id: str | None = None
    error: str | None = None
    http_status: int | None = None
    payload: dict[str, Any] | None = None
    unreachable: bool = False  # failed on the network or the server, not on the record
    note: str | None = None  # e.g. the session already existed (only metadata merged)

    def result_line(self) -> dict[str, Any]:
        return {"source": self.record.source, "session_id": self.session_id, "status": self.status, "error": self.error}

    def failure_line(self) -> dict[str, Any]:
        record = self.record.value if self.record.value is not None else self.record.text
        return {"source": self.record.source, "record": record, "error": self.error, "status": self.status,
                "http_status": self.http_status}


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0, "invalid": 0, "skipped": 0})
    elapsed: float = 0.0
    stopped: str | None = None  # why the run stopped early, if it did
    existed: int = 0  # ok, but the server already had the session: only metadata merged

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def clean(self) -> bool:
        return self.counts["failed"] == 0 and self.counts["invalid"] == 0

    def line(self, dry_run: bool = False) -> str:
        if dry_run:
            return (f"replay --dry-run: {self.total} records: {self.counts['ok']} valid, "
                    f"{self.counts['invalid']} invalid, {self.counts['skipped']} skipped; nothing sent")
        parts = ", ".join(f"{n} {name}" for name, n in self.counts.items() if n or name == "ok")
        if self.existed:
            parts += (f" ({self.existed} of the ok already existed on the server: only their metadata and "
                      f"user_properties were merged; --new-ids starts new sessions)")
        rate = self.counts["ok"] / self.elapsed if self.elapsed > 0 else 0.0
        return f"replay: {self.total} records: {parts} in {self.elapsed:.1f} s ({rate:.0f}/s)"


@dataclass
class ReplayOptions:
    workers: int = 8
    rate: float | None = None
    shard: tuple[int, int] | None = None
    new_ids: bool = False
    fail_fast: bool = False
    dry_run: bool = False
    lenient: bool = False
    defaults: dict[str, Any] | None = None
    overrides: Overrides | None = None
    #: Stop when this many records in a row failed to reach the server (each after
    #: all its retries): a server or network that is down would otherwise grind
    #: through every record. None: 3 per worker, at least 10.
    max_unreachable: int | None = None


class Client(Protocol):
    """What a worker needs: hhsession.client.SessionsClient, or a stand-in."""

    def start_session(self, payload: Mapping[str, Any]) -> Any: ...

    def close(self) -> None: ...


class Replay:
    """Reader -> bounded queue -> workers -> results, handled on the calling thread."""

    def __init__(self, options: ReplayOptions, journal: Journal | None = None,
                 make_client: Callable[[], Client] | None = None, limiter: RateLimiter | None = None) -> None:
        self.options = options
        self.journal = journal
        self.make_client = make_client
        self.limiter = limiter
        self.stop = threading.Event()
        self.fatal: HHSessionError | None = None
        self._abandoned = False
        #: Counted as results arrive, so an interrupted run can still say where it got to.
        self.summary = Summary()

    # ---------------------------------------------------------------- per record

    def prepare(self, record: Record) -> Outcome | tuple[Record, dict[str, Any]]:
        """Build the payload, or say why the record is skipped or invalid."""
        options = self.options
        if self.journal is not None and record.key in self.journal.done:
            return Outcome(record, "skipped", session_id=self.journal.done[record.key] or None)
        if record.error:
            return Outcome(record, "invalid", error=record.error)
        document = unwrap_failure(record.value)
        if not isinstance(document, dict):
            return Outcome(record, "invalid", error=f"expected a JSON object {{...}}, got {json_type(document)}")
        if options.new_ids:
            document = {k: v for k, v in document.items() if k != "session_id"}
            if isinstance(document.get("session"), dict) and len(document) == 1:
                document = {"session": {k: v for k, v in document["session"].items() if k != "session_id"}}
        journal = self.journal

        def make_id() -> str:
            return journal.session_id_for(record.key) if journal is not None else str(uuid.uuid4())

        try:
            built = build_session(defaults=options.defaults, document=document, origin=record.source,
                                  overrides=options.overrides, lenient=options.lenient, make_id=make_id)
        except InvalidInput as exc:
            return Outcome(record, "invalid", error=exc.message.removeprefix(f"{record.source}: "))
        return record, built.payload

    def _send(self, client: Client, record: Record, payload: dict[str, Any]) -> Outcome:
        session_id = str(payload["session_id"])
        try:
            if self.limiter is not None:
                self.limiter.acquire()
            event = client.start_session(payload).event
        except (AuthError, InvalidInput) as exc:
            # Nothing else will work either: stop the run, keep what is done.
            self.fatal = self.fatal or exc
            self.stop.set()
            return Outcome(record, "failed", session_id, exc.message)
        except RejectedError as exc:
            return Outcome(record, "failed", session_id, exc.message, http_status=exc.status)
        except NetworkError as exc:
            return Outcome(record, "failed", session_id, exc.message, http_status=exc.status, unreachable=True)
        from .client import existing_session_note

        return Outcome(record, "ok", str(event.get("session_id") or session_id), payload=payload,
                       note=existing_session_note(payload, event))

    # ---------------------------------------------------------------- the run

    def run(self, records: Iterable[Record], on_outcome: Callable[[Outcome], None]) -> Summary:
        options = self.options
        summary = self.summary = Summary()
        started = time.monotonic()
        work: queue.Queue[tuple[Record, dict[str, Any]] | None] = queue.Queue(maxsize=max(2, options.workers * 2))
        results: queue.Queue[Outcome | BaseException | None] = queue.Queue(maxsize=max(4, options.workers * 4))
        workers = 0 if options.dry_run else options.workers

        def put(item: Outcome | BaseException | None) -> None:
            while not self._abandoned:
                try:
                    results.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def reader() -> None:
            try:
                for record in records:
                    if self.stop.is_set():
                        break
                    if options.shard is not None and record.index % options.shard[1] != options.shard[0]:
                        continue
                    prepared = self.prepare(record)
                    if isinstance(prepared, Outcome):
                        put(prepared)
                    elif workers == 0:
                        put(Outcome(prepared[0], "ok", str(prepared[1]["session_id"]), payload=prepared[1]))
                    else:
                        while not self.stop.is_set():
                            try:
                                work.put(prepared, timeout=0.1)
                                break
                            except queue.Full:
                                continue
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                put(exc)
            finally:
                for _ in range(workers):
                    while not self._abandoned:
                        try:
                            work.put(None, timeout=0.1)
                            break
                        except queue.Full:
                            if self.stop.is_set():
                                _drain(work)
                put(None)

        def worker() -> None:
            assert self.make_client is not None
            client: Client | None = None
            try:
                client = self.make_client()  # its own keep-alive connection
                while True:
                    item = work.get()
                    if item is None:
                        break
                    if self.stop.is_set():
                        continue  # drain without sending
                    put(self._send(client, *item))
            except BaseException as exc:  # noqa: BLE001
                put(exc)
            finally:
                put(None)
                if client is not None:
                    client.close()

        self._abandoned = False
        threads = [threading.Thread(target=reader, name="replay-reader", daemon=True)]
        threads += [threading.Thread(target=worker, name=f"replay-worker-{i}", daemon=True) for i in range(workers)]
        for thread in threads:
            thread.start()
        finished = 0
        unreachable = 0
        limit = options.max_unreachable or max(10, 3 * options.workers)
        try:
            while finished < len(threads):
                try:
                    item = results.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is None:
                    finished += 1
                    continue
                if isinstance(item, BaseException):
                    self.stop.set()
                    raise item
                summary.counts[item.status] += 1
                if item.note:
                    summary.existed += 1
                if item.status in ("ok", "failed") and item.session_id and self.journal is not None and not options.dry_run:
                    self.journal.record(item.record.key, item.record.source, item.session_id, item.status)
                on_outcome(item)
                if options.fail_fast and item.status in ("failed", "invalid") and not self.stop.is_set():
                    self.stop.set()
                    summary.stopped = f"--fail-fast: {item.record.source} {item.status}"
                unreachable = unreachable + 1 if item.unreachable else (0 if item.status == "ok" else unreachable)
                if unreachable >= limit and self.fatal is None:
                    self.fatal = NetworkError(
                        f"{unreachable} records in a row could not reach the server (the last: {item.error}); "
                        f"stopped; run the same command later to resume (with --journal, nothing is sent twice)"
                    )
                    self.stop.set()
        finally:
            self.stop.set()
            self._abandoned = True
            summary.elapsed = time.monotonic() - started
        if self.fatal is not None:
            summary.stopped = "every further request would fail the same way (see below)"
        return summary


def _drain(work: queue.Queue[Any]) -> None:
    try:
        while True:
            work.get_nowait()
    except queue.Empty:
        pass


def write_jsonl(stream: IO[str], value: dict[str, Any]) -> None:
    stream.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
    stream.flush()
