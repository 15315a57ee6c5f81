"""How many requests a replay keeps in flight (``--workers auto``, SPEC §3 ``replay``).

The limit adapts to the server as TCP's congestion control and Netflix's
concurrency-limits do, in rounds of about one round trip (``limit`` answers):

- **Latency.** The round's median latency is compared with the lowest round
  median seen lately (``base``: the server unloaded). Up to ``TOLERANCE`` times
  it, the server keeps up and the limit grows: doubling at first ("slow start",
  as TCP), by one a round after the first sign of load. Beyond it, answers
  wait in a queue (the server's or ours) and the limit shrinks in proportion.
- **Throttling and failure.** A round with a 429, a 503, a timeout, a refused
  connection or a retried request cuts the limit to what the server delivered
  (answers per second over the round, times ``base``: Little's law, less 5 %),
  at most to 0.9 of it; a dead server leaves one request in flight. The server's
  ``Retry-After`` is honoured by the client as before (one pause for the whole
  run). After such a cut the limit grows only by one every ``PROBE_SECONDS``,
  twice as long after every further cut (up to ``PROBE_MAX_SECONDS``): a
  server that limits each key is probed, not hammered.

It starts at ``INITIAL`` (a refused key or a dead server costs a handful of
requests) and never goes above ``CEILING`` nor below 1. Everything is driven
by the answers and an injected clock: the tests run it with a fake one.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Requests in flight when a run starts.
INITIAL = 4
#: Never more in flight than this (a polite upper bound; SPEC: at least 128).
CEILING = 256
#: Round median latency over the base latency that still counts as "the server keeps up".
TOLERANCE = 1.3
#: After a throttling cut: one more in flight this often (doubled after each further cut, up to the max).
PROBE_SECONDS, PROBE_MAX_SECONDS = 5.0, 60.0
#: The base latency is the lowest round median of this window and the one before it.
BASE_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Sample:
    """One answered request: how long it took, and whether it showed the server struggling."""

    seconds: float
    #: 429, 503, a timeout, a refused connection, or a request that needed retries.
    congested: bool = False
    #: The server did the work (a 2xx, or a 4xx that is not 429): counts toward what it delivers.
    delivered: bool = True


class AdaptiveLimit:
    """A concurrency limit that workers ``acquire`` before a request and ``release`` with its ``Sample``."""

    def __init__(self, *, initial: int = INITIAL, ceiling: int = CEILING, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[int, str], None] | None = None) -> None:
        self.ceiling = ceiling
        self.limit = float(min(initial, ceiling))
        self.clock = clock
        self.on_change = on_change
        self.in_flight = 0
        self.slow_start = True
        self._cond = threading.Condition()
        self._latencies: list[float] = []
        self._congested = False
        self._delivered = 0
        self._round_started = clock()
        self._base_windows: list[float | None] = [None, None]  # (the window before, this window)
        self._window_started = self._round_started
        self._probe_every = PROBE_SECONDS
        self._next_probe: float | None = None  # set once throttled: growth is probing from then on

    @property
    def current(self) -> int:
        return int(self.limit)

    @property
    def base(self) -> float | None:
        known = [value for value in self._base_windows if value is not None]
        return min(known) if known else None

    # ------------------------------------------------------------------ workers

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for room; False when ``stop`` was set meanwhile."""
        with self._cond:
            while self.in_flight >= int(self.limit):
                if stop is not None and stop.is_set():
                    return False
                self._cond.wait(0.1)
            self.in_flight += 1
            return True

    def release(self) -> None:
        """A record's request (with its retries) ended, or none was sent after all."""
        with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def observe(self, sample: Sample) -> None:
        """An attempt's answer (or its failure), as it comes: a 429 is seen before its Retry-After pause."""
        with self._cond:
            self._observe(sample)
            self._cond.notify_all()

    # ------------------------------------------------------------------ adapting

    def _observe(self, sample: Sample) -> None:
        self._latencies.append(sample.seconds)
        self._congested = self._congested or sample.congested
        self._delivered += sample.delivered
        if len(self._latencies) >= max(1, int(self.limit)):
            self._end_round()

    def _end_round(self) -> None:
        now = self.clock()
        elapsed = max(now - self._round_started, 1e-6)
        median = statistics.median(self._latencies)
        before = self.limit
        if self._congested:
            self._cut(self._delivered / elapsed, now)
            why = "the server throttled or failed"
        else:
            self._note_base(median, now)
            base = self.base or median
            ratio = median / base if base > 0 else 1.0
            if ratio > TOLERANCE:
                self.limit = max(1.0, self.limit * max(0.5, TOLERANCE / ratio))
                self.slow_start = False
                why = f"latency {ratio:.1f}x its base"
            elif self.slow_start:
                self.limit = min(float(self.ceiling), self.limit * 2)
                why = "answers fast and successful"
            elif self._next_probe is None:
                self.limit = min(float(self.ceiling), self.limit + 1)
                why = "answers fast and successful"
            elif now >= self._next_probe:
                self.limit = min(float(self.ceiling), self.limit + 1)
                self._next_probe = now + self._probe_every
                why = "probing after throttling"
            else:
                why = ""
        self._latencies, self._congested, self._delivered, self._round_started = [], False, 0, now
        if self.on_change is not None and int(self.limit) != int(before):
            self.on_change(int(self.limit), why)

    def _cut(self, delivered_per_second: float, now: float) -> None:
        """To what the server delivered over the round (Little's law), at most 0.9 of the limit."""
        base = self.base
        bdp = 0.95 * delivered_per_second * base if base is not None else self.limit / 2
        self.limit = max(1.0, min(self.limit * 0.9, bdp))
        if self._next_probe is not None:  # cut again: probe half as often
            self._probe_every = min(PROBE_MAX_SECONDS, self._probe_every * 2)
        self._next_probe = now + self._probe_every
        self.slow_start = False

    def _note_base(self, median: float, now: float) -> None:
        if now - self._window_started >= BASE_WINDOW_SECONDS:
            self._base_windows = [self._base_windows[1], None]
            self._window_started = now
        current = self._base_windows[1]
        self._base_windows[1] = median if current is None else min(current, median)
