"""Where the emulator keeps sessions and the events inside them: SQLite, one lock per read-merge-write."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .rules import EventQuery, apply_update, is_number


class SessionStore:
    """Session events in SQLite; one lock makes each read-merge-write atomic."""

    #: Schema version 1: every event's event_id is its session_id.
    VERSION = 1

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sessions ("
                " session_id TEXT PRIMARY KEY, event TEXT NOT NULL, created_ms INTEGER NOT NULL)"
            )
            # The events inside sessions (a session's own event is its row in sessions).
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS events ("
                " event_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, event TEXT NOT NULL)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS events_by_session ON events (session_id)")
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _migrate(self) -> None:
        """A file written by an older emulator gave sessions a random event_id: make it the session_id."""
        if int(self._db.execute("PRAGMA user_version").fetchone()[0]) >= self.VERSION:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for session_id, text in self._db.execute("SELECT session_id, event FROM sessions").fetchall():
                event = json.loads(text)
                if event.get("event_id") != session_id:
                    event["event_id"] = session_id
                    self._db.execute("UPDATE sessions SET event = ? WHERE session_id = ?", (json.dumps(event), session_id))
            self._db.execute(f"PRAGMA user_version = {self.VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _editing(self, session_id: str) -> Iterator[tuple[dict[str, Any] | None, Callable[[dict[str, Any]], None]]]:
        """The stored event (None: there is none) and a function that writes it, in one transaction."""

        def write(event: dict[str, Any]) -> None:
            self._db.execute(
                "INSERT INTO sessions (session_id, event, created_ms) VALUES (?, ?, ?)"
                " ON CONFLICT (session_id) DO UPDATE SET event = excluded.event",
                (session_id, json.dumps(event), int(time.time() * 1000)),
            )

        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT event FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
                yield (json.loads(row[0]) if row else None), write
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def start(self, event: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store a new event, or merge metadata/user_properties into the existing one.

        Returns (the stored event, whether it was created).
        """
        with self._editing(event["session_id"]) as (stored, write):
            if stored is None:
                write(event)
                return event, True
            merged = apply_update(stored, {key: event.get(key) or {} for key in ("metadata", "user_properties")})
            write(merged)
            return merged, False

    def update(self, event_id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Apply ``changes`` (from ``parse_update``) to a stored event, a session's or one inside a session,
        by the same rules (the server's update route takes any event id); None if there is no such event."""
        with self._editing(event_id) as (stored, write):
            if stored is not None:
                updated = apply_update(stored, changes)
                write(updated)
                return updated
            # Not a session: an event inside one, read, merged and written in the same transaction.
            row = self._db.execute("SELECT event FROM events WHERE event_id = ?", (event_id,)).fetchone()
            if row is None:
                return None
            updated = apply_update(json.loads(row[0]), changes)
            self._db.execute("UPDATE events SET event = ? WHERE event_id = ?", (json.dumps(updated), event_id))
            return updated

    def get(self, session_id: str) -> dict[str, Any] | None:
        session_id = session_id.lower()  # (stored in lower case)
        with self._lock:
            row = self._db.execute("SELECT event FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """A session's event, or an event inside a session."""
        found = self.get(event_id)
        if found is not None:
            return found
        with self._lock:
            row = self._db.execute("SELECT event FROM events WHERE event_id = ?", (event_id.lower(),)).fetchone()
        return json.loads(row[0]) if row else None

    def add_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Store an event inside a session (the same event_id again: replaced, as a retry's is)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO events (event_id, session_id, event) VALUES (?, ?, ?)",
                             (event["event_id"], event["session_id"], json.dumps(event)))
        return event

    def events_of(self, session_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT event FROM events WHERE session_id = ? ORDER BY rowid",
                                    (session_id.lower(),)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def find(self, query: EventQuery) -> tuple[list[dict[str, Any]], int]:
        """One page of the events ``query`` matches, start_time descending, and the number of all matches."""
        field, one = query.lookup()
        if field == "event_id" and one is not None:
            found = self.get_event(one)
            candidates = [found] if found is not None else []
        elif field == "session_id" and one is not None:  # the session and the events inside it
            found = self.get(one)
            candidates = ([found] if found is not None else []) + self.events_of(one)
        else:
            with self._lock:
                rows = self._db.execute("SELECT event FROM sessions ORDER BY rowid DESC").fetchall()
                rows += self._db.execute("SELECT event FROM events ORDER BY rowid DESC").fetchall()
            candidates = [json.loads(row[0]) for row in rows]
        matches = [event for event in candidates if query.matches(event)]
        # Stable: events with the same start_time stay newest first.
        matches.sort(key=lambda event: event["start_time"] if is_number(event.get("start_time")) else 0, reverse=True)
        first = (query.page - 1) * query.limit
        return matches[first:first + query.limit], len(matches)

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])


