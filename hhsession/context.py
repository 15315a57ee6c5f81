"""The environment a command runs in: streams, terminals, environment variables.

Commands take one of these instead of reaching for ``sys`` and ``os.environ``,
so a caller can give another one: ``hhsession.cli.main(argv, env)``, as
httpie's ``main(args, env)``; the tests do (``tests/test_environment.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, BinaryIO


@dataclass
class Environment:
    stdin: BinaryIO
    stdout: IO[str]
    stderr: IO[str]
    env: Mapping[str, str]
    stdin_isatty: bool = False
    stdout_isatty: bool = False
    stderr_isatty: bool = False
    #: Values never to show (the API key once it is known); see ``redact``.
    secrets: list[str] = field(default_factory=list)

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
        from .settings import redact

        for secret in self.secrets:
            text = redact(text, secret)
        return text

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
