"""Run a command inside a session (SPEC §3 ``exec``): start, run, end.

The command's stdin, stdout and stderr are left alone (it runs in the same
process group, so a terminal's Ctrl-C reaches it directly). The session gets
its end time, a duration measured with a monotonic clock, and the outcome in
``outputs.exit_code`` (``-N`` for a signal N, as Python reports it).

Do no harm: unless ``strict``, a session that cannot be started or ended (no
key, the network, the server) is one warning, and the command runs and keeps
its exit status. The command's argv is never sent anywhere.

Two ways to run the command, kept on purpose: passing a signal on exactly
once needs to know who sent it (the terminal, to the whole foreground group,
or a process, to hhsession alone), and the standard library tells that only
through ``signal.sigtimedwait``'s ``siginfo`` (Linux and most BSDs; not macOS
nor Windows, and Python's signal handlers never see it). Where it exists,
``_run`` waits for signals that way (as ``sudo`` reads ``si_code``); elsewhere
``_run_with_handlers`` uses ``subprocess`` and handlers, and guesses who sent
Ctrl-C from the terminal's foreground group.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import HHSessionError, InvalidInput
from .payload import BuiltSession, Overrides
from .sessions import SESSION_VARIABLES, EndedSession, StartedSession

if TYPE_CHECKING:
    from .client import Client

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


def run_in_session(
    client: Client,
    built: BuiltSession,
    argv: Sequence[str],
    *,
    strict: bool = False,
    end_overrides: Overrides | None = None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    error: Callable[[str], None] | None = None,
) -> Execution:
    """Start the session, run ``argv`` with its ids in the environment, end the session.

    Raises the error that kept the session from starting when ``strict`` (then
    the command is not run), and ``InvalidInput`` always (a setting that cannot
    work is a usage error, exit 2, as for every command). Ctrl-C before the
    command started is a ``KeyboardInterrupt``: the command is not run.
    """
    say = warn or client.warn
    environ = os.environ if environ is None else environ
    started_at = time.monotonic()
    start_ms = int(built.payload["start_time"])
    child_env = dict(environ)
    with _Signals() as signals:
        started, failure, stopped_by = _start(client, built, signals)
        if stopped_by is not None:
            if stopped_by == signal.SIGINT:
                raise KeyboardInterrupt
            return Execution(status=128 + stopped_by, exit_code=-stopped_by)
        if failure is None and started is not None:
            try:
                child_env.update(started.variables())  # inside another exec, the inner session wins
                child_env.update(tracer_variables(started.session_id, child_env.get("BAGGAGE")))
            except HHSessionError as exc:
                failure = exc
        if failure is not None:
            if strict or isinstance(failure, InvalidInput):
                raise failure
            started = None
            # The command's session was not recorded: an outer one's ids are not its own to end.
            for name in (*SESSION_VARIABLES, "SESSION_ID"):
                child_env.pop(name, None)
            say(f"not recorded: the session was not started ({failure.message}); running the command anyway")

        returncode = _run(argv, child_env, error or say, signals)  # a command that cannot run is an error
        duration = max(0, round((time.monotonic() - started_at) * 1000))
        status = returncode if returncode >= 0 else 128 - returncode
        execution = Execution(status=status, exit_code=returncode, started=started)
        if started is None:
            return execution

        end = end_overrides or Overrides()
        # The PUT replaces outputs: what was sent at the start stays, the end's added, the exit code last.
        outputs = {**(built.payload.get("outputs") or {}), **end.objects.get("outputs", {}), "exit_code": returncode}
        update = Overrides(fields=dict(end.fields), objects={**end.objects, "outputs": outputs})
        try:  # signals stay taken: a SIGTERM now cannot cut the end short and lose the command's status
            built_end = client.build_end(started, {"end_time": start_ms + duration, "duration": duration},
                                         overrides=update)
            execution.ended = client.send_end(built_end)
        except HHSessionError as exc:
            say(f"not recorded: session {started.session_id} was not ended ({exc.message})")
            if strict and status == 0:
                execution.status = int(exc.exit_code)
        return execution


def tracer_variables(session_id: str, baggage: str | None = None) -> dict[str, str]:
    """What tracers in the command read to join its session, beside ``HH_SESSION_ID``:

    - ``SESSION_ID``: the vendor's Python tracer (its settings field ``session_id`` has that alias, so
      the ``HH_`` prefix does not apply);
    - ``TRACEPARENT`` and ``BAGGAGE``, OpenTelemetry's environment carriers (W3C Trace Context and
      Baggage): the trace id is the session id's 32 hex digits, the parent span the session's root
      (its first 16), and ``session_id=<id>`` joins whatever baggage the command was given.
    """
    digits = session_id.replace("-", "").lower()
    members = [item for item in (baggage or "").split(",") if item.strip() and
               item.split("=", 1)[0].strip() != "session_id"]
    return {
        "SESSION_ID": session_id,
        "TRACEPARENT": f"00-{digits}-{digits[:16]}-01",
        "BAGGAGE": ",".join([f"session_id={session_id}", *members]),
    }


#: Signals passed on to the command when they were sent to hhsession alone.
FORWARDED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
                  if hasattr(signal, name))


class _Signals:
    """Signals taken with ``sigtimedwait`` (where there is one: Linux), not by handlers.

    That tells who sent a signal: one a terminal sent to the whole foreground
    group (Ctrl-C) reached the command too and is not passed on again; one sent
    to hhsession alone (``kill``, a CI runner cancelling a step) is. Blocked in
    the main thread before any other thread starts, so every thread blocks them;
    the command gets an empty mask.
    """

    def __init__(self) -> None:
        self.enabled = (hasattr(signal, "sigtimedwait") and hasattr(os, "posix_spawnp")
                        and threading.current_thread() is threading.main_thread())
        self.taken = {*FORWARDED, signal.SIGCHLD} if self.enabled else set()
        self._previous: Any = None
        self._chld: Any = None  # SIGCHLD's disposition before, when it was ignored

    def __enter__(self) -> _Signals:
        # An ignored SIGCHLD, inherited (``signal(SIGCHLD, SIG_IGN)`` then exec): the kernel would reap
        # the command itself and its status would be lost. Default while it runs (the command gets the
        # default too, as every program expects), and given back after.
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGCHLD") \
                and signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN:
            self._chld = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if self.enabled:
            self._previous = signal.pthread_sigmask(signal.SIG_BLOCK, self.taken)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            while signal.sigtimedwait(self.taken, 0) is not None:
                pass  # what came after the command ended is not the command's any more: dropped
            signal.pthread_sigmask(signal.SIG_SETMASK, self._previous)
        if self._chld is not None:
            signal.signal(signal.SIGCHLD, self._chld)

    def wait(self, timeout: float) -> Any:
        return signal.sigtimedwait(self.taken, timeout)


def _start(client: Client, built: BuiltSession, signals: _Signals) -> tuple[Any, HHSessionError | None, int | None]:
    """(the started session, what kept it from starting, a signal that came first)."""
    if not signals.enabled:
        try:
            return client.send_start(built), None, None
        except HHSessionError as exc:
            return None, exc, None
    result: list[Any] = [None, None]

    def send() -> None:
        try:
            result[0] = client.send_start(built)
        except HHSessionError as exc:
            result[1] = exc
        except BaseException as exc:  # noqa: BLE001 - said as a failure to start, never a hang
            result[1] = HHSessionError(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=send, name="hhsession-exec-start", daemon=True)
    thread.start()
    while thread.is_alive():
        info = signals.wait(0.1)
        if info is not None and info.si_signo in FORWARDED:
            return None, None, info.si_signo  # before the command started: it is not run
    return result[0], result[1], None


def _run(argv: Sequence[str], env: dict[str, str], say: Callable[[str], None], signals: _Signals) -> int:
    """Run the command to its end; its return code (-N: killed by signal N)."""
    if not signals.enabled:
        return _run_with_handlers(argv, env, say)
    try:
        pid = _launch(lambda: _spawn(list(argv), env), argv[0], say)
    except _NotRun as not_run:
        return not_run.code
    while True:
        info = signals.wait(0.5)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if info is not None and info.si_signo in FORWARDED and info.si_code <= 0:
            # Sent by a process to hhsession (si_code SI_USER, SI_QUEUE, SI_TKILL), not by the
            # terminal to the whole group (SI_KERNEL): the command has not had it.
            try:
                os.kill(pid, info.si_signo)
            except ProcessLookupError:  # pragma: no cover - it ended in between
                pass


_T = TypeVar("_T")


class _NotRun(Exception):
    """The command could not be started; ``code`` is the shell's status for that."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _launch(start: Callable[[], _T], program: str, say: Callable[[str], None]) -> _T:
    """Start the command, or say in the shell's words why it cannot be (127 not found, 126 not runnable)."""
    try:
        return start()
    except FileNotFoundError:
        say(f"{program}: command not found")
        raise _NotRun(NOT_FOUND) from None
    except PermissionError:
        say(f"{program}: permission denied (not executable)")
        raise _NotRun(NOT_EXECUTABLE) from None
    except OSError as exc:
        say(f"{program}: cannot run it ({exc.strerror or exc})")
        raise _NotRun(NOT_EXECUTABLE) from None


def _spawn(argv: list[str], env: dict[str, str]) -> int:
    """Start the command with an empty signal mask and SIGPIPE at its default, as a shell would."""
    defaults = [getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name)]
    try:
        return os.posix_spawnp(argv[0], argv, env, setsigmask=(), setsigdef=defaults)
    except OSError as exc:
        if exc.errno != errno.ENOEXEC:
            raise
        script = shutil.which(argv[0]) or argv[0]  # a script without "#!": sh runs it, as execvp does
        return os.posix_spawn("/bin/sh", ["/bin/sh", script, *argv[1:]], env, setsigmask=(), setsigdef=defaults)


def _run_with_handlers(argv: Sequence[str], env: dict[str, str], say: Callable[[str], None]) -> int:
    """Where signals cannot be waited for (not Linux): handlers, and a guess at who sent SIGINT."""
    try:
        child = _launch(lambda: subprocess.Popen(list(argv), env=env), argv[0], say)
    except _NotRun as not_run:
        return not_run.code

    def forward(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and _terminal_sent_it():
            return  # the terminal sent Ctrl-C to the whole foreground group: the command has it already
        try:
            child.send_signal(signum)
        except ProcessLookupError:  # pragma: no cover - it ended in between
            pass

    previous: dict[int, Any] = {}
    for signum in FORWARDED:
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
    """True when this process is in the foreground of its controlling terminal."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)
