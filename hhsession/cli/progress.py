"""What a replay shows while it runs: result lines, warnings, progress (SPEC §3 replay).

- Result lines go to stdout as JSON Lines, flushed every fifth of a second.
- Warnings that repeat one cause are collapsed: the first few, then a count.
- Progress: a bar on a terminal (count, rate, failed, invalid, ETA); in a CI
  log (stderr not a terminal), a plain line every ~10 s, no control characters.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Any

from ..context import Environment
from ..outcomes import write_jsonl
from ..render import masked

if TYPE_CHECKING:
    from ..outcomes import Outcome

#: How many warnings of one cause are shown before they are only counted, and how many in all.
SHOWN_PER_CAUSE = 2
SHOWN_IN_ALL = 20
_VARYING = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\d+(\.\d+)?")


class Warnings:
    """Warnings, each cause shown a few times and then counted; a handful of lines in all."""

    def __init__(self, env: Environment, show: Any = None, enough: str = "more warnings are not shown",
                 hint: str | None = None) -> None:
        self.env = env
        self.show = show or env.warn  # a progress bar prints above itself
        self.enough = enough  # said once, when SHOWN_IN_ALL lines were shown
        self.hint = hint  # said at the end when some were only counted (unless ``enough`` said it)
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}
        self.shown_by_key: dict[str, int] = {}
        self.shown = 0
        self._lock = threading.Lock()

    @staticmethod
    def cause(message: str) -> str:
        """What makes two warnings the same: how they begin, without ids and numbers (nor the record's place)."""
        return _VARYING.sub("#", message)[:80]

    def warn(self, message: str, where: str = "") -> None:
        key = self.cause(message)
        with self._lock:
            count = self.counts[key] = self.counts.get(key, 0) + 1
            self.first.setdefault(key, message)
            show = count <= SHOWN_PER_CAUSE and self.shown < SHOWN_IN_ALL
            if show:
                self.shown += 1
                self.shown_by_key[key] = self.shown_by_key.get(key, 0) + 1
                if self.shown == SHOWN_IN_ALL:
                    message = f"{message}\nhhsession: warning: {self.enough}"
        if show:
            self.show(f"{where}: {message}" if where else message)

    def close(self) -> None:
        hidden = {key: count - self.shown_by_key.get(key, 0) for key, count in self.counts.items()}
        ranked = sorted((item for item in hidden.items() if item[1]), key=lambda item: -item[1])
        for key, count in ranked[:5]:
            self.env.warn(f"{count} more like: {_shortened(self.first[key], 160)}")
        rest = ranked[5:]
        if rest:
            kinds = "kind" if len(rest) == 1 else "kinds"
            self.env.warn(f"and {sum(count for _, count in rest)} more of {len(rest)} other {kinds}")
        if ranked and self.hint and self.shown < SHOWN_IN_ALL:
            self.env.warn(self.hint)


def _shortened(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut between words with an ellipsis."""
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[width // 2:] else cut).rstrip(" ,;:") + "…"


class Tally:
    """Counts, rate and ETA of a run, as results arrive."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.counts = {"ok": 0, "failed": 0, "invalid": 0, "skipped": 0}
        self.total: int | None = None
        self.in_flight: int | None = None  # the adaptive limit (--workers auto), as of the last result

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.started, 1e-6)

    def line(self) -> str:
        from ..times import format_duration

        counts = self.counts
        text = (f"replay: {self.done} done ({self.rate():.0f}/s): {counts['ok']} ok, {counts['failed']} failed, "
                f"{counts['invalid']} invalid, {counts['skipped']} skipped")
        if self.in_flight is not None:
            text += f"; in flight: at most {self.in_flight}"
        if self.total and self.rate() > 0:
            left = max(0, self.total - self.done)
            text += f"; about {format_duration(left / self.rate() * 1000)} left"
        return text

    def count_in_background(self, paths: list[str], shards: int, then: Any = None) -> None:
        """Count the lines of the input files for an ETA, without delaying the run."""
        from ..inputs import count_lines

        def count() -> None:
            total = count_lines(paths)
            if total is not None:
                self.total = max(1, total // shards)
                if then is not None:
                    then(self.total)

        threading.Thread(target=count, name="replay-count", daemon=True).start()


class Bar:
    """A progress bar on stderr (a terminal): count, rate, failed, invalid, ETA."""

    def __init__(self, env: Environment, tally: Tally) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.tally = tally
        self.progress = Progress(
            TextColumn("[bold]replay[/]"), BarColumn(), TextColumn("{task.completed} done"),
            TextColumn("{task.fields[rate]}/s"), TextColumn("[red]{task.fields[failed]} failed[/]"),
            TextColumn("[yellow]{task.fields[invalid]} invalid[/]"), TextColumn("{task.fields[in_flight]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(file=env.stderr), transient=True,
        )
        self.task = self.progress.add_task("replay", total=None, rate="0", failed=0, invalid=0, in_flight="")
        self.progress.start()
        self.closed = False

    def say(self, message: str) -> None:
        """A line printed above the bar."""
        self.progress.console.print(f"hhsession: warning: {message}", markup=False, highlight=False, soft_wrap=True)

    def set_total(self, total: int) -> None:
        self.progress.update(self.task, total=total)

    def update(self) -> None:
        counts = self.tally.counts
        limit = self.tally.in_flight
        self.progress.update(self.task, completed=self.tally.done, rate=f"{self.tally.rate():.0f}",
                             failed=counts["failed"], invalid=counts["invalid"],
                             in_flight=f"≤{limit} in flight" if limit is not None else "")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.progress.stop()


class Lines:
    """A plain progress line every ``interval`` seconds on stderr (a CI log), from a thread."""

    def __init__(self, env: Environment, tally: Tally, interval: float) -> None:
        self.env, self.tally, self.interval = env, tally, interval
        self._stop = threading.Event()
        threading.Thread(target=self._run, name="replay-progress", daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.env.info(self.tally.line().removeprefix("replay: "))

    def close(self) -> None:
        self._stop.set()


def progress_interval(env: Environment) -> float:
    """Seconds between plain progress lines: ``HHSESSION_PROGRESS_INTERVAL``, else 10."""
    try:
        return max(0.05, float(env.env.get("HHSESSION_PROGRESS_INTERVAL") or 10))
    except ValueError:
        return 10.0


class Reporter:
    """Everything a replay shows while it runs, fed one outcome at a time."""

    def __init__(self, env: Environment, *, jsonl: bool, dry_run: bool, verbose: bool, failures: str | None,
                 paths: list[str], shards: int) -> None:
        self.env, self.jsonl, self.dry_run, self.verbose, self.failures = env, jsonl, dry_run, verbose, failures
        self.tally = Tally()
        self.bar: Bar | None = None
        self.lines: Lines | None = None
        self._paths, self._shards, self._begun = paths, shards, dry_run
        where_all = f"all failures are in {failures}" if failures else "use --failures FILE to keep every failure"
        self.warnings = Warnings(env, None, enough=f"more warnings are counted, not shown; {where_all}",
                                 hint=None if failures else where_all)
        self._flushed = time.monotonic()

    def _begin(self) -> None:
        """The bar or the progress lines, and the count for an ETA, started with the first result: a run
        refused before it starts shows none."""
        self._begun = True
        if self.env.stderr_isatty:
            self.bar = Bar(self.env, self.tally)
            self.warnings.show = self.bar.say
            self.tally.count_in_background(self._paths, self._shards, then=self.bar.set_total)
        else:
            self.lines = Lines(self.env, self.tally, progress_interval(self.env))
            self.tally.count_in_background(self._paths, self._shards)

    def __call__(self, outcome: Outcome) -> None:
        if not self._begun:
            self._begin()
        now = time.monotonic()
        flush = now - self._flushed > 0.2  # results reach a pipe within a fifth of a second, not line by line
        if flush:
            self._flushed = now
        self.tally.counts[outcome.status] += 1
        self.tally.in_flight = outcome.in_flight_limit
        where = outcome.record.location
        for warning in outcome.warnings:
            self.warnings.warn(warning)
        if self.dry_run:
            if outcome.status == "ok" and self.jsonl:
                write_jsonl(self.env.stdout, masked(outcome.payload or {}, self.env.secrets), flush)  # (a key in a field)
            elif outcome.status == "invalid":
                self.warnings.warn(f"invalid: {outcome.error}", where)  # as in a real run: the run goes on
            return
        if self.jsonl:
            write_jsonl(self.env.stdout, outcome.result_line(), flush)
        if outcome.note and self.verbose:
            if outcome.already_existed:
                self.warnings.warn(f"{outcome.note}; --new-ids replays records as new sessions", where)
            else:  # the server chose another id: a new one of ours would not help
                self.warnings.warn(outcome.note, where)
        # A refused key stops the run, and its error line says so once: not once per record in flight too.
        refused_key = outcome.status == "failed" and outcome.http_status in (401, 403)
        if outcome.status in ("failed", "invalid") and (self.bar is not None or self.verbose or not self.jsonl) \
                and (not refused_key or self.verbose):
            self.warnings.warn(f"{outcome.status}: {outcome.error}", where)
        if self.bar is not None:
            self.bar.update()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.lines is not None:
            self.lines.close()
        if not (self.tally.counts["failed"] or self.tally.counts["invalid"]):
            self.warnings.hint = None  # what was only counted were no failures: --failures would not hold it
        self.warnings.close()
        try:
            self.env.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass
