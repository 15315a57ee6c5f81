"""``hhsession.cli.main(argv, env)``: the CLI runs inside a caller with an Environment
of its own (streams, terminal flags, variables), as httpie's ``main(args, env)``."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from hhsession.cli import main
from hhsession.context import Environment
from tests.conftest import API_KEY
from tests.fakeserver import FakeServer


def environment(variables: dict[str, str], stdin: bytes = b"", **flags: Any) -> Environment:
    return Environment(stdin=io.BytesIO(stdin), stdout=io.StringIO(), stderr=io.StringIO(), env=variables, **flags)


def test_settings_come_from_the_given_variables_not_the_process(fake: FakeServer, isolated_home: Path) -> None:
    assert "HH_API_KEY" not in os.environ
    env = environment({"HH_API_KEY": API_KEY, "HH_API_URL": fake.url, "HOME": str(isolated_home)})
    code = main(["start", "-n", "injected", "-o", "id"], env)
    assert code == 0, env.stderr.getvalue()  # type: ignore[attr-defined]
    (session_id,) = fake.sessions
    assert env.stdout.getvalue() == f"{session_id}\n"  # type: ignore[attr-defined]


def test_standard_input_and_the_terminal_flag_are_the_environments(fake: FakeServer, isolated_home: Path) -> None:
    variables = {"HH_API_KEY": API_KEY, "HH_API_URL": fake.url, "HOME": str(isolated_home), "NO_COLOR": "1"}
    env = environment(variables, stdin=b'{"session_name": "from-stdin"}', stdout_isatty=True)
    assert main(["start", "-f", "-"], env) == 0, env.stderr.getvalue()  # type: ignore[attr-defined]
    shown = env.stdout.getvalue()  # type: ignore[attr-defined]
    assert "HoneyHive session started" in shown and "from-stdin" in shown  # pretty: "stdout is a terminal"
    piped = environment(variables, stdin=b'{"session_name": "piped"}')
    assert main(["start", "-f", "-"], piped) == 0
    assert json.loads(piped.stdout.getvalue())["session_name"] == "piped"  # type: ignore[attr-defined]


def test_errors_and_usage_errors_go_to_the_environments_stderr(isolated_home: Path) -> None:
    env = environment({"HOME": str(isolated_home)})
    assert main(["start", "--start-time", "1764151200", "--dry-run"], env) == 2
    assert "looks like Unix seconds" in env.stderr.getvalue()  # type: ignore[attr-defined]
    usage = environment({"HOME": str(isolated_home)})
    assert main(["start", "--no-such-flag"], usage) == 2
    assert "No such option: --no-such-flag; see hhsession start --help" in usage.stderr.getvalue()  # type: ignore[attr-defined]
    version = environment({})
    assert main(["--version"], version) == 0 and version.stdout.getvalue().startswith("hhsession ")  # type: ignore[attr-defined]
