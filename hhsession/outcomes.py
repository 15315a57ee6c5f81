"""What a replay run ends with, record by record and in total, and where it is written.

``Outcome`` is what became of one record, ``ReplaySummary`` of the run;
``Results`` is the one place outcomes are written (the journal, the failures
file, the caller's ``on_result``), and ``check_failures_path`` refuses a
failures file that would take an input or the journal with it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import InvalidInput, LocalWriteError
from .inputs import Record
from .journal import Journal
from .payload import Overrides, unwrap_legacy
from .redact import escaped_json, redact

FAILURE_KEYS = {"source", "record", "error", "status", "http_status"}


def unwrap_failure(value: Any) -> Any:
    """A line of a --failures file is replayed as the record it holds."""
    if isinstance(value, dict) and "record" in value and "source" in value and set(value) <= FAILURE_KEYS:
        return value["record"]
    return value


@dataclass
class Outcome:
    """What became of one record."""

    record: Record
    status: str  # ok | failed | invalid | skipped
    session_id: str | None = None
    error: str | None = None
    http_status: int | None = None
    #: What was sent (or, in a dry run, would be).
    payload: dict[str, Any] | None = None
    #: Failed on the network or the server, not on the record.
    unreachable: bool = False
    #: The server already had the session: only metadata and user_properties were merged.
    note: str | None = None
    #: What the builder had to say (``--lenient``: a dropped field, a replaced id).
    warnings: list[str] = field(default_factory=list)
    #: The record's identity in the journal ("" without one).
    key: str = ""
    #: With ``workers="auto"``: the limit on requests in flight when it was delivered.
    in_flight_limit: int | None = None

    @property
    def already_existed(self) -> bool:
        return self.note is not None

    def result_line(self) -> dict[str, Any]:
        return {"source": self.record.location, "session_id": self.session_id, "status": self.status, "error": self.error}

    def failure_line(self) -> dict[str, Any]:
        """A line of the failures file. A record that was sent carries the session id it was
        sent with, so replaying the file can never create a second session for it."""
        record = self.record.value if self.record.value is not None else self.record.text
        sent_id = (self.payload or {}).get("session_id")
        if sent_id and isinstance(record, dict):
            record = unwrap_failure(record)
            inner = unwrap_legacy(record)  # the deprecated {"session": {...}} keeps its shape
            record = {"session": _with_id(inner, sent_id)} if inner is not record else _with_id(record, sent_id)
        return {"source": self.record.location, "record": record, "error": self.error, "status": self.status,
                "http_status": self.http_status}


def _with_id(record: dict[str, Any], session_id: str) -> dict[str, Any]:
    return {"session_id": session_id, **{k: v for k, v in record.items() if k != "session_id"}}


@dataclass
class ReplaySummary:
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0, "invalid": 0, "skipped": 0})
    elapsed: float = 0.0
    stopped: str | None = None  # why the run stopped early, if it did
    existed: int = 0  # ok, but the server already had the session: only metadata merged
    unreached: int = 0  # failed for the network or the server (connection, timeout, lost answer, 5xx, 429)
    dry_run: bool = False
    #: With ``workers="auto"``: the limit on requests in flight when the run ended.
    settled: int | None = None
    #: How the line names what to do: "flag" (the command line) or "python" (a library caller).
    naming: str = "flag"

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def clean(self) -> bool:
        return self.counts["failed"] == 0 and self.counts["invalid"] == 0

    @property
    def nothing_got_through(self) -> bool:
        """Records failed, every one for the network or the server (exit 5): none was confirmed, none rejected."""
        return self.counts["ok"] == 0 and self.counts["invalid"] == 0 and 0 < self.counts["failed"] == self.unreached

    def line(self) -> str:
        if self.dry_run:
            return (f"replay --dry-run: {_records(self.total)}: {self.counts['ok']} valid, "
                    f"{self.counts['invalid']} invalid, {self.counts['skipped']} skipped; nothing sent")
        parts = ", ".join(f"{n} {name}" for name, n in self.counts.items() if n or name == "ok")
        if self.existed:
            again = "replay with --new-ids" if self.naming == "flag" else "call replay(..., new_ids=True)"
            parts += (f" ({self.existed} of the ok already existed on the server with other values: only their "
                      f"metadata and user_properties were merged; if they were meant as new sessions, {again})")
        rate = self.counts["ok"] / self.elapsed if self.elapsed > 0 else 0.0
        line = f"replay: {_records(self.total)}: {parts} in {self.elapsed:.1f} s ({rate:.0f}/s)"
        if self.settled is not None:
            line += f"; in flight: auto, settled at {self.settled}"
        if self.stopped:
            line += f"; stopped: {self.stopped}"
        return line


@dataclass
class ReplayOptions:
    #: Requests in flight: "auto" adapts them to the server (``hhsession.concurrency``); N fixes them.
    workers: int | str = "auto"
    rate: float | None = None
    shard: tuple[int, int] | None = None
    new_ids: bool = False
    fail_fast: bool = False
    dry_run: bool = False
    lenient: bool = False
    overrides: Overrides | None = None
    #: Stop when this many records in a row failed to reach the server (each after
    #: all its retries): a server or network that is down would otherwise grind
    #: through every record. None: 3 per worker, at least 10.
    max_unreachable: int | None = None


class Results:
    """The one place a run's outcomes are written: the journal, the failures file, the caller."""

    def __init__(self, journal: Journal | None, failures: IO[str] | None, secret: tuple[str, ...],
                 on_result: Callable[[Outcome], None] | None, dry_run: bool) -> None:
        self.journal = journal
        self.failures = failures
        self.secret = secret
        self.on_result = on_result
        self.dry_run = dry_run

    def write(self, outcome: Outcome) -> None:
        if outcome.error:
            outcome.error = redact(outcome.error, self.secret)  # a server may echo the key
        if not self.dry_run and self.journal is not None and outcome.status in ("ok", "failed") \
                and outcome.session_id:
            self.journal.record(outcome.key, outcome.record.location, outcome.session_id, outcome.status)
        if self.failures is not None and outcome.status in ("failed", "invalid"):  # a dry run's invalid ones too
            try:
                write_jsonl(self.failures, outcome.failure_line())
            except OSError as exc:
                raise LocalWriteError(f"--failures {self.failures.name}: cannot write it ({exc.strerror or exc}); "
                                      f"free some space, or give a path on another disk") from None
        if self.on_result is not None:
            self.on_result(outcome)

    def close(self) -> None:
        try:
            if self.journal is not None:
                self.journal.close()
        finally:
            self._close_failures()

    def _close_failures(self) -> None:
        if self.failures is not None:
            try:
                self.failures.close()
            except OSError as exc:  # its last lines could not be written
                raise LocalWriteError(f"--failures {self.failures.name}: cannot write it ({exc.strerror or exc}); "
                                      f"free some space, or give a path on another disk") from None


def _records(count: int) -> str:
    return "1 record" if count == 1 else f"{count} records"


def check_failures_path(failures: Path, inputs: list[str], journal: Path | None, stdin: Any = None) -> None:
    """Refuse a failures file that is an input or the journal (however its path is spelled): it is
    emptied when the run starts, and would take the records or the journal with it."""
    for path in inputs:
        if path != "-" and _same_file(failures, Path(path)):
            raise InvalidInput(f"--failures {failures} is the input {path}: it is emptied when the run starts; "
                               f"give another path, e.g. failures.jsonl")
    if "-" in inputs and stdin is not None and os.path.exists(failures):
        try:
            mine, theirs = os.fstat(stdin.fileno()), os.stat(failures)
        except (OSError, ValueError, AttributeError):  # not a file descriptor: not the failures file
            pass
        else:
            if (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino):
                raise InvalidInput(f"--failures {failures} is standard input (redirected from it): it is emptied "
                                   f"when the run starts; give another path, e.g. failures.jsonl")
    if journal is not None:
        # The journal, and the files SQLite keeps beside it (its write-ahead log, its shared memory, a
        # rollback journal, the copy an import keeps): emptied, each would take the journal with it.
        for suffix in ("", "-wal", "-shm", "-journal", ".bak"):
            if _same_file(failures, Path(f"{journal}{suffix}")):
                what = "the journal" if not suffix else f"the journal's {suffix.lstrip('-.')} file"
                raise InvalidInput(f"--failures {failures} is {what}: it is emptied when the run starts; give "
                                   f"another path, e.g. failures.jsonl")


def _same_file(a: Path, b: Path) -> bool:
    """The same file (by device and inode when both exist), or the same path once symlinks are resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def write_jsonl(stream: IO[str], value: dict[str, Any], flush: bool = True) -> None:
    stream.write(escaped_json(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) + "\n")
    if flush:
        stream.flush()
