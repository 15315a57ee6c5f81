"""The vendor's TypeScript SDK (npm ``honeyhive@1.0.42``, pinned in ``tests/node/package-lock.json``; 1.0.44,
the latest, ships no code) runs against the emulator, its tracer included.

``tests/node/vendor.js`` runs every scenario in one node process (``--require guard.js``, which refuses
any destination but loopback and reports what it refused). What the SDK sends, read from its source:

- ``session.startSession({session})``: ``POST /session/start`` (camelCase mapped to snake_case);
  ``session.getSession(id)``: ``GET /session/{id}``, the answer parsed as an ``Event`` (zod: no null
  ``end_time`` or ``duration``, ``event_type`` one of session/model/tool/chain, ``end_time`` an integer).
- ``events.createEvent({event})``: ``POST /events``; ``events.createEventBatch``: ``POST /events/batch``;
  ``events.updateEvent``: ``PUT /events`` (the answer's body is discarded);
  ``events.getEvents({project, filters})``: ``POST /events/export``, read as ``{events, totalEvents}``.
- ``HoneyHiveTracer.init({serverUrl})`` starts its session through the SDK, then Traceloop's NodeSDK with
  an OTLP/protobuf exporter to ``{serverUrl}/opentelemetry/v1/traces``: bodies sent chunked, the session
  in ``traceloop.association.properties.session_id``, arguments as ``honeyhive_inputs._params_.<name>``.
  ``enrichSession`` is ``PUT /events``; ``flush()`` exports. With ``verbose`` every failure it would
  otherwise swallow (a session it could not start is replaced by a random id) is a console.warn/error.

Telemetry: the tracer's PostHog client is off with ``TRACELOOP_TELEMETRY=false`` (Traceloop's own),
and ``HONEYHIVE_TELEMETRY=false`` stops the SDK collecting git details; the guard proves nothing left.

The install: ``npm ci`` of the lock into ``~/.cache/hhsession-tests/node/<hash of the lock>`` once (a
file lock keeps xdist workers from installing twice), reused by every later run. Without node or npm
the tests are skipped with the reason shown; a failed install skips too, except under ``CI=true``
where it fails.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hhsession.emulator import Emulator
from tests.emulator_http import Log, export_by_session, get

NODE_DIR = Path(__file__).resolve().parent / "node"
#: What the install is keyed by: a change to either means a new install.
INSTALL_FILES = ("package.json", "package-lock.json")
#: The environment at import, before any test's fixtures change HOME or remove the proxies npm may need.
_ENVIRONMENT = dict(os.environ)
CACHE = Path(_ENVIRONMENT.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hhsession-tests" / "node"
INSTALL_TIMEOUT = 300.0
RUN_TIMEOUT = 90.0
MIN_NODE = 18  # (global fetch, which the SDK uses)


class NodeUnavailable(Exception):
    """Why the node tests cannot run here (shown as the skip's reason)."""


def find_node(path: str | None = None) -> tuple[str, str]:
    """The node and npm executables on ``path`` (this process's PATH by default); NodeUnavailable if not."""
    node, npm = shutil.which("node", path=path), shutil.which("npm", path=path)
    if node is None or npm is None:
        missing = " and ".join(name for name, found in (("node", node), ("npm", npm)) if found is None)
        raise NodeUnavailable(f"{missing} not found on PATH: the TypeScript SDK's tests need Node {MIN_NODE}+ and npm")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if major is None or int(major[1]) < MIN_NODE:
        raise NodeUnavailable(f"node {version or '(no version)'} is older than {MIN_NODE}: the TypeScript SDK needs fetch")
    return node, npm


def install_key(source: Path = NODE_DIR) -> str:
    digest = hashlib.sha256()
    for name in INSTALL_FILES:
        digest.update((source / name).read_bytes())
    return digest.hexdigest()[:16]


def install(npm: str, cache: Path = CACHE, source: Path = NODE_DIR, env: dict[str, str] | None = None,
            timeout: float = INSTALL_TIMEOUT) -> Path:
    """``node_modules`` as the lock in ``source`` pins it, installed under ``cache`` once (``npm ci``
    into a temporary directory renamed into place, so a directory there is complete); RuntimeError
    with npm's own words if the install fails."""
    key = install_key(source)
    target = cache / key
    if (target / ".installed").exists():
        return target / "node_modules"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be installing it: wait, then reuse its install
        if (target / ".installed").exists():
            return target / "node_modules"
        staging = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache))
        try:
            for name in INSTALL_FILES:
                shutil.copy2(source / name, staging / name)
            command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--no-update-notifier",
                       "--prefer-offline", "--loglevel=error"]
            try:
                done = subprocess.run(command, cwd=staging, env=env if env is not None else _ENVIRONMENT,
                                      capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"npm ci took more than {timeout:.0f} s") from None
            if done.returncode != 0:
                raise RuntimeError(f"npm ci exited {done.returncode}: {(done.stderr or done.stdout).strip()[-2000:]}")
            (staging / ".installed").write_text(key + "\n")
            if target.exists():  # (left by an install that was killed before its marker was written)
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target / "node_modules"


def unavailable(reason: str, ci: bool) -> None:
    """Skip with ``reason`` (listed by -ra); in CI, where node is expected to work, fail instead."""
    if ci:
        pytest.fail(f"CI=true and the TypeScript SDK cannot be installed: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node_modules() -> tuple[str, Path]:
    """(node, the installed node_modules): installed once for the whole run, or the tests skipped."""
    try:
        node, npm = find_node(_ENVIRONMENT.get("PATH"))
    except NodeUnavailable as exc:
        pytest.skip(str(exc))
    try:
        return node, install(npm)
    except (RuntimeError, OSError) as exc:
        unavailable(f"npm could not install tests/node/package-lock.json: {exc}", _ENVIRONMENT.get("CI") == "true")
        raise  # (unreachable: skipped or failed)


class NodeRun:
    def __init__(self, emulator: Emulator, log: Log, result: dict[str, Any], output: str, home: Path) -> None:
        self.emulator, self.log, self.result, self.output, self.home = emulator, log, result, output, home


@pytest.fixture(scope="module")
def node_run(node_modules: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRun]:
    """vendor.js run once against one emulator; the tests below read what it left."""
    node, modules = node_modules
    home = tmp_path_factory.mktemp("node-home")
    env = {
        "PATH": _ENVIRONMENT.get("PATH", os.defpath),
        "HOME": str(home),  # nothing of the machine's (an ~/.npmrc, a telemetry id) reaches the SDK
        "HH_NODE_MODULES": str(modules),
        # The opt-outs the SDK and Traceloop read (sdk/tracer.js, @traceloop/node-server-sdk):
        "HONEYHIVE_TELEMETRY": "false",
        "TRACELOOP_TELEMETRY": "false",
        "TRACELOOP_SYNC_ENABLED": "false",  # (its prompt registry; polled only for a traceloop URL anyway)
        "OTEL_LOGS_EXPORTER": "none",  # (NodeSDK would set up an OTLP log exporter to localhost:4318)
        "OTEL_METRICS_EXPORTER": "none",
        "NO_PROXY": "*",
    }
    log = Log()
    with Emulator(port=0, log=log) as emulator:
        env["EMULATOR_URL"] = emulator.url
        done = subprocess.run([node, "--require", "./guard.js", "vendor.js"], cwd=NODE_DIR, env=env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
        output = f"exit {done.returncode}\n--- stdout (end)\n{done.stdout[-8000:]}\n--- stderr\n{done.stderr[-4000:]}"
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        assert done.returncode == 0 and lines, output
        emulator.wait_idle()
        yield NodeRun(emulator, log, json.loads(lines[-1].removeprefix("RESULT ")), output, home)


def test_every_call_is_a_2xx_and_nothing_but_loopback_was_reached(node_run: NodeRun) -> None:
    result = node_run.result
    assert result["errors"] == [], node_run.output  # no call threw, the SDK logged no error or warning
    assert result["refused"] == [], result["refused"]  # no telemetry nor anything else left the machine
    # Traceloop's PostHog client, when on, first writes an anonymous id there (and sends ~10 s later, to
    # app.posthog.com, which the guard refuses): with the opt-out it never ran.
    assert not (node_run.home / ".cache" / "traceloop").exists()
    lines = node_run.log.wait_for(10)
    requests = [line.split()[2:5] for line in lines]  # (time, client, method, path, status, ...)
    assert all(status == "200" for _, _, status in requests), lines
    sdk_session, tracer_session = result["sdk"]["sessionId"], result["tracer"]["sessionId"]
    calls = sorted((method, path) for method, path, _ in requests if path != "/opentelemetry/v1/traces")
    assert calls == sorted([
        ("POST", "/session/start"), ("POST", "/events"), ("POST", "/events/batch"), ("PUT", "/events"),
        ("PUT", "/events"), ("GET", f"/session/{sdk_session}"), ("POST", "/events/export"),
        ("POST", "/session/start"), ("PUT", "/events"),  # (the tracer's session, its enrichSession)
    ])
    # The spans, in one export at flush() (or more, had the batch's 5 s timer fired first), none rejected.
    exports = [line for line in lines if " /opentelemetry/v1/traces " in line]
    assert exports and sum(int(line.split(" span(s)")[0].split()[-1]) for line in exports) == 2, exports
    assert not any("naming no session" in line for line in exports)
    assert all("from OTLP/protobuf" in line for line in exports), exports  # the Node tracer's encoding
    assert node_run.emulator.store.count() == 2 and sdk_session != tracer_session


def test_what_the_sdk_sent_is_read_back_through_export_by_its_session(node_run: NodeRun) -> None:
    sdk = node_run.result["sdk"]
    session_id, event_id = sdk["sessionId"], sdk["eventId"]
    found = export_by_session(node_run.emulator, session_id)
    by_id = {event["event_id"]: event for event in found["events"]}
    assert set(by_id) == {session_id, event_id, *sdk["batchEventIds"]} and found["totalEvents"] == 4
    session = by_id[session_id]
    assert session["session_name"] == "ts-sdk-run" and session["source"] == "node-test"
    assert session["inputs"] == {"question": "hi"} and session["config"] == {"model": "m"}
    assert session["user_properties"] == {"user": "u"}
    assert session["metadata"] == {"run": 1, "done": True} and session["outputs"] == {"answer": "42"}
    event = by_id[event_id]
    assert (event["event_type"], event["event_name"], event["parent_id"]) == ("tool", "retrieve", session_id)
    assert event["inputs"] == {"query": "q"} and event["config"] == {"index": "docs"}
    assert event["metadata"] == {"a": 1, "b": 2} and event["outputs"] == {"hits": 4}  # merged, replaced
    assert event["metrics"] == {"recall": 0.5} and event["feedback"] == {"ok": True} and event["duration"] == 150
    assert event["start_time"] == 1764151200000 and event["end_time"] == 1764151200120  # (from the created duration)
    assert sorted((by_id[i]["event_type"], by_id[i]["event_name"]) for i in sdk["batchEventIds"]) == [
        ("chain", "plan"), ("model", "llm")]
    # What the SDK itself read back (getSession, getEvents) passed its own models and matches.
    assert sdk["getSession"] == {"eventId": session_id, "eventType": "session", "metadata": {"run": 1, "done": True}}
    assert sdk["getEvents"]["totalEvents"] == 4
    assert {e["eventId"]: e["eventType"] for e in sdk["getEvents"]["events"]} == {
        i: by_id[i]["event_type"] for i in by_id}


def test_the_tracers_spans_are_events_of_its_session(node_run: NodeRun) -> None:
    tracer = node_run.result["tracer"]
    session_id = tracer["sessionId"]
    assert tracer["result"] == {"text": "OTLP"}
    found = export_by_session(node_run.emulator, session_id)
    by_name = {event["event_name"]: event for event in found["events"]}
    assert set(by_name) == {"ts-traced", "answer", "lookup"} and found["count"] == 3  # one session: the tracer's
    session = by_name["ts-traced"]
    assert session["event_type"] == "session" and session["source"] == "node-test"
    assert session["metadata"] == {"traced": True} and session["feedback"] == {"rating": 4}  # enrichSession
    answer, lookup = by_name["answer"], by_name["lookup"]
    assert answer["event_type"] == "chain" and answer["parent_id"] == session_id  # the root span
    assert lookup["event_type"] == "tool" and lookup["parent_id"] == answer["event_id"]  # as the trace nests
    assert answer["inputs"] == {"_params_": {"question": "otlp"}} and answer["outputs"] == {"result": {"text": "OTLP"}}
    assert lookup["inputs"] == {"_params_": {"word": "otlp"}} and lookup["outputs"] == {"result": "OTLP"}
    assert lookup["metadata"] == {"cached": False} and lookup["metrics"] == {"length": 4}  # enrichSpan
    assert {answer["source"], lookup["source"]} == {"node-test"}  # (the association property)
    for span in (answer, lookup):
        assert isinstance(span["end_time"], int) and span["start_time"] <= span["end_time"]
        assert get(node_run.emulator, f"/v1/events/{span['event_id']}").json()["event"] == span


# ----------------------------------------------------------------------------- the install itself


def test_without_node_the_tests_are_skipped_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(NodeUnavailable, match="node and npm not found on PATH"):
        find_node(str(tmp_path))


def test_a_failed_install_fails_in_ci_and_skips_elsewhere(tmp_path: Path) -> None:
    npm = tmp_path / "npm"
    npm.write_text("#!/bin/sh\necho 'npm ERR! network unreachable' >&2\nexit 1\n")
    npm.chmod(0o755)
    with pytest.raises(RuntimeError, match="npm ci exited 1: npm ERR! network unreachable"):
        install(str(npm), cache=tmp_path / "cache", env={"PATH": os.defpath})
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{install_key()}.lock"]  # nothing half-installed
    with pytest.raises(pytest.fail.Exception, match="CI=true and the TypeScript SDK cannot be installed: why"):
        unavailable("why", ci=True)
    with pytest.raises(pytest.skip.Exception, match="why"):
        unavailable("why", ci=False)


def test_an_install_is_made_once_and_reused(tmp_path: Path) -> None:
    npm = tmp_path / "npm"  # stands for npm ci: writes node_modules and counts its runs
    npm.write_text(f"#!/bin/sh\nmkdir node_modules && echo run >> {tmp_path}/runs\n")
    npm.chmod(0o755)
    first = install(str(npm), cache=tmp_path / "cache", env={"PATH": os.defpath})
    assert install(str(npm), cache=tmp_path / "cache", env={"PATH": os.defpath}) == first
    assert first.is_dir() and first.parent.name == install_key() and (tmp_path / "runs").read_text() == "run\n"
