"""The environment a command runs in: streams, terminals, environment variables.

Commands take one of these instead of reaching for ``sys`` and ``os.environ``,
so a caller can give another one: ``hhsession.cli.main(argv, env)``, as
httpie's ``main(args, env)``; the tests do (``tests/test_environment.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import IO, BinaryIO

from .redact import one_line, redact


class Environment:
    """Streams, whether each is a terminal, the environment variables, and the secrets never to show."""

    def __init__(self, stdin: BinaryIO, stdout: IO[str], stderr: IO[str], env: Mapping[str, str],
                 stdin_isatty: bool = False, stdout_isatty: bool = False, stderr_isatty: bool = False,
                 secrets: list[str] | None = None) -> None:
        self.stdin, self.stdout, self.stderr, self.env = stdin, stdout, stderr, env
        self.stdin_isatty, self.stdout_isatty, self.stderr_isatty = stdin_isatty, stdout_isatty, stderr_isatty
        #: Values never to show (the API key once it is known); see ``redact``.
        self.secrets: list[str] = [] if secrets is None else secrets

    @classmethod
    def from_sys(cls) -> Environment:
        stdin = getattr(sys.stdin, "buffer", sys.stdin)
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
