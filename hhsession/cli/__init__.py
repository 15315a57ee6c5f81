"""The command line: ``main(argv, env)``, and the Typer app behind it.

``hhsession --version`` is answered here without importing Typer, so it costs
little more than starting Python; everything else goes to the app in
``commands.py`` (imported on first use: ``from hhsession.cli import app`` works).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from .. import __version__

if TYPE_CHECKING:
    from ..context import Environment


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run the CLI; returns the exit code (SPEC §6).

    Given ``argv`` or ``env`` (an ``hhsession.context.Environment``: streams,
    terminals, variables), it runs inside the caller, as httpie's
    ``main(args, env)``. Given neither it is the console script: it reads
    ``sys.argv`` and ends the process.
    """
    as_process = argv is None and env is None
    # Run inside a caller (tests, a Python program), the signal handlers it had are given back at the
    # end: the edge may ignore a second Ctrl-C while it says how the command ended.
    handlers = None if as_process else _stop_handlers()
    if as_process:
        _hold_closed_descriptors()
        # Start-up is mostly importing (Typer, urllib3: tens of thousands of objects), during which
        # the cyclic GC runs over and over to find nothing: ~8 % of a `start` here. Collections stay
        # on, just less often (every 50,000 allocations, not 700): a long replay is collected still.
        import gc

        gc.set_threshold(50_000, 20, 100)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args in (["--version"], ["-V"]):
            code = _version(env)
        elif args and args[0].split("=", 1)[0] in ("--show-completion", "--install-completion") and len(args) <= 2:
            code = _completion(args, env)
        else:
            code = _run_app(args, env)
    except KeyboardInterrupt:  # Ctrl-C before a command's own handling (while importing, say)
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with suppress(OSError, ValueError, AttributeError):  # (a closed stderr: nothing to say it on)
            (env.stderr if env is not None else sys.stderr).write("\nhhsession: interrupted\n")
        code = 130
    finally:
        if handlers is not None:
            _give_back(handlers)
    if as_process:
        _exit_now(code)
    return code


def _version(env: Environment | None) -> int:
    out = env.stdout if env is not None else sys.stdout
    try:
        if out is None:
            raise OSError("it is closed")
        out.write(f"hhsession {__version__}\n")
        out.flush()
    except BrokenPipeError:
        return 141
    except (OSError, ValueError) as exc:
        with suppress(OSError, ValueError, AttributeError):
            (env.stderr if env is not None else sys.stderr).write(f"hhsession: error: cannot write standard output ({exc})\n")
        return 7
    return 0


def _stop_handlers() -> dict[int, Any]:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}


def _give_back(handlers: dict[int, Any]) -> None:
    import signal

    for signum, handler in handlers.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _completion(args: list[str], env: Environment | None) -> int:
    """``--show-completion [SHELL]`` and ``--install-completion [SHELL]``: the shell named wins over $SHELL."""
    from ..completion import completion_command
    from .commands import app_tree

    flag, _, inline = args[0].partition("=")
    named = inline or (args[1] if len(args) > 1 else None)
    environ = env.env if env is not None else os.environ
    out = env.stdout if env is not None else sys.stdout
    err = env.stderr if env is not None else sys.stderr
    return completion_command(app_tree(), flag == "--install-completion", named, environ, out, err)


def _run_app(args: list[str], env: Environment | None) -> int:
    from .commands import app

    try:
        app(args=args, prog_name="hhsession", obj=env)
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):
        with suppress(OSError, ValueError, AttributeError):
            ((env.stderr if env is not None else None) or sys.stderr).write(code + "\n")
        return 1
    return code if isinstance(code, int) else (0 if code is None else 1)


def _exit_now(code: int) -> None:
    """Flush, then end the process without the interpreter's teardown.

    Freeing every loaded module at exit costs about 20 ms here (measured by
    benchmarks/startup.py), a sixth of a whole `start`. Nothing of ours needs
    teardown: files are closed where they are written, and the two streams are
    flushed below. Set HHSESSION_SLOW_EXIT=1 for tools that rely on atexit
    (coverage in a subprocess, profilers).
    """
    if os.environ.get("HHSESSION_SLOW_EXIT"):
        raise SystemExit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # (None: closed when the process started)
                stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the reader went away (`| head`): nothing more to say
    os._exit(code)


def _hold_closed_descriptors() -> None:
    """Hold standard input, output or error that the process was started without (``>&-``) with
    /dev/null, close-on-exec: a file or socket opened later would otherwise take that number, and
    what is written to "standard output" would go into it. A command run by ``exec`` still gets the
    descriptor closed, as it was given (Python writes nothing there: ``sys.stdout`` is None)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)  # the lowest free number: this one


def __getattr__(name: str) -> Any:
    if name == "app":
        from .commands import app

        return app
    raise AttributeError(f"module 'hhsession.cli' has no attribute {name!r}")
