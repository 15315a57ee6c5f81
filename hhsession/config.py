"""The config file (SPEC §3 ``config``, §4): where it lives, reading, atomic writing.

```toml
default_profile = "default"
[profiles.default]
api_url = "https://api.dp1.us.honeyhive.ai"
api_key = "..."
source = "ci"
```
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidInput

APP_NAME = "hhsession"
KEYS = ("api_key", "api_url", "source", "timeout", "max_retries")


def check_key(key: str) -> str:
    """A config key, or exit 2 with a did-you-mean suggestion."""
    import difflib

    folded = key.strip().lower().replace("-", "_")
    if folded in KEYS:
        return folded
    aliases = {"key": "api_key", "apikey": "api_key", "token": "api_key", "url": "api_url",
               "server_url": "api_url", "retries": "max_retries", "host": "api_url"}
    hint = aliases.get(folded.replace("_", "")) or aliases.get(folded)
    if hint is None:
        candidates = {**{k: k for k in KEYS}, **aliases}
        close = difflib.get_close_matches(folded, list(candidates), n=1, cutoff=0.6)
        hint = candidates[close[0]] if close else None
    advice = f"did you mean {hint}? " if hint else ""
    raise InvalidInput(f"unknown config key {key!r}; {advice}keys: {', '.join(KEYS)}")


def config_path(env: Mapping[str, str]) -> Path:
    """``$HHSESSION_CONFIG``, else ``config.toml`` in the platform's config directory."""
    explicit = env.get("HHSESSION_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return config_dir(env) / "config.toml"


def config_dir(env: Mapping[str, str]) -> Path:
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "win32":  # pragma: no cover - not exercised on this machine
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming") / APP_NAME
    if sys.platform == "darwin":  # pragma: no cover
        return home / "Library" / "Application Support" / APP_NAME
    xdg = env.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
    return base / APP_NAME


@dataclass
class ConfigFile:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    exists: bool = False

    @property
    def default_profile(self) -> str | None:
        value = self.data.get("default_profile")
        return value if isinstance(value, str) and value else None

    @property
    def profiles(self) -> dict[str, dict[str, Any]]:
        profiles = self.data.get("profiles")
        return profiles if isinstance(profiles, dict) else {}

    def profile(self, name: str) -> dict[str, Any]:
        values = self.profiles.get(name)
        return values if isinstance(values, dict) else {}

    def set(self, profile: str, key: str, value: Any) -> None:
        profiles = self.data.setdefault("profiles", {})
        profiles.setdefault(profile, {})[key] = value

    def unset(self, profile: str, key: str) -> bool:
        values = self.profiles.get(profile)
        if not isinstance(values, dict) or key not in values:
            return False
        del values[key]
        return True

    def insecure_permissions(self) -> bool:
        """True when a file holding a key can be read by group or others."""
        if not self.exists or os.name != "posix":
            return False
        if not any("api_key" in values for values in self.profiles.values() if isinstance(values, dict)):
            return False
        return bool(self.path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def load_config(path: Path) -> ConfigFile:
    """Read the file; a missing file is an empty config, a corrupt one exit 2."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ConfigFile(path=path)
    except IsADirectoryError:
        raise InvalidInput(f"config file {path} is a directory; set HHSESSION_CONFIG to a file") from None
    except PermissionError:
        raise InvalidInput(f"config file {path}: permission denied; check its owner and mode") from None
    import tomllib  # only when there is a file: most CI runs have none

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"config file {path} is not UTF-8 text; fix or delete it") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"config file {path} is not valid TOML ({exc}); fix or delete it") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise InvalidInput(
            f"config file {path}: profiles must be tables like [profiles.default]; fix or delete it"
        )
    return ConfigFile(path=path, data=data, exists=True)


def save_config(config: ConfigFile) -> None:
    """Write atomically (temp file + rename), mode 0600, in a 0700 directory we create."""
    import tempfile

    import tomli_w

    directory = config.path.parent
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    text = tomli_w.dumps(config.data)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".config-", suffix=".toml.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, config.path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    config.exists = True
