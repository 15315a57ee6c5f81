#!/usr/bin/env python3
"""Replay throughput: --workers 8 against --workers 1, side by side (one run).

The emulator answers after --latency MS, as a real server across a network
would; concurrency should then multiply throughput. Prints sessions per second
for each and the ratio.

    python benchmarks/replay.py [--records 400] [--latency 20]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--latency", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    hhsession = str(Path(sys.executable).parent / "hhsession")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "records.jsonl"
        with data.open("w") as handle:
            for i in range(args.records):
                handle.write(json.dumps({"session_name": f"bench-{i}", "metadata": {"i": i}}) + "\n")
        emulator = subprocess.Popen([hhsession, "emulator", "--port", "0", "--latency", str(args.latency)],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert emulator.stdout is not None
        match = re.match(r"export HH_API_URL=(\S+)", emulator.stdout.readline())
        assert match, "the emulator did not start"
        env = {**os.environ, "HH_API_URL": match[1], "HH_API_KEY": "benchmark-key-0123456789"}
        times: dict[int, list[float]] = {1: [], 8: []}
        try:
            for _ in range(args.rounds):
                for workers in times:
                    started = time.perf_counter()
                    subprocess.run([hhsession, "replay", str(data), "--workers", str(workers), "-o", "none", "--new-ids"],
                                   env=env, check=True, stderr=subprocess.DEVNULL)
                    times[workers].append(time.perf_counter() - started)
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)
    best = {w: min(t) for w, t in times.items()}
    for workers, seconds in best.items():
        print(f"--workers {workers}: {args.records / seconds:7.0f} sessions/s ({seconds:.2f} s for {args.records})")
    print(f"speed-up of 8 workers over 1: {best[1] / best[8]:.1f}x (server latency {args.latency:g} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
