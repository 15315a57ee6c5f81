#!/usr/bin/env python3
"""Replay throughput and memory, each measured against its baseline in the same run.

Every number is a ratio to something measured side by side, on the same
machine, in the same minute, so that a busy machine slows both alike. Every
``hhsession replay`` timed here runs with the journal on, as users run it:
``--journal PATH`` in the work directory, a new journal for every timed run
except the resumes, which are about an existing one. One process sends (a pool
of threads; there is no multi-process sender any more).

1. ceiling: ``hhsession replay --workers 64 --journal J`` against a sink that
   answers after 50 ms, in sessions/s, over what ``wrk -c64`` gets from the
   same sink (the most 64 connections can carry at that latency; 64 / latency
   without wrk). Target >= 0.9.
2. sequential: ``hhsession replay --journal J`` with otherwise default
   settings against the sink with no latency, over a plain sequential
   ``requests.Session()`` loop that posts the same records to the same sink
   (no journal: what anyone would write first). Target >= 1.5.
3. memory: peak RSS of ``hhsession replay --journal J`` resuming over a
   journal of 300,000 done records (every record skipped, nothing sent).
   Target <= 40 MiB. And memory is flat in input size: peak RSS at 300k
   records over peak RSS at 30k, for a dry run (``--dry-run --journal J``, J
   not existing: it must stay so) and for a replay that sends everything
   (``--journal J``, new). Target <= 1.2. The resume's 300k / 30k ratio and
   its bytes per done record are reported as information.

   How the journals are built: by really replaying the records through the
   CLI, ``hhsession replay records.jsonl --journal J`` against the sink. That
   replay is also part 3's "replay that sends everything", so building the
   journal this way costs nothing beyond that measurement (about 3 to 4
   minutes for 330,000 records on 2 cores); building it through the library
   (``hhsession.journal.Journal``) would save no time while a 300k sending
   replay is measured anyway, and would be less like what users resume from.
   After every timed replay the journal's count of done records is checked
   (with ``sqlite3``, read-only, as the README shows, outside the timed part).

Throughput runs alternate (baseline, replay, baseline, replay, ...) and the
table shows medians over the rounds; peak RSS is the largest of the runs. Each
command's wall time includes its start-up, as a user waits for it; the sink's
own count of first to last request gives the in-run rate beside it. The sink
(benchmarks/sink.py) runs in its own process, as do wrk and each command.

Usage::

    python benchmarks/replay.py            # everything: ~7 min on 2 cores, most of it building the journals
    python benchmarks/replay.py --quick    # smaller counts, ~40 s: a smoke test, not the numbers
    python benchmarks/replay.py --only ceiling --only sequential   # skip the memory part
    python benchmarks/replay.py --journal-records 100000           # a shorter memory part

``--journal-records`` trades the 300,000 for a smaller journal (the verdict
then says at what size it was measured). ``wrk`` is found on PATH
(``apt-get install wrk``); without it the ceiling is computed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sink import spawn  # noqa: E402  (beside this file)
from startup import find_hhsession  # noqa: E402

KEY = "benchmark-key-0123456789"
MIB = 1024 * 1024

# The targets (see the docstring).
CEILING_TARGET = 0.9  # replay -w64 / wrk -c64, at 50 ms
SEQUENTIAL_TARGET = 1.5  # replay (default settings) / a sequential requests loop, at 0 ms
RESUME_MIB_TARGET = 40  # peak RSS resuming over 300k done records
FLAT_TARGET = 1.2  # peak RSS at 300k records / at 30k

#: The journal of part 3, in each of its two directories.
JOURNAL = "replay.journal"

# The baseline of goal 2: what anyone would write first. Runs as its own process, like hhsession.
SEQUENTIAL = r"""
import json, sys, uuid
import requests

url, key, path = sys.argv[1:4]
with requests.Session() as http, open(path, encoding="utf-8") as records:
    http.headers.update({"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    for line in records:
        if line.strip():
            record = json.loads(line)
            record.setdefault("session_id", str(uuid.uuid4()))
            response = http.post(url + "/v1/sessions", data=json.dumps(record), timeout=30)
            response.raise_for_status()
            response.json()
"""


# --------------------------------------------------------------------------- helpers


def record(i: int) -> dict[str, Any]:
    return {
        "session_name": f"bench-{i}",
        "source": "benchmark",
        "start_time": 1764151200000 + i * 1000,
        "metadata": {"i": i, "run": "replay-benchmark", "tags": ["a", "b"]},
        "inputs": {"prompt": f"summarise document {i} in three sentences"},
        "user_properties": {"user": f"user-{i % 97}"},
    }


def write_records(path: Path, count: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            handle.write(json.dumps(record(i), separators=(",", ":")) + "\n")
    return path


@dataclass
class Run:
    seconds: float
    max_rss: int  # bytes; 0 when not measured
    code: int
    stderr: str


TIME = "/usr/bin/time"


def rss_method() -> str:
    """How peak RSS is measured here.

    Not with wait4()/getrusage() on a child of this process: a child forked from
    Python carries this process's high-water mark into its own ru_maxrss (Linux
    keeps it across exec), so every figure would be at least this driver's RSS.
    GNU time is a small C program: the ru_maxrss of *its* child is the command's
    own. Without it, the kernel's VmHWM of the command (reset at exec) is polled
    every 5 ms from /proc.
    """
    if os.access(TIME, os.X_OK) and subprocess.run([TIME, "-f", "%M", "true"], capture_output=True).returncode == 0:
        return "time"
    if Path("/proc/self/status").exists():
        return "proc"
    return "none"


def run_measured(command: list[str], env: dict[str, str], cwd: Path, rss: str = "none") -> Run:
    """Run a command to its end; its wall time and, with rss "time" or "proc", its peak RSS."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "maxrss"
        argv = [TIME, "-f", "maxrss-kib %M", "-o", str(report), *command] if rss == "time" else command
        with open(Path(scratch) / "stderr", "w+b") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
            peak_kib = _poll_hwm(proc) if rss == "proc" else 0
            code = proc.wait()
            seconds = time.perf_counter() - started
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
        if rss == "time":
            match = re.search(r"maxrss-kib (\d+)", report.read_text() if report.exists() else "")
            peak_kib = int(match[1]) if match else 0
    if code != 0:
        sys.exit(f"{' '.join(command[:3])}... failed ({code}):\n{stderr[-1500:]}")
    return Run(seconds, peak_kib * 1024, code, stderr)


def _poll_hwm(proc: subprocess.Popen[bytes]) -> int:
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
                    break
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    return peak


def fresh_journal(path: Path) -> Path:
    """``path`` with no journal at it (nor its -wal, -shm, or a .bak an import would have left)."""
    for name in (path.name, path.name + "-wal", path.name + "-shm", path.name + "-journal", path.name + ".bak"):
        (path.parent / name).unlink(missing_ok=True)
    return path


def journal_done(path: Path) -> int:
    """The journal's count of done records, read with the ``sqlite3`` module as the README shows."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM records WHERE status = 'ok'").fetchone()[0])


def check_journal(path: Path, expected: int, report: Report) -> None:
    """Warn unless the journal of a timed run holds ``expected`` done records (checked after the timing)."""
    if not path.exists():
        report.note(f"  warning: {path.name} was not written: the replay ran without its journal")
        return
    done = journal_done(path)
    if done != expected:
        report.note(f"  warning: {path.name} holds {done:,} done records, not {expected:,}")


class SinkClient:
    """Reads and resets the sink's counter (its /_sink endpoints), never through a proxy."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def _call(self, method: str, path: str) -> dict[str, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path)
            return dict(json.loads(conn.getresponse().read()))
        finally:
            conn.close()

    def reset(self) -> None:
        self._call("POST", "/_sink/reset")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_sink/stats")


def in_run_rate(stats: dict[str, Any]) -> float | None:
    """Sessions/s between the first and the last request the sink saw (start-up excluded)."""
    if stats["sessions"] < 2 or not stats["first"] or stats["last"] <= stats["first"]:
        return None
    return float((stats["sessions"] - 1) / (stats["last"] - stats["first"]))


def child_env(url: str, workdir: Path) -> dict[str, str]:
    """The user's environment without HoneyHive settings or proxies; a config file that does not exist;
    bytecode written and read as a user's shell does (PYTHONDONTWRITEBYTECODE, which some CI images
    set, would compile an editable install's modules on every run, and not requests')."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HH_", "HONEYHIVE_", "HHSESSION_")) and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"HH_API_URL": url, "HH_API_KEY": KEY, "NO_COLOR": "1",
                "HHSESSION_CONFIG": str(workdir / "no-config" / "config.toml")})
    return env


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Share of the machine's CPU busy over a short window (Linux), before we start anything."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


class CpuShare:
    """How much of the machine's CPU processes other than this benchmark used while it ran (Linux)."""

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        ours = sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
                   for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        return sum(fields) / tick, (sum(fields) - idle) / tick, ours

    def others(self) -> float | None:
        """Share of all cores' time used by other processes since the start."""
        end = self._sample()
        if self.start is None or end is None or end[0] <= self.start[0]:
            return None
        busy = end[1] - self.start[1]
        ours = end[2] - self.start[2]
        return max(0.0, busy - ours) / (end[0] - self.start[0])


def wrk_script(directory: Path, body: str) -> Path:
    level = "=" * 3
    while f"]{level}]" in body:
        level += "="
    path = directory / "post.lua"
    path.write_text(
        "-- generated by benchmarks/replay.py: POST one session body on every request\n"
        'wrk.method = "POST"\n'
        f"wrk.body = [{level}[{body}]{level}]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {KEY}"\n'
    )
    return path


def run_wrk(wrk: str, url: str, script: Path, connections: int, seconds: float) -> float:
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script),
               url + "/v1/sessions"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if out.returncode != 0 or not match:
        sys.exit(f"wrk failed ({out.returncode}): {out.stdout[-800:]}{out.stderr[-800:]}")
    for problem in ("Non-2xx or 3xx responses", "Socket errors"):
        if problem in out.stdout:
            print(f"  warning: wrk reports {problem.lower()}: "
                  f"{out.stdout.split(problem, 1)[1].splitlines()[0].strip(': ')}", file=sys.stderr)
    return float(match[1])


def fmt_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:,.0f}/s"


def fmt_mib(size: float) -> str:
    return f"{size / MIB:,.1f} MiB"


@dataclass
class Row:
    what: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    ok: bool | None
    bad: str = "UNDER"

    @property
    def verdict(self) -> str:
        return "-" if self.ok is None else ("OK" if self.ok else self.bad)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def note(self, text: str) -> None:
        print(text, flush=True)
        self.notes.append(text)


# --------------------------------------------------------------------------- the three parts


def replay_once(command: list[str], journal: Path, env: dict[str, str], workdir: Path, sink: SinkClient,
                records: int, report: Report, rates: list[float], steady: list[float]) -> tuple[Run, float | None]:
    """One timed replay, with a new journal, into a fresh sink: its wall rate into ``rates``, its
    first-to-last rate into ``steady``. ``command`` ends with ``--journal`` and gets ``journal``'s name."""
    fresh_journal(journal)
    sink.reset()
    run = run_measured([*command, journal.name], env, workdir)
    stats = sink.stats()
    if stats["sessions"] != records:
        report.note(f"  warning: the sink counted {stats['sessions']} sessions, not {records}")
    check_journal(journal, records, report)
    fresh_journal(journal)  # nothing left for the next run to resume from
    rates.append(records / run.seconds)
    in_run = in_run_rate(stats)
    if in_run:
        steady.append(in_run)
    return run, in_run


def part_ceiling(args: argparse.Namespace, hhsession: str, wrk: str | None, workdir: Path, report: Report) -> None:
    records = write_records(workdir / "throughput.jsonl", args.records)
    proc, url = spawn(args.latency)
    sink = SinkClient(url)
    env = child_env(url, workdir)
    script = wrk_script(workdir, json.dumps({**record(0), "session_id": "3f2b8c1e-6d0a-4b7e-9a51-2c4d8e9f0a17"}))
    theoretical = args.workers / (args.latency / 1000) if args.latency > 0 else None
    ceilings: list[float] = []
    rates: list[float] = []
    steady: list[float] = []
    try:
        report.note(f"\n[1] ceiling: replay --workers {args.workers} --journal (new each run), {args.records} "
                    f"records, sink latency "
                    f"{args.latency:g} ms, against wrk -c{args.workers} ({args.wrk_seconds:g} s) on the same sink")
        for round_ in range(1, args.rounds + 1):
            if wrk:
                ceilings.append(run_wrk(wrk, url, script, args.workers, args.wrk_seconds))
            run, in_run = replay_once([hhsession, "replay", records.name, "--workers", str(args.workers), "-o", "none",
                                       "--journal"], workdir / "ceiling.journal", env, workdir, sink, args.records,
                                      report, rates, steady)
            report.note(f"  round {round_}: wrk {fmt_rate(ceilings[-1] if wrk else None)}, "
                        f"replay {fmt_rate(rates[-1])} ({run.seconds:.2f} s wall; {fmt_rate(in_run)} "
                        f"first to last request)")
    finally:
        proc.terminate()
        proc.wait(10)
    if wrk:
        ceiling = statistics.median(ceilings)
        base = f"{fmt_rate(ceiling)} wrk"
    else:
        assert theoretical is not None, "without wrk the ceiling is workers / latency: give --latency > 0"
        ceiling = theoretical
        base = f"{fmt_rate(ceiling)} {args.workers}/lat."
        report.note(f"  wrk not found: the ceiling is {args.workers} / {args.latency:g} ms = {ceiling:,.0f}/s, "
                    f"computed, not measured (apt-get install wrk for a measured one)")
    rate = statistics.median(rates)
    ratio = rate / ceiling
    report.rows.append(Row(f"1 replay -w{args.workers} -j @{args.latency:g}ms / ceiling", fmt_rate(rate), base, ratio,
                           f">= {CEILING_TARGET:g}", ratio >= CEILING_TARGET))
    if steady:
        in_run_ratio = statistics.median(steady) / ceiling
        report.rows.append(Row("  (in-run rate, start-up excluded)", fmt_rate(statistics.median(steady)), base,
                               in_run_ratio, "info", None))
    if theoretical and wrk:
        report.notes.append(f"ceiling: wrk measured {ceiling:,.0f}/s; {args.workers} / {args.latency:g} ms "
                            f"would be {theoretical:,.0f}/s")
    report.data["ceiling"] = {"wrk": ceilings, "replay": rates, "replay_in_run": steady,
                              "theoretical": theoretical, "ratio": ratio}


def part_sequential(args: argparse.Namespace, hhsession: str, workdir: Path, report: Report) -> None:
    records = write_records(workdir / "throughput.jsonl", args.records)
    proc, url = spawn(0)
    sink = SinkClient(url)
    env = child_env(url, workdir)
    loop: list[float] = []
    rates: list[float] = []
    steady: list[float] = []
    try:
        report.note(f"\n[2] sequential: replay --journal (new each run; default settings otherwise), "
                    f"{args.records} records, no latency, against a sequential requests.Session() loop")
        for round_ in range(1, args.rounds + 1):
            sink.reset()
            base = run_measured([sys.executable, "-c", SEQUENTIAL, url, KEY, records.name], env, workdir)
            if sink.stats()["sessions"] != args.records:
                report.note("  warning: the sequential loop did not send every record")
            loop.append(args.records / base.seconds)
            run, in_run = replay_once([hhsession, "replay", records.name, "-o", "none", "--journal"],
                                      workdir / "sequential.journal", env, workdir, sink, args.records, report,
                                      rates, steady)
            report.note(f"  round {round_}: loop {fmt_rate(loop[-1])} ({base.seconds:.2f} s), replay "
                        f"{fmt_rate(rates[-1])} ({run.seconds:.2f} s wall; {fmt_rate(in_run)} first to last request)")
    finally:
        proc.terminate()
        proc.wait(10)
    rate, baseline = statistics.median(rates), statistics.median(loop)
    ratio = rate / baseline
    report.rows.append(Row("2 replay default -j @0ms / sequential loop", fmt_rate(rate), f"{fmt_rate(baseline)} loop",
                           ratio, f">= {SEQUENTIAL_TARGET:g}", ratio >= SEQUENTIAL_TARGET))
    report.data["sequential"] = {"loop": loop, "replay": rates, "replay_in_run": steady, "ratio": ratio}


def part_memory(args: argparse.Namespace, hhsession: str, workdir: Path, report: Report) -> None:
    big = args.journal_records
    small = max(1, big // 10)
    rss = rss_method()
    how = {"time": "GNU time's %M", "proc": "VmHWM polled from /proc every 5 ms",
           "none": "not measurable here"}[rss]
    if rss == "none":
        report.note("\n[3] memory: skipped: neither /usr/bin/time nor /proc to measure peak RSS with")
        return
    proc, url = spawn(0)
    sink = SinkClient(url)
    env = child_env(url, workdir)
    # The same commands, spelled the same, in two directories: records.jsonl and replay.journal.
    dirs = {n: workdir / f"mem-{n}" for n in (small, big)}
    for n, directory in dirs.items():
        write_records(directory / "records.jsonl", n)
        fresh_journal(directory / JOURNAL)  # left by an earlier --keep run
    dry_run = [hhsession, "replay", "records.jsonl", "--dry-run", "--journal", JOURNAL]
    replay = [hhsession, "replay", "records.jsonl", "-o", "none", "--journal", JOURNAL]
    peak: dict[str, dict[int, int]] = {"dry run": {}, "replay": {}, "resume": {}}
    try:
        report.note(f"\n[3] memory: peak RSS ({how}) of dry runs, of replays that build the journals (through the "
                    f"CLI, against the sink), and of resuming from them; {small:,} and {big:,} records; every "
                    f"run with --journal {JOURNAL}")
        floor = run_measured([hhsession, "--version"], env, workdir, rss)
        report.note(f"  hhsession --version: {fmt_mib(floor.max_rss)} (the floor of any hhsession process)")
        for n, directory in dirs.items():
            run = run_measured(dry_run, env, directory, rss)
            peak["dry run"][n] = run.max_rss
            report.note(f"  dry run of {n:,} (no journal yet): {fmt_mib(run.max_rss)}, {run.seconds:.1f} s")
            if any(directory.glob(JOURNAL + "*")):
                report.note(f"  warning: the dry run left {', '.join(p.name for p in directory.glob(JOURNAL + '*'))}")
                fresh_journal(directory / JOURNAL)
        for n, directory in dirs.items():
            sink.reset()
            run = run_measured(replay, env, directory, rss)
            sent = sink.stats()["sessions"]
            peak["replay"][n] = run.max_rss
            size = sum(p.stat().st_size for p in directory.glob(JOURNAL + "*"))
            report.note(f"  replay of {n:,} (builds the journal): {fmt_mib(run.max_rss)}, {run.seconds:.1f} s "
                        f"({n / run.seconds:,.0f}/s), {sent:,} sent; journal {fmt_mib(size)} on disk")
            if sent != n:
                report.note(f"  warning: the sink counted {sent:,} sessions, not {n:,}")
            check_journal(directory / JOURNAL, n, report)
            report.data.setdefault("journal_build_seconds", {})[n] = run.seconds
            report.data.setdefault("journal_bytes", {})[n] = size
        for round_ in range(args.memory_rounds):
            for n, directory in dirs.items():
                sink.reset()
                run = run_measured(replay, env, directory, rss)
                sent = sink.stats()["sessions"]
                peak["resume"][n] = max(peak["resume"].get(n, 0), run.max_rss)
                report.note(f"  resume {round_ + 1} over a journal of {n:,} done: {fmt_mib(run.max_rss)}, "
                            f"{run.seconds:.1f} s, {sent} sent")
                if sent:
                    report.note(f"  warning: resuming sent {sent} sessions again; the journal did not know them")
                report.data.setdefault("resume_seconds", {}).setdefault(n, []).append(run.seconds)
    finally:
        proc.terminate()
        proc.wait(10)
    resume = peak["resume"][big]
    scale = "" if big == 300_000 else f" (at {big // 1000}k)"
    report.rows.append(Row(f"3 resume -j, journal of {big // 1000}k done: peak RSS", fmt_mib(resume), "-", None,
                           f"<= {RESUME_MIB_TARGET} MiB{scale}", resume <= RESUME_MIB_TARGET * MIB, bad="OVER"))
    for what, values in peak.items():
        ratio = values[big] / values[small]
        if what == "resume":  # reported, not held to a target: the brief's target is the absolute peak above
            per_record = (values[big] - values[small]) / (big - small)
            report.rows.append(Row(f"3 resume -j {big // 1000}k / {small // 1000}k peak RSS", fmt_mib(values[big]),
                                   fmt_mib(values[small]), ratio, f"info: {per_record:.0f} B a done record", None))
            continue
        report.rows.append(Row(f"3 flat: {what} -j {big // 1000}k / {small // 1000}k peak RSS", fmt_mib(values[big]),
                               fmt_mib(values[small]), ratio, f"<= {FLAT_TARGET:g}", ratio <= FLAT_TARGET, bad="OVER"))
    report.data["memory"] = {"records": [small, big], "peak_rss_bytes": peak, "version_rss_bytes": floor.max_rss,
                             "method": how}


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small counts and 2 rounds (well under a minute): a smoke test of the benchmark")
    parser.add_argument("--records", type=int, help="records per throughput run (default 12000; quick 1000)")
    parser.add_argument("--rounds", type=int, help="alternating rounds of throughput runs (default 3; quick 2)")
    parser.add_argument("--latency", type=float, default=50.0, metavar="MS", help="sink latency for part 1 (default 50)")
    parser.add_argument("--workers", type=int, default=64, help="replay workers and wrk connections for part 1 (default 64)")
    parser.add_argument("--wrk-seconds", type=float, help="duration of each wrk run (default 5; quick 2)")
    parser.add_argument("--journal-records", type=int,
                        help="records in the big journal of part 3 (default 300000; quick 10000); the small one is a tenth")
    parser.add_argument("--memory-rounds", type=int, help="resume runs per journal; the peak is the largest (default 2; quick 1)")
    parser.add_argument("--only", action="append", choices=["ceiling", "sequential", "memory"],
                        help="run only these parts (repeatable; default all)")
    parser.add_argument("--hhsession", help="the hhsession console script (default: the one beside this Python)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep its files (records, journals, wrk script)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers as JSON here")
    args = parser.parse_args()
    defaults = {"records": (12000, 1000), "rounds": (3, 2), "wrk_seconds": (5.0, 2.0),
                "journal_records": (300_000, 10_000), "memory_rounds": (2, 1)}
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    parts = args.only or ["ceiling", "sequential", "memory"]
    hhsession = args.hhsession or find_hhsession()
    wrk = shutil.which("wrk")
    version = subprocess.run([hhsession, "--version"], capture_output=True, text=True).stdout.strip()

    report = Report()
    busy = cpu_busy()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    report.note(f"{version} ({hhsession}); Python {sys.version.split()[0]}; {os.cpu_count()} cores; "
                f"machine {'?' if busy is None else f'{busy:.0%}'} busy before the start, load average "
                f"{' '.join(f'{x:.2f}' for x in load) if load else '?'}")
    report.note(f"throughput: medians of {args.rounds} alternating rounds; memory: largest peak RSS of the runs")
    started = time.monotonic()
    cpu = CpuShare()

    with tempfile.TemporaryDirectory(prefix="hhsession-bench-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if wrk:
            proc, url = spawn(0)
            try:
                alone = run_wrk(wrk, url, wrk_script(workdir, json.dumps(record(0))), 64, args.wrk_seconds)
            finally:
                proc.terminate()
                proc.wait(10)
            need = args.workers / (args.latency / 1000) if args.latency > 0 else None
            report.note(f"sink alone: wrk -c64 at 0 ms latency: {alone:,.0f} requests/s"
                        + (f", {alone / need:.0f}x the {need:,.0f}/s that {args.workers} connections at "
                           f"{args.latency:g} ms can ask of it" if need else ""))
            report.data["sink_alone_wrk_c64_0ms"] = alone
        else:
            report.note("wrk not found (apt-get install wrk): the ceiling of part 1 is computed as workers / latency")
        if "ceiling" in parts:
            part_ceiling(args, hhsession, wrk, workdir, report)
        if "sequential" in parts:
            part_sequential(args, hhsession, workdir, report)
        if "memory" in parts:
            part_memory(args, hhsession, workdir, report)

    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"\n{'measure':44} {'measured':>12} {'baseline':>18} {'ratio':>7}  {'target':<24} verdict")
    for row in report.rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        print(f"{row.what:44} {row.measured:>12} {row.baseline:>18} {ratio:>7}  {row.target:<24} {row.verdict}")
    for note in report.notes:
        if note.startswith("ceiling:"):
            print(note)
    others = cpu.others()
    report.data["others_cpu_share"] = others
    print(f"\n{time.monotonic() - started:.0f} s; other processes used "
          f"{'?' if others is None else f'{others:.0%}'} of the machine's CPU meanwhile; load average after: "
          f"{' '.join(f'{x:.2f}' for x in load_after) if load_after else '?'}"
          + ("; --quick: small counts, not the numbers the targets are about" if args.quick else ""))
    if args.json:
        report.data["rows"] = [row.__dict__ | {"verdict": row.verdict} for row in report.rows]
        args.json.write_text(json.dumps(report.data, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
