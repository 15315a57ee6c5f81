"""Keeping the key out of everything shown (SPEC §4): masking, and one-line text for terminals and logs.

Masking is for what is *shown*: it never changes data that is compared, sent
or stored (answers are compared with what was sent before anything is masked).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote


def mask_secret(secret: str | None) -> str:
    """At most the first 3 and last 4 characters; short keys are hidden whole."""
    if not secret:
        return "(none)"
    if len(secret) < 16:
        return "****"
    return f"{secret[:3]}…{secret[-4:]}"


#: This many characters of the key in a row are masked wherever they are seen (a server may
#: echo the key cut short, or percent-encoded).
KEY_FRAGMENT = 12


def redact(text: str, secret: str | None) -> str:
    """Remove a secret from text that is about to be shown (a server may echo it, whole or in part)."""
    if not secret or len(secret) < 4:
        return text
    if secret in text:
        text = text.replace(secret, mask_secret(secret))
    if len(secret) >= KEY_FRAGMENT + 4:
        if has_fragment(text, secret):
            text = _mask_fragments(text, secret)
        if "%" in text:
            decoded = unquote(text)
            if decoded != text and (secret in decoded or has_fragment(decoded, secret)):
                text = _mask_fragments(decoded.replace(secret, mask_secret(secret)), secret)
    return text


def has_fragment(text: str, secret: str) -> bool:
    """Whether ``text`` holds ``KEY_FRAGMENT`` or more characters of ``secret`` in a row."""
    return any(secret[i:i + KEY_FRAGMENT] in text for i in range(len(secret) - KEY_FRAGMENT + 1))


def _mask_fragments(text: str, secret: str) -> str:
    for i in range(len(secret) - KEY_FRAGMENT + 1):
        window = secret[i:i + KEY_FRAGMENT]
        while window in text:
            start = text.index(window)
            end, j = start + KEY_FRAGMENT, i + KEY_FRAGMENT
            while end < len(text) and j < len(secret) and text[end] == secret[j]:
                end, j = end + 1, j + 1
            text = text[:start] + "****" + text[end:]
    return text


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """Text for one line of a terminal or a log: line breaks and control characters shown
    escaped (a server's message must not add lines, colours or CI workflow commands)."""
    text = text.replace("\t", " ")
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text) if _CONTROL.search(text) else text


def redact_value(value: Any, secret: str | None) -> Any:
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
