"""The time and duration grammar (SPEC §2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hhsession.errors import InvalidInput
from hhsession.times import MAX_TIME_MS, format_duration, parse_duration, parse_time

NOW = 1_795_000_000.123456  # a fixed clock, in seconds


def clock() -> float:
    return NOW


NOW_MS = int(NOW * 1000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1764151200000, 1764151200000),
        (1764151200000.5, 1764151200000.5),
        (1764151200000.0, 1764151200000),
        ("1764151200000", 1764151200000),
        ("1764151200000.25", 1764151200000.25),
        ("1764151200s", 1764151200000),
        ("1764151200.5s", 1764151200500),
        ("1764151200000ms", 1764151200000),
        (" 1764151200s ", 1764151200000),
        ("2026-11-26T10:00:00Z", 1795687200000),
        ("2026-11-26T10:00:00.250+01:00", 1795683600250),
        ("2026-11-26T10:00:00.000250+00:00", 1795687200000.25),
        ("2026-11-26 10:00:00+00:00", 1795687200000),
        ("2026-11-26t10:00:00z", 1795687200000),
        ("2026-11-26T10:00:00,250Z", 1795687200250),
        ("20261126T100000Z", 1795687200000),
        ("now", NOW_MS),
        ("NOW", NOW_MS),
        ("now-5m", NOW_MS - 300_000),
        ("now+90s", NOW_MS + 90_000),
        ("now - 2h", NOW_MS - 7_200_000),
        ("now-1d", NOW_MS - 86_400_000),
        ("now+250ms", NOW_MS + 250),
        ("now-1.5s", NOW_MS - 1500),
    ],
)
def test_parse_time_accepts(value: object, expected: float) -> None:
    result = parse_time(value, "start_time", clock=clock)
    assert result == expected
    assert type(result) is type(expected)


def test_naive_iso_is_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        # 10:00 in New York in November is 15:00 UTC.
        assert parse_time("2026-11-26T10:00:00", "t") == 1795705200000
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1764151200, "looks like Unix seconds (2025-11-2"),
        (0, "0 is not a time (it is 1970-01-01); give a time, or leave the field out"),
        (1764151200, "; write 1764151200s or multiply by 1000 (1764151200000)"),
        ("1764151200", "looks like Unix seconds"),
        ("0." + "0" * 70 + "1", "... looks like Unix seconds"),  # too long to show whole, read whole
        (-5, "before 1970"),
        ("yesterday", "cannot read 'yesterday' as a time"),
        ("", "the time is empty"),
        ("5m", "is a duration, not a time; write now-5m"),
        ("now-5", "cannot read"),
        ("now-5y", "cannot read"),
        (True, "expected a time, got a boolean"),
        ({"a": 1}, "expected a time, got an object"),
        (float("nan"), "not a finite number"),
        ("2026-13-40T10:00:00Z", "cannot read"),
        (1764151200000000, "after the year 9999 as milliseconds; if it is in microseconds divide by 1000"),
        ("1764151200000000000", "if in nanoseconds by 1000000"),
        ("now+3000000d", "after the year 9999"),
    ],
)
def test_parse_time_rejects(value: object, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_time(value, "start_time", clock=clock)
    assert info.value.message.startswith("start_time: ")
    assert message in info.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1500, 1500), (1.5, 1.5), (2.0, 2), ("250ms", 250), ("1.5s", 1500), ("2m", 120_000), ("1h", 3_600_000), ("90", 90), ("0", 0)],
)
def test_parse_duration(value: object, expected: float) -> None:
    result = parse_duration(value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(("value", "message"), [("-1s", "negative"), (-3, "negative"), ("soon", "cannot read"), (False, "boolean")])
def test_parse_duration_rejects(value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_duration(value, "--duration")


@given(st.integers(min_value=100_000_000_000, max_value=MAX_TIME_MS))
def test_millisecond_integers_round_trip(ms: int) -> None:
    assert parse_time(ms, "t") == ms
    assert parse_time(str(ms), "t") == ms
    assert parse_time(f"{ms}ms", "t") == ms


@given(st.integers(min_value=MAX_TIME_MS + 1, max_value=10**22))
def test_microseconds_and_nanoseconds_are_refused(value: int) -> None:
    with pytest.raises(InvalidInput, match="after the year 9999"):
        parse_time(value, "t")


@given(st.integers(min_value=1, max_value=99_999_999_999))  # (0 is no time at all: its own message)
def test_small_numbers_are_seconds_mistakes(value: int) -> None:
    with pytest.raises(InvalidInput, match="looks like Unix seconds"):
        parse_time(value, "t")
    # ... and the suggested fix is accepted and means the same instant.
    assert parse_time(f"{value}s", "t") == value * 1000


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_iso_round_trip(moment: datetime) -> None:
    micro = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    expected = micro // 1000 if micro % 1000 == 0 else micro / 1000
    assert parse_time(moment.isoformat(), "t") == expected


@given(st.sampled_from(["ms", "s", "m", "h", "d"]), st.integers(min_value=0, max_value=10_000), st.sampled_from("+-"))
def test_relative_times(unit: str, amount: int, sign: str) -> None:
    scale = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[unit]
    offset = amount * scale if sign == "+" else -amount * scale
    assert parse_time(f"now{sign}{amount}{unit}", "t", clock=clock) == NOW_MS + offset


@pytest.mark.parametrize(("ms", "text"), [(850, "850 ms"), (123.456789, "123 ms"), (999.7, "1 s"), (1500, "1.5 s"), (125_000, "2 m 5 s"), (3_720_000, "1 h 2 m"), (90_000_000, "1 d 1 h")])
def test_format_duration(ms: float, text: str) -> None:
    assert format_duration(ms) == text
