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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .errors import InvalidInput

_T = TypeVar("_T")

APP_NAME = "hhsession"
KEYS = ("api_key", "ingestion_api_key", "api_url", "source", "timeout", "max_retries")
#: Keys whose values are secrets: prompted for, masked, and a reason to keep the file private.
SECRET_KEYS = ("api_key", "ingestion_api_key")
MAX_CONFIG_BYTES = 1024 * 1024


def check_key(key: str) -> str:
    """A config key, or exit 2 with a did-you-mean suggestion."""
    import difflib

    folded = key.strip().lower().replace("-", "_")
    if folded in KEYS:
        return folded
    aliases = {"key": "api_key", "apikey": "api_key", "token": "api_key", "url": "api_url",
               "ingestion_key": "ingestion_api_key", "ingestionkey": "ingestion_api_key",
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


class ConfigFile:
    """A config file as read (a plain class: every command reads one, and a dataclass costs start-up)."""

    def __init__(self, path: Path, data: dict[str, Any] | None = None, exists: bool = False,
                 explicit: bool = False) -> None:
        self.path = path
        self.data: dict[str, Any] = {} if data is None else data
        self.exists = exists
        #: Named by $HHSESSION_CONFIG: its directory is the user's, warned about, never changed.
        self.explicit = explicit

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
        if not any(key in values for values in self.profiles.values() if isinstance(values, dict)
                   for key in SECRET_KEYS):
            return False
        return bool(self.path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))

    def permission_warnings(self) -> list[str]:
        """What is unsafe about the file as it is read: a key others can read, a file others can replace."""
        said: list[str] = []
        if self.insecure_permissions():
            said.append(f"{self.path} holds an API key and is readable by group or others; run: chmod 600 {self.path}")
        if self.exists and os.name == "posix":
            directory = Path(os.path.realpath(self.path)).parent
            try:
                mode = directory.stat().st_mode
            except OSError:
                return said
            # Others who can write the directory can put another file there (an api_url of theirs
            # gets the key); a sticky directory (/tmp) lets them remove only their own files.
            if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
                said.append(
                    f"{directory} (where the config file is kept) can be written by group or others, who could "
                    f"replace the file; run: chmod 700 {directory}"
                )
        return said


def open_config(env: Mapping[str, str]) -> ConfigFile:
    """The config file this environment names ($HHSESSION_CONFIG, else the default place)."""
    return load_config(config_path(env), explicit=bool(env.get("HHSESSION_CONFIG")))


def load_config(path: Path, explicit: bool = False) -> ConfigFile:
    """Read the file; a missing file is an empty config, a corrupt or unreadable one exit 2."""
    try:
        if path.exists() and not path.is_dir() and not stat.S_ISREG(path.stat().st_mode):
            # before opening: /dev/zero never ends, and a named pipe waits for a writer
            raise InvalidInput(f"config file {path} is not a regular file; set HHSESSION_CONFIG to a file")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise InvalidInput(f"config file {path} is larger than 1 MiB; it is not an hhsession config file")
    except FileNotFoundError:
        return ConfigFile(path=path, explicit=explicit)
    except IsADirectoryError:
        raise InvalidInput(f"config file {path} is a directory; set HHSESSION_CONFIG to a file") from None
    except PermissionError:
        raise InvalidInput(f"config file {path}: permission denied; check its owner and mode") from None
    except NotADirectoryError:
        raise InvalidInput(
            f"config file {path}: a part of that path is a file, not a directory; set HHSESSION_CONFIG to a path "
            f"in a directory"
        ) from None
    except OSError as exc:
        raise InvalidInput(f"config file {path}: cannot read it ({exc.strerror or exc})") from None
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
    return ConfigFile(path=path, data=data, exists=True, explicit=explicit)


def save_config(config: ConfigFile) -> list[str]:
    """Write atomically (temp file + rename), mode 0600, in a 0700 directory. Returns warnings.

    The default directory (``.../hhsession``) is hhsession's own: it is made
    0700 whatever it was (with a warning when it had to be tightened), and a
    missing parent (``~/.config``) is created 0700 too, whatever the umask. A
    directory named through ``$HHSESSION_CONFIG`` is the user's: warned about,
    never changed. Anything that cannot be written is exit 2 naming the path.
    """
    import tempfile

    import tomli_w

    warnings: list[str] = []
    # A symlinked config (a dotfiles repository) is written where it points, and that place is the
    # user's; a device or a directory is never replaced by a file.
    target = Path(os.path.realpath(config.path))
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        raise InvalidInput(f"config file {config.path} is not a regular file; set HHSESSION_CONFIG to a file's path")
    users = config.explicit or target != config.path
    directory = target.parent
    try:
        _make_private_dirs(directory)
        mode = stat.S_IMODE(directory.stat().st_mode)
        if mode & 0o077:
            if users:
                warnings.append(
                    f"{directory} (where the config file is kept) is open to group or others (mode {mode:o}); "
                    f"the file in it is 0600, but consider: chmod 700 {directory}"
                )
            elif os.name == "posix":
                os.chmod(directory, 0o700)
                warnings.append(f"{directory} was open to group or others (mode {mode:o}); made it 0700")
        text = tomli_w.dumps(config.data)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".config-", suffix=".toml.tmp")
    except OSError as exc:
        raise InvalidInput(
            f"cannot write the config file {config.path} ({exc.strerror or exc}); "
            f"set HHSESSION_CONFIG to a writable path"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise InvalidInput(
                f"cannot write the config file {config.path} ({exc.strerror or exc}); "
                f"set HHSESSION_CONFIG to a writable path"
            ) from None
        raise
    config.exists = True
    return warnings


def change_config(config: ConfigFile, change: Callable[[ConfigFile], _T]) -> tuple[_T, list[str]]:
    """Read the file again under an exclusive lock, apply ``change`` to it, and write it (``save_config``),
    unless ``change`` returns False: two ``config set`` at once (another key, another profile) both land.

    The lock is ``flock`` on the file's directory (the file itself is replaced by a rename, so it cannot
    carry the lock, and a lock file would be left beside the user's); where there is no ``fcntl``
    (Windows) the change is not serialized.
    """
    target = Path(os.path.realpath(config.path))
    try:
        _make_private_dirs(target.parent)
        lock = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidInput(f"cannot write the config file {config.path} ({exc.strerror or exc}); "
                           f"set HHSESSION_CONFIG to a writable path") from None
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            pass
        else:
            fcntl.flock(lock, fcntl.LOCK_EX)
        fresh = load_config(config.path, explicit=config.explicit)
        result = change(fresh)
        return result, ([] if result is False else save_config(fresh))
    finally:
        os.close(lock)  # (and with it the lock)


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parent, each 0700 whatever the umask."""
    missing = []
    for path in (directory, *directory.parents):
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # another hhsession made it a moment ago: theirs stands
            continue
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    if not directory.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(directory))
