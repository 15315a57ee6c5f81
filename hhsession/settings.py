"""Resolve settings (SPEC §4): flag > environment > profile > built-in default, each value checked
once, where it enters.

Plain Python: the CLI passes its flags as a mapping, the environment as another;
``Settings.of`` checks a Python caller's values. Whoever holds a ``Settings``
trusts it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import KEYS, ConfigFile, open_config
from .errors import InvalidInput
from .redact import TYPED_KEY, TYPED_PREFIXES, mask_secret, one_line
from .urls import DEFAULT_API_URL, split_authority, validate_api_url

DEFAULT_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_RETRIES = 3
MAX_RETRIES_LIMIT = 100

#: The environment names, first set wins: those of the official HoneyHive CLI and
#: TypeScript SDK since 1.4 (HH_PROJECT_API_KEY, HH_DATA_PLANE_URL) first, then the
#: Python SDK's, which are still in use. A variable set to "" counts as unset.
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "api_key": ("HH_PROJECT_API_KEY", "HH_API_KEY", "HONEYHIVE_API_KEY"),
    "ingestion_api_key": ("HH_INGESTION_API_KEY",),
    "api_url": ("HH_DATA_PLANE_URL", "HH_API_URL", "HONEYHIVE_SERVER_URL", "HH_SERVER_URL"),
    "timeout": ("HH_API_TIMEOUT",),
    "max_retries": ("HH_MAX_RETRIES",),
    "source": ("HH_SOURCE",),
}

#: Names the vendor's SDK 1.7 still reads but warns are deprecated: taken, and said so.
DEPRECATED_VARIABLES = {"HONEYHIVE_API_KEY": "HH_API_KEY", "HONEYHIVE_SERVER_URL": "HH_API_URL",
                        "HH_SERVER_URL": "HH_API_URL"}

FLAG_NAMES = {key: "--" + key.replace("_", "-") for key in KEYS}
DEFAULTS: dict[str, Any] = {
    "api_key": None,
    "ingestion_api_key": None,
    "api_url": DEFAULT_API_URL,
    "timeout": DEFAULT_TIMEOUT,
    "max_retries": DEFAULT_MAX_RETRIES,
    "source": None,
}
NO_KEY_HINT = (
    "no API key: set HH_PROJECT_API_KEY (or HH_API_KEY), pass --api-key, or store one with "
    "`hhsession config set api_key`"
)


def shown_value(key: str, value: Any) -> Any:
    """A setting as it may be shown: the API key masked, a password in a URL hidden, anything else as is."""
    if key in ("api_key", "ingestion_api_key"):
        return mask_secret(str(value))
    if key == "api_url" and isinstance(value, str):  # a password written by hand: refused everywhere else
        before, authority, after = split_authority(value)
        if "@" in authority:
            return f"{before}***@{authority.rsplit('@', 1)[1]}{after}"
    return value


def validate_value(key: str, raw: Any, where: str) -> Any:
    """Check and convert one setting. ``where`` names its origin for the message."""
    if key in ("api_key", "ingestion_api_key"):
        label = "the ingestion API key" if key == "ingestion_api_key" else "the API key"
        if not isinstance(raw, str):
            raise InvalidInput(f"{where}: {label} must be a string, got {type(raw).__name__}")
        if not raw.strip():
            raise InvalidInput(f"{where}: {label} is empty; paste the key from HoneyHive's settings")
        key_text = raw.strip()
        # Never echo the value: it is a secret.
        if any(not (0x21 <= ord(ch) <= 0x7E) for ch in key_text):
            raise InvalidInput(
                f"{where}: {label} contains spaces, control or non-ASCII characters; "
                f"copy it again without extra characters"
            )
        check_typed_key(key, key_text, where, label)
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


def check_typed_key(setting: str, key: str, where: str, label: str) -> None:
    """A typed key (``hh_ingst_``, ``hh_fgdp_``) must have its whole shape, and the ingestion key must be
    one, as the vendor's SDK 1.7 checks them (a cut or mangled key is refused before anything is sent,
    never echoed). A project key has no shape rule."""
    typed = key.startswith(TYPED_PREFIXES)
    if typed and not TYPED_KEY.fullmatch(key):
        raise InvalidInput(f"{where}: {label} begins with {key[:key.index('_', 3) + 1]!r} but is not a whole "
                           f"key of that kind (the prefix, a 24-character id, '_', a 64-character secret); "
                           f"copy it again from HoneyHive's settings")
    if setting == "ingestion_api_key" and not key.startswith("hh_ingst_"):
        kind = ("a different kind of HoneyHive key" if key.startswith("hh_") else "not a HoneyHive key")
        raise InvalidInput(f"{where}: {label} must begin with 'hh_ingst_' (an ingestion key); this is {kind}; "
                           f"give the ingestion key, or leave it out to write with the project key")


@dataclass(frozen=True)
class Settings:
    """Checked settings, and where each came from (``-v`` says so; messages name it)."""

    api_key: str | None = field(repr=False)  # never in a repr, a log or a traceback
    api_url: str
    timeout: float
    max_retries: int
    source: str | None
    #: Writes (start, end, update, event, replay, exec) go with it when set; reads with ``api_key``.
    ingestion_api_key: str | None = field(default=None, repr=False)
    profile: str = ""
    config_path: Path | None = None
    origins: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, *, api_key: Any = None, api_url: Any = DEFAULT_API_URL, timeout: Any = DEFAULT_TIMEOUT,
           max_retries: Any = DEFAULT_MAX_RETRIES, source: Any = None, ingestion_api_key: Any = None) -> Settings:
        """Settings from a Python caller's values (``Client(api_key=..., ...)``), each checked as a flag's is."""
        given = {"api_key": api_key, "ingestion_api_key": ingestion_api_key, "api_url": api_url,
                 "timeout": timeout, "max_retries": max_retries, "source": source}
        values = {key: DEFAULTS[key] if raw is None else validate_value(key, raw, f"Client({key}=...)")
                  for key, raw in given.items()}
        return cls(api_key=values["api_key"], api_url=values["api_url"], timeout=values["timeout"],
                   max_retries=values["max_retries"], source=values["source"],
                   ingestion_api_key=values["ingestion_api_key"],
                   origins={key: f"Client({key}=...)" for key, raw in given.items() if raw is not None})

    def origin(self, key: str) -> str:
        """Where a setting came from: "flag --api-url", "environment HH_API_URL", ..."""
        return self.origins.get(key, "built-in default")

    def chosen(self, key: str) -> bool:
        """True when the value came from a flag, the environment or a profile, not the built-in default."""
        return self.origin(key) != "built-in default"

    @property
    def connect_timeout(self) -> float:
        return min(CONNECT_TIMEOUT, self.timeout)

    def describe(self) -> list[str]:
        """One line per setting with where it came from (the key masked)."""
        lines = [f"profile: {self.profile} ({self.origin('profile')})", f"config file: {self.config_path}"]
        for key in KEYS:
            value = getattr(self, key)
            origin = self.origin(key)
            if key == "source" and value is None:
                lines.append(f'{key}: "unknown" ({origin}, as the server would fill it in)')
                continue
            shown = "(none)" if value is None else shown_value(key, value)
            lines.append(f"{key}: {shown} ({origin})")
        lines.append(f"connect timeout: {self.connect_timeout:g} s")
        return lines


#: What a profile name may be: it is a TOML table name, a word in messages and a line of ``config list``.
PROFILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def check_profile_name(name: str, origin: str) -> str:
    if not PROFILE_NAME.fullmatch(name):
        raise InvalidInput(f"profile {one_line(name)!r} ({origin}): a profile name is letters, digits, '_', '-' "
                           f"and '.', not first, at most 64 characters; e.g. staging")
    return name


def select_profile(flag: str | None, env: Mapping[str, str], config: ConfigFile) -> tuple[str, str, bool]:
    """(name, origin, named explicitly): --profile > HHSESSION_PROFILE > default_profile > default."""
    if flag is not None:
        return check_profile_name(flag, "flag --profile"), "flag --profile", True
    if env.get("HHSESSION_PROFILE"):
        return check_profile_name(env["HHSESSION_PROFILE"], "environment HHSESSION_PROFILE"), \
            "environment HHSESSION_PROFILE", True
    if config.default_profile:
        origin = f"default_profile in {config.path}"
        return check_profile_name(config.default_profile, origin), origin, True
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
        ingestion_api_key=values["ingestion_api_key"],
        profile=name,
        config_path=config.path,
        origins=origins,
    )
