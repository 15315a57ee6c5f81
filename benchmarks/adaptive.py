#!/usr/bin/env python3
"""``replay --workers auto`` (the default) against servers that differ, each measured in the same run
against its baseline (issue 20). Every replay keeps its journal, as users run it.

1. far, no limit: the sink 150 ms away; default replay's rate (first to last request, so start-up
   does not count) over what ``wrk -c128`` gets from the same sink. Target >= 0.9.
2. a rate limit: the sink 150 ms away lets 800 sessions/s through a token bucket (a quarter second of
   burst) and answers 429 with ``Retry-After: 1`` beyond it; about 40 s of records. Target: >= 0.9 of
   800/s (sessions stored over the run's wall time) and at most 2 % of the requests answered 429.
3. a queue: the sink works on 32 sessions at once for 50 ms each, the others wait (its capacity is
   32 / 50 ms = 640/s). Target: the sink's median latency (arrival to answer) at most 1.5x the
   unloaded 50 ms, at >= 0.8 of its capacity.

(No latency at all, and fixed ``--workers 64`` at 50 ms: ``benchmarks/replay.py``.)

Usage::

    python benchmarks/adaptive.py               # all three, about 2 minutes
    python benchmarks/adaptive.py --only rate   # one of: far, rate, queue
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay import Report, Row, SinkClient, child_env, fmt_rate, record, run_measured, run_wrk, wrk_script  # noqa: E402
from sink import spawn  # noqa: E402
from startup import find_hhsession  # noqa: E402


def write_records(path: Path, count: int) -> Path:
    with path.open("w") as handle:
        for i in range(count):
            handle.write(json.dumps(record(i)) + "\n")
    return path


def replay(hhsession: str, records: Path, url: str, workdir: Path) -> tuple[float, dict[str, float]]:
    """One default replay with a new journal: its wall seconds, and what the sink counted."""
    sink = SinkClient(url)
    sink.reset()
    journal = workdir / f"{records.stem}-{time.monotonic_ns()}.journal"
    run = run_measured([hhsession, "replay", records.name, "-o", "none", "--journal", journal.name],
                       child_env(url, workdir), workdir)
    settled = run.stderr.rsplit("settled at ", 1)[-1].split()[0].rstrip(";") if "settled at" in run.stderr else "?"
    stats = sink.stats()
    stats["settled"] = settled
    return run.seconds, stats


def in_run(stats: dict[str, float]) -> float:
    return (stats["sessions"] - 1) / (stats["last"] - stats["first"])


def part_far(args: argparse.Namespace, hhsession: str, workdir: Path, report: Report) -> None:
    wrk = shutil.which("wrk")
    records = write_records(workdir / "far.jsonl", args.far_records)
    proc, url = spawn(150)
    try:
        ceiling = (run_wrk(wrk, url, wrk_script(workdir, json.dumps(record(0))), 128, 5) if wrk else 128 / 0.150)
        seconds, stats = replay(hhsession, records, url, workdir)
    finally:
        proc.terminate()
        proc.wait(10)
    rate = in_run(stats)
    report.note(f"[far] 150 ms, no limit: wrk -c128 {fmt_rate(ceiling)}{'' if wrk else ' (computed: no wrk)'}; "
                f"replay {fmt_rate(rate)} first to last ({seconds:.1f} s wall for {args.far_records}), "
                f"settled at {stats['settled']}")
    report.rows.append(Row("far: auto @150ms / wrk -c128", fmt_rate(rate), f"{fmt_rate(ceiling)} wrk", rate / ceiling,
                           ">= 0.9", rate / ceiling >= 0.9))


def part_rate(args: argparse.Namespace, hhsession: str, workdir: Path, report: Report) -> None:
    records = write_records(workdir / "rate.jsonl", args.rate_records)
    proc, url = spawn(150, rate=800, burst=200)
    try:
        seconds, stats = replay(hhsession, records, url, workdir)
    finally:
        proc.terminate()
        proc.wait(10)
    rate = stats["sessions"] / seconds
    share = stats["throttled"] / (stats["sessions"] + stats["throttled"])
    report.note(f"[rate] 150 ms, 800/s per key: {stats['sessions']:.0f} stored in {seconds:.1f} s wall "
                f"({fmt_rate(rate)}), {stats['throttled']:.0f} answered 429 ({share:.2%}), settled at {stats['settled']}")
    report.rows.append(Row("rate: auto vs 800/s @150ms / 800", fmt_rate(rate), "800/s", rate / 800, ">= 0.9",
                           rate / 800 >= 0.9))
    report.rows.append(Row("rate: share of requests answered 429", f"{share:.2%}", "", None, "<= 2 %", share <= 0.02,
                           bad="OVER"))


def part_queue(args: argparse.Namespace, hhsession: str, workdir: Path, report: Report) -> None:
    records = write_records(workdir / "queue.jsonl", args.queue_records)
    proc, url = spawn(50, queue=32)
    try:
        seconds, stats = replay(hhsession, records, url, workdir)
    finally:
        proc.terminate()
        proc.wait(10)
    capacity = 32 / 0.050
    rate = in_run(stats)
    median = stats["median_ms"]
    report.note(f"[queue] 32 at once, 50 ms each ({capacity:.0f}/s): replay {fmt_rate(rate)} first to last, the "
                f"sink's median latency {median:.0f} ms, settled at {stats['settled']}")
    report.rows.append(Row("queue: auto / capacity 640/s", fmt_rate(rate), "640/s", rate / capacity, ">= 0.8",
                           rate / capacity >= 0.8))
    report.rows.append(Row("queue: median latency / unloaded 50 ms", f"{median:.0f} ms", "50 ms", median / 50,
                           "<= 1.5", median / 50 <= 1.5, bad="OVER"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=["far", "rate", "queue"])
    parser.add_argument("--far-records", type=int, default=12_000)
    parser.add_argument("--rate-records", type=int, default=32_000, help="about 40 s at 800/s (default 32000)")
    parser.add_argument("--queue-records", type=int, default=12_800, help="about 20 s at 640/s (default 12800)")
    parser.add_argument("--hhsession", help="the hhsession console script (default: the one beside this Python)")
    args = parser.parse_args()
    hhsession = args.hhsession or find_hhsession()
    report = Report()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hhsession-adaptive-") as tmp:
        workdir = Path(tmp)
        for name, part in (("far", part_far), ("rate", part_rate), ("queue", part_queue)):
            if not args.only or name in args.only:
                part(args, hhsession, workdir, report)
    print(f"\n{'measure':44} {'measured':>12} {'baseline':>18} {'ratio':>7}  {'target':<10} verdict")
    for row in report.rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        print(f"{row.what:44} {row.measured:>12} {row.baseline:>18} {ratio:>7}  {row.target:<10} {row.verdict}")
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
