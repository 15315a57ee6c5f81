"""Resolve settings (SPEC §4): flag > environment > profile > built-in default.

Plain Python: the CLI passes its flags as a mapping, the environment as another.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .config import KEYS, ConfigFile, open_config
from .errors import InvalidInput

DEFAULT_API_URL = "https://api.dp1.us.honeyhive.ai"
DEFAULT_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_RETRIES = 3
MAX_RETRIES_LIMIT = 100

#: The environment names, first set wins: those of the official HoneyHive CLI and
#: TypeScript SDK since 1.4 (HH_PROJECT_API_KEY, HH_DATA_PLANE_URL) first, then the
#: Python SDK's, which are still in use. A variable set to "" counts as unset.
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "api_key": ("HH_PROJECT_API_KEY", "HH_API_KEY", "HONEYHIVE_API_KEY"),
    "api_url": ("HH_DATA_PLANE_URL", "HH_API_URL", "HONEYHIVE_SERVER_URL", "HH_SERVER_URL"),
    "timeout": ("HH_API_TIMEOUT",),
    "max_retries": ("HH_MAX_RETRIES",),
    "source": ("HH_SOURCE",),
}
FLAG_NAMES = {key: "--" + key.replace("_", "-") for key in KEYS}
DEFAULTS: dict[str, Any] = {
    "api_key": None,
    "api_url": DEFAULT_API_URL,
    "timeout": DEFAULT_TIMEOUT,
    "max_retries": DEFAULT_MAX_RETRIES,
    "source": None,
}
NO_KEY_HINT = (
    "no API key: set HH_PROJECT_API_KEY (or HH_API_KEY), pass --api-key, or store one with "
    "`hhsession config set api_key`"
)


def mask_secret(secret: str | None) -> str:
    """At most the first 3 and last 4 characters; short keys are hidden whole."""
    if not secret:
        return "(none)"
    if len(secret) < 16:
        return "****"
    return f"{secret[:3]}…{secret[-4:]}"


def shown_value(key: str, value: Any) -> Any:
    """A setting as it may be shown: the API key masked, a password in a URL hidden, anything else as is."""
    if key == "api_key":
        return mask_secret(str(value))
    if key == "api_url" and isinstance(value, str):  # a password written by hand: refused everywhere else
        before, authority, after = _split_authority(value)
        if "@" in authority:
            return f"{before}***@{authority.rsplit('@', 1)[1]}{after}"
    return value


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
            from urllib.parse import unquote

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


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    import ipaddress

    host = host.strip("[]").lower()
    if host == "localhost":  # not *.localhost, nor "localhost.": a resolver may send such a name anywhere
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_value(key: str, raw: Any, where: str) -> Any:
    """Check and convert one setting. ``where`` names its origin for the message."""
    if key == "api_key":
        if not isinstance(raw, str):
            raise InvalidInput(f"{where}: the API key must be a string, got {type(raw).__name__}")
        if not raw.strip():
            raise InvalidInput(f"{where}: the API key is empty; paste the key from HoneyHive's settings")
        key_text = raw.strip()
        if any(not (0x21 <= ord(ch) <= 0x7E) for ch in key_text):
            # Never echo the value: it is a secret.
            raise InvalidInput(
                f"{where}: the API key contains spaces, control or non-ASCII characters; "
                f"copy it again without extra characters"
            )
        return key_text
    if key == "api_url":
        return validate_api_url(raw, where)
    if key == "timeout":
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if isinstance(raw, bool) or not (0 < value <= 3600):
            raise InvalidInput(f"{where}: timeout {raw!r} must be more than 0 and at most 3600 seconds, e.g. 30")
        return value
    if key == "max_retries":
        try:
            count = int(str(raw).strip())
        except ValueError:
            count = -1
        if isinstance(raw, bool) or isinstance(raw, float) or not 0 <= count <= MAX_RETRIES_LIMIT:
            raise InvalidInput(
                f"{where}: max_retries {raw!r} must be a whole number from 0 to {MAX_RETRIES_LIMIT}, e.g. 3"
            )
        return count
    if key == "source":
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInput(f"{where}: source must be a non-empty string, e.g. ci")
        return raw
    raise InvalidInput(f"{where}: unknown setting {key!r}")  # pragma: no cover


#: host[:port]: a bracketed IPv6 address (a zone id percent-encoded), or a registered name or IPv4
#: address (letters of any script: urllib3 encodes a name with IDNA; no percent-encoding, which
#: RFC 3986 allows but no API host needs and urllib3 refuses in part).
_NETLOC = re.compile(r"(\[[0-9A-Fa-f:.]+(%25[A-Za-z0-9._~-]+)?\]|[\w.~!$&'()*+,;=-]+)(:[0-9]*)?")
#: What stands before a URL's host: its scheme and slashes (however many a typo put there, or none).
_BEFORE_HOST = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)?/*")


def _split_authority(url: str) -> tuple[str, str, str]:
    """(what is before the host, user@host:port, the rest), however the URL is misspelled; the
    authority compatibility-normalized, as urlsplit reads it (a full-width ＠ is an @)."""
    before = _BEFORE_HOST.match(url).group(0)  # type: ignore[union-attr]  # (it matches "" at worst)
    authority, slash, path = url[len(before):].partition("/")
    if not authority.isascii():
        import unicodedata

        authority = unicodedata.normalize("NFKC", authority)
    return before, authority, slash + path


def validate_api_url(raw: Any, where: str) -> str:
    text = str(raw).strip() if isinstance(raw, str) else ""
    if "@" in _split_authority(text)[1]:  # before anything that shows the text: it may hold a password
        raise InvalidInput(
            f"{where}: the URL holds a user name or password (not shown); remove it: the key goes in "
            f"HH_PROJECT_API_KEY (or HH_API_KEY) or --api-key, e.g. {DEFAULT_API_URL}"
        )
    if not text.isprintable():  # urlsplit would drop tabs and newlines unseen
        raise InvalidInput(
            f"{where}: {text!r} holds control characters (a tab, a newline); give the URL alone, "
            f"e.g. {DEFAULT_API_URL}"
        )
    try:
        parts = urlsplit(text)
        _ = parts.hostname
        if parts.scheme:  # HTTPS://Example.COM -> https://Example.COM: the scheme decides TLS, so say it one way
            text = parts.scheme + text[len(parts.scheme):]
    except ValueError as exc:  # e.g. "http://[::1": an unclosed IPv6 bracket
        raise InvalidInput(f"{where}: {text!r} is not a valid URL ({exc}); use e.g. {DEFAULT_API_URL}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"{where}: {text!r} is not an http(s) URL with a host; use e.g. {DEFAULT_API_URL}"
        )
    if any(ch.isspace() for ch in text):
        raise InvalidInput(f"{where}: {text!r} holds spaces; give the URL alone, e.g. {DEFAULT_API_URL}")
    if not _NETLOC.fullmatch(parts.netloc):
        raise InvalidInput(
            f"{where}: {text!r} has an invalid host {parts.netloc!r} (characters a host name cannot hold); "
            f"use e.g. {DEFAULT_API_URL}"
        )
    if parts.query or parts.fragment:
        raise InvalidInput(f"{where}: {text!r} must not have a query or fragment; give the base URL only")
    try:
        _ = parts.port  # raises for a port that is not a number
    except ValueError:
        raise InvalidInput(f"{where}: {text!r} has an invalid port") from None
    return text.rstrip("/")


@dataclass(frozen=True)
class Settings:
    api_key: str | None = field(repr=False)  # never in a repr, a log or a traceback
    api_url: str
    timeout: float
    max_retries: int
    source: str | None
    profile: str
    config_path: Path
    origins: Mapping[str, str] = field(default_factory=dict)

    def chosen(self, key: str) -> bool:
        """True when the value came from a flag, the environment or a profile, not the built-in default."""
        return self.origins.get(key, "built-in default") != "built-in default"

    @property
    def connect_timeout(self) -> float:
        return min(CONNECT_TIMEOUT, self.timeout)

    def describe(self) -> list[str]:
        """One line per setting with where it came from (the key masked)."""
        lines = [f"profile: {self.profile} ({self.origins.get('profile', 'built-in default')})"]
        lines.append(f"config file: {self.config_path}")
        for key in KEYS:
            value = getattr(self, key)
            origin = self.origins.get(key, "built-in default")
            if key == "source" and value is None:
                lines.append(f'{key}: "unknown" ({origin}, as the server would fill it in)')
                continue
            shown = "(none)" if value is None else shown_value(key, value)
            lines.append(f"{key}: {shown} ({origin})")
        lines.append(f"connect timeout: {self.connect_timeout:g} s")
        return lines


def check_plain_http(api_url: str, allow_http: bool, origin: str = "api_url") -> str | None:
    """Refuse to send the key over plain http except to loopback (before any connection).

    Returns a warning to show when ``allow_http`` lets it through.
    """
    parts = urlsplit(api_url)
    if parts.scheme != "http" or is_loopback_host(parts.hostname):
        return None
    if not allow_http:
        raise InvalidInput(
            f"refusing to send the API key over plain http to {parts.hostname} ({origin}); use https, "
            f"or pass --allow-http if the network is trusted"
        )
    return f"sending the API key over plain http to {parts.hostname} (--allow-http): anyone on the path can read it"


def select_profile(flag: str | None, env: Mapping[str, str], config: ConfigFile) -> tuple[str, str, bool]:
    """(name, origin, named explicitly): --profile > HHSESSION_PROFILE > default_profile > default."""
    if flag:
        return flag, "flag --profile", True
    if env.get("HHSESSION_PROFILE"):
        return env["HHSESSION_PROFILE"], "environment HHSESSION_PROFILE", True
    if config.default_profile:
        return config.default_profile, f"default_profile in {config.path}", True
    return "default", "built-in default", False


def resolve_settings(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    config: ConfigFile | None = None,
    profile: str | None = None,
) -> Settings:
    """Each setting: flag > environment (first name set wins) > profile > default."""
    if config is None:
        config = open_config(env)
    name, profile_origin, explicit = select_profile(profile, env, config)
    stored = config.profile(name)
    if explicit and not stored and name not in config.profiles:
        known = ", ".join(sorted(config.profiles)) or "none yet"
        raise InvalidInput(
            f"profile {name!r} ({profile_origin}) is not in {config.path} (profiles: {known}); "
            f"create it with `hhsession config set --profile {name} api_key`"
        )
    values: dict[str, Any] = {}
    origins: dict[str, str] = {"profile": profile_origin}
    for key in KEYS:
        raw, where = None, None
        if flags.get(key) is not None:
            raw, where = flags[key], f"flag {FLAG_NAMES[key]}"
        else:
            for env_name in ENV_NAMES[key]:
                if env.get(env_name):
                    raw, where = env[env_name], f"environment {env_name}"
                    break
            else:
                if stored.get(key) is not None:
                    raw, where = stored[key], f"profile {name!r} in {config.path}"
        if where is None:
            values[key], origins[key] = DEFAULTS[key], "built-in default"
        else:
            values[key], origins[key] = validate_value(key, raw, where), where
    return Settings(
        api_key=values["api_key"],
        api_url=values["api_url"],
        timeout=values["timeout"],
        max_retries=values["max_retries"],
        source=values["source"],
        profile=name,
        config_path=config.path,
        origins=origins,
    )
