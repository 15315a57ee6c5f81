"""``hhsession update``: enrich a running session, ``PUT /v1/events/{session_id}`` without an end."""

from __future__ import annotations

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
    notice_unread_stdin,
    overrides,
    read_document,
    run_command,
    session_target,
)
from .end import DryRun, EndLenient, FeedbackValues, File, MetricsValues, Output

SessionIdArgument = Annotated[Optional[str], typer.Argument(metavar="[SESSION_ID]", help="The session to update (default: $HH_SESSION_ID, which `start -o env` exports).", show_default=False)]

EPILOG = """Examples:

\b
  hhsession update -m stage=tests --metrics passed:=41
  hhsession update "$ID" --feedback rating:=4 --outputs summary="3 failed"
  hhsession update --child "$EVENT_ID" --dry-run   # print it, send nothing

The server merges metadata, feedback, metrics, config and user_properties
into the session; outputs and children_ids replace. No end time nor duration
is sent: the session keeps running until `hhsession end`.
"""


def update(
    ctx: typer.Context,
    session_id: SessionIdArgument = None,
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
    """Enrich a running session: outputs, metadata, feedback, metrics; no end."""

    def body(env: Environment) -> None:
        from ..events import check_session_id
        from ..render import ended_json, masked, render_ended

        target = check_session_id(*session_target(env, session_id, "SESSION_ID", "update"))
        flags = overrides(
            {},
            {"outputs": outputs, "metadata": metadata, "feedback": feedback, "metrics": metrics,
             "config": config, "user_properties": user_properties},
            child, children_ids,
        )
        if file is None:  # (with no field flag either, nothing could be updated: one line, not two)
            nothing = not (flags.fields or flags.objects or flags.children_ids is not None or flags.add_children)
            notice_unread_stdin(env, refuse="" if nothing else None, verb="update")
        client = connect(env, profile, verbose, allow_http, api_key=api_key, api_url=api_url, timeout=timeout,
                         max_retries=max_retries, ingestion_api_key=ingestion_api_key)
        document, origin = read_document(env, file, "an update (UpdateEventRequest)")
        built = client.build_update(target, document, origin=origin, overrides=flags, lenient=lenient)
        for warning in built.warnings:
            env.warn(warning)
        if dry_run:
            if output is not EndOutput.none:
                env.stdout.write(ended_json(built.session_id, masked(built.payload, env.secrets)) + "\n")
            return
        with client:
            updated = client.send_end(built)
        if verbose:
            env.info(f"session {updated.session_id} updated ({updated.attempts} attempt(s), {updated.elapsed:.2f} s)")
        fmt = output or (EndOutput.pretty if env.stdout_isatty else EndOutput.json)
        render_ended(updated, fmt, env.stdout, env.secrets, title="HoneyHive session updated")

    run_command(ctx, verbose, body)
