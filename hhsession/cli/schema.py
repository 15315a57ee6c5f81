"""``hhsession schema``: the JSON Schema of what ``-f`` and replay records accept."""

from __future__ import annotations

import typer

from ..context import Environment
from .common import run_command


def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of the session object that -f and replay records accept.

    Example: hhsession schema > session.schema.json
    """

    def body(env: Environment) -> None:
        from ..payload import session_json_schema
        from ..render import dumps_json

        env.stdout.write(dumps_json(session_json_schema()) + "\n")

    run_command(ctx, False, body)
