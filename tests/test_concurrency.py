"""The adaptive limit on requests in flight (``--workers auto``), driven by a fake clock and simulated
servers: its logic, not timed assertions."""

from __future__ import annotations

import heapq
import random
import statistics
import threading
from collections.abc import Callable

from hhsession.concurrency import (
    CEILING,
    FAILURE_FLOOR,
    FLOOR,
    INITIAL,
    MEASURE_ROUND,
    MIN_ROUND,
    PROBE_SECONDS,
    TOLERANCE,
    AdaptiveLimit,
    Sample,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def a_round(limit: AdaptiveLimit, clock: Clock, seconds: float, *, congested: int = 0, delivered: bool = True,
            used: int | None = None, answers: int | None = None) -> None:
    """One round: round trips of ``limit.current`` answers of ``seconds`` each (``congested`` of the first
    trip's are 429s), every slot in use (or only ``used`` of them: the run has fewer workers, or fewer
    records, than the limit), until the round's answers are in: ``limit`` in slow start, else at least
    MIN_ROUND (``answers``: MEASURE_ROUND for the round at the floor that measures the unloaded latency)."""
    answers = answers or (limit.current if limit.slow_start else max(MIN_ROUND, limit.current))
    first = True
    while answers > 0:
        count = min(limit.current if used is None else used, answers)
        for _ in range(count):
            assert limit.acquire()
        clock.now += seconds
        for index in range(count):
            throttled = first and index < congested
            limit.observe(Sample(seconds, congested=throttled, delivered=delivered and not throttled))
            limit.release()
        answers -= count
        first = False


def test_it_starts_small_and_doubles_while_answers_are_fast_up_to_the_ceiling() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    assert limit.current == INITIAL
    seen = []
    for _ in range(10):
        a_round(limit, clock, 0.150)
        seen.append(limit.current)
    # One more for each answer, as TCP's slow start: a round (of ``limit`` answers, only in slow start)
    # doubles it.
    assert seen[:4] == [8, 16, 32, 64] and seen[-1] == CEILING and max(seen) == CEILING


def test_latency_that_grows_with_load_shrinks_it_in_proportion_then_growth_is_one_a_round_trip() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    for _ in range(4):
        a_round(limit, clock, 0.100)  # 4 -> 64; the base is 100 ms (from the round at 32: fewer answers are noise)
    assert limit.current == 64 and limit.base == 0.100
    a_round(limit, clock, 0.200)  # twice the base: queued; in slow start, the doubling overshot: halved,
    assert not limit.slow_start and limit.current == FLOOR  # after a round at the floor that measures the base
    a_round(limit, clock, 0.090, answers=MEASURE_ROUND)
    assert limit.current == 32 and limit.base == 0.090
    a_round(limit, clock, 0.100)  # within the tolerance: one more, not double
    assert limit.current == 33
    a_round(limit, clock, 0.180)  # queued again, after slow start: in proportion
    assert limit.current == int(33 * TOLERANCE / 2.0) == 21
    a_round(limit, clock, 0.090)  # 32 answers at 21.45 in flight: 1.5 round trips, one more each
    assert limit.current == int(33 * TOLERANCE / 2.0 + MIN_ROUND / (33 * TOLERANCE / 2.0)) == 22
    limit = AdaptiveLimit(clock=clock, initial=2)
    limit.slow_start = False
    a_round(limit, clock, 0.100)  # at 2, a round is 16 round trips: at most doubled
    assert limit.current == 4


def test_the_unloaded_latency_is_measured_again_when_slow_start_ends_by_latency() -> None:
    # The start's rounds were slow (new connections): their base is too high, and a queue of our own
    # (no latency at all: the interpreter lock) would look like none.
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    a_round(limit, clock, 0.010)  # 4 -> 8: the base, 10 ms, is the start's
    while limit.slow_start:
        a_round(limit, clock, 0.002 * limit.current)  # latency grows with what is in flight: a queue
    assert limit.current == FLOOR
    # Answers to what was sent before the floor do not count: they queued with the others.
    limit.observe(Sample(5.0))
    assert limit.current == FLOOR
    a_round(limit, clock, 0.001)
    a_round(limit, clock, 0.001)
    assert limit.base == 0.001
    while limit.current > FLOOR:
        a_round(limit, clock, 0.001 * limit.current)
    assert limit.current == FLOOR


def test_a_slot_taken_before_the_floor_is_not_weighed_at_it_however_late_its_latency_was_counted() -> None:
    # A worker kept its slot just before slow start ended, then wrote its record down, and only then
    # started counting its next request's latency: sent into the queue slow start made, that request
    # says nothing of the unloaded latency.
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    for _ in range(4):
        a_round(limit, clock, 0.050)  # 4 -> 64, the base is 50 ms
    for _ in range(64):
        assert limit.acquire()
    taken = clock.now
    clock.now += 0.100
    assert limit.release(0.100, keep=True, started=taken)  # kept: its next record, in the same slot
    taken = clock.now
    clock.now += 0.001
    for _ in range(63):
        assert not limit.release(0.100)  # twice the base: halved to 32, after a round at the floor
    assert limit.current == FLOOR == 1 and limit.in_flight == 1
    clock.now += 0.150
    assert limit.release(0.140, keep=True, started=taken)  # counted from after the floor, taken before it
    limit.release()

    def one(seconds: float) -> None:
        assert limit.acquire()
        clock.now += seconds
        limit.release(seconds)

    for _ in range(MEASURE_ROUND - 1):
        one(0.040)
    assert limit.current == FLOOR  # MEASURE_ROUND - 1 answers weighed at the floor, not all: still measuring
    one(0.040)
    assert limit.current == 32 and limit.base == 0.040


def test_a_429_cuts_at_once_to_what_the_server_delivered_then_probes_slowly() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    while limit.current < 128:
        a_round(limit, clock, 0.150)
    # A second of answers at 800/s (every slot in use), then a 429: cut to 0.95 x 800/s x 150 ms = 114,
    # but by half at most.
    held = limit.current
    for _ in range(held):
        assert limit.acquire()
    for _ in range(800):
        clock.now += 1 / 800
        limit.observe(Sample(0.150))
    assert limit.current == 256
    limit.observe(Sample(0.150, congested=True, delivered=False))
    assert limit.current == 128
    # The answers to what was sent before the cut do not cut again.
    limit.observe(Sample(0.150, congested=True, delivered=False))
    assert limit.current == 128
    # Once they have come: a second at 800/s, then a 429 again: to 114 now.
    for _ in range(800):
        clock.now += 1 / 800
        limit.observe(Sample(0.150))
    limit.observe(Sample(0.150, congested=True, delivered=False))
    assert limit.current == int(0.95 * 800 * 0.150) == 114
    for _ in range(held):
        limit.release()
    # Fast, successful rounds now add one only every PROBE_SECONDS.
    clock.now += 1.0  # (the quiet time after the cut)
    for _ in range(int(PROBE_SECONDS / 0.150) + 1):
        a_round(limit, clock, 0.150)
    assert limit.current == 115


def test_a_dead_server_leaves_two_requests_in_flight_and_a_cut_while_measuring_is_not_undone() -> None:
    # Two, not the floor of one: a server that takes requests and never answers is given up on after
    # so many records in a row failed, and with one in flight they would fail one timeout at a time.
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    for _ in range(3):
        clock.now += 2.0
        limit.observe(Sample(0.001, congested=True, delivered=False))
    assert limit.current == FAILURE_FLOOR == 2
    # A 429 while one round at the floor measures the unloaded latency: the cut is made from what the
    # limit was to go back to, and the measuring is over.
    limit = AdaptiveLimit(clock=clock)
    for _ in range(4):
        a_round(limit, clock, 0.100)  # 4 -> 64
    a_round(limit, clock, 0.200)  # queued: halved to 32, measured first at the floor
    assert limit.current == FLOOR
    clock.now += 2.0
    limit.observe(Sample(0.100, congested=True, delivered=False))
    assert limit.current == 16  # (half of 32: nothing was delivered over the last second)
    a_round(limit, clock, 0.100)
    assert limit.current == 16  # not back to 32 when the round at the floor would have ended


def simulate(seconds: float, latency: Callable[[int], float], bucket: tuple[float, float] | None = None
             ) -> tuple[AdaptiveLimit, int, int, list[float]]:
    """A replay against a simulated server, event by event on a fake clock: (the limit, answers ok, 429s,
    every latency). ``latency(n)``: an answer's latency with n requests in flight. ``bucket``: (rate,
    burst) of a token bucket that answers 429 beyond it; the client then pauses everything for the
    Retry-After of 1 s and sends the request again."""
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    end = clock.now + seconds
    answers: list[tuple[float, float]] = []  # (when it is answered, when it was sent) of each in flight: a heap
    gate = 0.0
    tokens, refilled = (bucket[1], clock.now) if bucket else (0.0, 0.0)
    ok = throttled = 0
    waits: list[float] = []
    while clock.now < end:
        while len(answers) < limit.current and clock.now >= gate:
            assert limit.acquire()
            heapq.heappush(answers, (clock.now + latency(len(answers) + 1), clock.now))
        if not answers:
            clock.now = gate
            continue
        clock.now, sent = heapq.heappop(answers)
        took = clock.now - sent
        limit.release()
        if bucket:
            tokens = min(bucket[1], tokens + (clock.now - refilled) * bucket[0])
            refilled = clock.now
            if tokens < 1:
                throttled += 1
                gate = max(gate, clock.now + 1.0)
                limit.observe(Sample(took, congested=True, delivered=False))
                continue
            tokens -= 1
        ok += 1
        waits.append(took)
        limit.observe(Sample(took))
    return limit, ok, throttled, waits


def test_against_no_limit_it_grows_to_the_ceiling() -> None:
    limit, ok, _, _ = simulate(20, lambda n: 0.150)
    assert limit.current == CEILING and ok / 20 >= 0.9 * CEILING / 0.150


def test_against_a_rate_limit_it_settles_below_it_and_rarely_is_throttled() -> None:
    # 800 sessions a second, a quarter second of burst, 150 ms away.
    limit, ok, throttled, _ = simulate(40, lambda n: 0.150, bucket=(800, 200))
    assert ok / 40 >= 0.9 * 800
    assert throttled / (ok + throttled) <= 0.02
    assert 100 <= limit.current <= 125


def test_against_a_queue_it_keeps_latency_within_the_tolerance_at_capacity() -> None:
    # A server that works on 32 requests at once, 50 ms each: beyond 32, a queue.
    limit, ok, _, waits = simulate(40, lambda n: 0.050 * max(1.0, n / 32))
    assert statistics.median(waits[len(waits) // 4:]) <= 1.5 * 0.050
    assert ok / 40 >= 0.8 * 32 / 0.050


def test_it_grows_only_after_a_round_with_every_slot_in_use() -> None:
    # Fast answers, but the run keeps only 3 of its 4 slots busy (the workers are still starting, or few
    # records are left): nothing says the server could take more, and the limit does not run ahead.
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    for _ in range(5):
        a_round(limit, clock, 0.001, used=3)
    assert limit.current == INITIAL and limit.slow_start
    a_round(limit, clock, 0.001)  # every slot in use: doubling again
    assert limit.current == 2 * INITIAL
    # After slow start too: no growth while slots stay idle.
    while limit.current < 64:
        a_round(limit, clock, 0.001)  # (the base: from the round at 32; the median of fewer answers is noise)
    a_round(limit, clock, 0.002)  # twice the base: slow start ends (the floor measures the base)
    a_round(limit, clock, 0.001, answers=MEASURE_ROUND)
    grown = limit.current
    assert grown == 32 and not limit.slow_start
    for _ in range(5):
        a_round(limit, clock, 0.001, used=grown - 1)
    assert limit.current == grown
    a_round(limit, clock, 0.001)
    assert limit.current == grown + 1  # one a round trip


def test_a_worker_keeps_its_slot_while_the_limit_has_room_for_it() -> None:
    clock = Clock()
    limit = AdaptiveLimit(initial=4, clock=clock)
    for _ in range(4):
        assert limit.acquire()
    assert limit.release(0.001, keep=True) is True  # straight on to its next record, no one woken
    assert limit.in_flight == 4
    limit.observe(Sample(0.001, congested=True, delivered=False))  # a 429 halves the limit: two slots too many
    assert limit.current == 2
    assert limit.release(None, keep=True) is False  # the limit has no room for it: given up
    assert limit.release(None, keep=True) is False and limit.in_flight == 2
    assert limit.release(None, keep=True) is True and limit.in_flight == 2  # room again: kept


def test_a_limit_raised_at_a_round_s_end_wakes_as_many_waiting_workers_as_it_made_room_for() -> None:
    class Counted(threading.Condition):
        def notify(self, n: int = 1) -> None:
            woken.append(n)
            super().notify(n)

    woken: list[int] = []
    clock = Clock()
    limit = AdaptiveLimit(initial=2, clock=clock)
    limit._cond = Counted()  # (what is woken, without a thread to wait)
    assert limit.acquire() and limit.acquire()
    clock.now += 0.001
    assert limit.release(0.001, keep=True) and woken == []  # kept: no one to wake
    assert limit.release(0.001, keep=True)  # the round's end (in slow start, 2 answers): doubled to 4
    assert limit.current == 4 and woken == [2]
    assert not limit.release(None) and woken == [2, 1]  # a slot given up: one waiter


def test_acquire_waits_for_room_and_a_stop_ends_the_wait() -> None:
    limit = AdaptiveLimit(initial=2)
    assert limit.acquire() and limit.acquire()
    stop = threading.Event()
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(limit.acquire(stop.is_set)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # no room: it waits
    limit.release()
    waiter.join(5)
    assert got == [True]
    stopped: list[bool] = []
    other = threading.Thread(target=lambda: stopped.append(limit.acquire(stop.is_set)))
    other.start()
    other.join(0.2)
    stop.set()
    limit.wake()
    other.join(0.5)  # woken at once, not at the wait's one-second backstop
    assert stopped == [False]


def test_after_a_queue_it_grows_back_freely_below_the_number_that_queued_and_tries_that_only_now_and_then() -> None:
    # No latency at all: the process's own work is the queue, and one in flight is its best. Growing
    # by one a round took it back to two every other round (rounds of a millisecond), to queue again.
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    path = [limit.current]
    while path.count(FLOOR) < 2:  # slow start, the base measured at the floor, back up, then down to it
        a_round(limit, clock, 0.0001 * limit.current, answers=MEASURE_ROUND if limit.current == FLOOR else None)
        if limit.current != path[-1]:
            path.append(limit.current)
    assert path == [4, 8, 16, 32, 64, FLOOR, 32, 16, 8, 4, 2, FLOOR]
    settled = clock.now  # (the round that queued at two has just ended)
    seen = []
    burst = False
    while clock.now < settled + PROBE_SECONDS - 0.1:  # a queue at two, answers of 0.1 ms at one
        if clock.now > settled + 2.5 and not burst:  # a slow round at the floor: not a queue of ours, and
            a_round(limit, clock, 0.003)  # not a reason to try two any later
            burst = True
        a_round(limit, clock, 0.0001 * limit.current)
        seen.append(limit.current)
    assert set(seen) == {1}  # two queued: not tried again before PROBE_SECONDS
    seen = []
    while clock.now < settled + PROBE_SECONDS + 1.0:
        a_round(limit, clock, 0.0001 * limit.current)
        seen.append(limit.current)
    assert seen.count(2) == 1 and limit.current == 1  # tried once, queued, back
    # Below the number that queued, it grows as before (one a round trip); to it, once PROBE_SECONDS have
    # passed, and if it keeps up there, on beyond it.
    limit = AdaptiveLimit(clock=clock)
    for _ in range(4):
        a_round(limit, clock, 0.100)  # 4 -> 64, the base (from the round at 32) 100 ms
    a_round(limit, clock, 0.200)  # slow start overshot: the base measured at the floor, then 32
    a_round(limit, clock, 0.100, answers=MEASURE_ROUND)
    assert limit.current == 32
    a_round(limit, clock, 0.200)  # 32 queued: cut in proportion
    queued = clock.now
    assert limit.current == int(32 * TOLERANCE / 2.0) == 20
    while clock.now < queued + PROBE_SECONDS - 0.3:
        a_round(limit, clock, 0.100)
        assert limit.current < 32
    assert limit.current == 31  # (31.97 + 32 / 31.97 would be 32)
    while limit.current == 31:
        a_round(limit, clock, 0.100)
    assert limit.current == 32 and clock.now >= queued + PROBE_SECONDS  # tried again, PROBE_SECONDS on
    a_round(limit, clock, 0.100)
    assert limit.current == 33  # it kept up this time: growth goes on


def test_a_noisy_server_that_keeps_up_is_not_taken_for_a_queue() -> None:
    # Answers that vary by a third either way, whatever is in flight: no queue, and no reason to hold
    # back. (Rounds of one answer at one in flight made the base the fastest answer seen; every round at
    # two then looked queued, and runs stayed at one or two in flight, at 10 to 130 sessions a second.)
    for seed in range(6):
        rng = random.Random(seed)
        _, ok, _, _ = simulate(10, lambda n, rng=rng: 0.100 * rng.lognormvariate(0, 0.3))
        assert ok / 10 >= 0.5 * CEILING / 0.100, seed
        rng = random.Random(seed)
        _, ok, _, _ = simulate(10, lambda n, rng=rng: rng.uniform(0.050, 0.150))
        assert ok / 10 >= 0.5 * CEILING / 0.100, seed


def test_a_server_that_becomes_slower_for_good_is_not_taken_for_a_queue_for_long() -> None:
    # Its latency doubles and stays so, whatever is in flight: the limit comes down (that looks like a
    # queue), and at the floor a round as slow as that is the server's new unloaded latency, not a queue
    # of ours: from it, the limit grows again. (It stayed at the floor until the old base aged out.)
    clock = Clock()
    limit = AdaptiveLimit(clock=clock, ceiling=64)
    for _ in range(4):
        a_round(limit, clock, 0.050)
    a_round(limit, clock, 0.100)  # a slow round in slow start: it ends, the base is measured at the floor
    started = clock.now
    while clock.now < started + 10:
        a_round(limit, clock, 0.050)
    assert limit.current == 64 and limit.base == 0.050
    slower = clock.now
    lowest = 64
    while clock.now < slower + 20:
        a_round(limit, clock, 0.100)
        lowest = min(lowest, limit.current)
    assert lowest <= 2 and limit.base == 0.100 and limit.current >= 48  # (one more a round trip: 20 s)


def test_a_failure_never_raises_the_limit_and_growth_at_most_doubles_what_is_in_flight() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock, initial=1)
    limit.slow_start = False
    limit.observe(Sample(0.001, congested=True, delivered=False))
    assert limit.current == 1  # (FAILURE_FLOOR is the least a failure cuts to, not a raise)
    limit = AdaptiveLimit(clock=clock, initial=2)
    limit.slow_start = False
    limit.limit = 1.9  # (as a cut in proportion leaves it: one in flight)
    a_round(limit, clock, 0.100)
    assert limit.current == 2  # one in flight doubled, not 1.9 doubled (3.8: three)


def test_against_a_queue_for_minutes_the_unloaded_latency_is_measured_again_and_latency_does_not_creep() -> None:
    # A base refreshed only by rounds under load crept up with them: 1.3x every two minutes.
    limit, ok, _, waits = simulate(240, lambda n: 0.050 * max(1.0, n / 32))
    assert statistics.median(waits[-len(waits) // 4:]) <= 1.5 * 0.050
    assert ok / 240 >= 0.8 * 32 / 0.050
