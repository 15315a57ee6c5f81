"""``hhsession emulator``: the local stand-in for the API, in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..context import Environment
from ..errors import InvalidInput
from .common import run_command

EPILOG = """Examples:

\b
  hhsession emulator            # http://127.0.0.1:8787, in memory
  hhsession emulator --port 0 --db s.sqlite > hh.env &   # source hh.env
  HH_EMULATOR_TOKEN=secret hhsession emulator --port 0
  hhsession emulator --fail-rate 0.3 --retry-after 1 --latency 200
"""


def emulator(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 = any free port).", min=0, max=65535)] = 8787,
    db: Annotated[Optional[Path], typer.Option("--db", dir_okay=False, help="SQLite file that keeps sessions across restarts (default: in memory).", show_default=False)] = None,
    token: Annotated[Optional[str], typer.Option("--token", help="Accept only this bearer token (default: $HH_EMULATOR_TOKEN, else any non-empty bearer). Prefer the variable: argv is visible to other users.", show_default=False)] = None,
    fail_rate: Annotated[float, typer.Option("--fail-rate", help="Share of requests answered with --fail-status (0 to 1).", min=0.0, max=1.0)] = 0.0,
    fail_status: Annotated[int, typer.Option("--fail-status", help="Status for injected failures.", min=400, max=599)] = 503,
    retry_after: Annotated[Optional[float], typer.Option("--retry-after", help="Send Retry-After: SECONDS with injected failures.", min=0.0, show_default=False)] = None,
    latency: Annotated[float, typer.Option("--latency", help="Delay every answer by MS milliseconds.", min=0.0)] = 0.0,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed for --fail-rate, for repeatable runs.", show_default=False)] = None,
) -> None:
    """Run a local stand-in for the HoneyHive sessions and events API, for demos and offline CI.

    Sessions with the server's rules (silent fallbacks included; a session's
    event_id is its session_id), events inside them, OTLP traces (JSON or
    protobuf), export and search ("is" filters; any other is a 400 naming it).
    The vendor's Python SDK, tracer and honeyhive-logger and its TypeScript SDK
    and tracer run against it. Every route (docs/emulator.md says what each
    does; any other method is a JSON 405):

    ROUTES

    Prints export lines for HH_API_URL, HH_DATA_PLANE_URL, HH_PROJECT_API_KEY
    and HH_API_KEY, then one line per request on stderr. The token is never
    printed: from $HH_EMULATOR_TOKEN, the key lines reuse the variable; from
    --token, a line asks for it without echoing it.

    Guesses where the vendor documents nothing (trust them less): a wrong type
    is a 400; end_time and duration are null when not sent; org, workspace and
    project ids are placeholders; an update answers {"success": true}; export
    and search order by start_time, newest first. docs/emulator.md lists them all.
    """

    def body(env: Environment) -> None:
        import sqlite3

        from ..emulator import Emulator, Faults, serve, token_from

        resolved_token, token_env = token_from(token, env.env)  # --token wins; an empty variable is unset
        try:
            server = Emulator(
                host=host,
                port=port,
                db=str(db) if db is not None else None,
                token=resolved_token,
                faults=Faults(fail_rate=fail_rate, fail_status=fail_status, retry_after=retry_after, latency_ms=latency),
                log=env.stderr,
                seed=seed,
            )
        except OSError as exc:
            raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port (0 = any free port)") from None
        except sqlite3.Error as exc:
            raise InvalidInput(f"--db {db}: cannot open it as an SQLite database ({exc}); check the path") from None
        serve(server, env.stdout, env.stderr, token_env=token_env)

    run_command(ctx, False, body)


def _route_lines() -> str:
    """The routes for the help, from the table the emulator serves (so the two cannot differ)."""
    from ..emulator.rules import ROUTES

    return "    \b\n" + "\n".join(f"    {route.method:<6} {route.path}" for route in ROUTES)


emulator.__doc__ = (emulator.__doc__ or "").replace("    ROUTES\n", _route_lines() + "\n")
