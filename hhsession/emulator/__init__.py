"""A local stand-in for the HoneyHive sessions and events API (SPEC §3 ``emulator``).

``http.server`` with a thread per connection and ``sqlite3`` (and, for OTLP/protobuf trace exports,
``opentelemetry-proto``). It applies the *server's* rules of SPEC §1, silent fallbacks included, so
users can see what the real service would store::

    hhsession emulator --port 8787

Use from Python (the test suite does)::

    with Emulator(port=0) as emu:
        print(emu.url)

Kept apart from the client, as stripe-mock is from stripe's SDKs, in parts: ``rules`` (routes, guesses,
what is stored, updates, queries), ``store`` (SQLite), ``handler`` (HTTP), ``otlp`` (trace exports),
``app`` (the emulator), ``run`` (the foreground command). What it serves is in ``ROUTES``; where its
behaviour is a guess rather than the vendor's documentation, ``GUESSES`` says so (docs/emulator.md lists
every guess, the CLI help the main ones).
"""

from .app import Emulator, Faults
from .rules import GUESSES, NOT_NULL_WHEN_READ, ROUTES, read_back, server_event
from .run import export_lines, listening_lines, serve, token_from

__all__ = ["GUESSES", "NOT_NULL_WHEN_READ", "ROUTES", "Emulator", "Faults", "export_lines", "listening_lines",
           "read_back", "serve", "server_event", "token_from"]
