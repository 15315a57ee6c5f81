"""``hhsession event``: log events (the steps of the work) into a session."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..context import Environment
from ..errors import HHSessionError, InvalidInput

if TYPE_CHECKING:
    from ..events import BuiltEvent
    from ..inputs import Record

from .common import (
    AllowHttp,
    ApiKey,
    ApiUrl,
    ConfigValues,
    Duration,
    EndTime,
    IngestionApiKey,
    InputsValues,
    MaxRetries,
    MetadataValues,
    OutputsValues,
    Profile,
    Source,
    StartTime,
    Timeout,
    UserPropertiesValues,
    Verbose,
    connect,
    field_option,
    notice_unread_stdin,
    object_help,
    overrides,
    run_command,
    session_target,
    warn_bare_duration,
)

EPILOG = """Examples:

\b
  hhsession event --name "unit tests" -m failed:=3 --duration 41s
  hhsession event -t model --name summarize --metrics tokens:=812
  hhsession event --name deploy --error "timeout after 300 s"
  hhsession event -f steps.jsonl -o id          # a JSON array or JSON Lines
  hhsession event --session-id "$ID" --name lint --dry-run

The session is --session-id, else $HH_SESSION_ID (`start -o env` and `exec`
export it). Each event gets its id before it is sent (a retry never logs it
twice), the session as its parent unless --parent, and start_time now unless
given. With -f, the flags apply to every event read, and an event with its
own start_time (or end_time) and no event_id gets an id derived from the
session, its position and its content: running the same command again after
a failure logs nothing twice (--new-ids: log the file again as new events).
An event without times is an event of now, with a new id each run.
"""


class EventOutput(StrEnum):
    pretty = "pretty"
    json = "json"
    id = "id"
    none = "none"


class EventType(StrEnum):
    tool = "tool"
    model = "model"
    chain = "chain"
    generic = "generic"


SessionIdOption = Annotated[Optional[str], typer.Option("--session-id", "-s", help="The session to log into (default: $HH_SESSION_ID).", show_default=False)]
Type = Annotated[Optional[EventType], field_option("--type", "-t", help="event_type: tool, model, chain or generic (default: tool).", case_sensitive=False)]
Name = Annotated[Optional[str], field_option("--name", "-n", help="event_name (needed for an event from flags; with -f the default is 'unknown').")]
EventId = Annotated[Optional[str], field_option("--event-id", help="event_id: a UUID (default: a new UUIDv4; to send an event again, its id).")]
Parent = Annotated[Optional[str], field_option("--parent", help="parent_id: the event it belongs under (default: the session).")]
Error = Annotated[Optional[str], field_option("--error", help="error: what went wrong (shown in red by `get`).")]
FeedbackValues = Annotated[Optional[list[str]], field_option("--feedback", help=object_help("feedback"))]
MetricsValues = Annotated[Optional[list[str]], field_option("--metrics", help=object_help("metrics"))]
File = Annotated[Optional[Path], typer.Option("--file", "-f", help="Read events from a file: a JSON array or JSON Lines; .jsonc and .yaml/.yml by extension ('-' = standard input, JSON).", show_default=False, dir_okay=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the events that would be sent and exit; no key, no network.")]
Output = Annotated[Optional[EventOutput], typer.Option("--output", "-o", help="pretty, json, id (the event ids, a line each) or none (default: pretty on a terminal, else json).", show_default=False, case_sensitive=False)]
NewIds = Annotated[bool, typer.Option("--new-ids", help="Give the events of -f new random ids (log a file again as new events); by default an event of -f with its own times and no event_id gets an id derived from the session, its position and its content, so running the same command again logs nothing twice.")]
Lenient = Annotated[bool, typer.Option("--lenient", help="Mirror the server: replace an invalid event_id, drop unknown keys (with warnings).")]


def event(
    ctx: typer.Context,
    session_id: SessionIdOption = None,
    event_type: Type = None,
    name: Name = None,
    event_id: EventId = None,
    parent: Parent = None,
    source: Source = None,
    start_time: StartTime = None,
    end_time: EndTime = None,
    duration: Duration = None,
    inputs: InputsValues = None,
    outputs: OutputsValues = None,
    config: ConfigValues = None,
    metadata: MetadataValues = None,
    metrics: MetricsValues = None,
    feedback: FeedbackValues = None,
    user_properties: UserPropertiesValues = None,
    error: Error = None,
    file: File = None,
    dry_run: DryRun = False,
    new_ids: NewIds = False,
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
    """Log events into a session: a step's name, type, inputs, outputs, metrics, errors."""

    def body(env: Environment) -> None:
        from ..events import check_session_id

        target = check_session_id(*session_target(env, session_id, "--session-id", "log into"))
        if name is not None and not name.strip():
            raise InvalidInput("--name is empty: an unset shell variable? give it a value, or leave the flag out")
        flags = overrides(
            {"event_type": event_type.value if event_type else None, "event_name": name, "event_id": event_id,
             "parent_id": parent, "source": source, "start_time": start_time, "end_time": end_time,
             "duration": duration, "error": error},
            {"inputs": inputs, "outputs": outputs, "config": config, "metadata": metadata, "metrics": metrics,
             "feedback": feedback, "user_properties": user_properties},
            flags={"event_type": "--type", "event_name": "--name", "parent_id": "--parent"},
        )
        warn_bare_duration(env, duration)
        if file is None and name is None:
            raise InvalidInput('no --name: the event would be named "unknown"; give --name, or read events '
                               'from a file with -f FILE (-f - for standard input)')
        if file is None:
            notice_unread_stdin(env)
        if new_ids and file is None:
            raise InvalidInput("--new-ids is for the events of -f; one event from flags gets a new id anyway")
        if file is not None and event_id is not None:
            raise InvalidInput("--event-id names one event, and -f reads many; put event_id in each event of the "
                               "file instead")
        client = connect(env, profile, verbose, allow_http, api_key=api_key, api_url=api_url, timeout=timeout,
                         max_retries=max_retries, ingestion_api_key=ingestion_api_key)
        if file is None:
            built = [client.build_event(target, None, origin="input", overrides=flags, lenient=lenient)]
        else:
            built = client.build_events(target, _read_events(env, str(file)), overrides=flags, lenient=lenient,
                                        derive_ids=not new_ids)
        if not built:
            raise InvalidInput(f"{file}: holds no events; give a JSON array of event objects, JSON Lines, or a YAML list")
        for one in built:
            for warning in one.warnings:
                env.warn(warning)
        fmt = output or (EventOutput.pretty if env.stdout_isatty else EventOutput.json)
        if dry_run:
            _show(env, fmt, target, [one.payload for one in built])
            return
        from ..events import send_events

        shown: list[dict[str, Any]] = []

        def sent(chunk: list[BuiltEvent]) -> None:  # ids as each batch lands: a failure later leaves these printed
            if fmt is EventOutput.id:
                env.stdout.write("".join(f"{one.event_id}\n" for one in chunk))
                env.stdout.flush()
            shown.extend(one.payload for one in chunk)

        try:
            with client:
                send_events(client, target, built, sent)
        except HHSessionError:
            if shown and fmt is EventOutput.json:  # what was stored, for a script to pick up from
                _show(env, fmt, target, shown)
            raise
        if verbose:
            env.info(f"{len(built)} event(s) logged into session {target}")
        if fmt is not EventOutput.id:
            _show(env, fmt, target, shown)

    run_command(ctx, verbose, body)


def _read_events(env: Environment, path: str) -> list[Record]:
    from ..inputs import check_inputs, read_records

    if path == "-" and env.stdin_isatty:
        env.info("reading events (a JSON array or JSON Lines) from the terminal; end with Ctrl-D")
    if path != "-":
        check_inputs([path])
    return list(read_records([path], env.stdin))


def _show(env: Environment, fmt: EventOutput, session_id: str, events: list[dict[str, Any]]) -> None:
    from ..render import dumps_json, masked, render_events

    events = masked(events, env.secrets)
    if fmt is EventOutput.json:
        env.stdout.write(dumps_json({"session_id": session_id, "events": events}) + "\n")
    elif fmt is EventOutput.id:
        env.stdout.write("".join(f"{one['event_id']}\n" for one in events))
    elif fmt is EventOutput.pretty:
        render_events(session_id, events, env.stdout)
    env.stdout.flush()
