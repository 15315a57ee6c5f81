"""The adaptive limit on requests in flight (``--workers auto``), driven by a fake clock and simulated
servers: its logic, not timed assertions."""

from __future__ import annotations

import statistics
import threading

from hhsession.concurrency import CEILING, INITIAL, PROBE_SECONDS, TOLERANCE, AdaptiveLimit, Sample


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def a_round(limit: AdaptiveLimit, clock: Clock, seconds: float, *, congested: int = 0, delivered: bool = True) -> None:
    """One round trip: ``limit.current`` answers of ``seconds`` each (``congested`` of them 429s)."""
    count = limit.current
    clock.now += seconds
    for index in range(count):
        throttled = index < congested
        limit.observe(Sample(seconds, congested=throttled, delivered=delivered and not throttled))


def test_it_starts_small_and_doubles_while_answers_are_fast_up_to_the_ceiling() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    assert limit.current == INITIAL
    seen = []
    for _ in range(10):
        a_round(limit, clock, 0.150)
        seen.append(limit.current)
    assert seen[:4] == [8, 16, 32, 64] and seen[-1] == CEILING and max(seen) == CEILING


def test_latency_that_grows_with_load_shrinks_it_in_proportion_then_growth_is_one_a_round() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    for _ in range(3):
        a_round(limit, clock, 0.100)  # 4 -> 32, the base is 100 ms
    assert limit.current == 32
    a_round(limit, clock, 0.200)  # twice the base: queued
    assert limit.current == int(32 * TOLERANCE / 2.0) and not limit.slow_start
    before = limit.current
    a_round(limit, clock, 0.110)  # within the tolerance again: one more, not double
    assert limit.current == before + 1


def test_a_throttled_round_cuts_to_what_the_server_delivered_then_probes_slowly() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    while limit.current < 128:
        a_round(limit, clock, 0.150)
    # The server takes 800/s: of 128 answers in 150 ms, 120 went through and 8 were 429s.
    a_round(limit, clock, 0.150, congested=8)
    delivered = 120 / 0.150
    assert limit.current == int(0.95 * delivered * 0.150) == 114
    # Fast, successful rounds now add one only every PROBE_SECONDS.
    start = limit.current
    for _ in range(int(PROBE_SECONDS / 0.150) + 1):
        a_round(limit, clock, 0.150)
    assert limit.current == start + 1
    # Throttled again: cut, and probing twice as slowly.
    a_round(limit, clock, 0.150, congested=3)
    cut_at = limit.current
    for _ in range(int(PROBE_SECONDS / 0.150) + 1):
        a_round(limit, clock, 0.150)
    assert limit.current == cut_at  # one probe period was not enough
    for _ in range(int(PROBE_SECONDS / 0.150) + 1):
        a_round(limit, clock, 0.150)
    assert limit.current == cut_at + 1


def test_a_dead_server_leaves_one_request_in_flight() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    for _ in range(3):
        a_round(limit, clock, 0.001, congested=limit.current, delivered=False)
    assert limit.current == 1


def test_against_a_queue_it_settles_where_latency_stays_within_the_tolerance() -> None:
    # A server that works on 32 requests at once, 50 ms each; more wait in its queue.
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    latencies, rates = [], []
    for _ in range(400):
        in_flight = limit.current
        latency = 0.050 * max(1.0, in_flight / 32)
        a_round(limit, clock, latency)
        latencies.append(latency)
        rates.append(in_flight / latency)
    settled = latencies[100:]
    assert statistics.median(settled) <= 1.5 * 0.050
    assert statistics.mean(rates[100:]) >= 0.8 * (32 / 0.050)


def test_against_a_rate_limit_it_settles_below_it_and_rarely_is_throttled() -> None:
    # 800 answers a second per key, 150 ms each; beyond the rate, 429s (the Retry-After pause is the
    # client's: a second in which nothing is sent).
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    sent = throttled = 0
    while clock.now < 1000.0 + 40:
        in_flight = limit.current
        allowed = int(800 * 0.150)
        over = max(0, in_flight - allowed)
        a_round(limit, clock, 0.150, congested=over)
        sent += in_flight
        throttled += over
        if over:
            clock.now += 1.0  # Retry-After: 1, one pause for all
    ok = sent - throttled
    assert ok / 40 >= 0.9 * 800
    assert throttled / sent <= 0.02


def test_acquire_waits_for_room_and_a_stop_ends_the_wait() -> None:
    limit = AdaptiveLimit(initial=2)
    assert limit.acquire() and limit.acquire()
    stop = threading.Event()
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(limit.acquire(stop)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # no room: it waits
    limit.release()
    waiter.join(5)
    assert got == [True]
    stopped: list[bool] = []
    other = threading.Thread(target=lambda: stopped.append(limit.acquire(stop)))
    other.start()
    stop.set()
    other.join(5)
    assert stopped == [False]
