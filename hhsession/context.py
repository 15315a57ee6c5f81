"""The environment a command runs in: streams, terminals, environment variables.

Commands take one of these instead of reaching for ``sys`` and ``os.environ``,
so a caller can give another one: ``hhsession.cli.main(argv, env)``, as
httpie's ``main(args, env)``; the tests do (``tests/test_environment.py``).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping
from typing import IO, Any, BinaryIO

from .errors import LocalWriteError
from .redact import one_line, redact


class _Output:
    """Standard output as commands write it: a write that fails (a full disk, a file-size limit, a
    descriptor closed with ``>&-``) is a local write failure (exit 7) that names it; a reader gone
    (``| head``: EPIPE) stays ``BrokenPipeError`` (exit 141)."""

    def __init__(self, stream: IO[str] | None, name: str) -> None:
        self._stream, self._name = stream, name

    def write(self, text: str) -> int:
        if self._stream is None:
            raise self._failed("it is closed")
        return int(self._guarded(self._stream.write, text))

    def flush(self) -> None:
        if self._stream is not None:
            self._guarded(self._stream.flush)

    def _guarded(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc.strerror or str(exc)) from None
        except ValueError:  # "I/O operation on closed file"
            raise self._failed("it is closed") from None

    def _failed(self, why: str) -> LocalWriteError:
        fix = ("the process was started with it closed (>&-): give it one, or -o none" if why == "it is closed"
               else "free some space, raise the file-size limit (ulimit -f), or send it elsewhere")
        return LocalWriteError(f"cannot write {self._name} ({why}); {fix}")

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ... of the stream itself
        return getattr(self._stream, name)


class _Messages:
    """Standard error as commands write it: a message that cannot be written (``2>&-``, ``2>/dev/full``)
    is dropped; there is nowhere left to say so, and it must not change what the command does."""

    def __init__(self, stream: IO[str] | None) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text) if self._stream is not None else len(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        try:
            if self._stream is not None:
                self._stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Environment:
    """Streams, whether each is a terminal, the environment variables, and the secrets never to show."""

    def __init__(self, stdin: BinaryIO, stdout: IO[str], stderr: IO[str], env: Mapping[str, str],
                 stdin_isatty: bool = False, stdout_isatty: bool = False, stderr_isatty: bool = False,
                 secrets: list[str] | None = None) -> None:
        self.stdin, self.env = stdin, env
        self.stdout: IO[str] = _Output(stdout, "standard output")  # type: ignore[assignment]
        self.stderr: IO[str] = _Messages(stderr)  # type: ignore[assignment]
        self.stdin_isatty, self.stdout_isatty, self.stderr_isatty = stdin_isatty, stdout_isatty, stderr_isatty
        #: Values never to show (the API key once it is known); see ``redact``.
        self.secrets: list[str] = [] if secrets is None else secrets

    @classmethod
    def from_sys(cls) -> Environment:
        stdin = getattr(sys.stdin, "buffer", sys.stdin) if sys.stdin is not None else io.BytesIO()  # `<&-`: nothing
        return cls(
            stdin=stdin,  # type: ignore[arg-type]
            stdout=sys.stdout,
            stderr=sys.stderr,
            env=os.environ,
            stdin_isatty=_isatty(sys.stdin),
            stdout_isatty=_isatty(sys.stdout),
            stderr_isatty=_isatty(sys.stderr),
        )

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = redact(text, secret)
        return one_line(text)

    def error(self, message: str) -> None:
        self.stderr.write(f"hhsession: error: {self.redact(message)}\n")
        self.stderr.flush()

    def warn(self, message: str) -> None:
        self.stderr.write(f"hhsession: warning: {self.redact(message)}\n")
        self.stderr.flush()

    def info(self, message: str) -> None:
        self.stderr.write(f"hhsession: {self.redact(message)}\n")
        self.stderr.flush()


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
