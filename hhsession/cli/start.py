"""``hhsession start``: one session, printed as the server returned it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..context import Environment
from ..render import OutputFormat
from .common import (
    AllowHttp,
    ApiKey,
    ApiUrl,
    Child,
    ChildrenIds,
    ConfigValues,
    Duration,
    EndTime,
    EventName,
    IngestionApiKey,
    InputsValues,
    Lenient,
    MaxRetries,
    MetadataValues,
    OutputsValues,
    Profile,
    SessionId,
    SessionName,
    Source,
    StartTime,
    Timeout,
    UserPropertiesValues,
    Verbose,
    connect,
    notice_unread_stdin,
    overrides,
    read_document,
    run_command,
    warn_bare_duration,
)

EPILOG = """Examples:

\b
  hhsession start --name nightly-eval --source ci -m branch=main -m run:=42
  hhsession start -f session.json --end-time now
  echo '{"session_name": "etl"}' | hhsession start -f - -o id
  hhsession start --name deploy -o env >> "$GITHUB_ENV"
  hhsession start --name try --start-time now-5m --duration 90s --dry-run

Times: Unix ms, 1764151200s, 2026-11-26T10:00:00Z (no offset = local), now, now-5m.
Object flags: key=value, key:=JSON, '{"k": 1}' or @file.json; repeatable.
"""

File = Annotated[Optional[Path], typer.Option("--file", "-f", help="Read a session object from a file: JSON, or .jsonc and .yaml/.yml by extension ('-' = standard input, JSON).", show_default=False, dir_okay=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the exact payload and exit; no key, no network.")]
Output = Annotated[Optional[OutputFormat], typer.Option("--output", "-o", help="pretty, json, id, env or none (default: pretty on a terminal, else json).", show_default=False, case_sensitive=False)]


def start(
    ctx: typer.Context,
    name: SessionName = None,
    event_name: EventName = None,
    source: Source = None,
    session_id: SessionId = None,
    start_time: StartTime = None,
    end_time: EndTime = None,
    duration: Duration = None,
    config: ConfigValues = None,
    inputs: InputsValues = None,
    outputs: OutputsValues = None,
    metadata: MetadataValues = None,
    user_properties: UserPropertiesValues = None,
    child: Child = None,
    children_ids: ChildrenIds = None,
    file: File = None,
    dry_run: DryRun = False,
    lenient: Lenient = False,
    output: Output = None,
    api_key: ApiKey = None,
    ingestion_api_key: IngestionApiKey = None,
    api_url: ApiUrl = None,
    profile: Profile = None,
    timeout: Timeout = None,
    max_retries: MaxRetries = None,
    allow_http: AllowHttp = False,
    verbose: Verbose = False,
) -> None:
    """Start one session and print the event the server returns."""

    def body(env: Environment) -> None:
        from ..render import default_format, dumps_json, masked, render_started

        flags = overrides(
            {"session_name": name, "event_name": event_name, "source": source, "session_id": session_id,
             "start_time": start_time, "end_time": end_time, "duration": duration},
            {"config": config, "inputs": inputs, "outputs": outputs, "metadata": metadata,
             "user_properties": user_properties},
            child, children_ids,
        )
        warn_bare_duration(env, duration)
        if file is None:  # JSON piped in and no --name: -f - forgotten, not a session with no name meant
            notice_unread_stdin(env, refuse="a session with no name" if name is None else None)
        client = connect(env, profile, verbose, allow_http, api_key=api_key, ingestion_api_key=ingestion_api_key, api_url=api_url, timeout=timeout,
                         max_retries=max_retries)
        document, origin = read_document(env, file)
        built = client.build_start(document, origin=origin, overrides=flags, lenient=lenient)
        for warning in built.warnings:
            env.warn(warning)
        if dry_run:  # the exact body; -o id/env: the id and variables this session would have; none: nothing
            shown = output or OutputFormat.json
            if shown in (OutputFormat.json, OutputFormat.pretty):
                env.stdout.write(dumps_json(masked(built.payload, env.secrets)) + "\n")  # (a key put in a field)
            else:
                from ..sessions import StartedSession

                render_started(StartedSession(built.session_id, {}, built.payload), shown, env.stdout)
            return
        with client:
            started = client.send_start(built)
        if verbose:
            env.info(f"session {started.session_id} started ({started.attempts} attempt(s), {started.elapsed:.2f} s)")
        if started.note:  # a new id helps when the session already existed, not when the server chose the id
            remedy = "; use a new --session-id (or none) to start a new session" if started.already_existed else ""
            env.warn(started.note + remedy)
        render_started(started, output or default_format(env.stdout_isatty), env.stdout, env.secrets)

    run_command(ctx, verbose, body)
