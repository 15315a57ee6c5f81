"""urllib3, as the transport uses it, imported without what hhsession never uses.

``urllib3.http2``'s ``__init__`` imports ``importlib.metadata`` (about 10 ms, a
tenth of a whole ``hhsession start``) only for ``inject_into_urllib3()``,
which hhsession never calls; urllib3 itself imports just ``urllib3.http2.probe``.
A stand-in package module keeps the package's path, so its submodules load as
usual, and runs the real ``__init__`` the first time anything else of it is
asked for (by a program that uses HTTP/2 in the same process). Any surprise in
urllib3's layout, or urllib3 already imported: nothing is done.
"""

# ruff: noqa: E402 - the stand-in must be in place before urllib3 is imported

from __future__ import annotations

import importlib.util
import os
import sys
import types
from typing import Any


def _defer_http2() -> None:
    if "urllib3" in sys.modules or "urllib3.http2" in sys.modules:
        return
    spec = importlib.util.find_spec("urllib3")  # finds the package without running it
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if len(locations) != 1:
        return
    package = os.path.join(locations[0], "http2")
    init = os.path.join(package, "__init__.py")
    if not (os.path.isfile(init) and os.path.isfile(os.path.join(package, "probe.py"))):
        return
    module = types.ModuleType("urllib3.http2")
    module.__path__ = [package]
    module.__file__ = init
    module.__package__ = "urllib3.http2"

    def real(name: str) -> Any:
        if name.startswith("__") or os.path.exists(os.path.join(package, f"{name}.py")):
            raise AttributeError(name)  # a submodule (probe, connection): imported as usual
        del module.__dict__["__getattr__"]
        with open(init, encoding="utf-8") as handle:
            exec(compile(handle.read(), init, "exec"), module.__dict__)  # noqa: S102 - urllib3's own code
        return getattr(module, name)

    module.__dict__["__getattr__"] = real
    sys.modules["urllib3.http2"] = module


_defer_http2()

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

if "urllib3.http2" in sys.modules and not hasattr(urllib3, "http2"):
    urllib3.http2 = sys.modules["urllib3.http2"]  # as an import would have set it

__all__ = [
    "ConnectTimeoutError", "HTTPConnection", "HTTPConnectionPool", "HTTPError", "HTTPSConnection",
    "HTTPSConnectionPool", "LocationParseError", "NewConnectionError", "ProxyError", "ReadTimeoutError",
    "SSLError", "urllib3",
]
