"""How many requests a replay keeps in flight (``--workers auto``, SPEC §3 ``replay``).

The limit adapts to the server as TCP's congestion control and Netflix's
concurrency-limits do, in rounds of about one round trip (``limit`` answers;
after slow start at least ``MIN_ROUND``, and only rounds that many answers
long count toward the base, besides the round that measures it afresh: the
median of fewer is noise):

- **Latency.** The round's median latency is compared with the lowest round
  median seen lately (``base``: the server unloaded). Up to ``TOLERANCE`` times
  it, the server keeps up and the limit grows: by one for each answer at first
  ("slow start", as TCP: doubling a round trip), then by one a round trip
  (at most doubling a round); but only after a round that had every slot in
  use (TCP's "cwnd-limited" rule, RFC 7661): a limit the run does not reach
  says nothing of the server, and must not run ahead of the workers (at no
  latency, rounds of a millisecond doubled it to the ceiling before the
  workers to fill it had started). Beyond it, answers wait in a queue (the
  server's or ours) and the limit shrinks in proportion; it grows back freely
  below the number that queued, and to it only once every ``PROBE_SECONDS``
  (TCP CUBIC's plateau): without that, at no latency, it went from one to two
  every other round, to queue again. When slow start ends so, the limit is
  halved and one round is sent with only ``FLOOR`` in flight, to measure the
  unloaded latency afresh (the one seen while the run started is often too
  high), as BBR's ProbeRTT does; and again every ``REMEASURE_SECONDS``
  (a base refreshed only by rounds under load creeps up with them).
- **Throttling and failure.** A 429, a 503, a timeout, a refused connection
  or any failure worth retrying cuts the limit at once (not at the round's
  end: a 429's ``Retry-After`` pause would stretch the round) to what the
  server delivered over the last second times ``base`` (Little's law), less
  5 %: at most to 0.9 of it, and not below half of it at once (as TCP; the
  last second may hold the start's ramp); a dead server is left with
  ``FAILURE_FLOOR`` (a limit already below it is not raised). The answers to
  requests sent before the cut do not cut again for a while (``QUIET_SECONDS``, or two round trips). The server's
  ``Retry-After`` is honoured by the client as before (one pause for the whole
  run). From then on the limit grows only by one every ``PROBE_SECONDS``: a
  server that limits each key is probed, not hammered.

It starts at ``INITIAL`` (a refused key or a dead server costs a handful of
requests) and never goes above ``CEILING`` nor below ``FLOOR``. Everything is driven
by the answers and an injected clock: the tests run it with a fake one.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

#: Requests in flight when a run starts.
INITIAL = 4
#: Never more in flight than this (a polite upper bound; SPEC: at least 128).
CEILING = 256
#: Never fewer. One is where a run settles against a server on this machine or next to it: the
#: client's own work per record is then most of a request's time, and a second thread in flight only
#: queues for the interpreter lock (each handing it over costs; measured at no latency: 2 in flight
#: carried no more than 1, for 40 % more CPU a record). A server farther away shows no queue at 2.
#: (Its latency may be noisy: that is what ``MIN_ROUND`` is for.)
FLOOR = 1
#: Failures cut no lower: with one in flight, a server that takes every request and never answers
#: would be given up on (``replay``'s records in a row that failed) one timeout at a time.
FAILURE_FLOOR = 2
#: After slow start a round is at least this many answers, and only such rounds (and the round that
#: measures the unloaded latency, which replaces the base) set the base: the median of fewer is noise.
#: (With one in flight, rounds of one answer made the base the fastest answer seen, and a noisy server
#: looked queued at two.)
MIN_ROUND = 32
#: The round at the floor that measures the unloaded latency is shorter: there each answer is a round
#: trip, with next to nothing in flight (32 of them cost a tenth of a 20-second run against a server
#: 50 ms away).
MEASURE_ROUND = 8
#: Round median latency over the base latency that still counts as "the server keeps up".
TOLERANCE = 1.3
#: After a throttling cut: one more in flight this often.
PROBE_SECONDS = 5.0
#: After a cut, answers to what was sent before it do not cut again for this long (or two round trips).
QUIET_SECONDS = 1.0
#: What the server delivered is counted over this last stretch of time.
DELIVERED_WINDOW = 1.0
#: The unloaded latency is measured again (a round at the floor) this often.
REMEASURE_SECONDS = 60.0
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
    #: ``seconds`` is a latency to weigh (a request's whole time in its slot, as the run saw it).
    timed: bool = True
    #: When its slot was taken, on the limit's clock (None: ``seconds`` before the answer). A slot kept
    #: from the record before is taken before that record is written down, the latency counted after.
    started: float | None = None


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
        self._started = clock()
        self._delivered: deque[float] = deque()  # when each delivered answer came, over the last window
        self._base_windows: list[float | None] = [None, None]  # (the window before, this window)
        self._window_started = self._started
        self._quiet_until = 0.0
        self._next_probe: float | None = None  # set once throttled: growth is probing from then on
        self._measuring: float | None = None  # the limit to go back to once the unloaded latency is measured
        self._timed_from = 0.0  # latencies of requests sent before this are not weighed
        self._round_peak = 0  # the most in flight during this round
        self._measured = self._started  # when the unloaded latency was last measured at the floor
        self._queued_at: int | None = None  # the least in flight a round lately queued at (see _grow)
        self._retry_queued = 0.0  # when that many in flight may be tried again

    @property
    def current(self) -> int:
        return int(self.limit)

    @property
    def base(self) -> float | None:
        known = [value for value in self._base_windows if value is not None]
        return min(known) if known else None

    # ------------------------------------------------------------------ workers

    def acquire(self, give_up: Callable[[], bool] = lambda: False) -> bool:
        """Wait for room; False when ``give_up()`` says so (the run stops, or has nothing left: ``wake``)."""
        with self._cond:
            while self.in_flight >= int(self.limit):
                if give_up():
                    return False
                # Woken by a slot, a higher limit or ``wake``; the timeout is only a backstop. (A short
                # one costs: after slow start, a hundred idle workers each waking ten times a second
                # took the interpreter lock from the two that work.)
                self._cond.wait(1.0)
            self.in_flight += 1
            if self.in_flight > self._round_peak:
                self._round_peak = self.in_flight
            return True

    def wake(self) -> None:
        """Every waiting worker looks again (at ``give_up``)."""
        with self._cond:
            self._cond.notify_all()

    def release(self, seconds: float | None = None, *, keep: bool = False,
                started: float | None = None) -> bool:
        """A record's request (with its retries) ended after ``seconds`` in its slot (None: it failed, or
        none was sent after all), a slot taken at ``started`` (see ``Sample.started``). The slot's time,
        not only the request's: at no latency the queue is this process's own (threads waiting for the
        interpreter lock), and shows only there.

        With ``keep``, the worker goes on to its next record in the same slot while the limit has room
        for it (True): no other worker is woken to take it over. (Handing the slot over on every
        record, two threads taking turns through this lock, cost a tenth of the throughput at no
        latency.) False: the slot is given up, to one waiting worker."""
        with self._cond:
            before = int(self.limit)
            if seconds is not None:
                self._observe(Sample(seconds, delivered=False, started=started))
            woken = max(0, int(self.limit) - before)  # the round's end may have raised the limit: more room
            kept = keep and self.in_flight <= int(self.limit)
            if not kept:
                self.in_flight -= 1
                woken += 1
            if woken:
                self._cond.notify(woken)  # one waiter a slot (waking them all, hundreds, costs more than the requests)
            return kept

    def observe(self, sample: Sample) -> None:
        """An attempt's answer (or its failure), as it comes: a 429 is seen before its Retry-After pause."""
        with self._cond:
            before = int(self.limit)
            self._observe(sample)
            if int(self.limit) > before:
                self._cond.notify(int(self.limit) - before)

    # ------------------------------------------------------------------ adapting

    def _observe(self, sample: Sample) -> None:
        now = self.clock()
        if sample.delivered:
            self._delivered.append(now)
        while self._delivered and self._delivered[0] < now - DELIVERED_WINDOW:
            self._delivered.popleft()
        if sample.congested:  # (its latency says nothing of the server's: a timeout, a refusal, a 429)
            if now >= self._quiet_until:
                self._cut(now)
            return
        started = sample.started if sample.started is not None else now - sample.seconds
        if not sample.timed or started < self._timed_from:
            return  # sent before the floor (it queued with the others), or across a cut and its pause
        self._latencies.append(sample.seconds)
        least = MEASURE_ROUND if self._measuring is not None else 1 if self.slow_start else MIN_ROUND
        if len(self._latencies) >= max(least, int(self.limit)):
            self._end_round(now)

    def _end_round(self, now: float) -> None:
        median = statistics.median(self._latencies)
        before = self.limit
        base = self.base or median  # (as known before this round: a round is not its own yardstick)
        if len(self._latencies) >= MIN_ROUND or self._measuring is not None:  # (the median of fewer: noise)
            self._note_base(median, now)
        ratio = median / base if base > 0 else 1.0
        limited = self._round_peak >= int(before)  # (else growing says nothing: the slots were not all used)
        self._round_peak = self.in_flight
        why = "answers fast and successful"
        if self._measuring is not None:
            # A round at the floor, of requests sent since it began: the unloaded latency, measured. (The
            # base seen while the run started, with new connections and the inputs being opened, may be
            # far above it: at no latency at all, this run's own queueing then looked like none.)
            self._new_base(median, now)
            self.limit, self._measuring = self._measuring, None
            self._measured = now
            why = f"unloaded latency measured: {median * 1000:.1f} ms"
        elif ratio > TOLERANCE and int(before) <= FLOOR and not self.slow_start:
            # Slower at the floor, a whole round long: not a queue of ours (nothing to cut), the server's
            # own latency has grown: that is its unloaded latency now. (Else a run stayed at the floor until
            # the old base aged out of its window, two minutes.)
            self._new_base(median, now)
            why = f"latency {ratio:.1f}x its base at the floor: the new base"
        elif ratio > TOLERANCE:
            # Queued: in slow start, the doubling overshot (halve, as TCP, then measure the unloaded
            # latency once with the floor in flight); after it, in proportion.
            self._queued_at = int(before)
            self._retry_queued = now + PROBE_SECONDS
            factor = 0.5 if self.slow_start else max(0.5, TOLERANCE / ratio)
            self.limit = max(float(FLOOR), self.limit * factor)
            if self.slow_start:
                self._measure_at_floor(now)
            self.slow_start = False
            why = f"latency {ratio:.1f}x its base"
        elif not limited:
            pass  # the run did not use every slot: nothing says the server could take more
        elif self._next_probe is not None:
            if now >= self._next_probe:
                self.limit = min(float(self.ceiling), self.limit + 1)
                self._next_probe = now + PROBE_SECONDS
                why = "probing after throttling"
        elif self.slow_start:  # one more for each answer, as TCP's slow start: doubling a round trip
            self.limit = min(float(self.ceiling), self.limit + len(self._latencies))
        else:
            self._grow(now)
        self._latencies = []
        if self._measuring is None and not self.slow_start and now - self._measured >= REMEASURE_SECONDS \
                and int(self.limit) > FLOOR:
            # Measure the unloaded latency afresh now and then, as BBR's ProbeRTT: a base refreshed only by
            # rounds under load creeps up with them (against a queue, 1.3x every two minutes).
            self._measure_at_floor(now)
            why = "measuring the unloaded latency again"
        self._changed(before, why)

    def _measure_at_floor(self, now: float) -> None:
        """One round with ``FLOOR`` in flight, of requests sent from now, then back to the limit as it is."""
        self._measuring, self._timed_from = self.limit, now
        self.limit = float(FLOOR)

    def _new_base(self, median: float, now: float) -> None:
        self._base_windows, self._window_started = [None, median], now

    def _grow(self, now: float) -> None:
        """One more in flight a round trip, after a round that kept up with every slot in use; but not, for
        ``PROBE_SECONDS``, to a number that queued lately (TCP CUBIC's plateau at the window that lost).
        Without it, at no latency, a run at one in flight went to two every other round (rounds of a
        millisecond), queued, and came back: two in flight half the time."""
        # (A round at a small limit is MIN_ROUND answers: many round trips, at most doubling.)
        grown = min(2.0 * int(self.limit), self.limit + max(1.0, MIN_ROUND / self.limit))
        if self._queued_at is not None and int(grown) >= self._queued_at and now < self._retry_queued:
            return
        self.limit = min(float(self.ceiling), grown)

    def _cut(self, now: float) -> None:
        """To what the server delivered over the last second (Little's law, less 5 %), between half and 0.9
        of the limit; the answers to what was already sent do not cut again for a while."""
        if self._measuring is not None:  # (cut from what it was to go back to, not from the floor)
            self.limit, self._measuring = self._measuring, None
        before = self.limit
        window = min(DELIVERED_WINDOW, max(now - self._started, 1e-3))
        base = self.base
        bdp = 0.95 * len(self._delivered) / window * base if base is not None else 0.0
        # Never below half (TCP's cut: the last second may still hold the ramp up), nor above 0.9.
        # (Never raised by a failure: at the floor it stays there.)
        self.limit = max(min(float(FAILURE_FLOOR), self.limit), self.limit * 0.5, min(self.limit * 0.9, bdp))
        self._quiet_until = now + max(QUIET_SECONDS, 2 * (base or 0.0))
        self._timed_from = self._quiet_until  # (requests that waited out the server's Retry-After)
        self._next_probe = now + PROBE_SECONDS
        self.slow_start = False
        self._latencies = []
        self._round_peak = self.in_flight
        self._changed(before, "the server throttled or failed")

    def _changed(self, before: float, why: str) -> None:
        if self.on_change is not None and int(self.limit) != int(before):
            self.on_change(int(self.limit), why)

    def _note_base(self, median: float, now: float) -> None:
        if now - self._window_started >= BASE_WINDOW_SECONDS:
            self._base_windows = [self._base_windows[1], None]
            self._window_started = now
        current = self._base_windows[1]
        self._base_windows[1] = median if current is None else min(current, median)
