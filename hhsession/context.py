"""The environment a command runs in: streams, terminals, environment variables.

Commands take one of these instead of reaching for ``sys`` and ``os.environ``,
so tests can swap it (as httpie's ``Environment``).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from .errors import ExitCode, HHSessionError


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


class CommandExit(Exception):
    """Raised by ``edge`` to end the command with an exit code (the CLI turns it into Exit)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@contextmanager
def edge(env: Environment, verbose: bool = False) -> Iterator[None]:
    """Turn every failure into one line on stderr and its exit code (SPEC §6)."""
    try:
        yield
    except HHSessionError as exc:
        env.error(exc.message)
        raise CommandExit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        env.stderr.write("\nhhsession: interrupted\n")
        raise CommandExit(int(ExitCode.INTERRUPTED)) from None
    except BrokenPipeError:
        # The reader went away (`| head`): not our failure, and nothing to say.
        raise CommandExit(int(ExitCode.OK)) from None
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
