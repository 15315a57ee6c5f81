"""Typer wiring only: options -> library calls -> exit codes.

Heavy modules (``requests``, ``rich``, the emulator) are imported inside the
commands that need them, so ``--help``, ``--version``, completion and
``start --dry-run`` stay fast.
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from . import __version__
from .context import CommandExit, Environment, edge
from .errors import ExitCode, InvalidInput
from .render import OutputFormat, ReplayOutput

HELP = """Start HoneyHive sessions from a shell, a CI pipeline or a script.

Exit codes: 0 ok, 1 internal error, 2 invalid input (nothing sent), 3 no key or
401/403, 4 rejected by the server, 5 network or server failure after retries,
6 replay finished with failed or invalid records, 130 interrupted.

Environment: HH_API_KEY, HH_API_URL, HH_API_TIMEOUT, HH_MAX_RETRIES, HH_SOURCE,
HHSESSION_PROFILE, HHSESSION_CONFIG.
"""


class _OneLineErrors(TyperGroup):
    """Usage errors (an unknown flag, a bad choice) as one line, like every other error (SPEC §6)."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **kwargs: Any,
    ) -> Any:
        call = {"args": args, "prog_name": prog_name, "complete_var": complete_var, **kwargs}
        if not standalone_mode:
            return super().main(standalone_mode=False, **call)
        try:
            result = super().main(standalone_mode=False, **call)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `hhsession config`: show the help
                exc.show()  # type: ignore[attr-defined]
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            hint = f"; see {ctx.command_path} --help" if ctx is not None else ""
            sys.stderr.write(f"hhsession: error: {exc.format_message().rstrip('.')}{hint}\n")
            sys.exit(exc.exit_code)
        except typer.Abort:
            sys.stderr.write("hhsession: aborted\n")
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    name="hhsession",
    cls=_OneLineErrors,
    help=HELP,
    epilog=(
        "Examples:\n\n"
        "  hhsession start --name nightly-eval -m branch=main\n\n"
        "  echo '{\"session_name\": \"etl\"}' | hhsession start -f - -o id\n\n"
        "  hhsession replay recorded.jsonl --journal replay.journal\n\n"
        "  hhsession emulator --port 8787"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Our own --install-completion writes the static scripts of completions/.
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(
    name="config",
    help="Read and write the config file: keys, URLs and profiles.",
    epilog=(
        "Examples:\n\n"
        "  hhsession config set api_key                    # a hidden prompt\n\n"
        "  hhsession config set api_url https://hh.internal.example --profile staging\n\n"
        "  hhsession config use staging\n\n"
        "  hhsession config list"
    ),
    no_args_is_help=True,
)
app.add_typer(config_app)

CONNECTION = "Connection"
FIELDS = "Session fields"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hhsession {__version__}")
        raise typer.Exit()


def _completion(install: bool) -> Callable[[bool], None]:
    def callback(value: bool) -> None:
        if not value:
            return
        import os

        from .completion import SHELLS, app_tree, detect_shell, render
        from .completion import install as install_script

        shell = detect_shell(os.environ)
        if shell is None:
            typer.echo(
                f"hhsession: error: cannot tell your shell from SHELL={os.environ.get('SHELL', '')!r}; "
                f"use a file from completions/ ({', '.join(SHELLS)}), see the README",
                err=True,
            )
            raise typer.Exit(2)
        if install:
            for line in install_script(app_tree(), shell, os.environ):
                typer.echo(f"hhsession: {line}", err=True)
        else:
            typer.echo(render(app_tree(), shell), nl=False)
        raise typer.Exit()

    return callback


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    install_completion: Annotated[
        bool,
        typer.Option("--install-completion", callback=_completion(True), is_eager=True, expose_value=False,
                     help="Install completion for your shell ($SHELL: bash, zsh, fish, pwsh)."),
    ] = False,
    show_completion: Annotated[
        bool,
        typer.Option("--show-completion", callback=_completion(False), is_eager=True, expose_value=False,
                     help="Print the completion script for your shell ($SHELL)."),
    ] = False,
) -> None:
    """Start HoneyHive sessions from a shell, a CI pipeline or a script."""


# ----------------------------------------------------------------------------- shared options

ApiKey = Annotated[
    Optional[str],
    typer.Option(
        "--api-key",
        help="API key (default: HH_API_KEY, HONEYHIVE_API_KEY, the profile). Prefer the environment: argv is visible to other users.",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
ApiUrl = Annotated[
    Optional[str],
    typer.Option(
        "--api-url",
        help="Server URL (default: HH_API_URL, HONEYHIVE_SERVER_URL, HH_SERVER_URL, the profile, https://api.dp1.us.honeyhive.ai).",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
Profile = Annotated[
    Optional[str],
    typer.Option("--profile", help="Config profile (default: HHSESSION_PROFILE, default_profile, 'default').", show_default=False, rich_help_panel=CONNECTION),
]
Timeout = Annotated[
    Optional[float],
    typer.Option("--timeout", help="Read timeout in seconds (default 30; connect timeout 5).", show_default=False, rich_help_panel=CONNECTION),
]
MaxRetries = Annotated[
    Optional[int],
    typer.Option("--max-retries", help="Retries after the first attempt (default 3; 0 = one attempt).", show_default=False, rich_help_panel=CONNECTION),
]
AllowHttp = Annotated[
    bool,
    typer.Option("--allow-http", help="Allow sending the key over plain http to a non-loopback host.", rich_help_panel=CONNECTION),
]
Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Explain settings, requests, attempts and waits on stderr (the key masked).", rich_help_panel=CONNECTION),
]


def _run(verbose: bool, body: Callable[[Environment], None]) -> None:
    """Run a command body at the edge: one error line and the SPEC §6 exit code."""
    env = Environment.from_sys()
    try:
        with edge(env, verbose):
            body(env)
    except CommandExit as stop:
        raise typer.Exit(stop.code) from None


def _load_config(env: Environment) -> Any:
    from .config import config_path, load_config

    config = load_config(config_path(env.env))
    if config.insecure_permissions():
        env.warn(
            f"{config.path} holds an API key and is readable by group or others; "
            f"run: chmod 600 {config.path}"
        )
    return config


def _settings(env: Environment, profile: Optional[str], verbose: bool, **flags: Any) -> Any:
    """Resolve settings (flag > environment > profile > default), remember the key as a
    secret, and with --verbose say where each setting came from."""
    from .settings import resolve_settings

    settings = resolve_settings(flags, env.env, _load_config(env), profile=profile)
    if settings.api_key:
        env.secrets.append(settings.api_key)
    if verbose:
        for line in settings.describe():
            env.info(line)
    return settings


# ----------------------------------------------------------------------------- start

START_EPILOG = """Examples:

  hhsession start --name nightly-eval --source ci -m branch=main -m run:=42

  hhsession start -f session.json --end-time now

  echo '{"session_name": "etl"}' | hhsession start -f - -o id

  hhsession start --name deploy -o env >> "$GITHUB_ENV"

  hhsession start --name try --start-time now-5m --duration 90s --dry-run

Times: Unix ms, 1764151200s, 2026-11-26T10:00:00Z (no offset = local), now, now-5m.
Object flags: key=value, key:=JSON, '{"k": 1}' or @file.json; repeatable.
"""


def _field(*names: str, help: str) -> Any:
    return typer.Option(*names, help=help, show_default=False, rich_help_panel=FIELDS)


def _object_help(field: str) -> str:
    return f"Add to {field}: key=value, key:=JSON, a JSON object or @file.json (repeatable)."


# The field flags, shared by start and replay (replay has no --session-id).
SessionName = Annotated[Optional[str], _field("--name", "-n", "--session-name", help="session_name: display name.")]
EventName = Annotated[Optional[str], _field("--event-name", help="event_name (default: the session name, else 'unknown').")]
Source = Annotated[Optional[str], _field("--source", help="source (default: HH_SOURCE, the profile, else 'unknown').")]
StartTime = Annotated[Optional[str], _field("--start-time", help="Start time (default: now).")]
EndTime = Annotated[Optional[str], _field("--end-time", help="End time.")]
Duration = Annotated[Optional[str], _field("--duration", help="Duration: ms, or 250ms, 1.5s, 2m, 1h (default: end - start).")]
ConfigValues = Annotated[Optional[list[str]], _field("--config", help=_object_help("config"))]
InputsValues = Annotated[Optional[list[str]], _field("--inputs", help=_object_help("inputs"))]
OutputsValues = Annotated[Optional[list[str]], _field("--outputs", help=_object_help("outputs"))]
MetadataValues = Annotated[Optional[list[str]], _field("--metadata", "-m", help=_object_help("metadata"))]
UserPropertiesValues = Annotated[Optional[list[str]], _field("--user-properties", "-u", help=_object_help("user_properties"))]
Child = Annotated[Optional[list[str]], _field("--child", help="Append an id to children_ids (repeatable).")]
ChildrenIds = Annotated[Optional[str], _field("--children-ids", help='children_ids as a JSON array: \'["a","b"]\'.')]
Lenient = Annotated[bool, typer.Option("--lenient", help="Mirror the server: replace an invalid session_id, drop unknown keys (with warnings).")]


def _overrides(fields: dict[str, Optional[str]], objects: dict[str, Optional[list[str]]],
               child: Optional[list[str]], children_ids: Optional[str]) -> Any:
    """Layer 3 of the payload builder from the field flags."""
    from .payload import Overrides, parse_children_json, parse_object_args

    return Overrides(
        fields={k: v for k, v in fields.items() if v is not None},
        objects={key: parse_object_args(key, values or []) for key, values in objects.items()},
        children_ids=parse_children_json(children_ids) if children_ids is not None else None,
        add_children=list(child or []),
    )


def _client_factory(env: Environment, settings: Any, allow_http: bool, verbose: bool, gate: Any = None) -> Any:
    """Check the key and the transport (nothing is sent before), then make clients."""
    api_key = settings.require_api_key()
    warning = settings.check_transport(allow_http)
    if warning:
        env.warn(warning)

    def make_client() -> Any:
        from .client import SessionsClient
        from .retry import RetryPolicy

        return SessionsClient(
            api_url=settings.api_url,
            api_key=api_key,
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
            retry=RetryPolicy(max_retries=settings.max_retries, gate=gate),
            log=env.info if verbose else None,
        )

    return make_client


@app.command(epilog=START_EPILOG)
def start(
    name: SessionName = None,
    event_name: EventName = None,
    source: Source = None,
    session_id: Annotated[Optional[str], _field("--session-id", help="session_id: a UUID (default: a new UUIDv4).")] = None,
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
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="Read a session object from a JSON file ('-' = standard input).", show_default=False, dir_okay=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the exact payload and exit; no key, no network.")] = False,
    lenient: Lenient = False,
    output: Annotated[Optional[OutputFormat], typer.Option("--output", "-o", help="pretty, json, id, env or none (default: pretty on a terminal, else json).", show_default=False, case_sensitive=False)] = None,
    api_key: ApiKey = None,
    api_url: ApiUrl = None,
    profile: Profile = None,
    timeout: Timeout = None,
    max_retries: MaxRetries = None,
    allow_http: AllowHttp = False,
    verbose: Verbose = False,
) -> None:
    """Start one session and print the event the server returns."""

    def body(env: Environment) -> None:
        from .payload import build_session, read_json_object
        from .render import default_format, dumps_json, render_event

        overrides = _overrides(
            {"session_name": name, "event_name": event_name, "source": source, "session_id": session_id,
             "start_time": start_time, "end_time": end_time, "duration": duration},
            {"config": config, "inputs": inputs, "outputs": outputs, "metadata": metadata,
             "user_properties": user_properties},
            child, children_ids,
        )
        settings = _settings(env, profile, verbose, api_key=api_key, api_url=api_url, timeout=timeout, max_retries=max_retries)
        document, origin = None, "input"
        if file is not None:
            if str(file) == "-" and env.stdin_isatty:
                env.info("reading a session object (JSON) from the terminal; end it with Ctrl-D")
            document = read_json_object(str(file), env.stdin)
            origin = "standard input" if str(file) == "-" else str(file)
        built = build_session(
            defaults={"source": settings.source} if settings.source else None,
            document=document,
            origin=origin,
            overrides=overrides,
            lenient=lenient,
        )
        for warning in built.warnings:
            env.warn(warning)
        if dry_run:
            env.stdout.write(dumps_json(built.payload) + "\n")
            return

        client = _client_factory(env, settings, allow_http, verbose)()
        try:
            result = client.start_session(built.payload)
        finally:
            client.close()
        if verbose:
            env.info(f"session {result.session_id} started ({result.attempts} attempt(s), {result.elapsed:.2f} s)")
        from .client import existing_session_note

        note = existing_session_note(built.payload, result.event)
        if note:
            env.warn(note)
        fmt = output or default_format(env.stdout_isatty)
        render_event(result.event, fmt, env.stdout, sent_id=built.session_id)

    _run(verbose, body)


# ----------------------------------------------------------------------------- replay

REPLAY_EPILOG = """Examples:

  hhsession replay sessions.jsonl --journal replay.journal --failures failed.jsonl

  cat export.json | hhsession replay --source backfill -m replayed:=true -o none

  hhsession replay big.jsonl --workers 16 --rate 50 --shard 0/4 --journal shard0.journal

  hhsession replay failed.jsonl --dry-run          # validate, print payloads, send nothing

Ctrl-C, a crash or a lost network: run the same command with the same
--journal; only what is left is sent, and no record gets a second session.
"""


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise InvalidInput(f"--shard {text!r}: expected K/N, e.g. 0/4 (this job takes records whose index % 4 == 0)") from None
    if n < 1 or not 0 <= k < n:
        raise InvalidInput(f"--shard {text!r}: K must be from 0 to N-1 and N at least 1, e.g. 0/4")
    return k, n


@app.command(epilog=REPLAY_EPILOG)
def replay(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="JSON Lines files, or files holding one JSON array ('-' or none: standard input).", show_default=False, dir_okay=False)] = None,
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
    workers: Annotated[int, typer.Option("--workers", help="Concurrent requests over keep-alive connections.", min=1, max=256)] = 8,
    rate: Annotated[Optional[float], typer.Option("--rate", help="At most this many sessions per second.", min=0.001, show_default=False)] = None,
    journal: Annotated[Optional[Path], typer.Option("--journal", help="Record successes and ids here; rerun with it to resume.", show_default=False, dir_okay=False)] = None,
    failures: Annotated[Optional[Path], typer.Option("--failures", help="Write failed and invalid records here (JSON Lines, replayable).", show_default=False, dir_okay=False)] = None,
    shard: Annotated[Optional[str], typer.Option("--shard", help="K/N: only records whose index % N == K.", show_default=False)] = None,
    new_ids: Annotated[bool, typer.Option("--new-ids", help="Give every record a new session id (replay as new sessions).")] = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed or invalid record.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate every record and print the payloads; send nothing.")] = False,
    lenient: Lenient = False,
    output: Annotated[Optional[ReplayOutput], typer.Option("--output", "-o", help="jsonl: one result per record on stdout; none (default: jsonl unless stdout is a terminal).", show_default=False, case_sensitive=False)] = None,
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
        from .replay import (
            Journal,
            RateLimiter,
            Replay,
            ReplayOptions,
            check_inputs,
            iter_records,
            write_jsonl,
        )
        from .retry import Gate

        overrides = _overrides(
            {"session_name": name, "event_name": event_name, "source": source, "start_time": start_time,
             "end_time": end_time, "duration": duration},
            {"config": config, "inputs": inputs, "outputs": outputs, "metadata": metadata,
             "user_properties": user_properties},
            child, children_ids,
        )
        options = ReplayOptions(
            workers=workers, rate=rate, shard=_parse_shard(shard) if shard else None, new_ids=new_ids,
            fail_fast=fail_fast, dry_run=dry_run, lenient=lenient, overrides=overrides,
        )
        settings = _settings(env, profile, verbose, api_key=api_key, api_url=api_url, timeout=timeout, max_retries=max_retries)
        options.defaults = {"source": settings.source} if settings.source else None
        inputs_list = [str(p) for p in paths] if paths else ["-"]
        check_inputs(inputs_list)
        make_client = None if dry_run else _client_factory(env, settings, allow_http, verbose, gate=Gate())
        if "-" in inputs_list and env.stdin_isatty:
            env.info("reading records (JSON Lines) from the terminal; end with Ctrl-D")
        failures_file = None
        if failures is not None and not dry_run:
            try:
                failures_file = open(failures, "w", encoding="utf-8")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise InvalidInput(f"--failures {failures}: cannot write it ({exc.strerror}); check the path") from None
        run_journal = Journal(journal, create=not dry_run) if journal is not None else None
        show = output or (ReplayOutput.none if env.stdout_isatty else ReplayOutput.jsonl)
        progress = _Progress(env) if env.stderr_isatty and not dry_run else None
        runner = Replay(options, run_journal, make_client, RateLimiter(rate) if rate else None)
        if progress is not None:
            progress.count_in_background(inputs_list, options.shard[1] if options.shard else 1)

        def on_outcome(outcome: Any) -> None:
            if outcome.error:
                outcome.error = env.redact(outcome.error)  # a server may echo the key
            if dry_run:
                if outcome.status == "ok":
                    write_jsonl(env.stdout, outcome.payload)
                elif outcome.status == "invalid":
                    env.error(f"{outcome.record.source}: {outcome.error}")
                return
            if show is ReplayOutput.jsonl:
                write_jsonl(env.stdout, outcome.result_line())
            if outcome.note and verbose:
                env.warn(f"{outcome.record.source}: {outcome.note}")
            if outcome.status in ("failed", "invalid"):
                if failures_file is not None:
                    write_jsonl(failures_file, outcome.failure_line())
                message = f"{outcome.record.source}: {outcome.status}: {outcome.error}"
                if progress is not None:
                    progress.note(message)
                elif verbose or show is ReplayOutput.none:
                    env.warn(message)
            if progress is not None:
                progress.update(outcome.status)

        interrupted = False
        try:
            summary = runner.run(iter_records(inputs_list, env.stdin), on_outcome)
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            if progress is not None:
                progress.close()
            if run_journal is not None:
                run_journal.close()
            if failures_file is not None:
                failures_file.close()
            if interrupted:  # the journal is flushed: say where the run got to, then exit 130
                env.stderr.write("\n" + runner.summary.line() + "; interrupted: run the same command to resume\n")
        line = summary.line(dry_run=dry_run)
        if summary.stopped:
            line += f"; stopped: {summary.stopped}"
        env.stderr.write(env.redact(line) + "\n")
        if runner.fatal is not None:
            raise runner.fatal
        if not summary.clean:
            raise CommandExit(int(ExitCode.REPLAY_FAILURES))

    _run(verbose, body)


class _Progress:
    """A progress bar on stderr: count, rate, failures, elapsed."""

    def __init__(self, env: Environment) -> None:
        import time

        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.failed = 0
        self.done = 0
        self.started = time.monotonic()
        self.progress = Progress(
            TextColumn("[bold]replay[/]"), BarColumn(), TextColumn("{task.completed} done"),
            TextColumn("{task.fields[rate]}/s"), TextColumn("[red]{task.fields[failed]} failed[/]"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(file=env.stderr), transient=True,
        )
        self.task = self.progress.add_task("replay", total=None, rate="0", failed=0)
        self.progress.start()

    def count_in_background(self, paths: list[str], shards: int) -> None:
        """Count the lines of the input files for an ETA, without delaying the run."""
        import threading

        from .replay import count_lines

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
        self.progress.stop()


# ----------------------------------------------------------------------------- config

ConfigProfile = Annotated[
    Optional[str],
    typer.Option("--profile", help="Profile to act on (default: HHSESSION_PROFILE, default_profile, 'default').", show_default=False),
]
KEY_HELP = "One of: api_key, api_url, source, timeout, max_retries."


def _config_keys() -> list[str]:
    from .config import KEYS

    return list(KEYS)


ConfigKey = Annotated[str, typer.Argument(help=KEY_HELP, show_default=False, autocompletion=_config_keys)]


def _config_target(env: Environment, key: str, profile: Optional[str]) -> tuple[str, Any, str]:
    """(the checked key, the loaded config file, the profile to act on)."""
    from .config import check_key
    from .settings import select_profile

    name = check_key(key)
    config = _load_config(env)
    return name, config, select_profile(profile, env.env, config)[0]


@config_app.command("set")
def config_set(
    key: ConfigKey,
    value: Annotated[Optional[str], typer.Argument(help="The value. For api_key, leave it out to be prompted (or pipe it in).", show_default=False)] = None,
    profile: ConfigProfile = None,
) -> None:
    """Store a setting in a profile of the config file.

    Examples:

      hhsession config set api_key                 # a hidden prompt

      pass show honeyhive | hhsession config set api_key     # or standard input

      hhsession config set api_url https://api.dp1.us.honeyhive.ai --profile prod

      hhsession config set source ci
    """

    def body(env: Environment) -> None:
        from urllib.parse import urlsplit

        from .config import save_config
        from .settings import is_loopback_host, shown_value, validate_value

        name, config, target = _config_target(env, key, profile)
        raw = value
        if raw is None:
            if name != "api_key":
                raise InvalidInput(f"config set {name}: give a value, e.g. hhsession config set {name} VALUE")
            raw = _read_secret(env)
        elif name == "api_key":
            env.warn("the key given on the command line may stay in your shell history; next time run `hhsession config set api_key` and paste it at the prompt")
        checked = validate_value(name, raw, f"config set {name}")
        if name == "api_url" and checked.startswith("http://") and not is_loopback_host(urlsplit(checked).hostname):
            env.warn(f"{checked} is plain http: hhsession will refuse to send the key there unless given --allow-http")
        config.set(target, name, checked)
        save_config(config)
        env.info(f"set {name} = {shown_value(name, checked)} in profile {target!r} ({config.path})")

    _run(False, body)


def _read_secret(env: Environment) -> str:
    if env.stdin_isatty:
        import getpass

        return getpass.getpass("API key (input hidden): ", stream=env.stderr)  # type: ignore[arg-type]
    line = env.stdin.readline()
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
    if not text.strip():
        raise InvalidInput("config set api_key: nothing on standard input; pipe the key in or run it in a terminal to be prompted")
    return text


@config_app.command("get")
def config_get(
    key: ConfigKey,
    profile: ConfigProfile = None,
) -> None:
    """Print a stored setting (api_key is shown masked).

    Example: hhsession config get api_url --profile staging
    """

    def body(env: Environment) -> None:
        from .settings import shown_value

        name, config, target = _config_target(env, key, profile)
        stored = config.profile(target).get(name)
        if stored is None:
            raise InvalidInput(f"{name} is not set in profile {target!r} of {config.path}; set it with `hhsession config set {name}`")
        env.stdout.write(f"{shown_value(name, stored)}\n")

    _run(False, body)


@config_app.command("unset")
def config_unset(
    key: ConfigKey,
    profile: ConfigProfile = None,
) -> None:
    """Remove a setting from a profile.

    Example: hhsession config unset api_key --profile old
    """

    def body(env: Environment) -> None:
        from .config import save_config

        name, config, target = _config_target(env, key, profile)
        if config.unset(target, name):
            save_config(config)
            env.info(f"removed {name} from profile {target!r}")
        else:
            env.info(f"{name} was not set in profile {target!r}; nothing to do")

    _run(False, body)


@config_app.command("list")
def config_list(profile: ConfigProfile = None) -> None:
    """Show the profiles and their settings (keys masked); --profile shows one.

    Example: hhsession config list
    """

    def body(env: Environment) -> None:
        from .settings import select_profile, shown_value

        config = _load_config(env)
        active = select_profile(None, env.env, config)[0]
        names = [profile] if profile else sorted(config.profiles) or []
        env.stdout.write(f"# {config.path}{'' if config.exists else ' (not created yet)'}\n")
        for name in names:
            marker = "  # active" if name == active else ""
            env.stdout.write(f"[profiles.{name}]{marker}\n")
            for key, stored in config.profile(name).items():
                shown = shown_value(key, stored)
                env.stdout.write(f"{key} = {shown!r}\n" if isinstance(shown, str) else f"{key} = {shown}\n")

    _run(False, body)


@config_app.command("path")
def config_path_command() -> None:
    """Print where the config file is ($HHSESSION_CONFIG, else the platform's config dir).

    Example: cat "$(hhsession config path)"
    """

    def body(env: Environment) -> None:
        from .config import config_path

        env.stdout.write(f"{config_path(env.env)}\n")

    _run(False, body)


@config_app.command("use")
def config_use(
    name: Annotated[str, typer.Argument(help="The profile to make the default.", show_default=False)],
    profile: ConfigProfile = None,
) -> None:
    """Make a profile the default (default_profile in the file).

    Example: hhsession config use staging
    """

    def body(env: Environment) -> None:
        from .config import save_config

        target = profile or name
        config = _load_config(env)
        if target not in config.profiles:
            known = ", ".join(sorted(config.profiles)) or "none yet"
            raise InvalidInput(
                f"no profile {target!r} in {config.path} (profiles: {known}); create it with "
                f"`hhsession config set api_key --profile {target}`"
            )
        config.data["default_profile"] = target
        save_config(config)
        env.info(f"default profile is now {target!r}")

    _run(False, body)


# ----------------------------------------------------------------------------- schema


@app.command()
def schema() -> None:
    """Print the JSON Schema of the session object that -f and replay records accept.

    Example: hhsession schema > session.schema.json
    """
    from .payload import session_json_schema
    from .render import dumps_json

    typer.echo(dumps_json(session_json_schema()))


# ----------------------------------------------------------------------------- emulator

EMULATOR_EPILOG = """Examples:

  hhsession emulator                       # http://127.0.0.1:8787, sessions in memory

  hhsession emulator --port 0 --db sessions.sqlite --token secret

  hhsession emulator --fail-rate 0.3 --fail-status 503 --retry-after 1 --latency 200
"""


@app.command(epilog=EMULATOR_EPILOG)
def emulator(
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 = any free port).", min=0, max=65535)] = 8787,
    db: Annotated[Optional[Path], typer.Option("--db", dir_okay=False, help="SQLite file that keeps sessions across restarts (default: in memory).", show_default=False)] = None,
    token: Annotated[Optional[str], typer.Option("--token", help="Accept only this bearer token (default: any non-empty one).", show_default=False)] = None,
    fail_rate: Annotated[float, typer.Option("--fail-rate", help="Share of requests answered with --fail-status (0 to 1).", min=0.0, max=1.0)] = 0.0,
    fail_status: Annotated[int, typer.Option("--fail-status", help="Status for injected failures.", min=400, max=599)] = 503,
    retry_after: Annotated[Optional[float], typer.Option("--retry-after", help="Send Retry-After: SECONDS with injected failures.", min=0.0, show_default=False)] = None,
    latency: Annotated[float, typer.Option("--latency", help="Delay every answer by MS milliseconds.", min=0.0)] = 0.0,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed for --fail-rate, for repeatable runs.", show_default=False)] = None,
) -> None:
    """Run a local stand-in for the sessions API, for demos and offline CI.

    Serves POST /v1/sessions, POST /session/start and GET /v1/sessions/{id} with
    the server's rules, silent fallbacks included. Prints the HH_API_URL and
    HH_API_KEY exports to use it, then one line per request on stderr.
    """

    def body(env: Environment) -> None:
        import sqlite3

        from .emulator import Emulator, Faults, serve

        try:
            server = Emulator(
                host=host,
                port=port,
                db=str(db) if db is not None else None,
                token=token,
                faults=Faults(fail_rate=fail_rate, fail_status=fail_status, retry_after=retry_after, latency_ms=latency),
                log=env.stderr,
                seed=seed,
            )
        except OSError as exc:
            raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port (0 = any free port)") from None
        except sqlite3.Error as exc:
            raise InvalidInput(f"--db {db}: cannot open it as an SQLite database ({exc}); check the path") from None
        # The token is the emulator's own, but it is still a credential: not echoed.
        hint = "'<the --token you passed>'" if token else "emulator"
        serve(server, env.stdout, env.stderr, hint)

    _run(False, body)


# ----------------------------------------------------------------------------- entry point


def main() -> None:
    """Console-script entry point (also ``python -m hhsession``)."""
    try:
        app(prog_name="hhsession")
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    _exit_now(code)


def _exit_now(code: object) -> None:
    """Flush, then end the process without the interpreter's teardown.

    Freeing every loaded module at exit costs about 20 ms here (measured by
    benchmarks/startup.py), a sixth of a whole `start`. Nothing of ours needs
    teardown: files are closed where they are written, and the two streams are
    flushed below. Set HHSESSION_SLOW_EXIT=1 for tools that rely on atexit
    (coverage in a subprocess, profilers).
    """
    import os

    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = 1
    status = code if isinstance(code, int) else (0 if code is None else 1)
    if os.environ.get("HHSESSION_SLOW_EXIT"):
        raise SystemExit(status)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the reader went away (`| head`): nothing more to say
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
