"""Reading input (SPEC §2–3): files, standard input, JSON objects, JSON Lines, JSON arrays.

Everything that turns bytes from a user into JSON values lives here, with the
errors a person can act on (line and column, the file, the fix). Records of a
replay are streamed: one at a time, never the whole input at once.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from .errors import InvalidInput
from .times import json_type

#: One JSON document (a `start -f` input, one replay record) is at most this big.
MAX_INPUT_BYTES = 16 * 1024 * 1024
CHUNK = 256 * 1024


# --------------------------------------------------------------------------- one JSON document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(data: bytes | str, origin: str) -> Any:
    """Parse JSON text, with errors that give line and column."""
    if isinstance(data, bytes):
        if len(data) > MAX_INPUT_BYTES:
            raise InvalidInput(f"{origin}: input is larger than 16 MiB; split it into smaller files")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{origin}: not UTF-8 (bad byte at offset {exc.start}); "
                f"convert it, e.g. iconv -f latin1 -t utf-8"
            ) from None
    else:
        text = data
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        hint = ""
        if exc.msg == "Extra data":
            hint = "; more than one JSON value: for JSON Lines (one object per line) use hhsession replay"
        raise InvalidInput(
            f"{origin}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{origin}: invalid JSON: {exc}") from None


def open_input(path: str) -> BinaryIO:
    """Open a file for reading, with errors a person can act on."""
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise InvalidInput(f"{path}: permission denied; check the file's permissions") from None


def read_bytes(path: str, stdin: BinaryIO | None = None) -> bytes:
    """Read a file, or standard input for ``-``, refusing more than 16 MiB."""
    if path == "-":
        if stdin is None:
            raise InvalidInput("-: standard input is not available")
        data = stdin.read(MAX_INPUT_BYTES + 1)
    else:
        with open_input(path) as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        label = "standard input" if path == "-" else path
        raise InvalidInput(f"{label}: input is larger than 16 MiB; split it into smaller files")
    return data


def read_json_object(path: str, stdin: BinaryIO | None = None) -> dict[str, Any]:
    """Read one JSON object from a file or ``-`` (standard input)."""
    origin = "standard input" if path == "-" else path
    data = read_bytes(path, stdin)
    if not data.strip():
        raise InvalidInput(f"{origin}: empty input; expected one JSON object")
    return expect_object(parse_json(data, origin), origin)


def expect_object(value: Any, origin: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{origin}: expected a JSON object {{...}}, got {json_type(value)}")
    return value


# --------------------------------------------------------------------------- records of a replay


@dataclass
class Record:
    index: int  # position across all inputs, from 0 (what --shard divides)
    location: str  # "file:line", as shown to people (the "source" of result lines)
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


def read_records(paths: Iterable[str], stdin: BinaryIO | None) -> Iterator[Record]:
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
        record.value = parse_json(record.text, record.location)
    except InvalidInput as exc:
        record.error = exc.message.removeprefix(f"{record.location}: ")
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


def record_from_value(value: Any, index: int, label: str = "record") -> Record:
    """A record from a Python value (a library caller's dict): ``record:1`` for index 0."""
    text = json.dumps(value, sort_keys=True, default=str)
    return Record(index, f"{label}:{index + 1}", _key(label, index + 1, text), text, value=value)
