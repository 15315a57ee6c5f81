"""The replay journal (SPEC §3 ``replay --journal``): what is done, and which id each record was given.

Append-only JSON Lines, written a whole line at a time, so a crash at any
moment tears at most the last line (dropped on the next load):

- a header with a random run id: every derived session id hangs on it;
- ``{"input": "F1", "path": ..., "fingerprint": ...}`` once per input file;
- ``{"key", "source", "session_id", "status": "ok"|"failed"}`` per record sent.

A record is known by what it is, not by how its path was spelled: its input's
id (the same file by its real path, or the same content under another path,
as a CI checkout in another directory), its position in that input (the line
in JSON Lines, the element in an array) and a hash of its text. The done set
is a compact hash table (32 bytes a record: tens of MB for a million).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .inputs import Record

JOURNAL_KIND = "hhsession-replay-journal"
VERSION = 2
#: An input's content fingerprint: a hash of its first bytes.
FINGERPRINT_BYTES = 64 * 1024
#: A journal line is a few hundred bytes; a longer one means the file is something else.
MAX_LINE = 1024 * 1024


def _digest(record: Record) -> str:
    """A hash of the record's text: an edited record is a new record."""
    return hashlib.sha256(record.text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


class DoneSet:
    """Keys (as 16-byte digests) -> session ids (as 16 bytes), open addressing in one bytearray.

    A dict of strings costs about 300 bytes a record; this costs 32 (at most
    twice that while the table is half full).
    """

    _SLOT = 32
    _EMPTY = bytes(16)

    def __init__(self, capacity: int = 1024) -> None:
        self._capacity = capacity
        self._slots = bytearray(capacity * self._SLOT)
        self._count = 0
        self._odd: dict[bytes, str] = {}  # ids that are not UUIDs (a server's own idea)

    def __len__(self) -> int:
        return self._count

    @staticmethod
    def _digest(key: str) -> bytes:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:16]
        return digest if digest != DoneSet._EMPTY else b"\x01" + digest[1:]

    def _find(self, digest: bytes) -> int:
        """The slot holding ``digest``, or the empty slot where it would go."""
        mask = self._capacity - 1
        slot = int.from_bytes(digest[:8], "little") & mask
        slots = self._slots
        while True:
            offset = slot * self._SLOT
            held = slots[offset:offset + 16]
            if held == digest or held == self._EMPTY:
                return offset
            slot = (slot + 1) & mask

    def add(self, key: str, session_id: str) -> None:
        digest = self._digest(key)
        offset = self._find(digest)
        if self._slots[offset:offset + 16] == self._EMPTY:
            self._count += 1
        try:
            value = uuid.UUID(session_id).bytes
            self._odd.pop(digest, None)
        except ValueError:
            value = bytes(16)
            if session_id:
                self._odd[digest] = session_id
        self._slots[offset:offset + self._SLOT] = digest + value
        if self._count * 4 > self._capacity * 3:
            self._grow()

    def get(self, key: str) -> str | None:
        """The session id a done record was given ("" when unknown); None when not done."""
        digest = self._digest(key)
        offset = self._find(digest)
        if self._slots[offset:offset + 16] != digest:
            return None
        value = bytes(self._slots[offset + 16:offset + self._SLOT])
        if value == self._EMPTY:
            return self._odd.get(digest, "")
        return str(uuid.UUID(bytes=value))

    def _grow(self) -> None:
        old, size = self._slots, self._SLOT
        self._capacity *= 2
        self._slots = bytearray(self._capacity * size)
        for offset in range(0, len(old), size):
            digest = bytes(old[offset:offset + 16])
            if digest != self._EMPTY:
                new = self._find(digest)
                self._slots[new:new + size] = old[offset:offset + size]


class Journal:
    """Resumable replays: load what is done, write down what gets done.

    Usable after a crash at any moment: a torn last line is dropped on load; a
    success that was not written yet is sent again with the same session id.
    """

    def __init__(self, path: Path, *, create: bool = True, readonly: bool = False, load_done: bool = True) -> None:
        """``readonly``: load, never write (the sending processes of a run). ``load_done``:
        build the done set (the writing process of a run that others send for needs none)."""
        self.path = path
        self.readonly = readonly
        self.load_done = load_done
        self.done = DoneSet()
        self.run = ""
        self.version = VERSION
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._last_sync = time.monotonic()
        #: Inputs known from earlier runs: id -> (real path, fingerprint).
        self._inputs: dict[str, tuple[str, str]] = {}
        self._claimed: dict[str, str] = {}  # this run: path as given -> input id
        if path.exists():
            self._load()
        elif create:
            self._create()
        else:
            self.run = str(uuid.uuid4())  # a dry run without a journal yet: nothing is written

    # ------------------------------------------------------------------ the file

    def _create(self) -> None:
        self.run = str(uuid.uuid4())
        header = {"journal": JOURNAL_KIND, "version": VERSION, "run": self.run, "created": int(time.time() * 1000)}
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except OSError as exc:
            raise InvalidInput(f"journal {self.path}: cannot create it ({exc.strerror}); check the path") from None
        self._write(header)
        os.fsync(self._fd)  # the run id must survive: every derived session id hangs on it
        _fsync_dir(self.path.parent)

    def _load(self) -> None:
        try:  # before opening: opening a named pipe would wait for a writer
            regular = stat.S_ISREG(os.stat(self.path).st_mode)
        except OSError as exc:
            raise InvalidInput(f"journal {self.path}: cannot read it ({exc.strerror})") from None
        if not regular:
            raise InvalidInput(f"journal {self.path} is not a regular file; give the path of a file")
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InvalidInput(f"journal {self.path}: cannot read it ({exc.strerror})") from None
        with handle:
            first = handle.readline(MAX_LINE)
            try:
                header = json.loads(first) if first.endswith(b"\n") else None
            except ValueError:
                header = None
            if not isinstance(header, dict) or header.get("journal") != JOURNAL_KIND or not header.get("run"):
                raise InvalidInput(
                    f"journal {self.path} is not an hhsession replay journal; give a new path, or delete it "
                    f"(its sessions would then be sent again as new ones)"
                )
            self.run = str(header["run"])
            version = header.get("version")
            if version not in (1, 2):
                raise InvalidInput(
                    f"journal {self.path} was written by a newer hhsession (format {version!r}); "
                    f"resume it with that version"
                )
            self.version = version
            keep = len(first)
            while raw := handle.readline(MAX_LINE):
                if not raw.endswith(b"\n"):
                    if len(raw) >= MAX_LINE:
                        raise InvalidInput(f"journal {self.path} has a line longer than 1 MiB: it is not an "
                                           f"hhsession replay journal")
                    break  # a torn last line from a crash mid-write: dropped below
                keep += len(raw)
                if not self.load_done and not raw.startswith(b'{"input"'):
                    continue  # a record's line: only the done set needs it
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue  # a torn line in the middle cannot happen with O_APPEND; skip it anyway
                if not isinstance(entry, dict):
                    continue
                if isinstance(entry.get("input"), str):
                    self._inputs[entry["input"]] = (str(entry.get("path", "")), str(entry.get("fingerprint", "")))
                elif self.load_done and entry.get("status") == "ok" and isinstance(entry.get("key"), str):
                    self.done.add(entry["key"], str(entry.get("session_id") or ""))
        if self.readonly:
            return
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            if keep != os.fstat(self._fd).st_size:
                os.truncate(self.path, keep)
        except OSError as exc:
            raise InvalidInput(f"journal {self.path}: cannot write it ({exc.strerror})") from None

    def detach(self) -> None:
        """Never write again: a forked sending process holds the parent's journal, whose file the
        parent keeps open and alone writes."""
        self.readonly, self._fd = True, None

    def _write(self, entry: dict[str, Any]) -> None:
        assert self._fd is not None
        data = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        os.write(self._fd, data)  # one write per line: a crash tears at most the last line

    # ------------------------------------------------------------------ identity

    def key(self, record: Record) -> str:
        """What the record is, across runs and however its input was spelled."""
        if self.version == 1:  # journals of hhsession 0.1: the path as given, the line
            name = "-" if record.path == "-" else os.path.normpath(record.path)
            return f"{name}:{record.line}:{_digest(record)}"
        position = str(record.line) if record.element is None else f"e{record.element}"
        return f"{self._input_id(record.path)}:{position}:{_digest(record)}"

    def _input_id(self, path: str) -> str:
        known = self._claimed.get(path)
        if known is not None:
            return known
        if path in ("-", ""):  # standard input, piped or redirected from a file alike; a Python caller's values
            ident = "-" if path == "-" else "values"
        else:
            ident = self._identify(path)
        self._claimed[path] = ident
        return ident

    def _identify(self, path: str) -> str:
        """The same file by its real path, else the same content elsewhere, else a new input."""
        real = os.path.realpath(path)
        try:
            regular = stat.S_ISREG(os.stat(real).st_mode)
        except OSError:
            regular = False
        if not regular:  # a pipe or a device: nothing to fingerprint without consuming it
            return f"path:{path}"
        for ident, (known_real, _) in self._inputs.items():
            if known_real == real:  # the same file, however it was spelled (listed twice: the same input)
                return ident
        fingerprint = _fingerprint(real)
        # The same content elsewhere (a checkout in another directory): an input no file of this run is.
        taken = set(self._claimed.values())
        for ident, (_, known_print) in self._inputs.items():
            if known_print == fingerprint and ident not in taken:
                self._note_input(ident, real, fingerprint)  # moved: remember where it is now
                return ident
        ident = f"F{len(self._inputs) + 1}"
        while ident in self._inputs:
            ident += "+"
        self._note_input(ident, real, fingerprint)
        return ident

    def _note_input(self, ident: str, real: str, fingerprint: str) -> None:
        self._inputs[ident] = (real, fingerprint)
        with self._lock:
            if self._fd is not None:
                self._write({"input": ident, "path": real, "fingerprint": fingerprint})
                os.fsync(self._fd)  # derived ids hang on this line too

    def identify(self, paths: list[str]) -> None:
        """Give every input its id now (written down), so that processes loading the journal later agree."""
        for path in paths:
            self._input_id(path)

    def session_id_for(self, key: str) -> str:
        """The session id this run gives a record without one: the same in every run."""
        digest = hashlib.sha256(f"{self.run}\0{key}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    # ------------------------------------------------------------------ outcomes

    def record(self, key: str, source: str, session_id: str, status: str) -> None:
        """Write down a record's outcome and the session id it was given.

        Only "ok" lines make a record done; a "failed" line says which id a
        later run will send it with again. (The done set is what earlier runs
        did: a record comes once per run.)
        """
        with self._lock:
            if self._fd is None:
                return
            self._write({"key": key, "source": source, "session_id": session_id, "status": status})
            if time.monotonic() - self._last_sync > 1.0:
                os.fsync(self._fd)
                self._last_sync = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None


def _fingerprint(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read(FINGERPRINT_BYTES)).hexdigest()[:32]
    except OSError:
        return ""


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
