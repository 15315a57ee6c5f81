"""Reading input (SPEC §2–3): files, standard input, JSON objects, JSON Lines, JSON arrays, JSONC, YAML.

Everything that turns bytes from a user into JSON values lives here, with the
errors a person can act on (line and column, the file, the fix). Records of a
replay are streamed: one at a time, never the whole input at once. A file's
format is told by its extension (``formats``: ``.jsonc``, ``.yaml``, ``.yml``;
anything else, and standard input, is JSON).
"""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from io import BytesIO
from typing import Any, BinaryIO

from .errors import InvalidInput
from .formats import (
    JSON,
    JSONC,
    YAML,
    Unreadable,
    _finite_float,
    _plain,
    _reject_constant,
    decode,
    format_of,
    line_column,
    parse_document,
    strip_jsonc,
    yaml_units,
)
from .formats import parse_json as parse_json  # re-exported: this module's API (cli/flags.py)
from .payload import MAX_INPUT_BYTES  # one bound, defined beside the body it also bounds
from .times import json_type

CHUNK = 256 * 1024


# --------------------------------------------------------------------------- one document


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


def read_json_object(path: str, stdin: BinaryIO | None = None, several: str = "") -> dict[str, Any]:
    """Read one object from a file (JSON, JSONC or YAML, by its extension) or ``-`` (standard input,
    JSON); ``several``: what to say to an array."""
    origin = "standard input" if path == "-" else path
    kind = format_of(path)
    found, value = parse_document(read_bytes(path, stdin), origin, kind)
    one = "object (a YAML mapping of key: value)" if kind == YAML else "JSON object {...}"
    if not found:
        blank = "white space or comments" if kind != JSON else "white space"
        raise InvalidInput(f"{origin}: empty input (nothing but {blank}); expected one {one}")
    if kind == YAML and not isinstance(value, dict):
        got = "a list" if isinstance(value, list) else json_type(value)
        raise InvalidInput(f"{origin}: expected one {one}, got {got}" + (f"; {several}" if several and got == "a list" else ""))
    if isinstance(value, list) and several:
        raise InvalidInput(f"{origin}: expected one JSON object {{...}}, got an array; {several}")
    return expect_object(value, origin)


def expect_object(value: Any, origin: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{origin}: expected a JSON object {{...}}, got {json_type(value)}")
    return value


# --------------------------------------------------------------------------- records of a replay


_UNPARSED: Any = object()


class Record:
    """One record of a replay input, read but not yet built into a payload.

    A line of JSON Lines is parsed when its ``value`` (or ``error``) is first
    asked for: a record another shard takes is never parsed here.
    """

    __slots__ = ("index", "location", "path", "line", "element", "text", "_value", "_error")

    def __init__(self, index: int, location: str, path: str, line: int, element: int | None, text: str,
                 value: Any = None, error: str | None = None, parse: bool = False) -> None:
        self.index = index  # position across all inputs, from 0 (what --shard divides)
        self.location = location  # "file:line", as shown to people (the "source" of result lines)
        self.path = path  # the input as given on the command line; "-" for standard input
        self.line = line  # the line it starts on
        self.element = element  # its position in a JSON array; None in JSON Lines (the line is its position)
        self.text = text  # the record's JSON text
        self._value = _UNPARSED if parse else value
        self._error = error

    def __repr__(self) -> str:
        return f"Record({self.location!r}, index={self.index})"

    def _parse(self) -> None:
        self._value = None
        try:
            self._value = parse_json(self.text, self.location)
        except InvalidInput as exc:
            self._error = exc.message.removeprefix(f"{self.location}: ")
            if self.text.startswith("{") and not self.text.endswith("}"):
                self._error += (
                    " (JSON Lines holds one whole object per line; for one pretty-printed object "
                    "use hhsession start -f, for many put them in a JSON array)"
                )

    @property
    def value(self) -> Any:
        if self._value is _UNPARSED:
            self._parse()
        return self._value

    @property
    def error(self) -> str | None:
        if self._value is _UNPARSED:
            self._parse()
        return self._error



def check_inputs(paths: list[str]) -> None:
    """Every input is readable, before anything is sent (a missing third file is exit 2, not exit 6)."""
    if paths.count("-") > 1:
        raise InvalidInput("- (standard input) is given more than once; give it once")
    for path in paths:
        if path == "-":
            continue
        try:
            mode: int | None = os.stat(path).st_mode
        except OSError:
            mode = None  # open_input says what is wrong with it
        if mode is None or stat.S_ISREG(mode) or stat.S_ISDIR(mode):
            open_input(path).close()
        elif not os.access(path, os.R_OK):
            raise InvalidInput(f"{path}: permission denied; check the file's permissions")
        # A named pipe or a device is not opened here: opening and closing a pipe would end its writer's stream.


class InputRecords:
    """The records of some inputs, read on iteration; knows its paths (the journal identifies the
    inputs before any record is read)."""

    def __init__(self, paths: Iterable[str], stdin: BinaryIO | None) -> None:
        self.paths = list(paths)
        self.stdin = stdin

    def __iter__(self) -> Iterator[Record]:
        return _read_all(self.paths, self.stdin)


def read_records(paths: Iterable[str], stdin: BinaryIO | None = None) -> InputRecords:
    """Every record of every input, in order, one at a time.

    A JSON input is JSON Lines or one JSON array (told by its first character
    that is not white space). A ``.jsonc`` or ``.yaml``/``.yml`` file is one
    document, read whole (at most 16 MiB): an array (a YAML list) of records,
    or one record; each record is located at the line it starts on. A record
    that cannot be read is yielded with its ``error``; what cannot be read past
    (16 MiB without a record boundary, a damaged array, a YAML syntax error)
    ends that input with one such record, and the next input follows.
    """
    return InputRecords(paths, stdin)


def _read_all(paths: list[str], stdin: BinaryIO | None) -> Iterator[Record]:
    index = 0
    for path in paths:
        if path == "-":
            if stdin is None:
                raise InvalidInput("-: standard input is not available")
            stream, close = stdin, False
        else:
            stream, close = open_input(path), True
        try:
            kind = format_of(path)
            records = _read_input(_Input(stream), path) if kind == JSON else _read_document(stream, path, kind)
            for record in records:
                record.index = index
                index += 1
                yield record
        finally:
            if close:
                stream.close()


class _Input:
    """A binary stream read as it arrives (``read1``), with bytes put back in front."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.prefix = b""  # bytes read ahead and put back
        self._read1 = getattr(stream, "read1", None)

    def read(self) -> bytes:
        """Some bytes (what has arrived, at most CHUNK); b"" at the end."""
        if self.prefix:
            data, self.prefix = self.prefix, b""
            return data
        return self._read1(CHUNK) if self._read1 is not None else self.stream.read(CHUNK)

    def readline(self, limit: int) -> bytes:
        if self.prefix:
            cut = self.prefix.find(b"\n", 0, limit)
            if cut >= 0 or len(self.prefix) >= limit:
                end = cut + 1 if cut >= 0 else limit
                data, self.prefix = self.prefix[:end], self.prefix[end:]
                return data
            data, self.prefix = self.prefix, b""
            return data + self.stream.readline(limit - len(data))
        return self.stream.readline(limit)


_SPACE = b" \t\r\n"


def _read_input(stream: _Input, path: str) -> Iterator[Record]:
    """One input: white space skipped (any amount, a byte-order mark first), then lines or an array."""
    label = path
    line, run, first = 1, 0, True  # run: bytes since the last newline
    while True:
        chunk = stream.read()
        if not chunk:
            return  # empty, or only white space: no records
        if first:
            chunk, first = chunk.removeprefix(b"\xef\xbb\xbf"), False
        content = len(chunk) - len(chunk.lstrip(_SPACE))
        skipped = chunk[:content]
        line += skipped.count(b"\n")
        run = len(skipped) - skipped.rfind(b"\n") - 1 if b"\n" in skipped else run + len(skipped)
        if content < len(chunk):
            stream.prefix = chunk[content:]
            break
        if run > MAX_INPUT_BYTES:
            yield _unreadable(path, label, line, "16 MiB of white space without a record")
            return
    if stream.prefix[:1] == b"[":
        yield from _read_array(stream, path, label, line)
    else:
        yield from _read_lines(stream, path, label, line, run)


def _unreadable(path: str, label: str, line: int, why: str) -> Record:
    return Record(0, f"{label}:{line}", path, line, None, "", error=why)


def _read_document(stream: BinaryIO, path: str, kind: str) -> Iterator[Record]:
    """A .jsonc or YAML input: one document, read whole; its top-level array's elements (a JSONC array
    through the JSON array reader, its comments blanked), or the document as one record."""
    data = stream.read(MAX_INPUT_BYTES + 1)
    try:
        if len(data) > MAX_INPUT_BYTES:
            raise InvalidInput(f"{path}: a {kind} input is read whole, so at most 16 MiB; split it, or give "
                               f"JSON Lines, which may be any size")
        text = decode(data, path)
        if kind == YAML:
            for unit in yaml_units(text, split=True):
                value, error, shown = unit.value, unit.error, unit.source  # (refused: the text written)
                try:
                    shown = shown if error else json.dumps(value, ensure_ascii=False)
                except (ValueError, RecursionError):  # (aliases and depth are bounded: not expected)
                    error = "nested too deep (at most about 900 levels)"
                yield Record(0, f"{path}:{unit.line}", path, unit.line, unit.element, shown,
                             value=None if error else value, error=error)
            return
        text = strip_jsonc(text)
    except InvalidInput as exc:
        yield _unreadable(path, path, 1, exc.message.removeprefix(f"{path}: "))
        return
    except Unreadable as exc:
        yield _unreadable(path, path, exc.line, f"{exc.why}; the rest of the file is skipped")
        return
    body = text.lstrip(" \t\r\n")
    if body.startswith("["):
        yield from _read_input(_Input(BytesIO(text.encode("utf-8"))), path)
    elif body:
        line = line_column(text, len(text) - len(body))[0]
        try:
            value, error = parse_json(text, path, kind=JSONC), None
        except InvalidInput as exc:
            value, error = None, exc.message.removeprefix(f"{path}: ")
        yield Record(0, f"{path}:{line}", path, line, None, body.rstrip(), value=value, error=error)


def _read_lines(stream: _Input, path: str, label: str, line: int, run: int) -> Iterator[Record]:
    """JSON Lines: one object per line, blank lines skipped."""
    line -= 1
    limit = MAX_INPUT_BYTES + 1 - run  # the first line began with white space already skipped
    while True:
        raw = stream.readline(limit)
        limit = MAX_INPUT_BYTES + 1
        if not raw:
            return
        line += 1
        if not raw.endswith(b"\n") and len(raw) >= MAX_INPUT_BYTES + 1 - run:
            yield _unreadable(path, label, line, (
                "a line longer than 16 MiB (a record is at most 16 MiB); the rest of this input "
                "cannot be read past it and is skipped"
            ))
            return
        run = 0
        source = f"{label}:{line}"
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", "replace").strip()
            yield Record(0, source, path, line, None, text, error=f"not UTF-8 (bad byte at offset {exc.start})")
            continue
        if not text:
            continue
        yield Record(0, source, path, line, None, text, parse=True)


class _BrokenArray(Exception):
    """The rest of an array cannot be read (cut short, not UTF-8, an element too large)."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(why)
        self.line = line
        self.why = why


def _read_array(stream: _Input, path: str, label: str, line: int) -> Iterator[Record]:
    """The elements of one JSON array; where the rest is unreadable, one invalid record ends it.

    Elements before the damage were already sent, so this is not a usage error:
    the run goes on with the next input and ends with exit 6.
    """
    try:
        yield from _array_elements(stream, path, label, line)
    except _BrokenArray as exc:
        yield _unreadable(path, label, exc.line, exc.why)


#: What the scanner that finds where a value ends stops at: quotes, escapes, brackets.
_SPECIAL = re.compile(r'["\\\[\]{}]')
_IN_STRING = re.compile(r'["\\]')
_SCALAR_END = re.compile(r'[,\]\s]')


def _value_end(buf: str, pos: int) -> int | None:
    """Where the JSON value starting at ``pos`` ends, by brackets and strings only; None: not in ``buf``.

    Used when the decoder refused an element (invalid, too deep, a huge number),
    to skip just that element and go on with the next.
    """
    if buf[pos] not in '[{"':
        match = _SCALAR_END.search(buf, pos)
        return match.start() if match else None
    depth, index = 0, pos
    while True:
        match = _SPECIAL.search(buf, index)
        if match is None:
            return None
        char, index = match.group(), match.end()
        if char == '"':
            while True:
                inner = _IN_STRING.search(buf, index)
                if inner is None:
                    return None
                index = inner.end() + (1 if inner.group() == "\\" else 0)
                if inner.group() == '"':
                    break
            if depth == 0:
                return index
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return index


def _array_elements(stream: _Input, path: str, label: str, line: int) -> Iterator[Record]:
    """The elements of one JSON array, parsed as they come, never the whole file at once."""
    decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    buf, pos, eof, element = "", 0, False, 0

    def fill() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        chunk = stream.read()
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
        skipped = 0  # white space in a row, across refills (each drops what was read)
        while True:
            start = pos
            while pos < len(buf) and buf[pos] in " \t\r\n":
                if buf[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buf):
                return buf[pos]
            skipped += pos - start
            if skipped > MAX_INPUT_BYTES:  # (`yes ' '` into an array: never a record, never an end)
                raise _BrokenArray(line, "16 MiB of white space in the array; the rest of the input is skipped")
            if not fill():
                return ""

    skip_space()  # "[": _read_input saw it
    pos += 1
    expect_value = True
    while True:
        char = skip_space()
        if char == "]":
            pos += 1
            if skip_space():  # a JSON Lines file whose first line is an array: not silently cut short
                raise _BrokenArray(line, "more after the end of the JSON array (a JSON Lines file whose first "
                                         "line is an array?); the rest of the file is skipped")
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
        error: str | None = None
        value: Any = None
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                break
            except json.JSONDecodeError as exc:
                if not eof and len(buf) - pos <= MAX_INPUT_BYTES and fill():
                    continue  # most likely cut by the chunk: read on
                problem = exc.msg
            except RecursionError:
                problem = "nested too deep (at most about 900 levels)"
            except ValueError as exc:  # a number of more than 4300 digits, NaN, Infinity, 1e400
                problem = _plain(exc)
            # The decoder refused this element: find where it ends, to go on after it.
            end_found = _value_end(buf, pos)
            while end_found is None and len(buf) - pos <= MAX_INPUT_BYTES and fill():
                end_found = _value_end(buf, pos)
            if end_found is None:
                if len(buf) - pos > MAX_INPUT_BYTES:
                    raise _BrokenArray(start_line, "an array element is larger than 16 MiB; the rest of the file is skipped")
                raise _BrokenArray(start_line, f"invalid JSON in the array: {problem}; the rest of the file is skipped")
            end, error = end_found, f"invalid JSON: {problem}"
            break
        text = buf[pos:end]
        if end - pos > MAX_INPUT_BYTES and error is None:
            error = "the record is larger than 16 MiB"
        line += text.count("\n")
        pos = end
        expect_value = False
        yield Record(0, f"{label}:{start_line}", path, start_line, element, text, value=value, error=error)
        element += 1


def count_lines(paths: Iterable[str]) -> int | None:
    """Non-empty lines of JSON Lines files, for a progress bar's ETA; None when it cannot tell."""
    total = 0
    for path in paths:
        if path == "-" or format_of(path) != JSON:  # a .jsonc or YAML file: its records are not its lines
            return None
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe or a device: reading it would consume it
                return None
            with open(path, "rb") as handle:
                head = handle.read(CHUNK).lstrip(b"\xef\xbb\xbf" + _SPACE)
                if head[:1] == b"[":
                    return None
                handle.seek(0)
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
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):  # keys of mixed types, huge ints, too deep: the builder says what
        text = f"<record {index + 1}: not JSON>"
    return Record(index, f"{label}:{index + 1}", label, index + 1, None, text, value=value)
