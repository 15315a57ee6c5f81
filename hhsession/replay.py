"""Replay recorded sessions (SPEC §3 ``replay``): streamed, concurrent, resumable.

Records are read one at a time (``inputs.read_records``), built by the same
payload builder as ``start`` and sent through the same client, by a pool of
workers sharing its keep-alive connections. The workers pull records from one
iterator and write outcomes under one lock (no reader thread, no queues), so
memory stays flat in the input's size. One process sends; more cores or
machines are used with ``--shard K/N``.

Never a second session for a record: with a journal, a record without a
``session_id`` gets an id *derived* from the journal's run id and the record's
identity, so the same record gets the same id in every run, even when a crash
came before its success was written down; the server is idempotent on it.

Everything a run writes (the journal, the failures file, the caller's
``on_result``) goes through one place, ``outcomes.Results``.
"""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .concurrency import CEILING, INITIAL, AdaptiveLimit, Sample
from .errors import (
    AuthError,
    HHSessionError,
    InvalidInput,
    NetworkError,
    OutputClosed,
    RejectedError,
    ReplayInterrupted,
)
from .inputs import Record, expect_object, record_from_value
from .journal import Journal
from .outcomes import Outcome, ReplayOptions, ReplaySummary, Results, check_failures_path, unwrap_failure
from .payload import BuiltSession, Overrides, unwrap_legacy
from .retry import RateLimiter
from .sessions import StartedSession


class Sender(Protocol):
    """What a replay uses of ``hhsession.Client``: its public API, and nothing else."""

    secrets: tuple[str, ...]  # the keys it holds: masked in what a run writes
    refused_deadline: float | None
    naming: str  # "flag" (the command line) or "python": how messages name what to do
    on_attempt: Callable[[int | None, float, bool], None] | None

    def say(self, message: str) -> None: ...

    def check_ready(self, connections: int = 1) -> None: ...

    def warn(self, message: str) -> None: ...

    def build_start(self, document: Mapping[str, Any] | None = None, /, *, origin: str = "start()",
                    overrides: Overrides | None = None, lenient: bool = False,
                    make_id: Callable[[], str] = ...) -> BuiltSession: ...

    def send_start(self, built: BuiltSession, *, remember: bool = True) -> StartedSession: ...


#: A replay gives up on a server that has refused every connection for this many seconds.
REFUSED_DEADLINE = 5.0
#: After a stop, how long the requests in flight have to be answered and written down.
IN_FLIGHT_GRACE = 2.0
# --------------------------------------------------------------------------- the run


@dataclass
class Prepared:
    """A record built into the payload it will be sent as."""

    record: Record
    built: BuiltSession
    key: str


def run_replay(
    client: Sender,
    records: Iterable[Record | Mapping[str, Any]],
    options: ReplayOptions,
    *,
    journal: Path | None = None,
    failures: Path | None = None,
    on_result: Callable[[Outcome], None] | None = None,
) -> ReplaySummary:
    """Run a replay to the end (``Client.replay`` is the documented way in).

    Everything that can be refused is refused before the first record is sent
    and before any file is written: no key, a transport that would leak it, a
    failures file that is an input or the journal, a file that is not a
    journal. Only then is the failures file opened (emptied).
    """
    if not options.dry_run:
        client.check_ready(options.workers if isinstance(options.workers, int) else CEILING)
    paths = list(getattr(records, "paths", ()))
    if failures is not None:
        check_failures_path(failures, paths, journal, getattr(records, "stdin", None))
    run_journal = Journal(journal, write=not options.dry_run) if journal is not None else None
    failures_file = None
    try:
        if run_journal is not None:
            if run_journal.imported is not None:
                kept = f"; the old file is kept as {run_journal.backup}" if run_journal.backup else ""
                client.warn(f"journal {journal}: read the journal of an earlier hhsession "
                            f"({run_journal.imported} done records) into the SQLite journal{kept}")
            run_journal.bind(paths)  # before any record is read: by real path first, then by content
        if failures is not None:
            try:
                failures_file = open(failures, "w", encoding="utf-8")  # noqa: SIM115 - closed by _Results
            except OSError as exc:
                raise InvalidInput(f"--failures {failures}: cannot write it ({exc.strerror}); check the path") from None
    except BaseException:
        if run_journal is not None:
            run_journal.close()
        raise
    before = _input_states(records)
    results = Results(run_journal, failures_file, client.secrets, on_result, options.dry_run)
    replay = Replay(client, options, run_journal, RateLimiter(options.rate) if options.rate else None)
    attempts_before = client.on_attempt
    if options.workers == "auto" and not options.dry_run:
        adaptive = replay.adaptive = AdaptiveLimit(
            on_change=lambda limit, why: client.say(f"in flight: at most {limit} ({why})"))

        def observe(status: int | None, seconds: float, failed: bool) -> None:
            # Each attempt as it ends: a 429 is seen before its Retry-After pause. (Latencies are weighed
            # per record, from the slot: ``release``.)
            adaptive.observe(Sample(seconds, congested=failed, timed=False,
                                    delivered=status is not None and status < 500 and status != 429))

        client.on_attempt = observe
    # A server that refuses every connection is given up on in seconds, for this run only: the
    # caller's client keeps its own setting for what it sends afterwards.
    deadline_before = client.refused_deadline
    if client.refused_deadline is None and not options.dry_run:
        client.refused_deadline = REFUSED_DEADLINE
    # Ctrl-C and SIGTERM are taken by a handler that only sets a flag, until everything is written down
    # (a second one cannot cut the journal short); then the caller's handlers are given back, whatever
    # happened: a Python caller's process keeps its own Ctrl-C.
    previous = take_stop_signals(replay.on_signal)
    try:
        summary = replay.run(_as_records(records), results.write)
    except KeyboardInterrupt as exc:
        signum = exc.args[0] if exc.args and isinstance(exc.args[0], int) else int(signal.SIGINT)
        raise ReplayInterrupted(replay.summary, signum) from None
    except HHSessionError as exc:  # (a journal that cannot be written, say): what the run did before it
        exc.summary = replay.summary
        raise
    except BrokenPipeError:
        replay.summary.stopped = "standard output was closed"
        closed = OutputClosed(
            f"standard output was closed after {replay.summary.total} results; nothing was sent (--dry-run)"
            if replay.options.dry_run else
            f"standard output was closed after {replay.summary.total} results; {to_resume(run_journal, 'again', replay.naming)}"
        )
        closed.summary = replay.summary
        raise closed from None
    finally:
        client.refused_deadline = deadline_before
        client.on_attempt = attempts_before
        try:
            results.close()
            _warn_if_changed(client, before, _input_states(records))
        except HHSessionError as exc:  # the journal's last group could not be committed
            exc.summary = replay.summary
            raise
        finally:
            give_back_stop_signals(previous)
    if replay.fatal is not None:
        replay.fatal.summary = summary
        raise replay.fatal
    return summary


def _input_states(records: Any) -> dict[str, tuple[int, int, int, int]]:
    """Each input file's identity and size and time of change, to tell whether it changed during the run."""
    states = {}
    for path in getattr(records, "paths", ()):
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(st.st_mode):
            states[path] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    return states


def _warn_if_changed(client: Sender, before: dict[str, Any], after: dict[str, Any]) -> None:
    for path, state in before.items():
        if after.get(path) != state:
            client.warn(
                f"{path} changed while it was replayed; records are known by their place in the file, so "
                f"replay a recording once it is complete (a line added at the end is safe, one changed or "
                f"removed before it is not)"
            )


def to_resume(journal: Journal | None, when: str = "later", naming: str = "flag") -> str:
    """How to go on after a run stopped early: the journal makes it safe; without one, say what rerunning does."""
    if journal is None:
        return ("with no journal, running it again sends every record again" if naming == "flag" else
                "with no journal=, replaying them again sends every record again")
    if naming != "flag":
        return f"replay them again {when} with journal={str(journal.path)!r} to resume (it skips what is done)"
    return f"run the same command {when} to resume (the journal {journal.path} skips what is done)"

#: What stops a run cleanly (the journal flushed, the summary said): Ctrl-C, and ``kill``/a CI's cancel.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def take_stop_signals(handler: Callable[[int, Any], None]) -> dict[int, Any]:
    """Install ``handler`` for ``STOP_SIGNALS`` (main thread only); the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for signum in STOP_SIGNALS:
        try:
            previous[signum] = signal.signal(signum, handler)
        except (ValueError, OSError):  # pragma: no cover - an embedding that forbids it
            pass
    return previous


def give_back_stop_signals(previous: dict[int, Any]) -> None:
    """The handlers ``take_stop_signals`` replaced."""
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _as_records(items: Iterable[Record | Mapping[str, Any]]) -> Iterator[Record]:
    """Records as they are, or Python values numbered ``record:1``, ``record:2``, ..."""
    for index, item in enumerate(items):
        yield item if isinstance(item, Record) else record_from_value(item, index)


class Replay:
    """Workers that pull records from one iterator and write their outcomes in one place."""

    def __init__(self, client: Sender, options: ReplayOptions, journal: Journal | None = None,
                 limiter: RateLimiter | None = None) -> None:
        self.client = client
        self.naming = client.naming
        self.options = options
        self.journal = journal
        self.limiter = limiter
        #: Set to stop the run.
        self.stop = threading.Event()
        self.fatal: HHSessionError | None = None
        #: Counted as results arrive, so an interrupted run can still say where it got to.
        self.summary = ReplaySummary(dry_run=options.dry_run, naming=self.naming)
        #: The signal that stopped the run (0: none yet).
        self.interrupted = 0
        #: Set once the run has stopped: an outcome that comes later is dropped.
        self.closed = False
        self._unreachable = 0
        #: This many records in a row that could not reach the server stop the run.
        fixed = options.workers if isinstance(options.workers, int) else INITIAL
        self._unreachable_limit = options.max_unreachable or max(10, 3 * fixed)
        #: With ``workers="auto"``: the adaptive limit on requests in flight.
        self.adaptive: AdaptiveLimit | None = None
        self._done_lock = threading.Lock()

    def on_signal(self, signum: int, frame: Any) -> None:
        """Ctrl-C or SIGTERM: only a flag (no KeyboardInterrupt lands inside a lock, and the handler takes
        none); the run stops at its next look, within a tenth of a second."""
        self.interrupted = self.interrupted or signum

    def deliver(self, outcome: Outcome, on_outcome: Callable[[Outcome], None]) -> None:
        """Count an outcome, write it, and stop the run when it says to (--fail-fast, a dead server)."""
        options, summary = self.options, self.summary
        with self._done_lock:
            if self.closed:
                return
            if self.adaptive is not None:
                outcome.in_flight_limit = self.adaptive.current
            summary.counts[outcome.status] += 1
            if outcome.note:  # the server kept an existing session
                summary.existed += 1
            on_outcome(outcome)
            if options.fail_fast and outcome.status in ("failed", "invalid") and summary.stopped is None:
                self.stop.set()
                summary.stopped = f"--fail-fast: {outcome.record.location} {outcome.status}"
            if outcome.unreachable:
                self._unreachable += 1
                summary.unreached += outcome.status == "failed"
            elif outcome.status == "ok":
                self._unreachable = 0
            if self._unreachable >= self._unreachable_limit and self.fatal is None:
                self.fatal = NetworkError(
                    f"{self._unreachable} records in a row could not reach the server (the last: {outcome.error}); "
                    f"stopped; {to_resume(self.journal, naming=self.naming)}"
                )
                self.stop.set()

    # ---------------------------------------------------------------- per record

    def prepare(self, record: Record) -> Outcome | Prepared:
        """Build the payload, or say why the record is skipped or invalid."""
        options = self.options
        journal = self.journal
        key = journal.key(record) if journal is not None else ""
        if journal is not None:
            done = journal.done(key)
            if done is not None:
                return Outcome(record, "skipped", session_id=done or None, key=key)
        if record.error:
            return Outcome(record, "invalid", error=record.error, key=key)
        document = unwrap_failure(record.value)
        try:
            document = expect_object(document, record.location)
        except InvalidInput as exc:
            return Outcome(record, "invalid", error=exc.message.removeprefix(f"{record.location}: "), key=key)
        if options.new_ids:
            inner = unwrap_legacy(document)
            fresh = {k: v for k, v in inner.items() if k != "session_id"}
            document = {"session": fresh} if inner is not document else fresh

        def make_id() -> str:
            return journal.session_id_for(key) if journal is not None else str(uuid.uuid4())

        try:
            built = self.client.build_start(document, origin=record.location, overrides=options.overrides,
                                            lenient=options.lenient, make_id=make_id)
        except InvalidInput as exc:
            return Outcome(record, "invalid", error=exc.message.removeprefix(f"{record.location}: "), key=key)
        return Prepared(record, built, key)

    def _send(self, item: Prepared) -> Outcome:
        record, payload, warnings = item.record, item.built.payload, item.built.warnings

        def failed(exc: HHSessionError, status: int | None = None, unreachable: bool = False) -> Outcome:
            return Outcome(record, "failed", str(payload["session_id"]), exc.message, http_status=status,
                           payload=payload, unreachable=unreachable, warnings=warnings, key=item.key)

        try:
            if self.limiter is not None:
                self.limiter.acquire()
            started = self.client.send_start(item.built, remember=False)
        except (AuthError, InvalidInput) as exc:
            # Nothing else will work either: stop the run, keep what is done.
            self.fatal = self.fatal or exc
            self.stop.set()
            return failed(exc, getattr(exc, "status", None))
        except RejectedError as exc:
            return failed(exc, exc.status)
        except NetworkError as exc:
            if exc.retry_after is not None:  # the server asked the run to wait longer than it waits: stop now
                self.fatal = self.fatal or NetworkError(
                    f"{exc.message}; stopped; {to_resume(self.journal, 'then', self.naming)}", status=exc.status,
                    retry_after=exc.retry_after)
                self.stop.set()
            elif exc.refused:  # the server refuses every connection: the run stops, keeping what is done
                self.fatal = self.fatal or NetworkError(
                    f"{exc.message}; stopped; {to_resume(self.journal, naming=self.naming)}", unreachable=True, refused=True)
                self.stop.set()
            return failed(exc, exc.status, unreachable=True)
        return Outcome(record, "ok", started.session_id, payload=payload, note=started.note, warnings=warnings,
                       key=item.key)

    # ---------------------------------------------------------------- the run

    def run(self, records: Iterable[Record], on_outcome: Callable[[Outcome], None]) -> ReplaySummary:
        """Send every record; returns when all are done, or raises what stopped the run.

        No reader thread and no queues: each worker takes the next record from
        the shared iterator (under a lock), sends it, and writes its outcome
        (under another). Records are pulled only as fast as they are sent, so
        memory stays flat, and a record passes between no threads at all.
        """
        options = self.options
        summary = self.summary = ReplaySummary(dry_run=options.dry_run, naming=self.naming)
        started = time.monotonic()
        source = iter(records)
        take_lock = threading.Lock()
        errors: list[BaseException] = []

        def deliver(outcome: Outcome) -> None:
            self.deliver(outcome, on_outcome)

        exhausted = [False]  # every record taken: no more workers are needed

        def take() -> Prepared | None:
            """The next record to send; records that need no sending are delivered on the way."""
            with take_lock:
                while not self.stop.is_set():
                    record = next(source, None)
                    if record is None:
                        exhausted[0] = True
                        if adaptive is not None:
                            adaptive.wake()  # the workers waiting for room have nothing left to send
                        return None
                    if options.shard is not None and record.index % options.shard[1] != options.shard[0]:
                        continue
                    prepared = self.prepare(record)
                    if not isinstance(prepared, Outcome):
                        return prepared
                    deliver(prepared)
                return None

        adaptive = self.adaptive
        running = [0]
        running_lock = threading.Lock()
        all_done = threading.Event()
        threads: list[threading.Thread] = []

        def worker() -> None:
            holding = False  # a slot kept from the record before
            taken = 0.0  # when this worker's slot was taken (acquired, or kept)
            try:
                while True:
                    if adaptive is not None and not holding:
                        if not adaptive.acquire(lambda: self.stop.is_set() or exhausted[0]):
                            break
                        taken = time.monotonic()
                    slot_started = time.monotonic()
                    outcome = None
                    try:
                        item = take()
                        if item is None:
                            break
                        outcome = self._send(item) if not options.dry_run else Outcome(
                            item.record, "ok", item.built.session_id, payload=item.built.payload,
                            warnings=item.built.warnings, key=item.key)
                    finally:
                        if adaptive is not None:
                            ok = outcome is not None and outcome.status == "ok"
                            ended = time.monotonic()
                            holding = adaptive.release(ended - slot_started if ok else None,
                                                       keep=outcome is not None, started=taken)
                            # A kept slot is taken before this record is written down: a request sent
                            # after the limit fell to the floor (to measure the unloaded latency) is
                            # weighed only if its slot was taken after the fall.
                            taken = ended
                            if len(threads) < adaptive.current and not exhausted[0]:
                                spawn(adaptive.current)  # the limit grew: workers to fill it, now
                    deliver(outcome)
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                errors.append(exc)
                self.stop.set()
            finally:
                with running_lock:
                    running[0] -= 1
                    if running[0] == 0:
                        all_done.set()

        def spawn(total: int) -> None:
            """Workers up to ``total`` (a fixed number at the start; with "auto", as the limit grows)."""
            with running_lock:
                if all_done.is_set() or self.stop.is_set():
                    return
                for _ in range(total - len(threads)):
                    running[0] += 1
                    thread = threading.Thread(target=worker, name=f"replay-worker-{len(threads)}", daemon=True)
                    threads.append(thread)
                    thread.start()

        try:
            # Even a dry run reads in a thread of its own: a read that waits (a terminal, a pipe's
            # writer) must not keep Ctrl-C or SIGTERM from being seen here.
            spawn(1 if options.dry_run else adaptive.current if adaptive is not None else int(options.workers))
            while not all_done.wait(0.1) and not self.interrupted:
                if adaptive is not None and len(threads) < adaptive.current and not exhausted[0]:
                    spawn(adaptive.current)
                if adaptive is not None and self.stop.is_set():
                    adaptive.wake()
            if self.interrupted:
                raise KeyboardInterrupt(self.interrupted)
            if errors:
                raise errors[0]
        except BaseException:
            # Workers stop taking records; what they have in flight gets a moment to be answered and written
            # down; what comes later is dropped (neither counted nor shown: it is not in the journal, and a
            # later run sends it again under the same id).
            self.stop.set()
            if adaptive is not None:
                adaptive.wake()
            all_done.wait(IN_FLIGHT_GRACE)
            with self._done_lock:
                self.closed = True
            raise
        finally:
            summary.elapsed = time.monotonic() - started
            if adaptive is not None:
                summary.settled = adaptive.current
        if self.fatal is not None:
            summary.stopped = "every further request would fail the same way (see below)"
        return summary
