"""Shared fixtures. Every test gets its own HOME and config directory, and no
HoneyHive environment variable leaks in from the machine running the tests."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from hhsession.cli import main
from hhsession.context import Environment
from hhsession.emulator import Emulator
from tests.fakeserver import FakeServer

CONTRACT = Path(__file__).resolve().parent / "contract"
API_KEY = "hh_test_0123456789abcdef_SECRETKEY"

_PREFIXES = ("HH_", "HONEYHIVE_", "HHSESSION_")

# A property test proves what holds for every example, not how fast one runs: with more xdist workers
# than cores, an example can miss hypothesis's 200 ms deadline now and then and fail the run as Flaky.
settings.register_profile("hhsession", deadline=None)
settings.load_profile("hhsession")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(_PREFIXES) or name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "NETRC"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))  # default replay journals
    monkeypatch.setenv("NO_PROXY", "*")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    return home


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@pytest.fixture(autouse=True)
def signals_left_alone() -> Iterator[None]:
    """No test may leave Ctrl-C or SIGTERM handled otherwise, or blocked, than it found them: every
    process a later test starts would inherit an ignored or blocked signal (a lost Ctrl-C)."""
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    after = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    now = signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    for signum, handler in before.items():
        signal.signal(signum, handler)
    assert after == before, f"the test left signal handlers changed: {after} (were {before})"
    assert now == mask, f"the test left signals blocked: {now} (were {mask})"


#: The key in the profile of ``config_file``.
KEY_A = "hh_profile_key_aaaaaaaaaaaa1111"


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.fixture
def config_file(isolated_home: Path) -> Path:
    """The default config file with two profiles: ``default`` (the active one, with a key) and ``staging``."""
    return write_config(
        isolated_home / ".config" / "hhsession" / "config.toml",
        f'''default_profile = "default"
[profiles.default]
api_key = "{KEY_A}"
api_url = "https://default.example"
source = "profile-src"
timeout = 12
max_retries = 1

[profiles.staging]
api_url = "https://staging.example"
''',
    )


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


class Invoker:
    """Run the CLI in-process, through ``main(argv, env)``, with streams of its own and an environment,
    as a user's shell would (what click itself prints, its help, lands in the same streams)."""

    def __call__(self, *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
        data = input.encode() if isinstance(input, str) else (input or b"")
        out, err = io.StringIO(), io.StringIO()
        environ = {**os.environ, **(env or {})}
        environment = Environment(stdin=io.BytesIO(data), stdout=out, stderr=err, env=environ)
        saved = dict(os.environ)
        os.environ.update(env or {})  # for what reads the process's environment (the config path, say)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args), environment)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli() -> Invoker:
    return Invoker()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(port=0) as emu:
        yield emu


@pytest.fixture
def fake(request_schema: dict[str, Any], update_schema: dict[str, Any]) -> Iterator[FakeServer]:
    """A recording server. Afterwards, everything that reached it must validate
    against the request contract (tests/contract/): no test may make the client
    send a body the real server would not take as is."""
    with FakeServer() as server:
        yield server
    for recorded in server.requests:
        if recorded.method == "POST" and recorded.path.endswith("/v1/sessions"):
            assert_valid_request(recorded.body, request_schema)
        elif recorded.method == "PUT" and "/v1/events/" in recorded.path:
            assert_valid_request(recorded.body, update_schema)
        elif recorded.method == "POST" and recorded.path.endswith("/events/batch"):
            assert_valid_request(recorded.body, load_contract("SessionEventBatchRequest"))


@pytest.fixture
def key_env(fake: FakeServer) -> dict[str, str]:
    """Environment pointing at the recording fake server with a key."""
    return {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"}


@pytest.fixture
def free_port() -> Iterator[int]:
    """A loopback port that refuses every connection for the whole test: bound, never listening. (A
    port merely free when the test began may be taken meanwhile by a server of a test running beside
    it, which would then answer what was meant to be refused.)"""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def load_contract(name: str) -> dict[str, Any]:
    """One schema of the request contract, kept in the project (tests/contract/)."""
    schema: dict[str, Any] = json.loads((CONTRACT / f"{name}.schema.json").read_text())
    return schema


@pytest.fixture(scope="session")
def request_schema() -> dict[str, Any]:
    return load_contract("StartSessionRequest")


@pytest.fixture(scope="session")
def update_schema() -> dict[str, Any]:
    return load_contract("UpdateEventRequest")


_validators: dict[int, tuple[dict[str, Any], Any]] = {}


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """``jsonschema.validate``, with the schema checked and its validator built once, not at every call
    (which costs 150 times the validation itself): raises ``jsonschema.ValidationError``."""
    import jsonschema

    kept = _validators.get(id(schema))
    if kept is None or kept[0] is not schema:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        kept = _validators[id(schema)] = (schema, cls(schema))
    error = jsonschema.exceptions.best_match(kept[1].iter_errors(instance))
    if error is not None:
        raise error


def assert_valid_request(body: bytes, schema: dict[str, Any]) -> dict[str, Any]:
    """What reached the server validates against the request contract."""
    payload = json.loads(body)
    validate(payload, schema)
    return payload
