"""The config file and `hhsession config` (SPEC §4): where the file lives, what it may hold, how it is
written (private, atomic, through a symlink), and what `set`, `get`, `list`, `unset`, `use` and `path` say."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hhsession.config import check_key, config_path, load_config
from hhsession.errors import InvalidInput
from tests.conftest import API_KEY, Invoker, write_config
from tests.fakeserver import FakeServer

# ----------------------------------------------------------------------------- the file


def test_config_path_rules(tmp_path: Path) -> None:
    assert config_path({"HHSESSION_CONFIG": str(tmp_path / "x.toml"), "HOME": "/h"}) == tmp_path / "x.toml"
    assert config_path({"XDG_CONFIG_HOME": "/xdg", "HOME": "/h"}) == Path("/xdg/hhsession/config.toml")
    assert config_path({"HOME": "/h"}) == Path("/h/.config/hhsession/config.toml")
    assert config_path({"HOME": "/h", "XDG_CONFIG_HOME": "relative"}) == Path("/h/.config/hhsession/config.toml")


def test_corrupt_file_names_path_and_line(cli: Invoker, isolated_home: Path) -> None:
    path = write_config(isolated_home / ".config" / "hhsession" / "config.toml", '[profiles.default]\napi_url = "x\n')
    result = cli("start", "--dry-run")
    assert result.exit_code == 2
    assert f"config file {path} is not valid TOML" in result.stderr
    assert "line 2" in result.stderr


def test_profiles_must_be_tables(isolated_home: Path) -> None:
    path = write_config(isolated_home / "c.toml", 'profiles = "x"\n')
    with pytest.raises(InvalidInput, match="profiles must be tables"):
        load_config(path)


# ----------------------------------------------------------------------------- hhsession config


def test_set_api_key_from_stdin_then_use_it(cli: Invoker, emulator_url: str, isolated_home: Path) -> None:
    result = cli("config", "set", "api_key", input=f"{API_KEY}\n")
    assert result.exit_code == 0, result.stderr
    assert API_KEY not in result.stdout + result.stderr
    path = isolated_home / ".config" / "hhsession" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert cli("config", "set", "api_url", emulator_url).exit_code == 0
    started = cli("start", "-n", "from-config", "-o", "id")
    assert started.exit_code == 0, started.stderr


@pytest.fixture
def emulator_url(emulator) -> str:  # type: ignore[no-untyped-def]
    return str(emulator.url)


def test_set_api_key_on_argv_warns_about_history(cli: Invoker) -> None:
    result = cli("config", "set", "api_key", API_KEY)
    assert result.exit_code == 0
    assert "shell history" in result.stderr
    assert API_KEY not in result.stderr + result.stdout


def test_set_api_key_with_empty_stdin_is_an_error(cli: Invoker, isolated_home: Path) -> None:
    result = cli("config", "set", "api_key", input="")
    assert result.exit_code == 2
    assert "nothing on standard input" in result.stderr
    assert not (isolated_home / ".config" / "hhsession" / "config.toml").exists()


def test_get_list_mask_the_key(cli: Invoker) -> None:
    cli("config", "set", "api_key", input=API_KEY)
    cli("config", "set", "source", "ci", "--profile", "ci")
    got = cli("config", "get", "api_key")
    assert got.exit_code == 0 and got.stdout == "hh_…TKEY\n"
    listed = cli("config", "list")
    assert listed.exit_code == 0
    assert "[profiles.default]  # active" in listed.stdout
    assert "api_key = 'hh_…TKEY'" in listed.stdout
    assert "[profiles.ci]" in listed.stdout and "source = 'ci'" in listed.stdout
    assert API_KEY not in listed.stdout + got.stdout


def test_the_key_is_masked_in_verbose_start(cli: Invoker, fake: FakeServer) -> None:
    cli("config", "set", "api_key", input=API_KEY)
    result = cli("start", "-v", "-o", "none", env={"HH_API_URL": fake.url, "HH_MAX_RETRIES": "0"})
    assert result.exit_code == 0
    assert "api_key: hh_…TKEY (profile 'default' in" in result.stderr
    assert API_KEY not in result.stderr + result.stdout


def test_unset_and_get_missing(cli: Invoker) -> None:
    cli("config", "set", "source", "ci")
    assert cli("config", "get", "source").stdout == "ci\n"
    assert cli("config", "unset", "source").exit_code == 0
    missing = cli("config", "get", "source")
    assert missing.exit_code == 2 and "source is not set in profile 'default'" in missing.stderr


def test_use_switches_the_default_profile(cli: Invoker, fake: FakeServer) -> None:
    cli("config", "set", "api_url", "https://prod.example")
    cli("config", "set", "api_url", fake.url, "--profile", "local")
    assert cli("config", "use", "local").exit_code == 0
    result = cli("start", "-o", "none", env={"HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0"})
    assert result.exit_code == 0, result.stderr
    assert len(fake.requests) == 1
    bad = cli("config", "use", "nope")
    assert bad.exit_code == 2 and "no profile 'nope'" in bad.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "urll", "x"], "unknown config key 'urll'; did you mean api_url?"),
        (["get", "apikey"], "did you mean api_key?"),
        (["set", "api_url", "not a url"], "is not an http(s) URL with a host"),
        (["set", "api_url", "https://"], "is not an http(s) URL with a host"),
        (["set", "max_retries", "many"], "must be a whole number"),
        (["set", "source"], "config set source: give a value"),
    ],
)
def test_config_errors(cli: Invoker, isolated_home: Path, args: list[str], message: str) -> None:
    result = cli("config", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (isolated_home / ".config" / "hhsession" / "config.toml").exists()


def test_setting_a_plain_http_url_warns(cli: Invoker) -> None:
    remote = cli("config", "set", "api_url", "http://hh.internal.example")
    assert remote.exit_code == 0
    assert "will refuse to send the key there unless given --allow-http" in remote.stderr
    local = cli("config", "set", "api_url", "http://127.0.0.1:8787")
    assert local.exit_code == 0 and "warning" not in local.stderr


def test_path_follows_hhsession_config(cli: Invoker, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "c.toml"
    result = cli("config", "path", env={"HHSESSION_CONFIG": str(target)})
    assert result.stdout == f"{target}\n"
    assert cli("config", "set", "source", "x", env={"HHSESSION_CONFIG": str(target)}).exit_code == 0
    assert 'source = "x"' in target.read_text()


def test_write_is_atomic_and_leaves_no_temp_files(cli: Invoker, isolated_home: Path) -> None:
    for value in ("a", "b", "c"):
        cli("config", "set", "source", value)
    directory = isolated_home / ".config" / "hhsession"
    assert sorted(p.name for p in directory.iterdir()) == ["config.toml"]
    assert check_key("API-KEY") == "api_key"


def test_group_readable_key_file_warns(cli: Invoker, config_file: Path) -> None:
    config_file.chmod(0o644)
    result = cli("start", "--dry-run")
    assert result.exit_code == 0
    assert f"warning: {config_file} holds an API key and is readable by group or others; run: chmod 600 {config_file}" in result.stderr
    config_file.chmod(0o600)
    assert "warning" not in cli("start", "--dry-run").stderr


@pytest.mark.parametrize(("mode", "warned"), [(0o777, True), (0o775, True), (0o755, False), (0o700, False), (0o1777, False)])
def test_a_config_directory_others_can_write_is_said_on_reading(cli: Invoker, config_file: Path, mode: int, warned: bool) -> None:
    directory = config_file.parent
    directory.chmod(mode)
    try:
        result = cli("start", "--dry-run")
    finally:
        directory.chmod(0o700)
    assert result.exit_code == 0
    said = f"warning: {directory} (where the config file is kept) can be written by group or others"
    assert (said in result.stderr) is warned, result.stderr
    assert cli("config", "list").exit_code == 0


def test_set_api_key_prompts_hidden_on_a_terminal(isolated_home: Path) -> None:
    from tests.terminal import Terminal

    term = Terminal(["config", "set", "api_key"])
    assert b"API key (input hidden): " in term.read_until(b"API key (input hidden): ")
    term.type(API_KEY + "\r")
    assert term.wait() == 0, term.output
    assert API_KEY.encode() not in term.output  # not echoed, not printed
    stored = (isolated_home / ".config" / "hhsession" / "config.toml").read_text()
    assert f'api_key = "{API_KEY}"' in stored


# ----------------------------------------------------------------------------- where the config lives


def test_a_config_path_under_a_file_is_exit_2_naming_it(cli: Invoker, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    target = blocker / "config.toml"
    written = cli("config", "set", "source", "ci", env={"HHSESSION_CONFIG": str(target)})
    assert written.exit_code == 2 and str(target) in written.stderr and "internal error" not in written.stderr
    read = cli("start", "--dry-run", env={"HHSESSION_CONFIG": str(target)})
    assert read.exit_code == 2 and str(target) in read.stderr


def test_an_unwritable_default_location_is_exit_2_naming_it(cli: Invoker, isolated_home: Path) -> None:
    (isolated_home / ".config").write_text("a file where the config directory would be")
    result = cli("config", "set", "source", "ci")
    assert result.exit_code == 2
    assert str(isolated_home / ".config") in result.stderr and "HHSESSION_CONFIG" in result.stderr
    assert "internal error" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_default_directory_is_made_0700_whatever_was_there(cli: Invoker, isolated_home: Path) -> None:
    directory = isolated_home / ".config" / "hhsession"
    directory.mkdir(parents=True)
    directory.chmod(0o777)
    result = cli("config", "set", "source", "ci")
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert f"warning: {directory} was open to group or others (mode 777); made it 0700" in result.stderr
    again = cli("config", "set", "source", "cd")
    assert "warning" not in again.stderr  # nothing to tighten any more


def test_under_umask_000_new_directories_are_still_private(cli: Invoker, isolated_home: Path) -> None:
    umask = os.umask(0o000)
    try:
        result = cli("config", "set", "source", "ci")
    finally:
        os.umask(umask)
    assert result.exit_code == 0, result.stderr
    for path, mode in ((isolated_home / ".config", 0o700), (isolated_home / ".config" / "hhsession", 0o700),
                       (isolated_home / ".config" / "hhsession" / "config.toml", 0o600)):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_a_directory_named_by_hhsession_config_is_warned_about_never_changed(cli: Invoker, tmp_path: Path) -> None:
    mine = tmp_path / "team-configs"  # a directory the user chose, open to others on purpose
    mine.mkdir()
    mine.chmod(0o777)
    result = cli("config", "set", "source", "ci", env={"HHSESSION_CONFIG": str(mine / "hh.toml")})
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(mine.stat().st_mode) == 0o777
    assert f"{mine} (where the config file is kept) is open to group or others" in result.stderr
    assert stat.S_IMODE((mine / "hh.toml").stat().st_mode) == 0o600


def test_config_use_with_two_different_profiles_is_exit_2(cli: Invoker) -> None:
    assert cli("config", "set", "source", "a", "--profile", "staging").exit_code == 0
    result = cli("config", "use", "default", "--profile", "staging")
    assert result.exit_code == 2 and "two different profiles" in result.stderr
    assert cli("config", "use", "staging", "--profile", "staging").exit_code == 0


def test_a_negative_value_is_a_value(cli: Invoker) -> None:
    result = cli("config", "set", "max_retries", "-1")
    assert result.exit_code == 2
    assert "max_retries '-1' must be a whole number from 0 to 100" in result.stderr
    mistyped = cli("config", "set", "source", "--profle", "x")
    assert mistyped.exit_code == 2 and "profle" not in cli("config", "list").stdout  # refused, not stored
    alone = cli("config", "set", "source", "--profle")
    assert alone.exit_code == 2 and "'--profle' looks like an option, not a value" in alone.stderr


@pytest.mark.parametrize("where", ["/dev/zero", "/dev/null", "fifo"])
def test_a_config_path_that_is_not_a_file_is_exit_2_and_left_alone(cli: Invoker, tmp_path: Path, where: str) -> None:
    if where == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
        where = str(path)
    before = os.stat(where).st_mode
    started = time.monotonic()
    for args in (["config", "list"], ["config", "set", "source", "x"], ["start", "--dry-run"]):
        result = cli(*args, env={"HHSESSION_CONFIG": where})
        assert result.exit_code == 2, (args, result.stderr)
        assert "is not a regular file" in result.stderr
    assert os.stat(where).st_mode == before  # a device or a pipe is never replaced by a file
    assert time.monotonic() - started < 20


def test_a_key_on_standard_input_is_read_as_one_line(isolated_home: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hhsession", "config", "set", "api_key"], stdin=open("/dev/zero", "rb"),
                            capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(isolated_home)})
    assert result.returncode == 2  # 4 KiB of NUL bytes: not a key, and not 24 GB read to find out


def test_a_symlinked_config_is_written_where_it_points(cli: Invoker, isolated_home: Path, tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "hhsession.toml").write_text("")
    link_dir = isolated_home / ".config" / "hhsession"
    link_dir.mkdir(parents=True)
    (link_dir / "config.toml").symlink_to(dotfiles / "hhsession.toml")
    assert cli("config", "set", "source", "ci").exit_code == 0
    assert (link_dir / "config.toml").is_symlink()
    assert 'source = "ci"' in (dotfiles / "hhsession.toml").read_text()


@pytest.mark.parametrize(("stored", "shown"), [
    ("https://bob:pa55word@api.example.com/x", "https://***@api.example.com/x"),
    ("https:///bob:pa55word@api.example.com", "https:///***@api.example.com"),
    ("https:bob:pa55word@api.example.com/", "https:***@api.example.com/"),
    ("//bob:pa55word@api.example.com", "//***@api.example.com"),
    ("https://bob:pa55word＠api.example.com", "https://***@api.example.com"),
])
def test_a_password_in_a_hand_written_api_url_is_never_shown(cli: Invoker, isolated_home: Path, stored: str, shown: str) -> None:
    directory = isolated_home / ".config" / "hhsession"
    directory.mkdir(parents=True, mode=0o700)
    (directory / "config.toml").write_text(f'[profiles.default]\napi_url = "{stored}"\n', encoding="utf-8")
    got = cli("config", "get", "api_url")
    assert got.exit_code == 0 and got.stdout == shown + "\n"
    listed = cli("config", "list")
    assert "pa55word" not in listed.stdout + listed.stderr and "***@api.example.com" in listed.stdout
    used = cli("start", "-n", "x", "--dry-run", env={"HH_API_KEY": API_KEY})
    assert used.exit_code == 2 and "pa55word" not in used.stderr and "user name or password" in used.stderr


# ----------------------------------------------------------------------------- writes at once, profile names


def test_two_changes_at_once_both_land_twenty_rounds_out_of_twenty(tmp_path: Path) -> None:
    from hhsession.config import change_config

    for round_ in range(20):
        path = tmp_path / f"round{round_}" / "hhsession" / "config.toml"  # the directories do not exist yet
        start = threading.Barrier(2)

        def set_(profile: str, key: str, value: str, path: Path = path, start: threading.Barrier = start) -> None:
            config = load_config(path)
            start.wait()
            change_config(config, lambda fresh: fresh.set(profile, key, value))

        threads = [threading.Thread(target=set_, args=("default", "source", "ci")),
                   threading.Thread(target=set_, args=("prod", "api_url", "https://hh.example"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        profiles = load_config(path).profiles
        assert profiles == {"default": {"source": "ci"}, "prod": {"api_url": "https://hh.example"}}, round_


def test_two_config_set_processes_at_once_both_land(tmp_path: Path) -> None:
    for round_ in range(3):
        env = {**os.environ, "HHSESSION_CONFIG": str(tmp_path / f"new{round_}" / "dir" / "config.toml")}
        procs = [subprocess.Popen([sys.executable, "-m", "hhsession", "config", "set", key, value, "--profile", profile],
                                  env=env, stderr=subprocess.PIPE, text=True)
                 for key, value, profile in (("source", "ci", "a"), ("source", "nightly", "b"))]
        errors = [proc.communicate(timeout=60)[1] for proc in procs]
        assert [proc.returncode for proc in procs] == [0, 0], errors
        assert not any("File exists" in error for error in errors)
        assert load_config(Path(env["HHSESSION_CONFIG"])).profiles == {"a": {"source": "ci"}, "b": {"source": "nightly"}}


@pytest.mark.parametrize("name", ["", "a\nb", "a b", ".x", "../x", "x" * 65, "prod]\n[evil"])
def test_a_profile_name_outside_the_safe_set_is_exit_2(cli: Invoker, isolated_home: Path, name: str) -> None:
    for args in (["config", "set", "source", "ci", "--profile", name], ["config", "use", name]):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert "a profile name is letters, digits, '_', '-' and '.'" in result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert not (isolated_home / ".config" / "hhsession" / "config.toml").exists()
