"""Keeping the key out of everything shown (SPEC §4): masking, and one-line text for terminals and logs.

Masking is for what is *shown*: it never changes data that is compared, sent
or stored (answers are compared with what was sent before anything is masked).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Union
from urllib.parse import unquote

#: A key shorter than this is not treated as a secret where it appears in what is shown: development
#: keys (the emulator's ``emulator``, a CI's ``test``) are words that names, metadata and ids may hold,
#: and masking them would rewrite data. HoneyHive's keys are ``hh_`` and 32 or more characters.
MIN_SECRET = 16

#: This many characters of the key in a row are masked wherever they are seen (a server may
#: echo the key cut short, or percent-encoded).
KEY_FRAGMENT = 12

#: Characters a terminal shows as nothing (or as a blank) that a server may put between a key's
#: characters: Unicode's Default_Ignorable_Code_Point set, white space and control characters.
_INVISIBLE = re.compile(
    "[\\s\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


#: A typed HoneyHive key (the vendor's SDK 1.7, ``config/resolved.py``): its kind's prefix, a
#: 24-character id and a 64-character secret. The app shows one as ``hh_ingst_<id>_******``.
TYPED_KEY = re.compile(r"(hh_ingst_|hh_fgdp_)([A-Za-z0-9]{24})_([A-Za-z0-9_-]{64})")
TYPED_PREFIXES = ("hh_ingst_", "hh_fgdp_")

_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
#: Upper to lower case for ASCII letters only: the same length, whatever else the text holds (İ).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _unescaped(match: re.Match[str]) -> str:
    code = int(match[1], 16)
    return match[0] if 0xD800 <= code <= 0xDFFF else chr(code)  # (a surrogate stays written as it was)

#: One secret, or several (a client holds the project key and the ingestion key).
Secrets = Union[str, Iterable[str], None]


def mask_secret(secret: str | None) -> str:
    """A typed key as the app shows it (its kind and id, not its secret); any other key at most its
    first 3 and last 4 characters; short keys hidden whole."""
    if not secret:
        return "(none)"
    typed = TYPED_KEY.fullmatch(secret)
    if typed:
        return f"{typed[1]}{typed[2]}_******"
    if len(secret) < MIN_SECRET:
        return "****"
    return f"{secret[:3]}…{secret[-4:]}"


def redact(text: str, secret: Secrets) -> str:
    """Remove a secret (or several) from text that is about to be shown (a server may echo it, whole,
    in part, percent-encoded, or with invisible characters between its characters). Keys shorter than
    ``MIN_SECRET`` are left alone; of a typed key only its secret part is hidden."""
    if secret is not None and not isinstance(secret, str):
        for one in secret:
            text = redact(text, one)
        return text
    if not secret or len(secret) < MIN_SECRET:
        return text
    whole, mask = secret, mask_secret(secret)
    if secret in text:
        text = text.replace(secret, mask)
    typed = TYPED_KEY.fullmatch(secret)
    if typed:  # what the mask shows (the kind and the id) is not hidden: the secret after it is
        secret, mask = typed[3], "******"
    if has_fragment(text, secret):
        text = _mask_fragments(text, secret)
    if "%" in text:
        decoded = unquote(text)
        if decoded != text and (secret in decoded or has_fragment(decoded, secret)):
            decoded = decoded.replace(whole, mask_secret(whole)).replace(secret, mask)
            text = _mask_fragments(decoded, secret)
    if "\\u" in text:  # JSON-escaped inside a string the server sent (\u0073k-...)
        decoded = _JSON_ESCAPE.sub(_unescaped, text)
        if decoded != text and has_fragment(decoded, secret):
            text = _mask_fragments(decoded.replace(whole, mask_secret(whole)), secret)
    folded = text.translate(_ASCII_LOWER)  # echoed in another case: still the key (to anyone who tries the cases)
    if has_fragment(folded, secret.translate(_ASCII_LOWER)):
        text = _masked(text, _fragments(folded, secret.translate(_ASCII_LOWER)))
    if _INVISIBLE.search(text):
        text = _mask_spread(text, secret)
    return text


def has_fragment(text: str, secret: str) -> bool:
    """Whether ``text`` holds ``KEY_FRAGMENT`` or more characters of ``secret`` in a row."""
    return any(secret[i:i + KEY_FRAGMENT] in text for i in range(len(secret) - KEY_FRAGMENT + 1))


def _mask_fragments(text: str, secret: str) -> str:
    return _masked(text, _fragments(text, secret))


def _mask_spread(text: str, secret: str) -> str:
    """Mask fragments of the secret whose characters have invisible ones between them."""
    visible = [i for i, char in enumerate(text) if not _INVISIBLE.match(char)]
    spans = _fragments("".join(text[i] for i in visible), secret)
    # A fragment from its first visible character to its last, the invisible ones among them included.
    return _masked(text, [(visible[start], visible[end - 1] + 1) for start, end in spans])


def _fragments(text: str, secret: str) -> list[tuple[int, int]]:
    """Where ``text`` holds ``KEY_FRAGMENT`` or more characters of ``secret`` in a row: (start, end)
    spans, in order, overlapping ones merged."""
    spans = []
    for i in range(len(secret) - KEY_FRAGMENT + 1):
        window = secret[i:i + KEY_FRAGMENT]
        start = text.find(window)
        while start != -1:
            end, j = start + KEY_FRAGMENT, i + KEY_FRAGMENT
            while end < len(text) and j < len(secret) and text[end] == secret[j]:
                end, j = end + 1, j + 1
            spans.append((start, end))
            start = text.find(window, start + 1)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], "****"]
        last = end
    return "".join(parts) + text[last:]


#: What a terminal may take as a command or a line break, or that turns the direction of the text
#: around: C0 and C1 control characters (an escape sequence starts with one), DEL, Unicode's line and
#: paragraph separators and its bidirectional controls.
_TERMINAL = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x08\x0a-\x1f{_TERMINAL}]")
#: In JSON text from ``json.dumps`` every character below U+0020 is escaped already.
_CONTROL_IN_JSON = re.compile(f"[{_TERMINAL}]")


def one_line(text: str) -> str:
    """Text for one line of a terminal or a log: line breaks and control characters shown
    escaped (a server's message must not add lines, colours or CI workflow commands)."""
    text = text.replace("\t", " ")
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text) if _CONTROL.search(text) else text


def escaped_json(text: str) -> str:
    """JSON text (``json.dumps`` with ``ensure_ascii=False``) with every character a terminal could take
    as a command written as a ``\\u`` escape: the same JSON value, safe to show."""
    return _CONTROL_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", text) if _CONTROL_IN_JSON.search(text) else text


def redact_value(value: Any, secret: Secrets) -> Any:
    """A JSON value with the secret masked in every string (keys included)."""
    if not secret:
        return value
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, dict):
        return {redact(str(k), secret): redact_value(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(item, secret) for item in value]
    return value
