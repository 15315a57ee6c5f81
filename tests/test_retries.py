"""Network reliability (SPEC §5): retries that never create a duplicate session.

The client runs against a socket-level fake server on loopback; the clock and
the sleep are injected so waits are asserted exactly without sleeping.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from hhsession.client import Client
from hhsession.emulator import Emulator, Faults
from hhsession.errors import AuthError, NetworkError, RejectedError
from hhsession.retry import RetryPolicy, parse_retry_after
from hhsession.sessions import StartedSession
from hhsession.transport import _Watchdog
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import Drop, FakeServer, Partial, Reply

WALL = 1_795_000_000.0


class FakeTime:
    """A clock that moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL + (self.now - 1000.0)

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_client(server: FakeServer, fake_time: FakeTime, retries: int = 3, timeout: float = 5.0) -> Client:
    policy = RetryPolicy(
        max_retries=retries, sleep=fake_time.sleep, clock=fake_time.clock, wall_clock=fake_time.wall, jitter=lambda: 0.5
    )
    return Client(api_url=server.url, api_key=API_KEY, timeout=timeout, retry=policy)


def start(server: FakeServer, fake_time: FakeTime, **kwargs: float) -> tuple[StartedSession, str]:
    with make_client(server, fake_time, **kwargs) as client:  # type: ignore[arg-type]
        built = client.build_start(session_name="retry")
        return client.send_start(built), built.session_id


def assert_identical_attempts(server: FakeServer, count: int) -> None:
    assert len(server.requests) == count
    bodies = {request.body for request in server.requests}
    assert len(bodies) == 1, "every attempt must send the identical bytes"
    assert {request.headers["authorization"] for request in server.requests} == {f"Bearer {API_KEY}"}


def test_503_503_200_succeeds_on_the_third_attempt(fake: FakeServer, fake_time: FakeTime) -> None:
    fake.script = [Reply(503), Reply(503)]
    result, sent_id = start(fake, fake_time)
    assert result.attempts == 3
    assert result.session_id == sent_id
    assert fake_time.waits == [0.5, 1.0]
    assert_identical_attempts(fake, 3)
    assert list(fake.sessions) == [sent_id]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_each_retryable_status_is_retried(fake: FakeServer, fake_time: FakeTime, status: int) -> None:
    fake.script = [Reply(status)]
    result, _ = start(fake, fake_time)
    assert result.attempts == 2


def test_retry_after_seconds_is_the_minimum_wait(fake: FakeServer, fake_time: FakeTime) -> None:
    fake.script = [Reply(429, headers={"Retry-After": "2"})]
    result, _ = start(fake, fake_time)
    assert result.attempts == 2
    assert fake_time.waits == [2.0]


def test_retry_after_shorter_than_backoff_keeps_the_backoff(fake: FakeServer, fake_time: FakeTime) -> None:
    fake.script = [Reply(503), Reply(503), Reply(503, headers={"Retry-After": "1"})]
    start(fake, fake_time)
    assert fake_time.waits == [0.5, 1.0, 2.0]


def test_retry_after_http_date(fake: FakeServer, fake_time: FakeTime) -> None:
    when = datetime.fromtimestamp(WALL + 5, tz=UTC)
    fake.script = [Reply(503, headers={"Retry-After": format_datetime(when, usegmt=True)})]
    start(fake, fake_time)
    assert fake_time.waits == [5.0]


def test_retry_after_over_60_seconds_fails_at_once(fake: FakeServer, fake_time: FakeTime) -> None:
    fake.script = [Reply(429, {"message": "slow down"}, headers={"Retry-After": "3600"})]
    with pytest.raises(NetworkError) as info:
        start(fake, fake_time)
    assert fake_time.waits == []
    assert len(fake.requests) == 1
    message = info.value.message
    assert "429 X: slow down" in message
    assert "the server asks to wait 1 h (Retry-After: 3600), longer than hhsession waits; try again after" in message
    assert info.value.exit_code == 5


@pytest.mark.parametrize(
    ("header", "waits"),
    [
        ("-5", [0.5]),  # negative: no minimum, the backoff stands
        ("soon", [0.5]),  # malformed: ignored
        ("nan", [0.5]),
        ("", [0.5]),
        ("Wed, 21 Oct 2015 07:28:00 GMT", [0.5]),  # a date in the past
        ("7", [7.0]),
    ],
)
def test_odd_retry_after_values_are_handled(fake: FakeServer, fake_time: FakeTime, header: str, waits: list[float]) -> None:
    fake.script = [Reply(503, headers={"Retry-After": header})]
    result, _ = start(fake, fake_time)
    assert result.attempts == 2
    assert fake_time.waits == waits


@pytest.mark.parametrize("header", ["99999999999999999999999", "61", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_huge_retry_after_values_fail_fast_without_crashing(fake: FakeServer, fake_time: FakeTime, header: str) -> None:
    fake.script = [Reply(503, headers={"Retry-After": header})]
    with pytest.raises(NetworkError, match="longer than hhsession waits; try again after"):
        start(fake, fake_time)
    assert fake_time.waits == [] and len(fake.requests) == 1


def test_stored_then_dropped_creates_exactly_one_session(fake: FakeServer, fake_time: FakeTime) -> None:
    fake.script = [Drop(store=True)]
    result, sent_id = start(fake, fake_time)
    assert result.attempts == 2
    assert list(fake.sessions) == [sent_id]
    assert result.session_id == sent_id
    assert_identical_attempts(fake, 2)


def test_connection_reset_is_retried(fake: FakeServer, fake_time: FakeTime) -> None:
    fake.script = [Drop(store=True, reset=True)]
    result, sent_id = start(fake, fake_time)
    assert result.attempts == 2 and list(fake.sessions) == [sent_id]


def test_connection_closed_mid_response_is_retried(fake: FakeServer, fake_time: FakeTime) -> None:
    fake.script = [Partial()]
    result, sent_id = start(fake, fake_time)
    assert result.attempts == 2
    assert list(fake.sessions) == [sent_id]
    assert_identical_attempts(fake, 2)


def test_read_timeout_is_retried(fake: FakeServer, fake_time: FakeTime) -> None:
    fake.script = [Reply(delay=1.0)]
    result, sent_id = start(fake, fake_time, timeout=0.3)
    assert result.attempts == 2
    assert result.session_id == sent_id
    assert list(fake.sessions) == [sent_id]


def test_refused_port_fails_with_the_attempt_count(fake_time: FakeTime, free_port: int) -> None:
    policy = RetryPolicy(max_retries=3, sleep=fake_time.sleep, clock=fake_time.clock, jitter=lambda: 0.5)
    client = Client(api_url=f"http://127.0.0.1:{free_port}", api_key=API_KEY, retry=policy)
    with pytest.raises(NetworkError) as info:
        client.start()
    assert fake_time.waits == [0.5, 1.0, 2.0]
    assert "connection refused (4 attempts over 3.5 s)" in info.value.message


def test_exhausted_retries_say_what_how_often_and_how_long(fake: FakeServer, fake_time: FakeTime) -> None:
    fake.script = [Reply(503, {"message": "maintenance"})] * 4
    with pytest.raises(NetworkError) as info:
        start(fake, fake_time)
    assert "503 X: maintenance (4 attempts over 3.5 s)" in info.value.message
    assert len(fake.requests) == 4


def test_max_retries_zero_is_a_single_attempt(fake: FakeServer, fake_time: FakeTime) -> None:
    fake.script = [Reply(503)]
    with pytest.raises(NetworkError, match=r"\(1 attempt over"):
        start(fake, fake_time, retries=0)
    assert len(fake.requests) == 1 and fake_time.waits == []


@pytest.mark.parametrize(("status", "error"), [(400, RejectedError), (404, RejectedError), (409, RejectedError), (401, AuthError), (403, AuthError)])
def test_other_4xx_are_not_retried(fake: FakeServer, fake_time: FakeTime, status: int, error: type) -> None:
    fake.script = [Reply(status, {"message": "no"})]
    with pytest.raises(error):
        start(fake, fake_time)
    assert len(fake.requests) == 1 and fake_time.waits == []


def test_backoff_doubles_with_jitter_and_caps_at_8_seconds() -> None:
    middle = RetryPolicy(jitter=lambda: 0.5)
    assert [middle.backoff(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    low, high = RetryPolicy(jitter=lambda: 0.0), RetryPolicy(jitter=lambda: 0.999999)
    assert low.backoff(1) == 0.375 and high.backoff(1) == pytest.approx(0.625)
    assert high.backoff(4) <= 8.0 and high.backoff(10) == 8.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), ("0", 0.0), ("-3", 0.0), ("1.5", 1.5), ("abc", None), ("", None), (None, None), ("nan", None),
     ("Thu, 01 Jan 2026 00:00:10 GMT", 10.0), ("Thu, 01 Jan 2026 00:00:00 GMT", 0.0), ("Mon, 99 Foo 2026", None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert parse_retry_after(value, now) == expected


# ----------------------------------------------------------------------------- through the CLI, real sleeps


def test_cli_retries_verbosely_and_prints_the_stored_id(cli: Invoker, fake: FakeServer) -> None:
    fake.script = [Drop(store=True)]
    result = cli("start", "-v", "-o", "id", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 0, result.stderr
    (stored_id,) = fake.sessions
    assert result.stdout == f"{stored_id}\n"
    assert "attempt 1/4: the server closed the connection without answering" in result.stderr
    assert "waiting 0." in result.stderr and "before attempt 2" in result.stderr
    assert "attempt 2/4: 200" in result.stderr


def test_cli_refused_port_exits_5_promptly(cli: Invoker, free_port: int) -> None:
    started = time.monotonic()
    result = cli("start", "--max-retries", "1", env={"HH_API_URL": f"http://127.0.0.1:{free_port}", "HH_API_KEY": API_KEY})
    assert result.exit_code == 5
    assert "connection refused (2 attempts over" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 5


def test_cli_retry_after_too_long_fails_fast(cli: Invoker, fake: FakeServer) -> None:
    fake.script = [Reply(503, headers={"Retry-After": "3600"})]
    started = time.monotonic()
    result = cli("start", env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 5
    assert "try again after" in result.stderr
    assert time.monotonic() - started < 5
    assert len(fake.requests) == 1


def test_emulator_fault_injection_is_survived(cli: Invoker) -> None:
    with Emulator(port=0, faults=Faults(fail_rate=0.5, fail_status=503, retry_after=0), seed=3) as emu:
        ids = []
        for _ in range(4):
            result = cli("start", "-o", "id", env={"HH_API_URL": emu.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "8"})
            assert result.exit_code == 0, result.stderr
            ids.append(result.stdout.strip())
        assert emu.store.count() == 4
        assert all(emu.store.get(i) is not None for i in ids)


# ----------------------------------------------------------------------------- deadlines


def test_a_refused_server_is_given_up_at_the_deadline_not_a_backoff_later(free_port: int) -> None:
    """With a backoff of 40 s, a server refusing connections is still given up at the 1 s deadline."""
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    policy = RetryPolicy(max_retries=5, base_delay=40, max_delay=40, jitter=lambda: 0.5, clock=lambda: now[0], sleep=sleep)
    hh = Client(api_key=API_KEY, api_url=f"http://127.0.0.1:{free_port}", allow_http=True, retry=policy)
    hh.refused_deadline = 1.0
    with hh, pytest.raises(NetworkError) as caught:
        hh.start(session_name="x")
    assert caught.value.refused
    assert slept and max(slept) <= 1.0, slept


def test_the_watchdog_keeps_about_the_running_attempts() -> None:
    dog = _Watchdog()
    for _ in range(5000):
        entry = dog.watch(time.monotonic() + 3600)
        entry.active = False  # done long before its deadline
    assert len(dog._heap) < 2100
