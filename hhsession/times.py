"""The time and duration grammar of SPEC §2. Pure functions, no I/O.

Times come out as Unix milliseconds: an ``int`` when whole, else a ``float``.

Accepted times:
  - a number: Unix milliseconds (fractions allowed);
  - a number with a unit: ``1764151200s``, ``1764151200000ms``;
  - ISO 8601 / RFC 3339: ``2026-11-26T10:00:00Z``; without an offset it is local time;
  - ``now``, ``now-5m``, ``now+90s`` (units ms, s, m, h, d).
Accepted durations: a number (ms) or ``250ms``, ``1.5s``, ``2m``, ``1h``, ``1d``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from .errors import InvalidInput

Number = int | float
Clock = Callable[[], float]

#: Below this, a number of "milliseconds" is before 1973-03-03 and is almost
#: certainly a Unix time in seconds (SPEC §2).
SECONDS_THRESHOLD_MS = 100_000_000_000
#: 9999-12-31T23:59:59.999Z. Beyond it a "millisecond" time is almost certainly
#: in microseconds or nanoseconds (and would overflow the server's int64 reading).
MAX_TIME_MS = 253_402_300_799_999

UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

_NUMBER = r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+"
_NUMBER_WITH_UNIT = re.compile(rf"^(?P<num>[+-]?(?:{_NUMBER}))\s*(?P<unit>ms|s|m|h|d)?$")
_RELATIVE = re.compile(rf"^now\s*(?:(?P<sign>[+-])\s*(?P<num>{_NUMBER})\s*(?P<unit>ms|s|m|h|d))?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TIME_HELP = (
    "use Unix milliseconds (1764151200000), a number with a unit (1764151200s), "
    "ISO 8601 (2026-11-26T10:00:00Z) or now, now-5m, now+90s"
)
DURATION_HELP = "use milliseconds (1500) or a number with a unit: 250ms, 1.5s, 2m, 1h"


def _normalize(value: Decimal) -> Number:
    """An int when whole, else a float (so JSON shows ``1500`` not ``1500.0``)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _decimal(value: Number | str) -> Decimal:
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _now_ms(clock: Clock) -> Decimal:
    return Decimal(int(clock() * 1000))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_finite(value: float, field: str, help_text: str) -> None:
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(f"{field}: {value!r} is not a finite number; {help_text}")


def _shown(raw: object) -> str:
    """A value for a message; a number too long to print is said so, not printed."""
    try:
        text = str(raw)
    except ValueError:
        return "a number of more than 4300 digits"
    return text if len(text) <= 60 else text[:57] + "..."


def _seconds_error(field: str, raw: Number | str) -> InvalidInput:
    text = _shown(raw)  # for the message only: the value itself is read whole
    ms = _decimal(raw)
    if ms == 0:  # neither seconds nor milliseconds: a placeholder
        return InvalidInput(f"{field}: 0 is not a time (it is 1970-01-01); give a time, or leave the field out for now")
    as_seconds = f" ({format_time(float(ms * 1000))} as seconds)" if 0 <= ms * 1000 <= MAX_TIME_MS else ""
    return InvalidInput(
        f"{field}: {text} looks like Unix seconds{as_seconds}, not milliseconds ({format_time(float(ms))}); "
        f"write {text}s or multiply by 1000 ({_shown(_normalize(ms * 1000))})"
    )


def _checked_ms(ms: Decimal, field: str, raw: object) -> Number:
    if ms < 0:
        raise InvalidInput(f"{field}: {_shown(raw)} is before 1970; {TIME_HELP}")
    if ms > MAX_TIME_MS:
        raise InvalidInput(
            f"{field}: {_shown(raw)} is after the year 9999 as milliseconds; if it is in microseconds "
            f"divide by 1000, if in nanoseconds by 1000000"
        )
    return _normalize(ms)


def parse_time(value: object, field: str = "time", *, clock: Clock = time.time) -> Number:
    """Parse one time value (a flag, a JSON value, or a Python ``datetime``) into Unix milliseconds."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.astimezone()  # naive: local time
        return _checked_ms(Decimal((moment - _EPOCH) // timedelta(microseconds=1)) / 1000, field, value.isoformat())
    if _is_number(value):
        assert isinstance(value, int | float)
        if isinstance(value, float):
            _check_finite(value, field, TIME_HELP)
        if 0 <= value < SECONDS_THRESHOLD_MS:
            raise _seconds_error(field, value)
        return _checked_ms(_decimal(value), field, value)
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected a time, got {json_type(value)}; {TIME_HELP}")
    text = value.strip()
    if not text:
        raise InvalidInput(f"{field}: the time is empty; {TIME_HELP}")

    relative = _RELATIVE.match(text.lower())
    if relative:
        ms = _now_ms(clock)
        if relative["num"] is not None:
            offset = Decimal(relative["num"]) * UNIT_MS[relative["unit"]]
            ms = ms + offset if relative["sign"] == "+" else ms - offset
        # Whole milliseconds: "now" is read from a clock with sub-ms noise.
        return _checked_ms(ms.to_integral_value(), field, value)

    number = _NUMBER_WITH_UNIT.match(text)
    if number:
        unit = number["unit"]
        if unit in ("m", "h", "d"):
            raise InvalidInput(
                f"{field}: {text!r} is a duration, not a time; write now-{text.lstrip('+-')} "
                f"for a time relative to now"
            )
        try:
            amount = Decimal(number["num"])
        except InvalidOperation:  # pragma: no cover - the regex admits only decimals
            raise InvalidInput(f"{field}: cannot read {text!r}; {TIME_HELP}") from None
        if unit is None and 0 <= amount < SECONDS_THRESHOLD_MS:
            raise _seconds_error(field, number["num"])
        return _checked_ms(amount * UNIT_MS[unit or "ms"], field, text)

    try:
        moment = datetime.fromisoformat(text.upper())  # RFC 3339 allows a lowercase t and z
    except ValueError:
        raise InvalidInput(f"{field}: cannot read {text!r} as a time; {TIME_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a naive time is local time, as `date` reads it
    microseconds = (moment - _EPOCH) // timedelta(microseconds=1)
    return _checked_ms(Decimal(microseconds) / 1000, field, text)


def parse_duration(value: object, field: str = "duration") -> Number:
    """Parse a duration (a flag, a JSON value, or a Python ``timedelta``) into milliseconds."""
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise InvalidInput(f"{field}: {value} is negative; {DURATION_HELP}")
        return _normalize(Decimal(value // timedelta(microseconds=1)) / 1000)
    if _is_number(value):
        assert isinstance(value, int | float)
        if isinstance(value, float):
            _check_finite(value, field, DURATION_HELP)
        if value < 0:
            raise InvalidInput(f"{field}: {value} is negative; {DURATION_HELP}")
        return _normalize(_decimal(value))
    if not isinstance(value, str):
        raise InvalidInput(
            f"{field}: expected a duration, got {json_type(value)}; {DURATION_HELP}"
        )
    text = value.strip()
    match = _NUMBER_WITH_UNIT.match(text)
    if not match:
        raise InvalidInput(f"{field}: cannot read {text!r} as a duration; {DURATION_HELP}")
    amount = Decimal(match["num"])
    if amount < 0:
        raise InvalidInput(f"{field}: {text} is negative; {DURATION_HELP}")
    return _normalize(amount * UNIT_MS[match["unit"] or "ms"])


def format_duration(ms: float) -> str:
    """A short human duration: ``850 ms``, ``1.5 s``, ``2 m 5 s``, ``1 h 2 m``, ``3 d 4 h``."""
    if ms < 999.5:
        return f"{ms:.0f} ms"  # whole milliseconds: an estimate, or a duration the API keeps in ms
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.3g} s"
    total = int(round(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n} {unit}" for n, unit in parts if n][:2]
    return " ".join(shown)


def format_time(ms: float) -> str:
    """A readable local date for Unix milliseconds."""
    moment = datetime.fromtimestamp(ms / 1000).astimezone()
    return moment.isoformat(sep=" ", timespec="milliseconds")


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
