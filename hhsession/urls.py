"""URLs (SPEC §4): the API URL's rules, loopback, the plain-http rule, and the proxy a request goes through."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # (not in typeshed)

from .errors import InvalidInput

DEFAULT_API_URL = "https://api.dp1.us.honeyhive.ai"


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":  # not *.localhost, nor "localhost.": a resolver may send such a name anywhere
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: host[:port]: a bracketed IPv6 address (a zone id percent-encoded), or a registered name or IPv4
#: address (letters of any script: urllib3 encodes a name with IDNA; no percent-encoding, which
#: RFC 3986 allows but no API host needs and urllib3 refuses in part).
_NETLOC = re.compile(r"(\[[0-9A-Fa-f:.]+(%25[A-Za-z0-9._~-]+)?\]|[\w.~!$&'()*+,;=-]+)(:[0-9]*)?")
#: What stands before a URL's host: its scheme and slashes (however many a typo put there, or none).
_BEFORE_HOST = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)?/*")


def split_authority(url: str) -> tuple[str, str, str]:
    """(what is before the host, user@host:port, the rest), however the URL is misspelled; the
    authority compatibility-normalized, as urlsplit reads it (a full-width ＠ is an @)."""
    before = _BEFORE_HOST.match(url).group(0)  # type: ignore[union-attr]  # (it matches "" at worst)
    authority, slash, path = url[len(before):].partition("/")
    if not authority.isascii():
        authority = unicodedata.normalize("NFKC", authority)
    return before, authority, slash + path


def _host_part(parts: Any) -> bool:
    try:
        return bool(parts.hostname) and parts.port is not None or "." in (parts.hostname or "") \
            or parts.hostname == "localhost"
    except ValueError:  # a port that is not a number
        return False


def validate_api_url(raw: Any, where: str) -> str:
    text = str(raw).strip() if isinstance(raw, str) else ""
    if "@" in split_authority(text)[1]:  # before anything that shows the text: it may hold a password
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
        guess = urlsplit("//" + text) if "://" not in text else None
        host = guess.hostname if guess is not None and _host_part(guess) else None
        if host:  # `127.0.0.1:8787`, `api.example.com`: the scheme left out
            scheme = "http" if is_loopback_host(host) else "https"
            raise InvalidInput(f"{where}: {text!r} has no scheme; did you mean {scheme}://{text}?")
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


def proxy_for(url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy a request to ``url`` goes through, from the usual variables; None: direct.

    The variables are read as ``urllib.request.getproxies_environment`` reads
    them (from ``environ``, which need not be the process's): the lower-case
    name wins, and set but empty it means "no proxy"; ``no_proxy`` as
    ``urllib.request.proxy_bypass_environment`` reads it (names and suffixes,
    ``*``). A loopback URL is always direct (SPEC §4), whatever they say.
    """
    parts = urlsplit(url)
    if is_loopback_host(parts.hostname):
        return None
    proxies: dict[str, str] = {}
    for name in sorted(environ, key=str.islower):  # upper case first: the lower-case name wins
        scheme, _, suffix = name.lower().rpartition("_")
        if suffix == "proxy" and scheme:
            value = environ[name].strip()
            if value:
                proxies[scheme] = value
            elif name.islower():
                proxies.pop(scheme, None)
    if proxies.get("no") and proxy_bypass_environment(parts.netloc.rsplit("@", 1)[-1], proxies):
        return None
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy is None:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def mask_proxy(proxy: str) -> str:
    """A proxy URL as it may be shown: credentials removed."""
    parts = urlsplit(proxy)
    if parts.username or parts.password:
        netloc = parts.netloc.rsplit("@", 1)[1]
        return parts._replace(netloc=f"***@{netloc}").geturl()
    return proxy
