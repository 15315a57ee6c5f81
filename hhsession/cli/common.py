"""What every command shares: the edge that turns failures into exit codes, the
environment, settings and the client, and the option bundles (``Annotated``
aliases, as sqlite-utils' ``output_options``).

Heavy modules (``urllib3``, ``rich``) are imported inside the functions that
need them, so ``--help``, completion and ``start --dry-run`` stay fast.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..context import Environment
from ..errors import ExitCode, HHSessionError, InvalidInput, Terminated

if TYPE_CHECKING:
    from ..client import Client
    from ..config import ConfigFile
    from ..payload import Overrides
    from ..settings import Settings

CONNECTION = "Connection"
FIELDS = "Session fields"


# ----------------------------------------------------------------------------- the edge


class CommandExit(Exception):
    """Ends a command with an exit code (turned into ``typer.Exit`` at the edge)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@contextmanager
def failures_as_exit_codes(env: Environment, verbose: bool = False) -> Iterator[None]:
    """Turn every failure into one line on stderr and its exit code (SPEC §6)."""
    try:
        yield
    except HHSessionError as exc:
        env.error(exc.message)
        raise CommandExit(int(exc.exit_code)) from None
    except KeyboardInterrupt as exc:
        ignore_stop_signals()  # a second Ctrl-C while saying so must not end in a traceback
        # (a request cut short notes what the server may have done with it, and how to go on)
        notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))
        terminated = isinstance(exc, Terminated)
        env.stderr.write(f"\nhhsession: {'terminated' if terminated else 'interrupted'}{env.redact(notes)}\n")
        raise CommandExit(int(ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED)) from None
    except BrokenPipeError:
        # The reader went away (`| head`): nothing to say, but not a success either, as a
        # process stopped by SIGPIPE (`set -o pipefail` sees it).
        raise CommandExit(int(ExitCode.OUTPUT_CLOSED)) from None
    except CommandExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the one place that catches everything
        if verbose:
            env.stderr.write(env.redact(traceback.format_exc()))
        env.error(
            f"internal error: {type(exc).__name__}: {exc}; rerun with --verbose for the "
            f"traceback and report it"
        )
        raise CommandExit(int(ExitCode.INTERNAL)) from None


def ignore_stop_signals() -> None:
    """Ignore further Ctrl-C and SIGTERM while the command says how it ended (``main`` gives a caller that
    runs it in-process its own handlers back)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)


def terminate_as_interrupt() -> None:
    """SIGTERM, while nothing else takes it, ends the command as Ctrl-C does (``Terminated``): with a
    line that says what a request cut short may have done, and exit code 143. Replay and exec put
    their own handlers over it."""
    import signal
    import threading

    def terminated(signum: int, frame: Any) -> None:
        raise Terminated()

    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)):
        signal.signal(signal.SIGTERM, terminated)


def environment(ctx: typer.Context | None) -> Environment:
    """The environment ``main(argv, env)`` was given, else the process's own."""
    found = ctx.find_object(Environment) if ctx is not None else None
    return found if isinstance(found, Environment) else Environment.from_sys()


def run_command(ctx: typer.Context | None, verbose: bool, body: Callable[[Environment], None]) -> None:
    """Run a command body at the edge: one error line and the SPEC §6 exit code."""
    env = environment(ctx)
    terminate_as_interrupt()
    try:
        with failures_as_exit_codes(env, verbose):
            body(env)
    except CommandExit as stop:
        raise typer.Exit(stop.code) from None


# ----------------------------------------------------------------------------- settings and the client


def load_config(env: Environment) -> ConfigFile:
    from ..config import open_config

    config = open_config(env.env)
    for warning in config.permission_warnings():
        env.warn(warning)
    return config


def resolve(
    env: Environment, profile: Optional[str], verbose: bool,
    adjust: Optional[Callable[[Settings], Settings]] = None, **flags: Any,
) -> Settings:
    """Settings (flag > environment > profile > default), then a command's own ``adjust``; the key
    becomes a secret to mask; with --verbose, each setting as used and where it came from."""
    from ..settings import DEPRECATED_VARIABLES, resolve_settings

    settings = resolve_settings(flags, env.env, load_config(env), profile=profile)
    for name in ("api_key", "api_url"):
        variable = settings.origin(name).removeprefix("environment ")
        if variable in DEPRECATED_VARIABLES:  # as the vendor's SDK 1.7 warns
            env.warn(f"{variable} is deprecated (the vendor's SDK warns so too): set {DEPRECATED_VARIABLES[variable]} "
                     f"instead")
    if adjust is not None:
        settings = adjust(settings)
    env.secrets.extend(key for key in (settings.api_key, settings.ingestion_api_key) if key)
    if verbose:
        for line in settings.describe():
            env.info(line)
    return settings


def connect(
    env: Environment, profile: Optional[str], verbose: bool, allow_http: bool,
    adjust: Optional[Callable[[Settings], Settings]] = None, **flags: Any,
) -> Client:
    """The library's client for the resolved settings (see ``resolve``), talking through this environment."""
    from ..client import Client

    settings = resolve(env, profile, verbose, adjust, **flags)
    client = Client.from_settings(
        settings, allow_http=allow_http, log=env.info if verbose else None, warn=env.warn, environ=env.env
    )
    client.naming = "flag"  # its messages name --max-retries, not max_retries=
    return client


# ----------------------------------------------------------------------------- connection options

ApiKey = Annotated[
    Optional[str],
    typer.Option(
        "--api-key",
        "--project-api-key",
        help="API key (default: HH_PROJECT_API_KEY, HH_API_KEY, HONEYHIVE_API_KEY, the profile). Prefer the environment: argv is visible to other users.",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
IngestionApiKey = Annotated[
    Optional[str],
    typer.Option(
        "--ingestion-api-key",
        help="Ingestion key (hh_ingst_...) for writes (default: HH_INGESTION_API_KEY, the profile, else the API key); reads use the API key.",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
ApiUrl = Annotated[
    Optional[str],
    typer.Option(
        "--api-url",
        "--data-plane-url",
        help="Server URL (default: HH_DATA_PLANE_URL, HH_API_URL, HONEYHIVE_SERVER_URL, HH_SERVER_URL, the profile, https://api.dp1.us.honeyhive.ai).",
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
    typer.Option("--timeout", help="Read timeout in seconds (default 30; connect timeout 5, or this if less; an attempt ends after both).", show_default=False, rich_help_panel=CONNECTION),
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


# ----------------------------------------------------------------------------- field options


def session_target(env: Environment, given: Optional[str], flag: str, doing: str) -> tuple[str, str]:
    """The session a command acts on, and where it came from: ``given`` (the argument or flag
    ``flag``), else ``$HH_SESSION_ID``. An empty one given is refused: an unset shell variable must
    not turn into the exported session."""
    if given is not None:
        if not given.strip():
            raise InvalidInput(f"{flag} is empty: an unset shell variable? give the session's id, or leave "
                               f"{flag} out to use $HH_SESSION_ID")
        return given, flag
    exported = env.env.get("HH_SESSION_ID") or ""
    if not exported.strip():
        raise InvalidInput(f"no session to {doing}: give {flag}, or set HH_SESSION_ID "
                           f"(`hhsession start -o env` exports it; `hhsession exec` sets it for its command)")
    return exported, "HH_SESSION_ID"


def field_option(*names: str, help: str, **more: Any) -> Any:
    return typer.Option(*names, help=help, show_default=False, rich_help_panel=FIELDS, **more)


def object_help(field: str) -> str:
    return f"Add to {field}: key=value, key:=JSON, a JSON object or @file.json (repeatable)."


# The field flags, shared by start, replay and exec (replay has no --session-id), some by end too.
SessionName = Annotated[Optional[str], field_option("--name", "-n", "--session-name", help="session_name: display name.")]
EventName = Annotated[Optional[str], field_option("--event-name", help="event_name (default: the session name, else 'unknown').")]
Source = Annotated[Optional[str], field_option("--source", help="source (default: HH_SOURCE, the profile, else 'unknown').")]
SessionId = Annotated[Optional[str], field_option("--session-id", help="session_id: a UUID (default: a new UUIDv4).")]
StartTime = Annotated[Optional[str], field_option("--start-time", help="Start time (default: now).")]
EndTime = Annotated[Optional[str], field_option("--end-time", help="End time.")]
Duration = Annotated[Optional[str], field_option("--duration", help="Duration: ms, or 250ms, 1.5s, 2m, 1h (default: end - start).")]
ConfigValues = Annotated[Optional[list[str]], field_option("--config", help=object_help("config"))]
InputsValues = Annotated[Optional[list[str]], field_option("--inputs", help=object_help("inputs"))]
OutputsValues = Annotated[Optional[list[str]], field_option("--outputs", help=object_help("outputs"))]
MetadataValues = Annotated[Optional[list[str]], field_option("--metadata", "-m", help=object_help("metadata"))]
UserPropertiesValues = Annotated[Optional[list[str]], field_option("--user-properties", "-u", help=object_help("user_properties"))]
Child = Annotated[Optional[list[str]], field_option("--child", help="Append an id to children_ids (repeatable).")]
ChildrenIds = Annotated[Optional[str], field_option("--children-ids", help='children_ids as a JSON array: \'["a","b"]\'.')]
Lenient = Annotated[bool, typer.Option("--lenient", help="Mirror the server: replace an invalid session_id, drop unknown keys (with warnings).")]


def overrides(
    fields: dict[str, Optional[str]],
    objects: dict[str, Optional[list[str]]],
    child: Optional[list[str]] = None,
    children_ids: Optional[str] = None,
    flags: Optional[dict[str, str]] = None,
) -> Overrides:
    """Layer 3 of the payload builder, from the field flags (``flags``: how a field's flag is spelled
    where it is not ``--field-name``)."""
    from ..payload import Overrides

    given = {key: values for key, values in objects.items() if values}
    if given or children_ids is not None:
        from .flags import parse_children_json, parse_object_args  # the JSON reader, only when needed

        return Overrides(
            fields={k: v for k, v in fields.items() if v is not None},
            objects={key: parse_object_args(key, values) for key, values in given.items()},
            children_ids=parse_children_json(children_ids) if children_ids is not None else None,
            add_children=list(child or []),
            flags=dict(flags or {}),
        )
    return Overrides(fields={k: v for k, v in fields.items() if v is not None}, add_children=list(child or []),
                     flags=dict(flags or {}))


def read_document(env: Environment, file: Any, what: str = "a session object") -> tuple[dict[str, Any] | None, str]:
    """The JSON object of ``-f PATH`` (``-``: standard input, read only when asked), and its name."""
    if file is None:
        return None, "input"
    from ..inputs import read_json_object

    path = str(file)
    if path == "-" and env.stdin_isatty:
        env.info(f"reading {what} (JSON) from the terminal; end it with Ctrl-D")
    several = "to start a session for each, use hhsession replay" if what == "a session object" else ""
    return read_json_object(path, env.stdin, several), "standard input" if path == "-" else path


def notice_unread_stdin(env: Environment, refuse: str | None = None, verb: str = "start") -> None:
    """Say so when standard input holds a JSON document that -f - would read (it is never read unasked);
    with ``refuse`` (what would be made from nothing instead, e.g. "a session with no name"; "": nothing
    could be), stop: exit 2. ``verb``: what -f - would do with it.

    Looked at without reading it (a script's loop may be reading it): a pipe or
    socket with bytes waiting (a pipe whose writer has not written yet is given
    a fifth of a second), or a file whose next byte starts an object or an
    array. A terminal, an empty or closed stdin, /dev/null: nothing is said.
    """
    import os
    import stat

    if env.stdin_isatty:
        return
    try:
        fd = env.stdin.fileno()
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            waiting = _starts_json(os.pread(fd, 64, os.lseek(fd, 0, os.SEEK_CUR)))
        elif stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            import fcntl
            import struct
            import termios

            def bytes_waiting() -> bool:
                return bool(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0] > 0)

            waiting = bytes_waiting()
            if not waiting and stat.S_ISFIFO(mode):  # `producer | hhsession start`: the producer may be slower
                import select

                poller = select.poll()
                poller.register(fd, select.POLLIN)
                poller.poll(200)  # (returns at once when the writer has closed: an empty pipe)
                waiting = bytes_waiting()
            if waiting and stat.S_ISFIFO(mode):
                peeked = _peek_pipe(fd)  # a `while read` loop's next line is not JSON: nothing to say
                if peeked is not None:
                    waiting = _starts_json(peeked)  # (`echo | hhsession start`: a blank line is no JSON)
        else:
            return
    except (AttributeError, OSError, ValueError, ImportError):
        return
    if waiting and refuse is not None:
        instead = f", or give </dev/null to {verb} {refuse}" if refuse else ""
        raise InvalidInput(f"standard input holds JSON that is not read without -f -; nothing was sent: add -f - "
                           f"to {verb} from it{instead}")
    if waiting:
        env.warn("standard input holds data that is not read; to read a JSON object from it, pass -f -")


def _starts_json(head: bytes) -> bool:
    """Whether these first bytes begin a JSON object or array (after a byte-order mark and white space)."""
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def _peek_pipe(fd: int, size: int = 256) -> bytes | None:
    """The first bytes waiting in a pipe, left in it for whoever reads it (Linux ``tee(2)``); None if unknown.

    Kept on purpose, through ``ctypes``: nothing else looks into a pipe without taking what it holds
    (``MSG_PEEK`` is for sockets; the standard library has ``os.splice``, which consumes, but no
    ``os.tee``), and what is waiting may be the next line of a script's ``while read`` loop, never ours
    to take. Elsewhere, or when it fails, the answer is "unknown" and only bytes waiting are told.
    """
    import ctypes
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        tee = ctypes.CDLL(None, use_errno=True).tee
    except (AttributeError, OSError):
        return None
    tee.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint)
    tee.restype = ctypes.c_ssize_t
    read_end, write_end = os.pipe()
    try:
        copied = tee(fd, write_end, size, 2)  # SPLICE_F_NONBLOCK: never wait for a writer
        return os.read(read_end, copied) if copied > 0 else None
    finally:
        os.close(read_end)
        os.close(write_end)


def warn_bare_duration(env: Environment, value: Optional[str], flag: str = "--duration") -> None:
    """A bare number under 1000 on the command line is almost always seconds meant: say both readings.

    (Only flags: a duration number in JSON is milliseconds, as the API's, silently.)
    """
    if value is None:
        return
    import re

    text = value.strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?|\.[0-9]+", text) and float(text) < 1000:
        env.warn(f"{flag} {text} is {text} ms (milliseconds); if you meant seconds, write {flag} {text}s")
