"""``hhsession replay``: one session per recorded record, concurrently and resumably."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..context import Environment
from ..errors import ExitCode, InvalidInput, ReplayInterrupted
from ..render import ReplayOutput
from .common import (
    AllowHttp,
    ApiKey,
    ApiUrl,
    Child,
    ChildrenIds,
    CommandExit,
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
    SessionName,
    Source,
    Timeout,
    UserPropertiesValues,
    Verbose,
    connect,
    field_option,
    ignore_stop_signals,
    overrides,
    run_command,
    warn_bare_duration,
)

EPILOG = """Examples:

\b
  hhsession replay sessions.jsonl --failures failed.jsonl
  cat export.json | hhsession replay --source backfill -m replayed:=true
  hhsession replay big.jsonl --workers 16 --rate 50 --shard 0/4 --journal j0
  hhsession replay failed.jsonl --dry-run     # validate, print, send nothing

Ctrl-C, a crash or a lost network: run the same command again; only what
is left is sent, and no record gets a second session (every replay keeps a
journal: by default in ~/.local/state/hhsession/replay/, --journal PATH names
one, --no-journal keeps none).
"""

Paths = Annotated[Optional[list[Path]], typer.Argument(help="JSON Lines files, or files holding one JSON array; .jsonc and .yaml/.yml by extension ('-' or none: standard input).", show_default=False, dir_okay=False)]
Workers = Annotated[str, typer.Option("--workers", help="Requests in flight: auto (adapts to the server: grows while answers are fast, shrinks on 429, 503, timeouts and growing latency; at most 256) or a fixed number from 1 to 256.", metavar="auto|N")]
Rate = Annotated[Optional[float], typer.Option("--rate", help="At most this many sessions per second.", min=0.001, show_default=False)]
Journal = Annotated[Optional[Path], typer.Option("--journal", help="The journal of successes and ids that makes a rerun resume (default: one per inputs and destination in $XDG_STATE_HOME/hhsession/replay/).", show_default=False, dir_okay=False)]
NoJournal = Annotated[bool, typer.Option("--no-journal", help="Keep no journal: running the command again sends every record again.")]
Failures = Annotated[Optional[Path], typer.Option("--failures", help="Write failed and invalid records here (JSON Lines, replayable).", show_default=False, dir_okay=False)]
Shard = Annotated[Optional[str], typer.Option("--shard", help="K/N: only records whose index % N == K.", show_default=False)]
NewIds = Annotated[bool, typer.Option("--new-ids", help="Give every record a new session id (replay as new sessions).")]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed or invalid record.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Validate every record and print the payloads; send nothing.")]
ReplayStartTime = Annotated[Optional[str], field_option("--start-time", help="Start time of every record (default: the record's, else now).")]
Output = Annotated[Optional[ReplayOutput], typer.Option("--output", "-o", help="jsonl: one result per record on stdout (with --dry-run: the bodies); or none (default: jsonl, but none on a terminal without --dry-run).", show_default=False, case_sensitive=False)]


def replay(
    ctx: typer.Context,
    paths: Paths = None,
    name: SessionName = None,
    event_name: EventName = None,
    source: Source = None,
    start_time: ReplayStartTime = None,
    end_time: EndTime = None,
    duration: Duration = None,
    config: ConfigValues = None,
    inputs: InputsValues = None,
    outputs: OutputsValues = None,
    metadata: MetadataValues = None,
    user_properties: UserPropertiesValues = None,
    child: Child = None,
    children_ids: ChildrenIds = None,
    workers: Workers = "auto",
    rate: Rate = None,
    journal: Journal = None,
    no_journal: NoJournal = False,
    failures: Failures = None,
    shard: Shard = None,
    new_ids: NewIds = False,
    fail_fast: FailFast = False,
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
    """Start one session per recorded record, concurrently and resumably."""

    def body(env: Environment) -> None:
        from ..inputs import check_inputs, read_records
        from ..journal import default_journal, prepare_default_journal
        from .flags import parse_shard, parse_workers
        from .progress import Reporter

        flags = overrides(
            {"session_name": name, "event_name": event_name, "source": source, "start_time": start_time,
             "end_time": end_time, "duration": duration},
            {"config": config, "inputs": inputs, "outputs": outputs, "metadata": metadata,
             "user_properties": user_properties},
            child, children_ids,
        )
        shard_spec = parse_shard(shard) if shard is not None else None
        in_flight = parse_workers(workers)
        warn_bare_duration(env, duration)
        if rate is not None and not rate > 0:  # nan: click's min= lets it through
            raise InvalidInput(f"--rate {rate}: must be a number of sessions per second above 0, e.g. 50")
        client = connect(env, profile, verbose, allow_http, api_key=api_key, ingestion_api_key=ingestion_api_key, api_url=api_url, timeout=timeout,
                         max_retries=max_retries)
        inputs_list = [str(p) for p in paths] if paths else ["-"]
        check_inputs(inputs_list)
        if no_journal and journal is not None:
            raise InvalidInput("--journal and --no-journal: give one of them")
        kept = journal
        if kept is None and not no_journal:
            kept = default_journal(inputs_list, client.api_url, client.write_key, new_ids=new_ids, environ=env.env)
            if not dry_run:
                prepare_default_journal(kept)
            if verbose:
                env.info(f"journal: {kept}")
        if "-" in inputs_list and env.stdin_isatty:
            env.info("reading records (JSON Lines) from the terminal; end with Ctrl-D")
        # A dry run shows its bodies (on a terminal too) unless -o none; a real one its results in a pipe.
        show = output or (ReplayOutput.none if env.stdout_isatty and not dry_run else ReplayOutput.jsonl)
        report = Reporter(env, jsonl=show is ReplayOutput.jsonl, dry_run=dry_run, verbose=verbose,
                          failures=str(failures) if failures is not None else None, paths=inputs_list,
                          shards=shard_spec[1] if shard_spec else 1)
        try:
            with client:
                summary = client.replay(
                    read_records(inputs_list, env.stdin),
                    workers=in_flight, rate=rate, shard=shard_spec, new_ids=new_ids,
                    fail_fast=fail_fast, dry_run=dry_run, lenient=lenient, overrides=flags, journal=kept,
                    failures=failures, on_result=report,
                )
        except ReplayInterrupted as stop:  # the journal is flushed: say where the run got to, then 128+N
            ignore_stop_signals()
            report.close()
            how = "interrupted" if stop.signum == signal.SIGINT else f"stopped by {signal.Signals(stop.signum).name}"
            lead = "\n" if env.stderr_isatty else ""  # off the line a terminal's ^C was echoed on
            then = ("" if dry_run else "; with no journal, running it again sends every record again"
                    if kept is None else f": run the same command to resume (journal {kept})")
            env.stderr.write(lead + env.redact(stop.summary.line()) + f"; {how}{then}\n")
            raise CommandExit(int(ExitCode.INTERRUPTED if stop.signum == signal.SIGINT else ExitCode.TERMINATED)) from None
        except BaseException as exc:
            report.close()
            done = getattr(exc, "summary", None)
            if done is not None:
                env.stderr.write(env.redact(done.line()) + "\n")
            raise
        report.close()
        env.stderr.write(env.redact(summary.line()) + "\n")
        if summary.nothing_got_through:  # a down server is exit 5 however few the records were
            env.error("no record got through: each failed for the network or the server (see the warnings "
                      "above); check that the server is up and that --api-url is right, then run the same "
                      "command again" + ("" if kept is None else " (its journal skips what is done)"))
            raise CommandExit(int(ExitCode.NETWORK))
        if not summary.clean:
            raise CommandExit(int(ExitCode.REPLAY_FAILURES))

    run_command(ctx, verbose, body)
