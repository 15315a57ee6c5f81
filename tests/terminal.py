"""Run the CLI on a pseudo-terminal, as a person in a shell would."""

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
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: hhsession with a terminal on stdin, stdout and stderr
            if env is not None:
                os.environ.clear()
                os.environ.update(env)
            os.environ.setdefault("COLUMNS", "100")
            if program is not None:  # another program on the terminal (a shell running hhsession)
                os.execv(program, [program, *args])
            os.execv(sys.executable, [sys.executable, "-m", "hhsession", *args])

    def read_until(self, marker: bytes, timeout: float = 20) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                self.output += chunk
        return self.output

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 20) -> int:
        self.read_until(b"\0never\0", timeout=0.5)  # drain what is left
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.read_until(b"\0never\0", timeout=0.2)
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self.read_until(b"\0never\0", timeout=0.1)
        raise TimeoutError(self.output.decode(errors="replace"))
