"""hhsession: start HoneyHive sessions from a shell, a CI pipeline or a script.

The CLI is a thin layer over this library; the same code runs either way::

    import hhsession

    with hhsession.Client.from_env() as hh:        # env > profile > default, as the CLI without flags
        s = hh.start(session_name="nightly", metadata={"run": 3})
        hh.end(s.session_id, outputs={"ok": True})

Errors are ``hhsession.HHSessionError`` subclasses carrying ``exit_code``
(``InvalidInput``: 2, nothing sent; ``AuthError``: 3; ``RejectedError``: 4;
``NetworkError``: 5). Names are imported on first use, so ``import hhsession``
stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Client": "client",
    "StartedSession": "sessions",
    "EndedSession": "sessions",
    "HHSessionError": "errors",
    "InvalidInput": "errors",
    "AuthError": "errors",
    "RejectedError": "errors",
    "NetworkError": "errors",
    "ExitCode": "errors",
    "read_records": "inputs",
    "Record": "inputs",
    "ReplaySummary": "outcomes",
    "Outcome": "outcomes",
    "Journal": "journal",
    "build_session": "payload",
    "build_update": "payload",
    "Overrides": "payload",
    "session_json_schema": "payload",
    "parse_time": "times",
    "parse_duration": "times",
    "resolve_settings": "settings",
    "Settings": "settings",
    "RetryPolicy": "retry",
    "Emulator": "emulator",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hhsession' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
