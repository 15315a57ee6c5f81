"""Output of a started session: pretty / json / id / env / none (SPEC §3).

``rich`` is imported only for ``pretty``, so pipelines never pay for it.

``-o id`` and ``-o env`` write lines a shell or ``$GITHUB_ENV`` will read, so
they print only values that are a plain UUID or a whole number, whatever the
server answered (``sessions.plain_uuid``); anything else is a server failure
(exit 5), never a line the server chose. ``json`` and ``pretty`` show what the
server answered with the key masked (``redact``) and every character a terminal
could take as a command escaped: a server's fields never clear the screen, set
a window title or add a line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any

from .redact import escaped_json, one_line, redact_value
from .sessions import plain_uuid

if TYPE_CHECKING:
    from .sessions import EndedSession, StartedSession

#: The object fields of a session *event* (what the server answers), shown highlighted.
EVENT_OBJECT_FIELDS = ("config", "inputs", "outputs", "metadata", "user_properties", "metrics", "feedback")


class OutputFormat(StrEnum):
    pretty = "pretty"
    json = "json"
    id = "id"
    env = "env"
    none = "none"


class EndOutput(StrEnum):
    pretty = "pretty"
    json = "json"
    none = "none"


class ReplayOutput(StrEnum):
    jsonl = "jsonl"
    none = "none"


def default_format(stdout_isatty: bool) -> OutputFormat:
    return OutputFormat.pretty if stdout_isatty else OutputFormat.json


def dumps_json(value: Any) -> str:
    """Indented JSON, safe to show on a terminal (the same value as ``json.dumps`` gives)."""
    return escaped_json(json.dumps(value, indent=2, ensure_ascii=False))


def masked(value: Any, secrets: Iterable[str]) -> Any:
    for secret in secrets:
        value = redact_value(value, secret)
    return value


def render_started(started: StartedSession, fmt: OutputFormat, stream: IO[str], secrets: Iterable[str] = ()) -> None:
    """The started session as asked: the server's answer (full or only ``{"session_id"}``), the
    ``secrets`` masked in it."""
    if fmt is OutputFormat.json:
        stream.write(dumps_json(masked(started.event, secrets)) + "\n")
    elif fmt is OutputFormat.id:
        stream.write(plain_uuid(started.session_id, "session_id") + "\n")
    elif fmt is OutputFormat.env:
        stream.write("".join(f"{name}={value}\n" for name, value in started.variables().items()))
    elif fmt is OutputFormat.pretty:
        # An older deployment answers {"session_id": ...} only: show what was sent beneath it.
        render_pretty(masked({**started.payload, **started.event}, secrets), stream, started.session_id)
    stream.flush()


def _when(ms: Any, now_ms: float) -> str:
    from .times import format_duration, format_time

    if not isinstance(ms, int | float) or isinstance(ms, bool):
        return "—"
    try:
        shown = format_time(ms)
    except (OverflowError, OSError, ValueError):
        return str(ms)  # a server's odd value is shown as it came
    delta = now_ms - ms
    relative = "now" if abs(delta) < 1000 else (
        f"{format_duration(abs(delta))} ago" if delta > 0 else f"in {format_duration(-delta)}"
    )
    return f"{shown}  ({relative})"


def render_pretty(event: dict[str, Any], stream: IO[str], session_id: str, title: str = "HoneyHive session started") -> None:
    from rich import box
    from rich.console import Console, Group
    from rich.highlighter import JSONHighlighter
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from .times import format_duration

    console = Console(file=stream, highlight=False)
    now = time.time() * 1000
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", justify="right", no_wrap=True)
    table.add_column(overflow="fold")

    def row(label: str, value: Any, style: str = "") -> None:
        if value is None or value == "":
            return
        table.add_row(label, Text(one_line(str(value)), style=style))

    name = event.get("session_name") or event.get("event_name")
    row("session", session_id, "bold green")
    row("name", name, "bold")
    if event.get("event_name") and event.get("event_name") != name:
        row("event name", event.get("event_name"))
    row("source", event.get("source"))
    row("project", event.get("project_id"))
    row("event", event.get("event_id"), "dim")
    if event.get("start_time") is not None:
        row("started", _when(event.get("start_time"), now))
    if event.get("end_time") is not None:
        row("ended", _when(event.get("end_time"), now))
    duration = event.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        row("duration", format_duration(duration))
    children = event.get("children_ids")
    if isinstance(children, list) and children:
        row("children", ", ".join(map(str, children)))
    if event.get("error"):
        row("error", event.get("error"), "bold red")

    parts: list[Any] = [table]
    for key in EVENT_OBJECT_FIELDS:
        value = event.get(key)
        if value in (None, {}, []):
            continue
        parts.append(Text(""))
        parts.append(Text(key, style="bold cyan"))
        shown = JSONHighlighter()(dumps_json(value))  # (rich's JSON would write C1 controls as they are)
        shown.no_wrap, shown.overflow = True, None
        parts.append(shown)
    console.print(
        Panel(
            Group(*parts),
            title=f"[bold]{title}[/]",
            title_align="left",
            box=box.ROUNDED,
            expand=False,
        )
    )


def ended_json(session_id: str, update: dict[str, Any]) -> str:
    return dumps_json({"session_id": session_id, "update": update})


def render_ended(ended: EndedSession, fmt: EndOutput, stream: IO[str], secrets: Iterable[str] = (),
                 title: str = "HoneyHive session ended") -> None:
    """An ended (or updated) session: ``json`` is ``{"session_id", "update"}`` (the server's answer carries
    nothing more)."""
    update = masked(ended.update, secrets)
    if fmt is EndOutput.json:
        stream.write(ended_json(ended.session_id, update) + "\n")
    elif fmt is EndOutput.pretty:
        render_pretty(update, stream, ended.session_id, title=title)
    stream.flush()


# --------------------------------------------------------------------------- inside a session

#: Names, types and errors are cut to this many characters in the tree of ``get``.
_CUT = 80
#: Events nested deeper than this are shown at this depth, naming their parent: a terminal's width
#: holds no more levels, and a server's chain of parents may be thousands long.
MAX_DEPTH = 12


def _cut(value: Any, limit: int = _CUT) -> str:
    text = one_line(str(value))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _event_label(event: dict[str, Any], session: bool = False) -> Any:
    """One line of the tree: type, name, duration, status (an error in red)."""
    from rich.text import Text

    from .times import format_duration

    label = Text()
    kind = "session" if session else (event.get("event_type") or "event")
    label.append(f"{_cut(kind, 20)} ", style="cyan")
    name = (event.get("session_name") if session else None) or event.get("event_name") or "unnamed"
    label.append(_cut(name), style="bold")
    duration = event.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        try:
            label.append(f"  {_cut(format_duration(duration), 24)}", style="dim")
        except (OverflowError, ValueError):  # a server's 400-digit number: shown as it is, cut
            label.append(f"  {_cut(duration, 20)} ms", style="dim")
    elif session and event.get("end_time") is None:
        label.append("  running (no end yet)", style="dim")
    error = event.get("error")
    if error:
        label.append(f"  ✗ {_cut(error)}", style="bold red")
    else:
        label.append("  ✓", style="green")
    if session:
        label.append(f"  {_cut(event.get('session_id') or event.get('event_id'), 40)}", style="dim")
    return label


def render_session_tree(session: dict[str, Any], stream: IO[str], secrets: Iterable[str] = ()) -> None:
    """A session and its events as a tree by ``parent_id``; an event whose parent is not in the
    session (or whose parents go round in a circle) is shown under the session."""
    from rich.console import Console
    from rich.text import Text
    from rich.tree import Tree

    session = masked(session, secrets)
    root_id = str(session.get("session_id") or session.get("event_id") or "").lower()
    events = [event for event in session.get("events") or [] if isinstance(event, dict)]
    ids = {str(event.get("event_id")).lower() for event in events} | {root_id}
    children: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        parent = str(event.get("parent_id") or root_id).lower()
        children.setdefault(parent if parent in ids else root_id, []).append(event)
    tree = Tree(_event_label(session, session=True))
    placed: set[str] = set()

    def grow(node: Any, parent: str, level: int) -> None:
        # A loop, not recursion: a server's chain of parents may be deep. Each entry: an event's node,
        # the node holding it, its id, its depth.
        stack = [(node, node, parent, level)]
        while stack:
            at, holder, key, depth = stack.pop()
            for event in children.get(key, []):
                event_id = str(event.get("event_id")).lower()
                if event_id in placed:
                    continue
                placed.add(event_id)
                label = _event_label(event)
                if depth < MAX_DEPTH:
                    stack.append((at.add(label), at, event_id, depth + 1))
                else:  # deeper: beside its parent, saying whose child it is
                    label.append(f"  ↳ child of {_cut(key, 40)}", style="dim")
                    stack.append((holder.add(label), holder, event_id, depth))

    grow(tree, root_id, 0)
    for event in events:  # in a circle of parents: not reached from the session
        event_id = str(event.get("event_id")).lower()
        if event_id not in placed:
            placed.add(event_id)
            grow(tree.add(_event_label(event)), event_id, 1)
    if not events:
        tree.add(Text("no events yet (log some with `hhsession event`)", style="dim"))
    Console(file=stream, highlight=False).print(tree)


def render_events(session_id: str, events: list[dict[str, Any]], stream: IO[str]) -> None:
    """Events just logged: a line each, under their session."""
    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, highlight=False)
    console.print(Text(f"{len(events)} event(s) logged into session {session_id}", style="bold green"))
    for event in events:
        line = _event_label(event)
        line.append(f"  {_cut(event.get('event_id'), 40)}", style="dim")
        console.print(Text("  ") + line)
