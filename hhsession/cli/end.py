"""``hhsession end``: end (or update) a session, ``PUT /v1/events/{session_id}``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..context import Environment
from ..render import EndOutput
from .common import (
    AllowHttp,
    ApiKey,
    ApiUrl,
    Child,
    ChildrenIds,
    ConfigValues,
    IngestionApiKey,
    MaxRetries,
    MetadataValues,
    OutputsValues,
    Profile,
    Timeout,
    UserPropertiesValues,
    Verbose,
    connect,
    field_option,
    notice_unread_stdin,
    object_help,
    overrides,
    read_document,
    run_command,
    session_target,
    warn_bare_duration,
)

EPILOG = """Examples:

\b
  hhsession end                    # $HH_SESSION_ID, ended now
  hhsession end "$HH_SESSION_ID" --outputs result=passed -m exit_code:=0
  hhsession end "$ID" --end-time now --feedback rating:=5
  hhsession end --start-time now-90s --dry-run   # print it, send nothing

In CI: `hhsession start -o env >> "$GITHUB_ENV"` in one step exports
HH_SESSION_ID and HH_SESSION_START_TIME; `hhsession end` in a later step
finds the session and its duration.
"""

SessionIdArgument = Annotated[Optional[str], typer.Argument(metavar="[SESSION_ID]", help="The session to end (default: $HH_SESSION_ID, which `start -o env` exports).", show_default=False)]
EndTime = Annotated[Optional[str], field_option("--end-time", help="End time (default: now).")]
StartTime = Annotated[Optional[str], field_option("--start-time", help="The session's start, for the duration (default: $HH_SESSION_START_TIME for $HH_SESSION_ID).")]
Duration = Annotated[Optional[str], field_option("--duration", help="Duration: ms, or 250ms, 1.5s, 2m (default: end - start, when the start is known).")]
FeedbackValues = Annotated[Optional[list[str]], field_option("--feedback", help=object_help("feedback"))]
MetricsValues = Annotated[Optional[list[str]], field_option("--metrics", help=object_help("metrics"))]
File = Annotated[Optional[Path], typer.Option("--file", "-f", help="Read an UpdateEventRequest object from a file: JSON, or .jsonc and .yaml/.yml by extension ('-' = standard input, JSON).", show_default=False, dir_okay=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the update that would be sent and exit; no key, no network.")]
Output = Annotated[Optional[EndOutput], typer.Option("--output", "-o", help="pretty, json or none (default: pretty on a terminal, else json).", show_default=False, case_sensitive=False)]
EndLenient = Annotated[bool, typer.Option("--lenient", help="Drop unknown fields with a warning, as the server silently would.")]


def end(
    ctx: typer.Context,
    session_id: SessionIdArgument = None,
    end_time: EndTime = None,
    start_time: StartTime = None,
    duration: Duration = None,
    outputs: OutputsValues = None,
    metadata: MetadataValues = None,
    feedback: FeedbackValues = None,
    metrics: MetricsValues = None,
    config: ConfigValues = None,
    user_properties: UserPropertiesValues = None,
    child: Child = None,
    children_ids: ChildrenIds = None,
    file: File = None,
    dry_run: DryRun = False,
    lenient: EndLenient = False,
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
    """End (or update) a session: end time, duration, outputs, feedback, metrics."""

    def body(env: Environment) -> None:
        from ..render import ended_json, masked, render_ended

        target, start, start_origin = session_and_start(env, session_id, start_time)
        flags = overrides(
            {"end_time": end_time, "duration": duration},
            {"outputs": outputs, "metadata": metadata, "feedback": feedback, "metrics": metrics,
             "config": config, "user_properties": user_properties},
            child, children_ids,
        )
        warn_bare_duration(env, duration)
        if file is None:
            notice_unread_stdin(env)
        client = connect(env, profile, verbose, allow_http, api_key=api_key, ingestion_api_key=ingestion_api_key, api_url=api_url, timeout=timeout,
                         max_retries=max_retries)
        document, origin = read_document(env, file, "an update (UpdateEventRequest)")
        built = client.build_end(target, document, origin=origin, overrides=flags, start_time=start,
                                 start_origin=start_origin, lenient=lenient)
        for warning in built.warnings:
            env.warn(warning)
        if dry_run:  # the exact request; -o none: nothing (a check of the input alone)
            if output is not EndOutput.none:
                env.stdout.write(ended_json(built.session_id, masked(built.payload, env.secrets)) + "\n")
            return
        with client:
            ended = client.send_end(built)
        if verbose:
            env.info(f"session {ended.session_id} ended ({ended.attempts} attempt(s), {ended.elapsed:.2f} s)")
        fmt = output or (EndOutput.pretty if env.stdout_isatty else EndOutput.json)
        render_ended(ended, fmt, env.stdout, env.secrets)

    run_command(ctx, verbose, body)


def session_and_start(env: Environment, given: Optional[str], start_time: Optional[str]) -> tuple[str, Optional[str], str]:
    """The session to end, its start when known, and where that start came from.

    ``$HH_SESSION_START_TIME`` belongs to ``$HH_SESSION_ID``: it is used only for
    that session, never for another id given on the command line.
    """
    target, _ = session_target(env, given, "SESSION_ID", "end")
    if start_time is not None:
        return target, start_time, "--start-time"
    if target == env.env.get("HH_SESSION_ID") and env.env.get("HH_SESSION_START_TIME"):
        return target, env.env["HH_SESSION_START_TIME"], "HH_SESSION_START_TIME"
    return target, None, "start time"
