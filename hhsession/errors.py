"""Exit codes (SPEC §6) and the exceptions that carry them.

Every failure a user can meet is one of these exceptions; the CLI catches them
at the edge and turns them into one line on stderr plus the exit code.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    AUTH = 3
    REJECTED = 4
    NETWORK = 5
    REPLAY_FAILURES = 6
    #: A local file could not be written (disk full, file too large, no permission).
    LOCAL_WRITE = 7
    INTERRUPTED = 130
    #: SIGTERM (``kill``, a CI job cancelled); during a replay, after the journal was flushed.
    TERMINATED = 143
    #: Standard output was closed by its reader (``| head``), as a process stopped by SIGPIPE.
    OUTPUT_CLOSED = 141


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a CI job cancelled) during a command, raised where Ctrl-C would be: the edge
    says so and exits 143 (replay and exec handle the signal themselves)."""


class HHSessionError(Exception):
    """A failure with a message for a person: what failed, why, what to do."""

    exit_code: ExitCode = ExitCode.INTERNAL
    #: When the error stopped a replay: what the run did before it (a ``ReplaySummary``).
    summary: Any = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(HHSessionError):
    """Bad flags, files or settings. Nothing was sent."""

    exit_code = ExitCode.USAGE


class AuthError(HHSessionError):
    """No API key, or the server answered 401/403."""

    exit_code = ExitCode.AUTH

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        #: The server's status (401 or 403); None when no key was there to send.
        self.status = status


class RejectedError(HHSessionError):
    """The server refused the session (a 4xx other than 401/403)."""

    exit_code = ExitCode.REJECTED

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NetworkError(HHSessionError):
    """Connection, timeout, 5xx or 429, after every retry."""

    exit_code = ExitCode.NETWORK

    def __init__(self, message: str, status: int | None = None, unreachable: bool = False,
                 maybe_delivered: bool = False, refused: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        #: Seconds the server asked to wait (Retry-After), when that was longer than hhsession waits.
        self.retry_after = retry_after
        #: Given up early: the server refused every connection for a while (nothing else will work either).
        self.refused = refused
        #: The server could not be reached at all (refused, DNS, no route).
        self.unreachable = unreachable
        #: An attempt may have reached the server though its answer was lost.
        self.maybe_delivered = maybe_delivered


class AnswerTooLarge(NetworkError):
    """A 2xx answer longer than the bound the request allowed (not retried: it would come again)."""


class LocalWriteError(HHSessionError):
    """A local file (the journal, an output, --failures) could not be written."""

    exit_code = ExitCode.LOCAL_WRITE


class OutputClosed(HHSessionError):
    """The reader of standard output went away before the command was done."""

    exit_code = ExitCode.OUTPUT_CLOSED


class ReplayInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a replay, after the journal was flushed; carries the summary so far."""

    def __init__(self, summary: Any, signum: int = 2) -> None:
        super().__init__()
        self.summary = summary
        #: The signal that stopped the run (2: Ctrl-C, 15: SIGTERM); the exit code is 128 + it.
        self.signum = signum
