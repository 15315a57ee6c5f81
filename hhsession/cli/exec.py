"""``hhsession exec -- COMMAND``: run a command inside a session, for CI steps and scripts."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..context import Environment
from ..errors import InvalidInput

if TYPE_CHECKING:
    from ..settings import Settings

from .common import (
    CONNECTION,
    AllowHttp,
    ApiKey,
    ApiUrl,
    Child,
    ChildrenIds,
    CommandExit,
    ConfigValues,
    EventName,
    IngestionApiKey,
    InputsValues,
    Lenient,
    MetadataValues,
    OutputsValues,
    Profile,
    SessionId,
    Source,
    UserPropertiesValues,
    Verbose,
    connect,
    field_option,
    object_help,
    overrides,
    read_document,
    run_command,
)

EPILOG = """Examples:

\b
  hhsession exec -- make test
  hhsession exec --name nightly-eval -m branch=main -- python eval.py
  hhsession exec --strict --end-metadata stage=deploy -- ./deploy.sh

The command runs with HH_SESSION_ID, HH_SESSION_EVENT_ID and
HH_SESSION_START_TIME in its environment and its stdin, stdout and stderr
untouched; Ctrl-C and SIGTERM reach it. The session ends with end_time,
duration and outputs.exit_code (-N for signal N). The exit status is the
command's (128+N for a signal). The command line is not sent (it may hold
secrets). Without --strict, a session that cannot be started or ended costs
one warning line, never the command: the start then waits at most about 25 s
(one retry, a 5 s read timeout) unless --timeout or --max-retries say otherwise.
Settings that cannot work (a bad URL, a refused plain-http URL) are exit 2.
"""

Command = Annotated[list[str], typer.Argument(metavar="COMMAND [ARGS]...", help="The command to run (put -- before it when it has options of its own).", show_default=False)]
ExecName = Annotated[Optional[str], field_option("--name", "-n", "--session-name", help="session_name (default: the one in -f, else the command's program name).")]
File = Annotated[Optional[Path], typer.Option("--file", "-f", help="Read a session object from a file: JSON, or .jsonc and .yaml/.yml by extension ('-' = standard input, JSON, which the command then does not get).", show_default=False, dir_okay=False)]
EndOutputs = Annotated[Optional[list[str]], field_option("--end-outputs", help="Add to outputs at the end: " + object_help("outputs").split(": ", 1)[1])]
EndMetadata = Annotated[Optional[list[str]], field_option("--end-metadata", help="Add to metadata at the end: " + object_help("metadata").split(": ", 1)[1])]
Strict = Annotated[bool, typer.Option("--strict", help="No session, no command: exit 3/4/5 instead of running it; a failed end is an error too.")]
# exec's own help for these two: its defaults are the do-no-harm caps below, not the other commands'.
ExecTimeout = Annotated[Optional[float], typer.Option("--timeout", help="Read timeout in seconds (default for exec without --strict: 5; with it: 30; connect timeout 5, or this if less).", show_default=False, rich_help_panel=CONNECTION)]
ExecMaxRetries = Annotated[Optional[int], typer.Option("--max-retries", help="Retries after the first attempt (default for exec without --strict: 1; with it: 3; 0 = one attempt).", show_default=False, rich_help_panel=CONNECTION)]

#: Without --strict, the start and end of a session must not hold a command up for
#: long: unless the user chose otherwise, one retry, a 5 s read timeout, and a
#: Retry-After over 5 s not waited for (each phase: about 25 s at the very most).
DO_NO_HARM_RETRIES = 1
DO_NO_HARM_TIMEOUT = 5.0
DO_NO_HARM_RETRY_AFTER = 5.0


def do_no_harm(settings: Settings) -> Settings:
    """Without --strict, the session must not hold the command up for long: what the user did not choose
    is capped (and -v says so)."""
    said = "exec's cap without --strict"
    if not settings.chosen("max_retries") and settings.max_retries > DO_NO_HARM_RETRIES:
        settings = dataclasses.replace(settings, max_retries=DO_NO_HARM_RETRIES,
                                       origins={**settings.origins, "max_retries": said})
    if not settings.chosen("timeout") and settings.timeout > DO_NO_HARM_TIMEOUT:
        settings = dataclasses.replace(settings, timeout=DO_NO_HARM_TIMEOUT, origins={**settings.origins, "timeout": said})
    return settings


def exec_command(
    ctx: typer.Context,
    command: Command,
    name: ExecName = None,
    event_name: EventName = None,
    source: Source = None,
    session_id: SessionId = None,
    config: ConfigValues = None,
    inputs: InputsValues = None,
    outputs: OutputsValues = None,
    metadata: MetadataValues = None,
    user_properties: UserPropertiesValues = None,
    child: Child = None,
    children_ids: ChildrenIds = None,
    file: File = None,
    lenient: Lenient = False,
    end_outputs: EndOutputs = None,
    end_metadata: EndMetadata = None,
    strict: Strict = False,
    api_key: ApiKey = None,
    ingestion_api_key: IngestionApiKey = None,
    api_url: ApiUrl = None,
    profile: Profile = None,
    timeout: ExecTimeout = None,
    max_retries: ExecMaxRetries = None,
    allow_http: AllowHttp = False,
    verbose: Verbose = False,
) -> None:
    """Run a command inside a session: its start, end, duration and exit status recorded."""

    def body(env: Environment) -> None:
        from ..execute import run_in_session

        if not command[0].strip():
            raise InvalidInput(f"the command to run is empty ({command[0]!r}): give one after --, "
                               f"e.g. hhsession exec -- make test")
        document, origin = read_document(env, file)
        if document is not None:
            from ..payload import unwrap_legacy

            document = unwrap_legacy(document)  # {"session": {...}} is a session object too
            timed = [key for key in ("start_time", "end_time", "duration") if document.get(key) is not None]
            if timed:
                raise InvalidInput(
                    f"{origin}: {', '.join(timed)}: exec starts the session when the command starts and "
                    f"measures its end; remove {'them' if len(timed) > 1 else 'it'} from the file"
                )
        session_name = name
        named = document is not None and isinstance(document.get("session_name"), str) and document["session_name"].strip()
        if session_name is None and not named:  # (an empty name in -f gets the default, as a missing one)
            session_name = os.path.basename(command[0]) or command[0]  # the default; a name in -f comes first
        flags = overrides(
            {"session_name": session_name, "event_name": event_name,
             "source": source, "session_id": session_id},
            {"config": config, "inputs": inputs, "outputs": outputs, "metadata": metadata,
             "user_properties": user_properties},
            child, children_ids,
        )
        at_end = overrides({}, {"outputs": end_outputs, "metadata": end_metadata})
        client = connect(env, profile, verbose, allow_http, None if strict else do_no_harm,
                         api_key=api_key, ingestion_api_key=ingestion_api_key, api_url=api_url, timeout=timeout, max_retries=max_retries)
        if not strict:
            client.retry.max_retry_after = DO_NO_HARM_RETRY_AFTER
        built = client.build_start(document, origin=origin, overrides=flags, lenient=lenient)
        for warning in built.warnings:
            env.warn(warning)
        with client:
            execution = run_in_session(client, built, command, strict=strict, end_overrides=at_end,
                                       environ=env.env, warn=env.warn, error=env.error)
        if verbose and execution.started is not None:
            ended = "ended" if execution.ended is not None else "not ended"
            env.info(f"session {execution.started.session_id} {ended}; the command exited {execution.exit_code}")
        if execution.status:
            raise CommandExit(execution.status)

    run_command(ctx, verbose, body)
