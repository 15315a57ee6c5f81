"""The formats a file is read in, told by its extension (SPEC §2): JSON, JSONC and YAML.

``.jsonc`` is JSON with ``//`` and ``/* */`` comments and trailing commas, and
nothing more: no NaN, no single quotes, no unquoted keys. ``.yaml`` / ``.yml``
is YAML as PyYAML's safe loader reads it, imported only when a YAML file is read,
and turned into JSON values explicitly, never left for ``json.dumps`` to fail on:

- an unquoted scalar YAML 1.1 and 1.2 read differently is refused with its line
  and column (quote it, or write it as JSON would): ``yes``/``no``/``on``/``off``
  (booleans in 1.1 only: the "Norway problem"), base 60 (``1:30``), a leading
  zero (``0755``: octal in 1.1), ``0b101``, ``1_000``, and ``1e3``, ``0o17``, ``08``
  (text in 1.1, numbers in 1.2); ``1.10`` is the number
  1.1 in both, and is read so;
- a key is the text written: ``on:``, ``200:``, ``2026-11-26:`` are the keys
  ``"on"``, ``"200"``, ``"2026-11-26"``; a list or a mapping as a key is refused;
- a date or a time (``2026-11-26T10:00:00Z``) is the text written, a string
  (read by the time grammar as that string in JSON would be);
- refused with line and column: ``.nan`` and ``.inf`` (and floats too large),
  ``!!binary``, ``!!set``, ``!!omap``, ``!!pairs``, unknown tags, an alias
  inside its own anchor (JSON has no cycles), and aliases that expand the
  document by more than 16 MiB (the "billion laughs": sizes are counted, the
  values are never copied); nesting deeper than about 900 levels, as in JSON;
- a key given twice: the last one wins, as ``json.loads`` does for JSON;
  merge keys (``<<: *base``) are applied as PyYAML applies them.

Standard input (``-``) and any other extension are JSON. Everything here is
pure: the callers (``inputs``) read the bytes and say where they came from.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from .errors import InvalidInput
from .payload import MAX_INPUT_BYTES  # one bound, defined beside the body it also bounds

JSON, JSONC, YAML = "JSON", "JSONC", "YAML"
_EXTENSIONS = {".jsonc": JSONC, ".yaml": YAML, ".yml": YAML}

#: What aliases may add to a YAML document, and how deep it may nest (as JSON parsing allows).
MAX_ALIAS_EXPANSION = 16 * 1024 * 1024
MAX_DEPTH = 900


def format_of(path: str) -> str:
    """``JSON``, ``JSONC`` or ``YAML``, by the extension, in any case; ``-`` (standard input) is JSON."""
    if path == "-":
        return JSON
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower(), JSON)


def line_column(text: str, pos: int) -> tuple[int, int]:
    """1-based, counted as ``json`` counts them (lines by ``\\n``, columns in characters)."""
    return text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)


class Unreadable(Exception):
    """The rest of the document cannot be read: a syntax error, a /* never closed, an alias bomb, a
    second YAML document. ``why`` says where (line and column) and what to do."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(why)
        self.line = line
        self.why = why


# --------------------------------------------------------------------------- one JSON document (JSONC blanked)


class _Refused(ValueError):
    """A number JSON does not allow; ``token``: its text, to find where it is."""

    def __init__(self, message: str, token: str) -> None:
        super().__init__(message)
        self.token = token


def _reject_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number JSON allows", name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise _Refused(f"{text} is too large for a number (it would be Infinity, which is not JSON)", text)
    return value


def _where(text: str, exc: ValueError) -> str:
    """`` at line L column C`` of the number ``json`` refused (the first one outside a string)."""
    token = getattr(exc, "token", None)
    target = re.escape(token) if token else r"\d{4301}" if "digits" in str(exc) else None
    if target is not None:
        for match in re.finditer(rf'"(?:[^"\\]|\\.)*"|{target}', text):
            if match.group()[0] != '"':
                line, column = line_column(text, match.start())
                return f" at line {line} column {column}"
    return ""


def decode(data: bytes, origin: str) -> str:
    """UTF-8 (a byte-order mark dropped), at most 16 MiB."""
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidInput(f"{origin}: input is larger than 16 MiB; split it into smaller files")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{origin}: not UTF-8 (bad byte at offset {exc.start}); convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None


def parse_json(data: bytes | str, origin: str, quoting_hint: str | None = None, kind: str = JSON) -> Any:
    """Parse JSON text, with errors that give line and column; ``quoting_hint``: the flag it came from,
    for the hint a shell that ate the quotes (``-m {"a":1}`` unquoted) needs; ``kind``: JSONC once its
    comments are blanked (the words of the errors)."""
    text = decode(data, origin) if isinstance(data, bytes) else data
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        hint = ""
        if exc.msg == "Extra data" and kind == JSONC:
            hint = "; more than one JSON value: a .jsonc file holds one (for several, put them in an array)"
        elif exc.msg == "Extra data":
            hint = "; more than one JSON value: for JSON Lines (one object per line) use hhsession replay"
        elif quoting_hint and text.lstrip()[:1] in ("{", "[") and '"' not in text:
            hint = (f"; the shell may have removed its double quotes: put the whole value in single quotes, "
                    f"e.g. {quoting_hint} '{{\"key\": \"value\"}}'")
        raise InvalidInput(
            f"{origin}: invalid {kind} at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}"
        ) from None
    except RecursionError:
        raise InvalidInput(f"{origin}: invalid {kind}: nested too deep (at most about 900 levels)") from None
    except ValueError as exc:  # NaN, Infinity, 1e400, a number of more than 4300 digits
        raise InvalidInput(f"{origin}: invalid {kind}{_where(text, exc)}: {_plain(exc)}") from None


def _plain(exc: ValueError) -> str:
    """Python's words for a refused number, as a user of a CLI needs them."""
    text = str(exc)
    if "digits" in text and "int" in text:
        return "a number has more than 4300 digits"
    return text


def parse_document(data: bytes, origin: str, kind: str = JSON) -> tuple[bool, Any]:
    """The one value of a JSON, JSONC or YAML document; ``(False, None)``: there is none (white space,
    comments)."""
    text = decode(data, origin)
    if kind == YAML:
        return load_yaml(text, origin)
    if kind == JSONC:
        try:
            text = strip_jsonc(text)
        except Unreadable as exc:
            raise InvalidInput(f"{origin}: {exc.why}") from None
    if not text.strip(" \t\r\n"):
        return False, None
    return True, parse_json(text, origin, kind=kind)


# --------------------------------------------------------------------------- JSONC

# No package: json5, the maintained nearest, also takes NaN, single quotes, unquoted keys (refused here). So
# comments and trailing commas become spaces in place, and json reads the rest: its refusals, lines, columns.
_JSONC = re.compile(
    r'"(?:[^"\\\n]|\\[^\n])*+"?'  # a string (kept), ended by its quote or, unterminated, by the line
    r"|//[^\n]*|/\*.*?\*/|/\*"  # comments; a /* never closed
    # a comma with only space or comments before ] or } (possessive: nothing inside a comment is a bracket)
    r"|,(?=(?:[ \t\r\n]++|//[^\n]*+|(?>/\*.*?\*/))*+[\]}])",
    re.S,
)
_NOT_BREAK = re.compile(r"[^\r\n]")


def strip_jsonc(text: str) -> str:
    """JSONC as JSON of the same length and lines: comments and trailing commas turned into spaces.

    A comma after ``[``, ``{``, ``:`` or another comma is not a trailing comma: it
    is kept, for the JSON parser to refuse with its position.
    """
    out: list[str] = []
    done = seen = 0  # text[:done] is in out; text[:seen] has been looked at
    previous = ""  # the last character that is neither white space nor in a comment
    for match in _JSONC.finditer(text):
        start, end = match.span()
        gap = text[seen:start].rstrip(" \t\r\n")
        if gap:
            previous = gap[-1]
        seen = end
        token = match.group()
        if token[0] == '"':
            previous = '"'
        elif token == "/*":
            line, column = line_column(text, start)
            raise Unreadable(line, f"invalid JSONC at line {line} column {column}: "
                                   f"a /* comment is never closed; end it with */")
        elif token[0] == "/":
            out += (text[done:start], _NOT_BREAK.sub(" ", token))
            done = end
        elif previous and previous not in "[{,:":
            out += (text[done:start], " ")
            done = end
        else:
            previous = ","
    out.append(text[done:])
    return "".join(out)


# --------------------------------------------------------------------------- YAML


class Unit(NamedTuple):
    """One value read from a YAML document: the document, or an element of its top-level list."""

    line: int  # where it starts, from 1
    element: int | None  # its position in the top-level list; None for the whole document
    value: Any
    error: str | None  # the first thing refused in it ("YAML at line L column C: ..."); value is then partial
    source: str  # with an error, its text as written (what a list of failures shows); else ""


def load_yaml(text: str, origin: str) -> tuple[bool, Any]:
    """The one value of a YAML document: ``(False, None)`` when there is no document (only comments)."""
    try:
        units = list(yaml_units(text, split=False))
    except Unreadable as exc:
        raise InvalidInput(f"{origin}: {exc.why}") from None
    if not units:
        return False, None
    if units[0].error:
        raise InvalidInput(f"{origin}: {units[0].error}")
    return True, units[0].value


def yaml_units(text: str, split: bool) -> Iterator[Unit]:
    """The document's value, or (``split``) each element of a top-level list as soon as it is read.

    A value refused inside a unit makes that unit's ``error`` and the reading
    goes on; what cannot be read past raises ``Unreadable``.
    """
    import yaml

    libyaml = hasattr(yaml, "CSafeLoader")  # its parser when it is there: 5 times faster
    loader = None
    try:
        loader = (yaml.CSafeLoader if libyaml else yaml.SafeLoader)(text)  # (PyYAML's checks characters here)
        yield from _Builder(yaml, loader, split, text).units()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(str(exc.problem or exc.context or "cannot be read").split())
        if exc.context and exc.problem and exc.context_mark:
            problem += f" ({exc.context} at line {exc.context_mark.line + 1} column {exc.context_mark.column + 1})"
        at = text.split("\n")[line - 1][column - 1 : column] if mark else ""
        if "tab" in problem or at == "\t":
            problem += "; indent with spaces: YAML does not allow tabs there"
        raise Unreadable(line, f"invalid YAML at line {line} column {column}: {problem}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (libyaml counts bytes)
        position = len(text.encode()[: exc.position].decode(errors="ignore")) if libyaml else exc.position
        line, column = line_column(text, position)
        raise Unreadable(line, f"invalid YAML at line {line} column {column}: {exc.reason} (#x{exc.character:04x}); "
                               f"remove it, or write it as an escape in a double-quoted string") from None
    finally:
        if loader is not None:
            loader.dispose()


_NO_KEY, _MERGE, _DROP = object(), object(), object()
_Y = "tag:yaml.org,2002:"


_NOT_JSON = {
    _Y + "binary": "binary data (!!binary) has no JSON form; give the base64 text as a string, without !!binary",
    _Y + "set": "a set (!!set) has no JSON form; use a list",
    _Y + "omap": "an ordered map (!!omap) has no JSON form; use a mapping",
    _Y + "pairs": "pairs (!!pairs) have no JSON form; use a mapping",
}


def _unknown(tag: str) -> str:
    return _NOT_JSON.get(tag) or f"unknown tag {tag.replace(_Y, '!!')}; remove it"


class _Fatal(Exception):
    def __init__(self, mark: Any, why: str) -> None:
        super().__init__(why)
        self.mark, self.why = mark, why


class _Frame:
    """A list or a mapping being read."""

    __slots__ = ("value", "is_map", "anchor", "mark", "size", "key", "merges", "is_units", "count")

    def __init__(self, value: Any, anchor: str | None, mark: Any, is_units: bool = False) -> None:
        self.value = value
        self.is_map = isinstance(value, dict)
        self.anchor, self.mark = anchor, mark
        self.size = 2  # what it takes as JSON, roughly: brackets, separators, its values
        self.key: Any = _NO_KEY  # a mapping's key waiting for its value
        self.merges: list[Any] = []  # what `<<` keys brought in, in order
        self.is_units = is_units  # the top-level list whose elements are units
        self.count = 0


class _Builder:
    """JSON values from the parser's events, with no node tree (PyYAML's costs about 100 bytes of memory
    for each byte of YAML): a top-level list's elements are read one at a time."""

    def __init__(self, yaml: Any, loader: Any, split: bool, text: str) -> None:
        self.yaml, self.loader, self.split, self.text = yaml, loader, split, text
        self.end_mark: Any = None  # where the event being read ends
        self.anchors: dict[str, tuple[Any, int, Any]] = {}  # name: (value, size, scalar event or None)
        self.open: set[str] = set()  # anchors of the collections being read
        self.stack: list[_Frame] = []
        self.done: list[Unit] = []
        self.error: str | None = None
        self.expanded = 0

    def units(self) -> Iterator[Unit]:
        events, get = self.yaml.events, self.loader.get_event
        get()  # StreamStartEvent
        event = get()
        if isinstance(event, events.StreamEndEvent):
            return  # no document: an empty file, or comments only
        try:
            handlers = {
                events.ScalarEvent: self.scalar, events.AliasEvent: self.alias,
                events.SequenceStartEvent: self.start, events.MappingStartEvent: self.start,
                events.SequenceEndEvent: self.end, events.MappingEndEvent: self.end,
            }
            while True:
                event = get()
                handler = handlers.get(type(event))
                if handler is None:
                    break  # DocumentEndEvent
                self.end_mark = event.end_mark
                handler(event)
                if self.done:
                    yield from self.done
                    self.done.clear()
            event = get()
            if isinstance(event, events.DocumentStartEvent):
                raise _Fatal(event.start_mark, "a second YAML document (---); give one document: "
                                               "for several records, one list of them")
        except _Fatal as exc:
            line, column = exc.mark.line + 1, exc.mark.column + 1
            raise Unreadable(line, f"invalid YAML at line {line} column {column}: {exc.why}") from None

    # ----------------------------------------------------------------- events

    def refuse(self, mark: Any, why: str) -> None:
        """The first refusal in the current unit is its error; the reading goes on."""
        if self.error is None:
            self.error = f"YAML at line {mark.line + 1} column {mark.column + 1}: {why}"

    def wants_key(self) -> bool:
        return bool(self.stack) and self.stack[-1].is_map and self.stack[-1].key is _NO_KEY

    def scalar(self, event: Any) -> None:
        if event.anchor is not None:
            self.anchors[event.anchor] = (_NO_KEY, len(event.value) + 2, event)
        if self.wants_key():
            merge = event.value == "<<" and event.tag is None and event.implicit[0]
            self.put(_MERGE if merge else event.value, 0, event.start_mark)
            return
        self.put(self.construct(event), len(event.value) + 2, event.start_mark)

    def construct(self, event: Any) -> Any:
        tag, value = event.tag, event.value
        if tag is None or tag == "!":
            tag = self.loader.resolve(self.yaml.ScalarNode, value, event.implicit)
        if tag == _Y + "str" or tag in (_Y + "timestamp", _Y + "merge", _Y + "value"):
            if event.tag is None and event.implicit[0] and tag == _Y + "str" and _YAML_1_2_NUMBER.fullmatch(value):
                self.refuse(event.start_mark, f"{value} is text to PyYAML (YAML 1.1) but a number in YAML 1.2, so "
                                              f"readers disagree; quote it for text, or write it as JSON would")
                return None
            return value  # a date or a time stays the text written
        if tag == _Y + "null":
            return None
        if event.tag is None and tag in (_Y + "bool", _Y + "int", _Y + "float"):
            read_as = _yaml_1_1_only(tag, value)
            if read_as:
                self.refuse(event.start_mark, f"{value} means {read_as} in YAML 1.1 but not in YAML 1.2, so "
                                              f"readers disagree; quote it for text, or write it as JSON would")
                return None
        try:
            if tag == _Y + "bool":
                return self.loader.bool_values[value.lower()]
            if tag == _Y + "int":
                return self.loader.construct_yaml_int(self.yaml.ScalarNode(tag, value))
            if tag == _Y + "float":
                number = self.loader.construct_yaml_float(self.yaml.ScalarNode(tag, value))
                if math.isfinite(number):
                    return number
                self.refuse(event.start_mark, f"{value} is not a number JSON allows (NaN and infinities "
                                              f"are not JSON); give a finite number, or quote it for a string")
                return None
        except (KeyError, ValueError) as exc:
            why = "a number has more than 4300 digits" if "digits" in str(exc) else f"{value!r} is not a valid !!{tag[len(_Y):]}"
            self.refuse(event.start_mark, why)
            return None
        self.refuse(event.start_mark, _unknown(tag))
        return None

    def alias(self, event: Any) -> None:
        name = event.anchor
        if name in self.open:
            self.refuse(event.start_mark, f"*{name} is inside its own anchor &{name}; JSON cannot hold a "
                                          f"value inside itself")
            self.put(None if not self.wants_key() else _DROP, 0, event.start_mark)
            return
        if name not in self.anchors:
            self.refuse(event.start_mark, f"*{name} has no anchor &{name} before it; define it first")
            self.put(None if not self.wants_key() else _DROP, 0, event.start_mark)
            return
        value, size, scalar = self.anchors[name]
        if self.wants_key():
            self.put(scalar.value if scalar is not None else None, 0, event.start_mark, collection=scalar is None)
            return
        if value is _NO_KEY:  # an anchored key: made into a value only when an alias asks for it
            value = self.construct(scalar)
        self.expanded += size
        if self.expanded > MAX_ALIAS_EXPANSION:
            raise _Fatal(event.start_mark, f"aliases expand this document by more than 16 MiB (*{name} and "
                                           f"the ones before it: a \"billion laughs\"?); write the values out")
        self.put(value, size, event.start_mark)

    def start(self, event: Any) -> None:
        tag = event.tag
        is_map = isinstance(event, self.yaml.events.MappingStartEvent)
        is_units = self.split and not self.stack and not is_map
        if tag not in (None, "!", _Y + ("map" if is_map else "seq")):
            why = _unknown(tag)
            if is_units:  # the records' own list: no record of it can be read as meant
                raise _Fatal(event.start_mark, why)
            self.refuse(event.start_mark, why)
        if len(self.stack) >= MAX_DEPTH:
            raise _Fatal(event.start_mark, "nested too deep (at most about 900 levels)")
        if event.anchor is not None:
            self.open.add(event.anchor)
        self.stack.append(_Frame({} if is_map else [], event.anchor, event.start_mark, is_units))

    def end(self, event: Any) -> None:
        frame = self.stack.pop()
        if frame.is_units:
            return  # its elements are all out already
        value = frame.value
        if frame.merges:
            merged: dict[str, Any] = {}
            for merge in frame.merges:  # a later `<<` wins; in a list of mappings, an earlier one wins
                for part in reversed(merge) if isinstance(merge, list) else (merge,):
                    merged.update(part)
            value = {**merged, **value}
        if frame.anchor is not None:
            self.open.discard(frame.anchor)
            self.anchors[frame.anchor] = (value, frame.size, None)
        self.put(value, frame.size, frame.mark, collection=True)

    def put(self, value: Any, size: int, mark: Any, collection: bool = False) -> None:
        """A value read: into its list or mapping, or out as a unit."""
        if not self.stack or self.stack[-1].is_units:
            element = None
            if self.stack:
                element = self.stack[-1].count
                self.stack[-1].count += 1
            source = ""
            if self.error:  # up to where the next one starts: less the comments between them
                source = re.sub(r"(\n[ \t]*(#[^\n]*)?)+$", "", self.text[mark.index : self.end_mark.index].rstrip())
            self.done.append(Unit(mark.line + 1, element, value, self.error, source))
            self.error = None
            return
        frame = self.stack[-1]
        frame.size += size + 1
        if not frame.is_map:
            frame.value.append(value)
        elif frame.key is _NO_KEY:
            if collection:
                self.refuse(mark, "a key must be a string, not a list or a mapping")
                value = _DROP
            frame.key = value
        else:
            key, frame.key = frame.key, _NO_KEY
            if key is _MERGE:
                if isinstance(value, dict) or (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
                    frame.merges.append(value)
                else:
                    self.refuse(mark, "<< merges a mapping or a list of mappings (<<: *base)")
            elif key is not _DROP:
                frame.value[key] = value


_OCTAL_1_1 = re.compile(r"[-+]?0[0-7_]+")
#: YAML 1.2's core schema numbers (ints, 0o octal, 0x hex, floats with or without a dot, infinities,
#: NaN): a plain scalar YAML 1.1 reads as text but 1.2 as a number (``1e3``, ``0o17``, ``08``).
_YAML_1_2_NUMBER = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
                              r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


def _yaml_1_1_only(tag: str, value: str) -> str | None:
    """What YAML 1.1 reads an unquoted scalar as where YAML 1.2 (the vendor's JSON-minded readers) reads
    text or another number: ``yes``/``no``/``on``/``off`` booleans, base 60 (``1:30`` is 90), a leading
    zero's octal (``0755`` is 493), ``0b`` binary, ``_`` separators. None when both agree."""
    if tag == _Y + "bool":
        return None if value.lower() in ("true", "false") else f"the boolean {value.lower() in ('yes', 'y', 'on')}".lower()
    if ":" in value:
        return "a base-60 number"
    if tag == _Y + "int" and _OCTAL_1_1.fullmatch(value):
        return "an octal number"
    if tag == _Y + "int" and value.lstrip("+-").lower().startswith("0b"):
        return "a binary number"
    if "_" in value:
        return "a number (_ is skipped)"
    return None
