"""One replay, several processes (SPEC §3 replay; issue 10): for inputs too many for one core.

One process sends about 2,000 sessions a second whatever its number of
threads: the HTTP work of each request holds Python's one interpreter lock.
Several sending processes multiply that. The design keeps every guarantee of
a one-process run:

- each sending process reads the same input files itself and takes its own
  slice of the records (``--shard`` composed: K + N*p of N*P), so records are
  never passed between processes, and memory stays flat in each;
- only this process writes: the journal, the failures file, the results, the
  progress; the sending processes report each outcome over a pipe, and load
  the journal read-only (the inputs' ids are written down before they start);
- a 429 pauses every process (a shared ``Gate``), ``--rate`` is shared too,
  and one stop event ends them all (``--fail-fast``, a refused key, a dead
  server, Ctrl-C);
- they ignore Ctrl-C (this process handles it), and end by themselves when
  this process dies (their next report finds the pipe closed).

The key reaches them in memory (``fork``) or through the pipe that starts them
(``spawn``), never in argv or the environment.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AuthError, HHSessionError, InvalidInput, NetworkError
from .inputs import InputRecords, Record, read_records

if TYPE_CHECKING:
    from .replay import Outcome, Replay, ReplayOptions

#: Below this much input, one process is quicker than starting more (about 0.2 s each).
MIN_BYTES_FOR_PROCESSES = 256 * 1024
MAX_PROCESSES = 4


def processes_for(records: Any, options: ReplayOptions) -> int:
    """How many processes send: ``options.processes``, else by the input (1 unless it is worth it)."""
    files = isinstance(records, InputRecords) and records.files_only
    if not files or options.dry_run:
        return 1
    if options.processes is not None:
        return max(1, min(options.processes, options.workers))
    cpus = os.cpu_count() or 1
    if cpus < 2 or options.workers < 2 or (options.rate is not None and options.rate < 500):
        return 1
    try:
        size = sum(os.path.getsize(path) for path in records.paths)
    except OSError:
        return 1
    return 1 if size < MIN_BYTES_FOR_PROCESSES else min(cpus, MAX_PROCESSES, options.workers)


@dataclass
class _Child:
    """What a sending process needs (pickled to it by ``spawn``)."""

    client: dict[str, Any]
    paths: list[str]
    options: ReplayOptions
    journal: str | None
    verbose: bool
    refused_deadline: float | None


def run_with_processes(
    replay: Replay, records: InputRecords, processes: int, on_outcome: Callable[[Outcome], None], verbose: bool
) -> None:
    """Run ``replay`` with ``processes`` sending processes; outcomes are written here, through ``replay.deliver``."""
    context = _context()
    forked = context.get_start_method() == "fork"
    client, options = replay.client, replay.options
    user_k, user_n = options.shard or (0, 1)
    client._say(f"{processes} sending processes ({context.get_start_method()}), {options.workers} workers in all")
    # Shared memory without semaphores where a race costs nothing (a stop flag; the 429 gate takes
    # the later of two pauses): a process ended abruptly leaves nothing behind to leak. --rate needs a lock.
    gate = _Unlocked(context.RawValue("d", 0.0))
    rate = context.Value("d", time.monotonic()) if options.rate else None
    replay.stop = _Flag(context.RawValue("b", 0))  # one stop for every process
    settings = client.copy_arguments()
    pipes: dict[Connection, Any] = {}
    interrupted = [0]  # the signal that stopped the run

    def on_interrupt(signum: int, frame: Any) -> None:
        interrupted[0] = interrupted[0] or signum

    from .replay import TO_RESUME, give_back_stop_signals, take_stop_signals

    # Started with Ctrl-C and SIGTERM ignored, they never see one (not even while starting): this process
    # stops them, once what they have sent is written down.
    previous = take_stop_signals(signal.SIG_IGN)  # type: ignore[arg-type]
    try:
        ends = [context.Pipe(duplex=False) for _ in range(processes)]
        # A forked child closes every pipe end it inherited but its own writer: its writes then fail
        # when this process dies, and another child's end of the file closes when that child ends.
        inherited = [end for pair in ends for end in pair] if forked else []
        # Forked, a child shares this process's journal (its done set, copy on write, never copied).
        journal = replay.journal
        shared_journal = journal if forked and journal is not None and journal.load_done else None
        for p, (reader, writer) in enumerate(ends):
            workers = options.workers // processes + (1 if p < options.workers % processes else 0)
            mine = replace(options, workers=max(1, workers), shard=(user_k + user_n * p, user_n * processes),
                           max_unreachable=1 << 30, processes=1)
            spec = _Child(settings, records.paths, mine, str(replay.journal.path) if replay.journal else None, verbose,
                          client.refused_deadline)
            process = context.Process(target=_child_main,
                                      args=(spec, writer, replay.stop, gate, rate, inherited, shared_journal),
                                      name=f"hhsession-replay-{p}", daemon=True)
            process.start()
            writer.close()
            pipes[reader] = process
    except BaseException:  # a process that cannot be started: the caller gets its own handlers back
        replay.stop.set()
        for process in pipes.values():
            process.kill()
        give_back_stop_signals(previous, 0)
        raise
    for signum in previous:  # a flag, no exception inside a lock; a second one: nothing
        signal.signal(signum, on_interrupt)
    error: BaseException | None = None
    try:
        while pipes and not interrupted[0]:
            for conn in _ready(pipes, 0.1):
                kind, data = _receive(conn)
                if kind == "outcome":
                    replay.deliver(_outcome(data), on_outcome)
                elif kind == "warn":
                    client.warn(str(data))
                elif kind == "log":
                    client._say(str(data))
                elif kind == "fatal":
                    replay.fatal = replay.fatal or _error(*data)
                    replay.stop.set()
                elif kind == "error":
                    error = error or HHSessionError(f"a sending process failed: {data}; run the same command "
                                                    f"{TO_RESUME}")
                    replay.stop.set()
                if kind in ("done", "gone", "error"):
                    process = pipes.pop(conn)
                    process.join(5)
                    if kind == "gone" and process.exitcode not in (0, None) and error is None:
                        how = (f"was killed by signal {-process.exitcode}" if (process.exitcode or 0) < 0
                               else f"ended with exit code {process.exitcode}")
                        error = HHSessionError(
                            f"a sending process {how} (out of memory?); the run stopped; what was sent is in the "
                            f"journal (with --journal): run the same command to resume"
                        )
                        replay.stop.set()
        if interrupted[0]:
            raise KeyboardInterrupt(interrupted[0])
        if error is not None:
            if isinstance(error, HHSessionError):
                error.summary = replay.summary
            raise error
    finally:
        replay.stop.set()
        deadline = time.monotonic() + 2.0  # their requests in flight, reported and written down
        while pipes and time.monotonic() < deadline:
            for conn in _ready(pipes, 0.1):
                kind, data = _receive(conn)
                if kind == "outcome":
                    try:
                        replay.deliver(_outcome(data), on_outcome)  # the journal line is written first
                    except Exception:  # noqa: BLE001 - stdout closed, say: what matters is written
                        pass
                elif kind in ("done", "gone", "error"):
                    pipes.pop(conn)
        for conn, process in pipes.items():
            process.kill()  # they ignore SIGTERM
            conn.close()
        give_back_stop_signals(previous, interrupted[0])


class _Flag:
    """A stop flag every process of a run sees: a byte of shared memory (as ``threading.Event``)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def set(self) -> None:
        self.raw.value = 1

    def is_set(self) -> bool:
        return bool(self.raw.value)


class _Unlocked:
    """A shared number read and written without a lock (``retry.Shared``)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    @property
    def value(self) -> float:
        return float(self.raw.value)

    @value.setter
    def value(self, new: float) -> None:
        self.raw.value = new

    def get_lock(self) -> Any:
        import contextlib

        return contextlib.nullcontext()


def will_fork() -> bool:
    """``fork`` where it is safe and quick (Linux, this process has one thread: nothing half-held
    is copied), else ``spawn`` (a fresh interpreter: about 0.15 s more for each process)."""
    return "fork" in multiprocessing.get_all_start_methods() and sys.platform.startswith("linux") \
        and threading.active_count() == 1


def _context() -> Any:
    """The start method of ``will_fork``, with this process's buffered output written first."""
    if will_fork():
        for stream in (sys.stdout, sys.stderr):  # a child must not write what the parent has buffered
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _ready(pipes: dict[Connection, Any], timeout: float) -> list[Connection]:
    return [conn for conn in wait(list(pipes), timeout=timeout) if isinstance(conn, Connection)]


def _receive(conn: Connection) -> tuple[str, Any]:
    try:
        kind, data = conn.recv()
    except (EOFError, OSError):
        return "gone", None
    return str(kind), data


def _child_main(spec: _Child, conn: Connection, stop: Any, gate: Any, rate: Any, inherited: list[Connection],
                shared_journal: Any) -> None:
    """A sending process: its slice of the records, each outcome reported to the parent."""
    from .replay import STOP_SIGNALS

    for signum in STOP_SIGNALS:  # the parent stops this process, once what it sent is written down
        signal.signal(signum, signal.SIG_IGN)
    _die_with_parent()
    for end in inherited:
        if end is not conn:
            end.close()
    from .client import Client
    from .journal import Journal
    from .replay import Replay
    from .retry import Gate, RateLimiter

    def report(kind: str, data: Any) -> None:
        conn.send((kind, data))

    try:
        client = Client(**spec.client, warn=lambda message: report("warn", message),
                        log=(lambda message: report("log", message)) if spec.verbose else None)
        client.gate = Gate(clock=client.retry.clock, sleep=client.retry.sleep, shared=gate)
        client.refused_deadline = spec.refused_deadline
        client._reserve_connections(spec.options.workers)
        if shared_journal is not None:
            journal = shared_journal
            journal.detach()
        else:
            journal = Journal(Path(spec.journal), create=False, readonly=True) if spec.journal else None
        limiter = RateLimiter(spec.options.rate, shared=rate) if spec.options.rate else None
        replay = Replay(client, spec.options, journal, limiter, stop=stop)
        replay.catch_interrupts = False
        replay.run(read_records(spec.paths), lambda outcome: report("outcome", _slim(outcome)))
        if replay.fatal is not None:
            report("fatal", (type(replay.fatal).__name__, replay.fatal.message))
        report("done", None)
    except (BrokenPipeError, EOFError, OSError):
        pass  # the parent is gone: nothing to report to
    except BaseException as exc:  # noqa: BLE001 - said to the parent, which says it once
        try:
            report("error", f"{type(exc).__name__}: {exc}")
        except OSError:
            pass
    finally:
        conn.close()


def _die_with_parent() -> None:
    """Linux: be killed when the parent dies (``kill -9``), even in a wait that never reports."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - no libc to call
        return
    if os.getppid() == 1:  # the parent died before the line above: nobody to send for
        os._exit(0)


def _slim(outcome: Outcome) -> dict[str, Any]:
    """An outcome as it crosses the pipe: what the results, the journal and the failures file need."""
    record = outcome.record
    keep_record = outcome.status in ("failed", "invalid")
    return {
        "index": record.index, "location": record.location, "path": record.path, "line": record.line,
        "element": record.element, "text": record.text if keep_record and record.value is None else "",
        "value": record.value if keep_record else None, "status": outcome.status, "session_id": outcome.session_id,
        "error": outcome.error, "http_status": outcome.http_status, "unreachable": outcome.unreachable,
        "note": outcome.note, "warnings": outcome.warnings, "key": outcome.key,
        "sent_id": (outcome.payload or {}).get("session_id") if outcome.status == "failed" or outcome.note else None,
    }


def _outcome(data: dict[str, Any]) -> Outcome:
    from .replay import Outcome

    record = Record(data["index"], data["location"], data["path"], data["line"], data["element"], data["text"],
                    value=data["value"])
    return Outcome(record, data["status"], data["session_id"], data["error"], http_status=data["http_status"],
                   payload={"session_id": data["sent_id"]} if data["sent_id"] else None,
                   unreachable=data["unreachable"], note=data["note"], warnings=data["warnings"], key=data["key"])


def _error(kind: str, message: str) -> HHSessionError:
    cls: type[HHSessionError] = {"AuthError": AuthError, "InvalidInput": InvalidInput, "NetworkError": NetworkError}.get(kind, HHSessionError)
    return cls(message)
