#!/usr/bin/env python3
"""Start-up and one-POST latency, measured side by side (issue 6).

Runs the commands in alternation, round after round, in one run, so that a
busy machine slows all of them alike; prints medians and the ratios the
targets are stated in:

- ``hhsession --version``: at most 3x a bare ``python -c pass`` (the floor any
  Python CLI stands on), medians;
- ``hhsession start -o json``, one POST to a loopback emulator: at most 0.4x
  what ``httpie`` (``http POST ...``) takes for the same POST.

Usage::

    python benchmarks/startup.py [--rounds 30] [--httpie /path/to/http]

httpie is not a dependency; install it anywhere (``pipx install httpie`` or
``python -m venv /tmp/h && /tmp/h/bin/pip install httpie``) and point --httpie
at it, or have ``http`` on PATH. curl, when present, is shown for reference.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

KEY = "benchmark-key-0123456789"


def find_hhsession() -> str:
    beside = Path(sys.executable).parent / "hhsession"
    found = str(beside) if beside.exists() else shutil.which("hhsession")
    if not found:
        sys.exit("hhsession is not installed in this environment: pip install -e .")
    return found


def start_emulator(hhsession: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [hhsession, "emulator", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    match = re.match(r"export HH_API_URL=(\S+)", proc.stdout.readline())
    if not match:
        proc.kill()
        sys.exit("the emulator did not start")
    return proc, match[1]


def time_once(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{command[0]} failed ({result.returncode}): {result.stderr.decode()[-300:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--httpie", default=shutil.which("http"), help="path to httpie's `http`")
    args = parser.parse_args()

    hhsession = find_hhsession()
    emulator, url = start_emulator(hhsession)
    # As a user's shell runs them: bytecode is written once and read after (an environment that sets
    # PYTHONDONTWRITEBYTECODE, as some CI images do, would compile an editable install's modules on
    # every run, and not httpie's, whose .pyc files pip wrote at install).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"HH_API_URL": url, "HH_API_KEY": KEY, "NO_COLOR": "1"})
    commands: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "hhsession --version": [hhsession, "--version"],
        "hhsession start -o json": [hhsession, "start", "-n", "bench", "-o", "json"],
    }
    if args.httpie:
        commands["http POST (httpie)"] = [
            args.httpie, "--ignore-stdin", "--print=b", "POST", f"{url}/v1/sessions",
            f"Authorization:Bearer {KEY}", "session_name=bench",
        ]
    else:
        print("httpie not found: pass --httpie PATH to compare against it", file=sys.stderr)
    if shutil.which("curl"):
        commands["curl POST"] = [
            "curl", "-sf", "-o", "/dev/null", "-X", "POST", f"{url}/v1/sessions",
            "-H", f"Authorization: Bearer {KEY}", "-H", "Content-Type: application/json",
            "-d", '{"session_name": "bench"}',
        ]
    try:
        for command in commands.values():  # warm the page cache and .pyc files
            time_once(command, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                samples[name].append(time_once(command, env))
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)

    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"{args.rounds} alternating rounds on {os.cpu_count()} cores\n")
    print(f"{'command':28} {'median':>9} {'min':>9} {'max':>9}")
    for name, values in samples.items():
        print(f"{name:28} {medians[name] * 1000:8.1f}ms {min(values) * 1000:8.1f}ms {max(values) * 1000:8.1f}ms")
    print()
    version = medians["hhsession --version"]
    floor = medians["python -c pass"]
    print(f"hhsession --version: {version * 1000:.1f} ms median, {version / floor:.2f}x a bare `python -c pass` "
          f"(target <= 3x): {'OK' if version <= 3 * floor else 'OVER'}")
    if "http POST (httpie)" in medians:
        ratio = medians["hhsession start -o json"] / medians["http POST (httpie)"]
        print(f"hhsession start / httpie POST: {ratio:.2f}x (target <= 0.40): {'OK' if ratio <= 0.4 else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
