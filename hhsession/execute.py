"""Run a command inside a session (SPEC §3 ``exec``): start, run, end.

The command's stdin, stdout and stderr are left alone (it runs in the same
process group, so a terminal's Ctrl-C reaches it directly). The session gets
its end time, a duration measured with a monotonic clock, and the outcome in
``outputs.exit_code`` (``-N`` for a signal N, as Python reports it).

Do no harm: unless ``strict``, a session that cannot be started or ended (no
key, the network, the server) is one warning, and the command runs and keeps
its exit status. The command's argv is never sent anywhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from .errors import HHSessionError
from .payload import BuiltSession, Overrides

if TYPE_CHECKING:
    from .client import Client, EndedSession, StartedSession

#: Exit statuses of a command that could not be run, as shells report them.
NOT_FOUND, NOT_EXECUTABLE = 127, 126


@dataclass
class Execution:
    """How a wrapped command went, and what became of its session."""

    #: The exit status to leave with: the command's (128+N for signal N), or
    #: hhsession's own under ``strict`` when the session could not be ended.
    status: int
    #: The command's exit code as recorded: its status, or -N for signal N.
    exit_code: int
    started: StartedSession | None = None
    ended: EndedSession | None = None
    problems: list[HHSessionError] = field(default_factory=list)


def run_in_session(
    client: Client,
    built: BuiltSession,
    argv: Sequence[str],
    *,
    strict: bool = False,
    end_overrides: Overrides | None = None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Execution:
    """Start the session, run ``argv`` with its ids in the environment, end the session.

    Raises (``strict`` only) the error that kept the session from starting:
    then the command is not run.
    """
    from .render import session_env

    say = warn or client.warn
    environ = os.environ if environ is None else environ
    started_at = time.monotonic()
    start_ms = int(built.payload["start_time"])
    started: StartedSession | None = None
    problems: list[HHSessionError] = []
    child_env = dict(environ)
    try:
        started = client.send_start(built)
        child_env.update(session_env(started))  # inside another exec, the inner session wins
    except HHSessionError as exc:
        if strict:
            raise
        started = None
        problems.append(exc)
        say(f"not recorded: the session was not started ({exc.message}); running the command anyway")

    returncode = _run(argv, child_env, say)
    duration = max(0, round((time.monotonic() - started_at) * 1000))
    status = returncode if returncode >= 0 else 128 - returncode
    execution = Execution(status=status, exit_code=returncode, started=started, problems=problems)
    if started is None:
        return execution

    end = end_overrides or Overrides()
    outputs = {**end.objects.get("outputs", {}), "exit_code": returncode}
    update = Overrides(fields=dict(end.fields), objects={**end.objects, "outputs": outputs})
    try:
        built_end = client.build_end(started, {"end_time": start_ms + duration, "duration": duration}, overrides=update)
        execution.ended = client.send_end(built_end)
    except HHSessionError as exc:
        problems.append(exc)
        say(f"not recorded: session {started.session_id} was not ended ({exc.message})")
        if strict and status == 0:
            execution.status = int(exc.exit_code)
    return execution


def _run(argv: Sequence[str], env: dict[str, str], say: Callable[[str], None]) -> int:
    """Run the command to its end; its return code (-N: killed by signal N)."""
    try:
        child = subprocess.Popen(list(argv), env=env)
    except FileNotFoundError:
        say(f"{argv[0]}: command not found")
        return NOT_FOUND
    except PermissionError:
        say(f"{argv[0]}: permission denied (not executable)")
        return NOT_EXECUTABLE
    except OSError as exc:
        say(f"{argv[0]}: cannot run it ({exc.strerror or exc})")
        return NOT_EXECUTABLE

    def forward(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and _terminal_sent_it():
            return  # the terminal sent Ctrl-C to the whole foreground group: the command has it already
        try:
            child.send_signal(signum)
        except ProcessLookupError:  # pragma: no cover - it ended in between
            pass

    previous: dict[int, Any] = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"):
        signum = getattr(signal, name, None)
        if signum is not None:
            try:
                previous[signum] = signal.signal(signum, forward)
            except (ValueError, OSError):  # not the main thread, or not allowed here
                pass
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # pragma: no cover - SIGINT is handled above
                continue
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _terminal_sent_it() -> bool:
    """True when this process is in the foreground of a terminal (so Ctrl-C went to the command too)."""
    for stream in (sys.stdin, sys.stderr, sys.stdout):
        try:
            fd = stream.fileno()
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except (AttributeError, OSError, ValueError):
            continue
    return False
