"""What replay refuses before it sends anything (exit 2): bad flags, inputs that are not there."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer
from tests.replay.conftest import jsonl


def test_bad_arguments_are_exit_2_and_send_nothing(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    env = {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY}
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}])
    for args, message in [
        (["--shard", "4/4"], "--shard '4/4': K must be from 0 to N-1"),
        (["--shard", "x"], "--shard 'x': expected K/N"),
        (["/no/such.jsonl"], "/no/such.jsonl: no such file"),
        ([str(tmp_path)], "is a directory; see hhsession replay --help"),
        (["-", "-"], "standard input) is given more than once"),
        (["--workers", "0"], "--workers '0': give auto (the default: adapts to the server) or a whole number from 1 to 256"),
        (["--workers", "many"], "--workers 'many': give auto"),
        (["-m", "oops"], "--metadata 'oops': expected key=value"),
    ]:
        result = cli("replay", *([] if args[0].startswith(("/", "-")) and not args[0].startswith("--") else [str(path)]), *args, env=env)
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr
    not_journal = tmp_path / "notes.txt"
    not_journal.write_text("hello\n")
    result = cli("replay", str(path), "--journal", str(not_journal), env=env)
    assert result.exit_code == 2 and "is not an hhsession replay journal" in result.stderr
    assert fake.requests == []


def test_a_missing_later_file_sends_nothing(cli: Invoker, fake: FakeServer, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "r.jsonl", [{"session_name": "a"}])
    result = cli("replay", str(path), str(tmp_path / "missing.jsonl"), env={"HH_API_URL": fake.url, "HH_API_KEY": API_KEY})
    assert result.exit_code == 2 and "missing.jsonl: no such file" in result.stderr
    assert fake.requests == []


def test_a_rate_that_is_not_a_number_is_exit_2(cli: Invoker, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"session_name": "a"}\n')
    result = cli("replay", str(path), "--rate", "nan", "--dry-run")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "hhsession: error: --rate nan: must be a number of sessions per second above 0, e.g. 50\n"
