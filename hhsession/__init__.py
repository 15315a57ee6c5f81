"""hhsession: start HoneyHive sessions from a shell, a CI pipeline or a script.

The library is usable without the CLI::

    from hhsession import Overrides, SessionsClient, build_session

    built = build_session(overrides=Overrides(fields={"session_name": "nightly-eval"}))
    client = SessionsClient(api_url="http://127.0.0.1:8787", api_key="emulator")
    event = client.start_session(built.payload).event

Names are imported on first use, so ``import hhsession`` (and the CLI's
start-up) does not pay for ``requests``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "build_session": "payload",
    "Overrides": "payload",
    "BuiltSession": "payload",
    "session_json_schema": "payload",
    "parse_time": "times",
    "parse_duration": "times",
    "resolve_settings": "settings",
    "Settings": "settings",
    "SessionsClient": "client",
    "StartResult": "client",
    "RetryPolicy": "retry",
    "Replay": "replay",
    "ReplayOptions": "replay",
    "Journal": "replay",
    "iter_records": "replay",
    "Emulator": "emulator",
    "HHSessionError": "errors",
    "ExitCode": "errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hhsession' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
