"""``hhsession get``: a session and every event in it, read back."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Optional

import typer

from ..context import Environment
from .common import (
    AllowHttp,
    ApiKey,
    ApiUrl,
    MaxRetries,
    Profile,
    Timeout,
    Verbose,
    connect,
    run_command,
    session_target,
)

EPILOG = """Examples:

\b
  hhsession get                       # $HH_SESSION_ID, as a tree
  hhsession get "$ID" -o json | jq '.events | length'
  hhsession get "$ID" -o jsonl | grep '"error"'

It reads GET /v1/events/{id} and then POST /v1/events/search by session_id,
page after page, with the project API key (an ingestion key cannot read).
"""


class GetOutput(StrEnum):
    pretty = "pretty"
    json = "json"
    jsonl = "jsonl"


SessionIdArgument = Annotated[Optional[str], typer.Argument(metavar="[SESSION_ID]", help="The session to read (default: $HH_SESSION_ID).", show_default=False)]
Output = Annotated[Optional[GetOutput], typer.Option("--output", "-o", help="pretty (a tree), json (the session with its events) or jsonl (an event a line, the session first) (default: pretty on a terminal, else json).", show_default=False, case_sensitive=False)]


def get(
    ctx: typer.Context,
    session_id: SessionIdArgument = None,
    output: Output = None,
    api_key: ApiKey = None,
    api_url: ApiUrl = None,
    profile: Profile = None,
    timeout: Timeout = None,
    max_retries: MaxRetries = None,
    allow_http: AllowHttp = False,
    verbose: Verbose = False,
) -> None:
    """Read a session back: its events as a tree by parent, or JSON."""

    def body(env: Environment) -> None:
        import json

        from ..events import check_session_id
        from ..redact import escaped_json
        from ..render import dumps_json, masked, render_session_tree

        target = check_session_id(*session_target(env, session_id, "SESSION_ID", "read"))
        client = connect(env, profile, verbose, allow_http, api_key=api_key, api_url=api_url, timeout=timeout,
                         max_retries=max_retries)
        with client:
            session = client.get(target)
        for warning in session.warnings:
            env.warn(warning)
        if verbose:
            env.info(f"session {target}: {len(session['events'])} event(s) besides the session")
        fmt = output or (GetOutput.pretty if env.stdout_isatty else GetOutput.json)
        if fmt is GetOutput.pretty:
            render_session_tree(session, env.stdout, env.secrets)
        elif fmt is GetOutput.json:
            env.stdout.write(dumps_json(masked(session, env.secrets)) + "\n")
        else:
            shown = masked(session, env.secrets)
            events = shown.pop("events")
            for one in [shown, *events]:
                env.stdout.write(escaped_json(json.dumps(one, ensure_ascii=False)) + "\n")
        env.stdout.flush()

    run_command(ctx, verbose, body)
