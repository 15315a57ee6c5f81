"""What the library hands back: a started or an ended session, and the variables that name one.

Plain data, shared by the client that makes them, the commands that print
them and ``exec`` that passes them on to its command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import NetworkError
from .payload import is_uuid
from .times import Number

#: What ``exec`` gives its command, and what ``start -o env`` exports.
SESSION_VARIABLES = ("HH_SESSION_ID", "HH_SESSION_EVENT_ID", "HH_SESSION_START_TIME")


@dataclass(frozen=True)
class StartedSession:
    """A started session: its id, the event the server answered, and what was sent."""

    session_id: str
    #: The server's answer: the full session event, or only ``{"session_id": ...}``
    #: from older deployments.
    event: dict[str, Any]
    #: The body sent (a ``StartSessionRequest``).
    payload: dict[str, Any]
    attempts: int = 1
    elapsed: float = 0.0
    #: Set when the server already had this session: it kept the values it had (the note says
    #: which differ) and merged only metadata and user_properties.
    note: str | None = None

    @property
    def already_existed(self) -> bool:
        return self.note is not None

    @property
    def event_id(self) -> str:
        """The session's event id: its session id (a session is the root event of its trace)."""
        value = self.event.get("event_id")
        return value if isinstance(value, str) and value else self.session_id

    @property
    def start_time(self) -> Number:
        value = self.event.get("start_time")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        return self.payload["start_time"]  # type: ignore[no-any-return]

    def variables(self) -> dict[str, str]:
        """``HH_SESSION_ID``, ``HH_SESSION_EVENT_ID``, ``HH_SESSION_START_TIME``: what ``start -o env``
        exports and ``exec`` gives its command. Only a plain UUID or whole number becomes a value
        (a line a shell or ``$GITHUB_ENV`` reads); anything else the server sent is a server failure."""
        start = self.event.get("start_time")
        return {
            "HH_SESSION_ID": plain_uuid(self.session_id, "session_id"),
            "HH_SESSION_EVENT_ID": plain_uuid(self.event_id, "event_id"),
            "HH_SESSION_START_TIME": str(plain_integer(self.payload["start_time"] if start is None else start,
                                                       "start_time")),
        }


@dataclass(frozen=True)
class EndedSession:
    """An ended (updated) session: the body sent and what the server answered."""

    session_id: str
    #: The body sent (an ``UpdateEventRequest``).
    update: dict[str, Any]
    #: The server's answer (``{}`` when it sent none).
    answer: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1
    elapsed: float = 0.0


@dataclass(frozen=True)
class LoggedEvents:
    """Events logged into a session: the bodies sent (each a ``PostEventRequest``), in order."""

    session_id: str
    events: list[dict[str, Any]]

    @property
    def event_ids(self) -> list[str]:
        return [str(event["event_id"]) for event in self.events]


def plain_uuid(value: Any, name: str) -> str:
    """``value`` if it is a plain UUID, else a server failure: it would be printed as a line."""
    if is_uuid(value):
        return value  # type: ignore[no-any-return]
    raise NetworkError(
        f"the server answered a {name} that is not a plain UUID ({json.dumps(value)[:80]}); it is not "
        f"printed as a line for a shell; check --api-url points at the HoneyHive API"
    )


def plain_integer(value: Any, name: str) -> int:
    """``value`` if it is a whole number (as an int or a whole float), else a server failure."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    raise NetworkError(
        f"the server answered a {name} that is not a whole number ({json.dumps(value)[:80]}); it is not "
        f"printed as a line for a shell; check --api-url points at the HoneyHive API"
    )
