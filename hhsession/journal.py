"""The replay journal (SPEC §3 ``replay``): which records are done, and which id each was given.

A SQLite database (the standard library's ``sqlite3``, WAL, one connection per
run): a crash at any moment loses at most the group of rows in flight (see
``COMMIT_ROWS``), never tears anything, and nothing is ever truncated. "Done"
is a primary-key lookup on disk, so resuming costs the same memory whatever
the journal's size.

::

    meta(name PRIMARY KEY, value)               run: the random id every derived session id hangs on;
                                                keys: '2' (or '1', imported from hhsession 0.1); created
    inputs(id PRIMARY KEY, path, fingerprint)   one row per input file: its real path, a hash of its first 64 KiB
    records(key PRIMARY KEY, source, session_id, status, at)
                                                one row per record sent: 'ok' (done: never sent again) or
                                                'failed' (the id it is sent with next time)

``PRAGMA application_id`` marks the file as a journal, ``user_version`` is its
schema. A record is known by what it is, not by how its path was spelled:
``key`` is its input's id, its position in that input (the line in JSON Lines,
``e<N>`` for the element of an array) and a hash of its text. Every input
that is a known file by its real path is bound first; then the others match a
known input by content (its first 64 KiB: a CI checkout in another directory,
a copy, a file that grew) and share its identity, so a record is sent once
whichever of them holds it; a binding moves only when its file is gone, so no
input can take another's identity away from it.

Only ids the client chose are stored (a session id the server answered with
is never taken as a record's: see ``Client.send_start``), so nothing a server
sends can make a journal unreadable or large. Journals of hhsession 0.1 and
0.2 (JSON Lines) are imported once (``_import_lines``); the old file is kept
beside the new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from .errors import InvalidInput, LocalWriteError
from .inputs import Record

#: ``PRAGMA application_id``: "hhsj" (hhsession journal).
APPLICATION_ID = 0x6868736A
SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
#: An input's content fingerprint: a hash of its first bytes.
FINGERPRINT_BYTES = 64 * 1024
#: What a journal of hhsession 0.1/0.2 begins with.
LEGACY_KIND = "hhsession-replay-journal"
#: A line of an old journal longer than this is skipped on import (a server's huge id made such lines).
LEGACY_MAX_LINE = 16 * 1024 * 1024
#: Keys of hhsession 0.1 journals: the path as given and the line; of every later one: the input's id.
KEYS_BY_PATH, KEYS_BY_INPUT = "1", "2"
#: Rows are committed in groups: this many, or after this many seconds, and when the journal closes
#: (a commit per row costs ~22 µs, a fifth of a record's own work at no latency). A crash loses at
#: most the group in flight: those records are sent again under the same ids, which the server merges.
COMMIT_ROWS, COMMIT_SECONDS = 256, 0.05

SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE inputs (id TEXT PRIMARY KEY, path TEXT NOT NULL, fingerprint TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE records (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    session_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    at INTEGER NOT NULL
) WITHOUT ROWID;
"""


def record_digest(record: Record) -> str:
    """A hash of the record's text: an edited record is a new record."""
    return hashlib.sha256(record.text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


class Journal:
    """Resumable replays: what is done, and what gets done.

    ``write=False`` (a dry run) opens it read-only and never changes a byte of
    it; a journal that does not exist yet is then an empty one in memory.
    Thread-safe: the workers of a run share it.
    """

    def __init__(self, path: str | Path, *, write: bool = True) -> None:
        self.path = Path(path)
        self.writable = write
        self.imported: int | None = None  # records imported from a JSON Lines journal, when one was
        self.backup: Path | None = None  # where that old journal is kept
        self._lock = threading.Lock()
        self._claimed: dict[str, str] = {}  # this run: an input's path as given -> its id
        self._pending = 0  # rows written since the last commit
        self._group_started = 0.0
        self._failed = False  # a write failed (and raised)
        self._db = self._open()
        meta = dict(self._db.execute("SELECT name, value FROM meta"))
        self.run = meta["run"]
        self.keys = meta.get("keys", KEYS_BY_INPUT)

    # ------------------------------------------------------------------ opening

    def _open(self) -> sqlite3.Connection:
        kind = _kind(self.path)
        if kind == "legacy":
            return self._import_legacy()
        if kind == "new":
            if not self.writable:  # a dry run without a journal yet: nothing is written anywhere
                return _initialized(_memory())
            return self._create()
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        """An existing journal: read-write, or read-only for a run that only reads."""
        target = str(self.path)
        if not self.writable:
            # Without a write-ahead log beside it nobody is writing it: read it as immutable, which
            # creates no -wal and -shm files (a read-only reader of a WAL database would leave them).
            # With one, a run is writing it: read it as SQLite's readers of a live database do.
            live = os.path.exists(f"{self.path}-wal")
            target = self.path.resolve().as_uri() + ("?mode=ro" if live else "?immutable=1")
        try:
            db = sqlite3.connect(target, uri=not self.writable, check_same_thread=False, isolation_level=None,
                                 timeout=30)
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if self.writable and application_id == APPLICATION_ID:
                _tune(db)
        except sqlite3.DatabaseError as exc:
            if _no_room(exc):
                raise LocalWriteError(f"journal {self.path}: cannot open it ({exc}); free some space (or raise "
                                      f"ulimit -f), then run the same command again") from None
            raise InvalidInput(f"journal {self.path}: cannot open it ({exc}); give the path of a journal "
                               f"in a writable directory, or a new path") from None
        if application_id != APPLICATION_ID and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            # An empty database: a run that was creating it stopped (kill -9, a full disk) before its
            # first transaction. Nothing was ever in it: it is a new journal.
            db.close()
            return self._create() if self.writable else _initialized(_memory())
        if application_id != APPLICATION_ID:
            db.close()
            raise InvalidInput(
                f"journal {self.path} is an SQLite database but not an hhsession replay journal; give a new path"
            )
        if version > SCHEMA_VERSION:
            db.close()
            raise InvalidInput(f"journal {self.path} was written by a newer hhsession (schema {version}); resume "
                               f"it with that version")
        return db

    def _create(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            _tune(db)
            with _transaction(db):  # all or nothing: a crash here leaves an empty database, taken as new
                if db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
                    return db  # another run created it a moment ago
                _initialized(db)
        except sqlite3.Error as exc:
            if _no_room(exc):
                raise LocalWriteError(f"journal {self.path}: cannot create it ({exc}); free some space (or raise "
                                      f"ulimit -f), or give --journal a path on another disk") from None
            raise InvalidInput(f"journal {self.path}: cannot create it ({exc}); check the path") from None
        return db

    def _import_legacy(self) -> sqlite3.Connection:
        """A JSON Lines journal of hhsession 0.1/0.2: imported into SQLite (a real run: a new file in
        its place, the old one kept as ``PATH.bak``; a dry run: in memory, the file untouched)."""
        if not self.writable:
            db = _memory()
            self.imported = _import_lines(self.path, db)
            return db
        temporary = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.importing")
        try:
            db = sqlite3.connect(temporary, isolation_level=None)
            self.imported = _import_lines(self.path, db)
            db.close()
            backup = self.path.with_name(self.path.name + ".bak")
            while backup.exists():
                backup = backup.with_name(backup.name + "~")
            os.link(self.path, backup)  # the old file stays, under another name, before the new one replaces it
            os.replace(temporary, self.path)
            self.backup = backup
        except (OSError, sqlite3.Error) as exc:
            temporary.unlink(missing_ok=True)
            raise InvalidInput(f"journal {self.path}: cannot import it into the new format ({exc}); check "
                               f"that its directory is writable") from None
        return self._connect()

    def close(self) -> None:
        """Commit what is written, and close. After a write failed (which the run was told of), what can
        still be committed is, and a second failure is not raised again."""
        with self._lock:
            told = self._failed
            try:
                if self._pending:
                    self._commit()
            except LocalWriteError:
                if not told:
                    raise
            finally:
                self._db.close()

    def _commit(self) -> None:
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._unwritable(exc) from None
        finally:
            self._pending = 0

    def _unwritable(self, exc: sqlite3.Error) -> LocalWriteError:
        self._failed = True
        return LocalWriteError(f"journal {self.path}: cannot write it ({exc}); what was written before is in it: "
                               f"free some space and run the same command to resume")

    # ------------------------------------------------------------------ identity

    def bind(self, paths: Iterable[str]) -> None:
        """Give every input of this run its id, before any record is read: first every input that is a
        known file by its real path, then the others by content (among inputs no file of this run
        is), then new ids."""
        files: dict[str, str] = {}  # path as given -> real path, for regular files not yet bound
        for path in dict.fromkeys(paths):
            if path in self._claimed:
                continue
            if path in ("-", ""):
                self._claimed[path] = "-" if path == "-" else "values"
                continue
            real = os.path.realpath(path)
            try:
                regular = stat.S_ISREG(os.stat(real).st_mode)
            except OSError:
                regular = False
            if regular:
                files[path] = real
            else:  # a pipe or a device: nothing to fingerprint without consuming it
                self._claimed[path] = f"path:{path}"
        with self._lock:
            known = {row[0]: (row[1], row[2]) for row in self._db.execute("SELECT id, path, fingerprint FROM inputs")}
            by_real = {real: ident for ident, (real, _) in known.items()}
            for path, real in list(files.items()):
                if real in by_real:  # the same file, however it was spelled (listed twice: the same input)
                    self._claimed[path] = by_real[real]
                    del files[path]
            rows: list[tuple[str, str, str]] = []
            for path, real in files.items():
                same = next((p for p, r in files.items() if r == real and p in self._claimed), None)
                if same is not None:  # this run lists one new file twice
                    self._claimed[path] = self._claimed[same]
                    continue
                fingerprint = _fingerprint(real)
                # The same first 64 KiB is the same input (a checkout elsewhere, a copy, a file that grew):
                # its records at the same positions with the same text are the same records, sent once.
                ident = next((i for i, (_, f) in known.items() if f == fingerprint), None)
                if ident is not None:
                    self._claimed[path] = ident
                    if os.path.exists(known[ident][0]):
                        continue  # its file is still there: that stays the binding (a copy shares it)
                else:  # a new input
                    number = len(known) + 1
                    while f"F{number}" in known:
                        number += 1
                    ident = f"F{number}"
                    self._claimed[path] = ident
                known[ident] = (real, fingerprint)  # moved here (its file is gone), or new
                rows.append((ident, real, fingerprint))
            if rows and self.writable:
                insert = "INSERT OR REPLACE INTO inputs (id, path, fingerprint) VALUES (?, ?, ?)"
                if self._pending:  # bound while records are written (a caller's own records): with them
                    self._db.executemany(insert, rows)
                else:
                    with _transaction(self._db):
                        self._db.executemany(insert, rows)

    def key(self, record: Record) -> str:
        """What the record is, across runs and however its input was spelled."""
        if self.keys == KEYS_BY_PATH:  # journals of hhsession 0.1: the path as given, the line
            name = "-" if record.path == "-" else os.path.normpath(record.path)
            return f"{name}:{record.line}:{record_digest(record)}"
        if record.path not in self._claimed:
            self.bind([record.path])
        position = str(record.line) if record.element is None else f"e{record.element}"
        return f"{self._claimed[record.path]}:{position}:{record_digest(record)}"

    def session_id_for(self, key: str) -> str:
        """The session id this journal gives a record without one: the same in every run."""
        digest = hashlib.sha256(f"{self.run}\0{key}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    # ------------------------------------------------------------------ outcomes

    def done(self, key: str) -> str | None:
        """The session id a done record was given ("" when unknown); None when it is not done."""
        with self._lock:
            row = self._db.execute("SELECT session_id FROM records WHERE key = ? AND status = 'ok'", (key,)).fetchone()
        return None if row is None else str(row[0])

    def record(self, key: str, source: str, session_id: str, status: str) -> None:
        """Write down a record's outcome ("ok" or "failed") and the id it was sent with; a done record
        stays done."""
        if not self.writable:
            return
        with self._lock:
            try:
                if not self._pending:
                    self._db.execute("BEGIN")
                    self._group_started = time.monotonic()
                self._db.execute(
                    "INSERT INTO records (key, source, session_id, status, at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET source = excluded.source, session_id = excluded.session_id, "
                    "status = excluded.status, at = excluded.at WHERE records.status != 'ok'",
                    (key, source, session_id, status, int(time.time() * 1000)),
                )
            except sqlite3.Error as exc:
                raise self._unwritable(exc) from None
            self._pending += 1
            if self._pending >= COMMIT_ROWS or time.monotonic() - self._group_started >= COMMIT_SECONDS:
                self._commit()


# --------------------------------------------------------------------------- helpers


def _kind(path: Path) -> str:
    """'new' (no file, or an empty one a crash left), 'sqlite', or 'legacy' (JSON Lines); else refused."""
    try:
        mode = os.stat(path).st_mode  # before opening: opening a named pipe would wait for a writer
    except FileNotFoundError:
        return "new"
    except OSError as exc:
        raise InvalidInput(f"journal {path}: cannot read it ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise InvalidInput(f"journal {path} is not a regular file; give the path of a file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
            if head == SQLITE_MAGIC:
                return "sqlite"
            if not head:
                return "new"
            handle.seek(0)
            first = handle.readline(64 * 1024)
    except OSError as exc:
        raise InvalidInput(f"journal {path}: cannot read it ({exc.strerror})") from None
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if isinstance(header, dict) and header.get("journal") == LEGACY_KIND and header.get("run"):
        return "legacy"
    raise InvalidInput(f"journal {path} is not an hhsession replay journal; give a new path (deleting it would "
                       f"send its sessions again as new ones)")


def _tune(db: sqlite3.Connection) -> None:
    """WAL: a reader (a dry run) never waits for the writer; NORMAL: each row is written through to the
    file at once (a crashed process loses nothing written), synced to the disk at checkpoints."""
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an error) on a connection in autocommit mode."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _initialized(db: sqlite3.Connection, run: str | None = None, keys: str = KEYS_BY_INPUT,
                 created: int | None = None) -> sqlite3.Connection:
    """The schema and the run's identity, written into an empty database (in the caller's transaction)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", [
        ("run", run or str(uuid.uuid4())), ("keys", keys),
        ("created", str(created if created is not None else int(time.time() * 1000))),
    ])
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return db


def _memory() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)


def _no_room(exc: sqlite3.Error) -> bool:
    """SQLite's words for a disk that is full or a file that may not grow (``ulimit -f``)."""
    text = str(exc).lower()
    return "disk i/o error" in text or "disk is full" in text


def _fingerprint(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read(FINGERPRINT_BYTES)).hexdigest()[:32]
    except OSError:
        return ""


def _import_lines(path: Path, db: sqlite3.Connection) -> int:
    """Import a JSON Lines journal of hhsession 0.1/0.2 into an empty database; the number of done records.

    Its lines: a header with the run id (and the version: 1 keyed records by the path as given), one
    line per input file, one line per record sent (the last line of a record wins; a line torn by a
    crash, or too long to be one of ours, is skipped).
    """
    with open(path, "rb") as handle:
        header = json.loads(handle.readline())
        keys = KEYS_BY_PATH if header.get("version") == 1 else KEYS_BY_INPUT
        created = header.get("created") if isinstance(header.get("created"), int) else None
        db.execute("BEGIN")
        _initialized(db, run=str(header["run"]), keys=keys, created=created)
        inputs: list[tuple[str, str, str]] = []
        records: list[tuple[str, str, str, str, int]] = []
        for entry in _lines(handle):
            if isinstance(entry.get("input"), str):
                inputs.append((entry["input"], str(entry.get("path", "")), str(entry.get("fingerprint", ""))))
            elif isinstance(entry.get("key"), str) and entry.get("status") in ("ok", "failed"):
                session_id = entry.get("session_id")
                # Only a UUID is an id worth keeping: a server's own (long) idea of one is not.
                session_id = session_id if isinstance(session_id, str) and _is_uuid(session_id) else ""
                records.append((entry["key"], str(entry.get("source", ""))[:4096], session_id, entry["status"], 0))
            if len(records) >= 10_000:
                _insert_records(db, records)
        _insert_records(db, records)
        db.executemany("INSERT OR REPLACE INTO inputs (id, path, fingerprint) VALUES (?, ?, ?)", inputs)
        db.execute("COMMIT")
    return int(db.execute("SELECT count(*) FROM records WHERE status = 'ok'").fetchone()[0])


def _lines(handle: BinaryIO) -> Iterable[dict[str, Any]]:
    while raw := handle.readline(LEGACY_MAX_LINE):
        if not raw.endswith(b"\n"):
            if len(raw) >= LEGACY_MAX_LINE:  # skip the rest of an overlong line
                while (rest := handle.readline(LEGACY_MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
            continue  # (or a torn last line from a crash)
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict):
            yield entry


def _insert_records(db: sqlite3.Connection, rows: list[tuple[str, str, str, str, int]]) -> None:
    db.executemany(
        "INSERT INTO records (key, source, session_id, status, at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET source = excluded.source, session_id = excluded.session_id, "
        "status = excluded.status WHERE records.status != 'ok'",
        rows,
    )
    rows.clear()


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except ValueError:
        return False


# --------------------------------------------------------------------------- the default journal

#: A default journal not written for this long is removed by the next replay that keeps one.
DEFAULT_KEPT_DAYS = 30


def default_journal(inputs: Sequence[str], api_url: str, api_key: str | None, *, new_ids: bool,
                    environ: Mapping[str, str]) -> Path:
    """Where a replay keeps its journal when none is named: one per destination and inputs.

    ``$XDG_STATE_HOME/hhsession/replay/`` (``~/.local/state/...`` when unset
    or not absolute, as the XDG base directory specification says), never the
    working directory. The same command finds the same file again: its name
    is the first input's name and a hash of what makes a run the same one: the
    API URL (scheme, host and port, ``localhost`` as ``127.0.0.1``), the key (a
    hash of it: another project is another journal), the inputs' real paths
    (in any order; ``-`` for standard input) and ``--new-ids``. Neither
    ``--shard`` (the shards of one run share its journal, so a record sent by
    a whole run is skipped by a shard, and the other way round; SQLite lets
    shards on one machine write it at once) nor field flags are part of it: a
    record that got a session keeps it.
    """
    named = sorted({"-" if path == "-" else os.path.realpath(path) for path in inputs})
    parts = urlsplit(api_url.strip().rstrip("/"))
    host = (parts.hostname or "").lower()
    host = "127.0.0.1" if host == "localhost" else host  # (the same loopback server, however it is named)
    identity = json.dumps({
        "api_url": f"{parts.scheme.lower()}://{host}:{parts.port or ''}{parts.path}",
        "key": hashlib.sha256((api_key or "").encode()).hexdigest(),
        "inputs": named,
        "new_ids": new_ids,
    }, sort_keys=True)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    first = inputs[0] if inputs else "-"
    label = "stdin" if first == "-" else re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(first))[:40]
    return state_directory(environ) / "replay" / f"{label}-{digest}.journal"


def state_directory(environ: Mapping[str, str]) -> Path:
    state = environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state):
        state = os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".local", "state")
    return Path(state) / "hhsession"


def prepare_default_journal(path: Path, now: float | None = None) -> None:
    """Create the default journals' directory (private: it names the user's files), and remove the
    journals there not written for ``DEFAULT_KEPT_DAYS`` (with their ``-wal``/``-shm`` files)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalWriteError(f"the default journal's directory {path.parent}: cannot create it "
                              f"({exc.strerror}); give --journal PATH, or --no-journal") from None
    cutoff = (time.time() if now is None else now) - DEFAULT_KEPT_DAYS * 86400
    with os.scandir(path.parent) as entries:
        for entry in entries:
            if not entry.name.endswith(".journal") or entry.name == path.name:
                continue
            try:
                newest = max(os.stat(entry.path + suffix).st_mtime if os.path.exists(entry.path + suffix) else 0
                             for suffix in ("", "-wal"))
                if newest < cutoff:
                    for suffix in ("", "-wal", "-shm"):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path + suffix)
            except OSError:
                continue  # another user's file, a race with another run: left alone
