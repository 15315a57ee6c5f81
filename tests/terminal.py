"""Run the CLI on a pseudo-terminal, as a person in a shell would.

Nothing here polls: reading waits (``select``) for output on the terminal, and ``wait`` for the
program's end as well (a pidfd, which becomes readable when the process exits).
"""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from collections.abc import Sequence


class Terminal:
    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None, program: str | None = None) -> None:
        self.output = b""
        #: No process has the terminal open any more (for now: one may open /dev/tty again).
        self.hung_up = False
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: hhsession with a terminal on stdin, stdout and stderr
            if env is not None:
                os.environ.clear()
                os.environ.update(env)
            os.environ.setdefault("COLUMNS", "100")
            if program is not None:  # another program on the terminal (a shell running hhsession)
                os.execv(program, [program, *args])
            os.execv(sys.executable, [sys.executable, "-m", "hhsession", *args])

    def _read(self) -> None:
        """Take what the terminal holds (the caller knows it is readable)."""
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: every process that had the terminal open has closed it
            chunk = b""
        if chunk:
            self.output += chunk
        else:
            self.hung_up = True

    def read_until(self, marker: bytes, timeout: float = 20) -> bytes:
        """The output so far, once it holds ``marker`` (or ``timeout`` s have passed, or nobody is left to write)."""
        deadline = time.monotonic() + timeout
        while marker not in self.output and not self.hung_up:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if select.select([self.fd], [], [], remaining)[0]:
                self._read()
        return self.output

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 20) -> int:
        """The program's exit status, once it has ended; what it wrote is in ``output``."""
        deadline = time.monotonic() + timeout
        try:
            ended = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # not Linux 5.3+: look every 50 ms
            ended = None
        status: int | None = None
        try:
            while status is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self.output.decode(errors="replace"))
                watched = ([] if self.hung_up else [self.fd]) + ([] if ended is None else [ended])
                ready = select.select(watched, [], [], remaining if ended is not None else min(remaining, 0.05))[0]
                if self.fd in ready:
                    self._read()
                if ended is None or ended in ready:
                    pid, code = os.waitpid(self.pid, os.WNOHANG)
                    status = code if pid else None
        finally:
            if ended is not None:
                os.close(ended)
        # What it wrote just before it ended is still in the terminal: take it (not waiting on a process it
        # left behind that keeps the terminal open without writing).
        while not self.hung_up and select.select([self.fd], [], [], 0.05)[0]:
            self._read()
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)
