"""``hhsession replay``: one session per recorded record, concurrently and resumably."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..context import Environment
from ..errors import ExitCode, ReplayInterrupted
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
    InputsValues,
    Lenient,
    MaxRetries,
    MetadataValues,
    OutputsValues,
    Profile,
    SessionName,
    Source,
    StartTime,
    Timeout,
    UserPropertiesValues,
    Verbose,
    make_client,
    overrides,
    resolve,
    run_command,
)

if TYPE_CHECKING:
    from ..replay import Outcome

EPILOG = """Examples:

\b
  hhsession replay sessions.jsonl --journal j.jsonl --failures failed.jsonl
  cat export.json | hhsession replay --source backfill -m replayed:=true
  hhsession replay big.jsonl --workers 16 --rate 50 --shard 0/4 --journal j0
  hhsession replay failed.jsonl --dry-run     # validate, print, send nothing

Ctrl-C, a crash or a lost network: run the same command with the same
--journal; only what is left is sent, and no record gets a second session.
"""

Paths = Annotated[Optional[list[Path]], typer.Argument(help="JSON Lines files, or files holding one JSON array ('-' or none: standard input).", show_default=False, dir_okay=False)]
Workers = Annotated[int, typer.Option("--workers", help="Concurrent requests over keep-alive connections.", min=1, max=256)]
Processes = Annotated[Optional[int], typer.Option("--processes", help="Processes that send, the workers spread over them (default: 1, or up to 4 for 256 KiB of input files and more).", min=1, max=64, show_default=False)]
Rate = Annotated[Optional[float], typer.Option("--rate", help="At most this many sessions per second.", min=0.001, show_default=False)]
Journal = Annotated[Optional[Path], typer.Option("--journal", help="Record successes and ids here; rerun with it to resume.", show_default=False, dir_okay=False)]
Failures = Annotated[Optional[Path], typer.Option("--failures", help="Write failed and invalid records here (JSON Lines, replayable).", show_default=False, dir_okay=False)]
Shard = Annotated[Optional[str], typer.Option("--shard", help="K/N: only records whose index % N == K.", show_default=False)]
NewIds = Annotated[bool, typer.Option("--new-ids", help="Give every record a new session id (replay as new sessions).")]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed or invalid record.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Validate every record and print the payloads; send nothing.")]
Output = Annotated[Optional[ReplayOutput], typer.Option("--output", "-o", help="jsonl: one result per record on stdout; none (default: jsonl unless stdout is a terminal).", show_default=False, case_sensitive=False)]


def replay(
    ctx: typer.Context,
    paths: Paths = None,
    name: SessionName = None,
    event_name: EventName = None,
    source: Source = None,
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
    workers: Workers = 8,
    processes: Processes = None,
    rate: Rate = None,
    journal: Journal = None,
    failures: Failures = None,
    shard: Shard = None,
    new_ids: NewIds = False,
    fail_fast: FailFast = False,
    dry_run: DryRun = False,
    lenient: Lenient = False,
    output: Output = None,
    api_key: ApiKey = None,
    api_url: ApiUrl = None,
    profile: Profile = None,
    timeout: Timeout = None,
    max_retries: MaxRetries = None,
    allow_http: AllowHttp = False,
    verbose: Verbose = False,
) -> None:
    """Start one session per recorded record, concurrently and resumably."""

    def body(env: Environment) -> None:
        import time

        from ..inputs import check_inputs, read_records
        from ..replay import write_jsonl
        from .flags import parse_shard

        flags = overrides(
            {"session_name": name, "event_name": event_name, "source": source, "start_time": start_time,
             "end_time": end_time, "duration": duration},
            {"config": config, "inputs": inputs, "outputs": outputs, "metadata": metadata,
             "user_properties": user_properties},
            child, children_ids,
        )
        shard_spec = parse_shard(shard) if shard else None
        settings = resolve(env, profile, verbose, api_key=api_key, api_url=api_url, timeout=timeout, max_retries=max_retries)
        client = make_client(env, settings, allow_http, verbose)
        inputs_list = [str(p) for p in paths] if paths else ["-"]
        check_inputs(inputs_list)
        if "-" in inputs_list and env.stdin_isatty:
            env.info("reading records (JSON Lines) from the terminal; end with Ctrl-D")
        show = output or (ReplayOutput.none if env.stdout_isatty else ReplayOutput.jsonl)
        progress = Progress(env) if env.stderr_isatty and not dry_run else None
        if progress is not None:
            progress.count_in_background(inputs_list, shard_spec[1] if shard_spec else 1)

        flushed = [time.monotonic()]

        def on_result(outcome: Outcome) -> None:
            now = time.monotonic()
            flush = now - flushed[0] > 0.2  # results reach a pipe within a fifth of a second, not line by line
            if flush:
                flushed[0] = now
            if dry_run:
                if outcome.status == "ok":
                    write_jsonl(env.stdout, outcome.payload or {}, flush)
                elif outcome.status == "invalid":
                    env.warn(f"{outcome.record.location}: invalid: {outcome.error}")  # as in a real run: the run goes on
                return
            if show is ReplayOutput.jsonl:
                write_jsonl(env.stdout, outcome.result_line(), flush)
            if outcome.note and verbose:
                env.warn(f"{outcome.record.location}: {outcome.note}; --new-ids replays records as new sessions")
            if outcome.status in ("failed", "invalid"):
                message = f"{outcome.record.location}: {outcome.status}: {outcome.error}"
                if progress is not None:
                    progress.note(message)
                elif verbose or show is ReplayOutput.none:
                    env.warn(message)
            if progress is not None:
                progress.update(outcome.status)

        try:
            with client:
                summary = client.replay(
                    read_records(inputs_list, env.stdin),
                    workers=workers, processes=processes, rate=rate, shard=shard_spec, new_ids=new_ids, fail_fast=fail_fast,
                    dry_run=dry_run, lenient=lenient, overrides=flags, journal=journal, failures=failures,
                    on_result=on_result,
                )
        except ReplayInterrupted as stop:  # the journal is flushed: say where the run got to, then exit 130
            if progress is not None:
                progress.close()
            env.stderr.write("\n" + env.redact(stop.summary.line()) + "; interrupted: run the same command to resume\n")
            raise
        except BaseException as exc:
            if progress is not None:
                progress.close()
            done = getattr(exc, "summary", None)
            if done is not None:
                env.stderr.write(env.redact(done.line()) + "\n")
            raise
        if progress is not None:
            progress.close()
        env.stdout.flush()
        env.stderr.write(env.redact(summary.line()) + "\n")
        if not summary.clean:
            raise CommandExit(int(ExitCode.REPLAY_FAILURES))

    run_command(ctx, verbose, body)


class Progress:
    """A progress bar on stderr: count, rate, failures, elapsed."""

    def __init__(self, env: Environment) -> None:
        import time

        from rich.console import Console
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        self.failed = 0
        self.done = 0
        self.started = time.monotonic()
        self.progress = Bar(
            TextColumn("[bold]replay[/]"), BarColumn(), TextColumn("{task.completed} done"),
            TextColumn("{task.fields[rate]}/s"), TextColumn("[red]{task.fields[failed]} failed[/]"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(file=env.stderr), transient=True,
        )
        self.task = self.progress.add_task("replay", total=None, rate="0", failed=0)
        self.progress.start()
        self.closed = False

    def count_in_background(self, paths: list[str], shards: int) -> None:
        """Count the lines of the input files for an ETA, without delaying the run."""
        import threading

        from ..inputs import count_lines

        def count() -> None:
            total = count_lines(paths)
            if total is not None:
                self.progress.update(self.task, total=max(1, total // shards))

        threading.Thread(target=count, name="replay-count", daemon=True).start()

    def note(self, message: str) -> None:
        """A failure, printed above the bar (the first 20; the rest go to --failures)."""
        if self.failed < 20:
            self.progress.console.print(f"hhsession: warning: {message}", markup=False, highlight=False, soft_wrap=True)
        elif self.failed == 20:
            self.progress.console.print("hhsession: warning: more failures not shown; use --failures FILE", markup=False)

    def update(self, status: str) -> None:
        import time

        self.done += 1
        if status in ("failed", "invalid"):
            self.failed += 1
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        self.progress.update(self.task, advance=1, rate=f"{rate:.0f}", failed=self.failed)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.progress.stop()
