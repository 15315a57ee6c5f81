"""When to retry and how long to wait (SPEC §5), and pacing. Pure, with injectable clocks.

Retrying a POST is safe here only because the client chose the ``session_id``
before the first attempt and the server is idempotent on it; a PUT is
idempotent by nature.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Malformed values are ignored (``None``); negative ones and dates in the past
    mean "no minimum" (``0.0``). ``now`` is the wall clock, in Unix seconds.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        from email.utils import parsedate_to_datetime  # an HTTP date: rare, and email.utils is not light

        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment is None:  # pragma: no cover - older Pythons returned None
            return None
        try:
            seconds = moment.timestamp() - now
        except (OverflowError, OSError, ValueError):  # pragma: no cover
            return None
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class Gate:
    """A pause shared by every worker of a run: one 429 slows the whole run down."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self._until = 0.0
        self._lock = threading.Lock()

    def hold(self, seconds: float) -> None:
        """Nobody starts an attempt for the next ``seconds``."""
        with self._lock:
            self._until = max(self._until, self.clock() + seconds)

    def wait(self) -> float:
        """Wait while the gate is held; returns how long that was."""
        waited = 0.0
        while True:
            remaining = self._until - self.clock()
            if remaining <= 0:
                return waited
            step = min(remaining, 0.5)
            self.sleep(step)
            waited += step


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter: about 0.5 s, 1 s, 2 s, 4 s, capped at 8 s."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    #: A Retry-After above this is not slept on: the command fails at once.
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    jitter: Callable[[], float] = field(default=random.random)

    @property
    def attempts(self) -> int:
        return self.max_retries + 1

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 for the first retry), ±25 % jitter."""
        nominal = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return float(min(self.max_delay, nominal * (0.75 + 0.5 * self.jitter())))

    def wait_before(self, retry: int, retry_after: float | None) -> float:
        """Backoff, with the server's ``Retry-After`` as the minimum."""
        delay = self.backoff(retry)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay


class RateLimiter:
    """At most ``rate`` requests per second across every thread that shares it."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self.sleep(slot - now)
