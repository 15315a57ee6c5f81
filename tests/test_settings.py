"""Settings resolution, the config file and `hhsession config` (SPEC §4)."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hhsession.config import check_key, config_path, load_config
from hhsession.errors import InvalidInput
from hhsession.redact import mask_secret
from hhsession.settings import resolve_settings
from hhsession.urls import DEFAULT_API_URL, is_loopback_host
from tests.conftest import API_KEY, Invoker
from tests.fakeserver import FakeServer

KEY_A = "hh_profile_key_aaaaaaaaaaaa1111"
KEY_B = "hh_environ_key_bbbbbbbbbbbb2222"


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.fixture
def config_file(isolated_home: Path) -> Path:
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


def resolve(env: dict[str, str], flags: dict[str, object] | None = None, profile: str | None = None):  # type: ignore[no-untyped-def]
    full_env = {"HOME": os.environ["HOME"], "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"], **env}
    return resolve_settings(flags or {}, full_env, profile=profile)


# ----------------------------------------------------------------------------- precedence


def test_built_in_defaults(isolated_home: Path) -> None:
    settings = resolve({})
    assert (settings.api_key, settings.api_url, settings.timeout, settings.max_retries, settings.source) == (
        None, DEFAULT_API_URL, 30.0, 3, None)
    assert settings.connect_timeout == 5.0
    assert settings.origins["api_url"] == "built-in default"


def test_profile_beats_default(config_file: Path) -> None:
    settings = resolve({})
    assert (settings.api_key, settings.api_url, settings.timeout, settings.max_retries, settings.source) == (
        KEY_A, "https://default.example", 12.0, 1, "profile-src")
    assert settings.origins["api_key"] == f"profile 'default' in {config_file}"


@pytest.mark.parametrize(
    ("setting", "env_name", "raw", "expected"),
    [
        ("api_key", "HH_PROJECT_API_KEY", KEY_B, KEY_B),
        ("api_key", "HH_API_KEY", KEY_B, KEY_B),
        ("api_key", "HONEYHIVE_API_KEY", KEY_B, KEY_B),
        ("api_url", "HH_DATA_PLANE_URL", "https://dp.example/", "https://dp.example"),
        ("api_url", "HH_API_URL", "https://env.example/", "https://env.example"),
        ("api_url", "HONEYHIVE_SERVER_URL", "https://env2.example", "https://env2.example"),
        ("api_url", "HH_SERVER_URL", "https://env3.example", "https://env3.example"),
        ("timeout", "HH_API_TIMEOUT", "7.5", 7.5),
        ("max_retries", "HH_MAX_RETRIES", "0", 0),
        ("source", "HH_SOURCE", "env-src", "env-src"),
    ],
)
def test_each_environment_name_beats_the_profile(
    config_file: Path, setting: str, env_name: str, raw: str, expected: object
) -> None:
    settings = resolve({env_name: raw})
    assert getattr(settings, setting) == expected
    assert settings.origins[setting] == f"environment {env_name}"


def test_first_environment_name_set_wins(config_file: Path) -> None:
    settings = resolve({"HH_API_URL": "https://first.example", "HONEYHIVE_SERVER_URL": "https://second.example"})
    assert settings.api_url == "https://first.example"
    settings = resolve({"HONEYHIVE_API_KEY": KEY_B, "HH_API_KEY": ""})
    assert settings.api_key == KEY_B  # an empty variable counts as unset


def test_todays_official_names_come_first(config_file: Path) -> None:
    # The official CLI and TypeScript SDK (1.4+) export HH_PROJECT_API_KEY and HH_DATA_PLANE_URL.
    both = {"HH_PROJECT_API_KEY": KEY_B, "HH_API_KEY": "hh_older_key_0123456789", "HONEYHIVE_API_KEY": "x" * 20,
            "HH_DATA_PLANE_URL": "https://dp.example", "HH_API_URL": "https://older.example"}
    settings = resolve(both)
    assert (settings.api_key, settings.api_url) == (KEY_B, "https://dp.example")
    assert settings.origins["api_key"] == "environment HH_PROJECT_API_KEY"
    assert settings.origins["api_url"] == "environment HH_DATA_PLANE_URL"
    emptied = resolve({**both, "HH_PROJECT_API_KEY": "", "HH_DATA_PLANE_URL": ""})  # `export X=` means none
    assert (emptied.api_key, emptied.api_url) == ("hh_older_key_0123456789", "https://older.example")
    assert emptied.origins["api_key"] == "environment HH_API_KEY"


def test_exporting_the_official_cli_variables_is_enough(cli: Invoker, fake: FakeServer) -> None:
    result = cli("start", "-o", "id", "-v", env={"HH_PROJECT_API_KEY": KEY_B, "HH_DATA_PLANE_URL": fake.url})
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY_B}"
    assert "api_key: " in result.stderr and "(environment HH_PROJECT_API_KEY)" in result.stderr
    assert "(environment HH_DATA_PLANE_URL)" in result.stderr and KEY_B not in result.stderr


def test_the_official_flag_names_are_aliases(cli: Invoker, fake: FakeServer) -> None:
    result = cli("start", "-o", "id", "--project-api-key", KEY_B, "--data-plane-url", fake.url)
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY_B}"


def test_flag_beats_environment(config_file: Path) -> None:
    settings = resolve({"HH_API_URL": "https://env.example", "HH_MAX_RETRIES": "5"},
                       flags={"api_url": "https://flag.example", "max_retries": 2})
    assert (settings.api_url, settings.max_retries) == ("https://flag.example", 2)
    assert settings.origins["api_url"] == "flag --api-url"


def test_profile_selection_order(config_file: Path) -> None:
    assert resolve({}).profile == "default"
    assert resolve({"HHSESSION_PROFILE": "staging"}).api_url == "https://staging.example"
    assert resolve({"HHSESSION_PROFILE": "staging"}, profile="default").api_url == "https://default.example"
    text = config_file.read_text().replace('default_profile = "default"', 'default_profile = "staging"')
    config_file.write_text(text)
    settings = resolve({})
    assert settings.profile == "staging" and settings.api_key is None  # profiles do not inherit


def test_a_named_profile_that_does_not_exist_is_an_error(config_file: Path) -> None:
    with pytest.raises(InvalidInput, match=r"profile 'prod' \(flag --profile\) is not in .*profiles: default, staging"):
        resolve({}, profile="prod")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HH_API_TIMEOUT": "soon"}, "environment HH_API_TIMEOUT: timeout 'soon' must be more than 0 and at most 3600 seconds"),
        ({"HH_API_TIMEOUT": "0"}, "timeout '0' must be"),
        ({"HH_MAX_RETRIES": "-1"}, "environment HH_MAX_RETRIES: max_retries '-1' must be a whole number"),
        ({"HH_MAX_RETRIES": "2.5"}, "must be a whole number"),
        ({"HH_API_URL": "ftp://x"}, "environment HH_API_URL: 'ftp://x' is not an http(s) URL with a host"),
        ({"HH_API_URL": "https://x?y=1"}, "must not have a query"),
        ({"HH_API_KEY": "has space inside"}, "the API key contains spaces, control or non-ASCII characters"),
    ],
)
def test_bad_settings_are_named_with_their_origin(isolated_home: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        resolve(env)
    assert message in info.value.message
    assert "has space inside" not in info.value.message  # a key is never echoed


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


def test_mask_secret() -> None:
    assert mask_secret("hh_abcdefghijklmnop1234") == "hh_…1234"
    assert mask_secret("short-key") == "****"
    assert mask_secret(None) == "(none)"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["example.com", "10.0.0.1", "192.168.1.1", "localhost.example.com", "", None])
def test_not_loopback_hosts(host: str | None) -> None:
    assert not is_loopback_host(host)


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


def test_no_key_anywhere_names_both_fixes(cli: Invoker, fake: FakeServer) -> None:
    result = cli("start", env={"HH_API_URL": fake.url})
    assert result.exit_code == 3
    assert "set HH_PROJECT_API_KEY (or HH_API_KEY)" in result.stderr and "hhsession config set api_key" in result.stderr
    assert fake.connections == 0


# ----------------------------------------------------------------------------- transport safety


def test_plain_http_to_a_remote_host_is_refused_before_connecting(cli: Invoker, fake: FakeServer) -> None:
    # Route every request through the fake server as an HTTP proxy: had the
    # client connected anywhere, the fake server would have seen it.
    env = {"HH_API_KEY": API_KEY, "HTTP_PROXY": fake.url, "http_proxy": fake.url, "NO_PROXY": "", "no_proxy": "", "HH_MAX_RETRIES": "0"}
    refused = cli("start", "--api-url", "http://sessions.example.com", env=env)
    assert refused.exit_code == 2
    assert "refusing to send the API key over plain http to sessions.example.com (flag --api-url)" in refused.stderr
    assert "--allow-http" in refused.stderr
    assert fake.connections == 0
    allowed = cli("start", "--api-url", "http://sessions.example.com", "--allow-http", "-o", "none", env=env)
    assert allowed.exit_code == 0, allowed.stderr
    assert "warning: sending the API key over plain http to sessions.example.com (--allow-http)" in allowed.stderr
    assert fake.requests[0].path == "http://sessions.example.com/v1/sessions"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]):  # type: ignore[no-untyped-def]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    with FakeServer(ssl_context=context) as server:
        yield server


def test_tls_is_verified_and_not_retried(cli: Invoker, tls_server: FakeServer) -> None:
    result = cli("start", env={"HH_API_URL": tls_server.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "3"})
    assert result.exit_code == 5
    assert "TLS verification failed" in result.stderr and "REQUESTS_CA_BUNDLE" in result.stderr
    assert tls_server.connections == 1
    assert tls_server.requests == []  # the key never left


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"])
def test_private_ca_from_the_environment(cli: Invoker, tls_server: FakeServer, certificate: tuple[Path, Path], variable: str) -> None:
    env = {"HH_API_URL": tls_server.url, "HH_API_KEY": API_KEY, variable: str(certificate[0])}
    result = cli("start", "-o", "id", env=env)
    assert result.exit_code == 0, result.stderr
    assert tls_server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_a_ca_directory_and_an_upper_case_scheme(cli: Invoker, tls_server: FakeServer, certificate: tuple[Path, Path], tmp_path: Path) -> None:
    digest = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(certificate[0])], capture_output=True,
                            text=True, check=True).stdout.strip()
    hashed = tmp_path / "certs"
    hashed.mkdir()
    shutil.copy(certificate[0], hashed / f"{digest}.0")  # a c_rehash'd directory, as /etc/ssl/certs
    url = tls_server.url.replace("https://", "HTTPS://")
    result = cli("start", "-o", "id", env={"HH_API_URL": url, "HH_API_KEY": API_KEY, "REQUESTS_CA_BUNDLE": str(hashed)})
    assert result.exit_code == 0, result.stderr


def test_a_proxy_that_drips_its_tunnel_answer_meets_the_deadline(cli: Invoker) -> None:
    from tests.fakeserver import Drip

    with FakeServer([Drip(interval=0.2, seconds=40, where="headers")]) as proxy:
        env = {"HH_API_KEY": API_KEY, "HTTPS_PROXY": proxy.url, "NO_PROXY": "", "no_proxy": "", "HH_MAX_RETRIES": "0"}
        started = time.monotonic()
        result = cli("start", "--api-url", "https://api.example.test", "--timeout", "1", env=env)
        took = time.monotonic() - started
        assert proxy.requests and proxy.requests[0].method == "CONNECT"
    assert result.exit_code == 5, result.stderr
    assert "no complete answer within 2 s" in result.stderr and took < 10


def test_set_api_key_prompts_hidden_on_a_terminal(isolated_home: Path) -> None:
    from tests.terminal import Terminal

    term = Terminal(["config", "set", "api_key"])
    assert b"API key (input hidden): " in term.read_until(b"API key (input hidden): ")
    term.type(API_KEY + "\r")
    assert term.wait() == 0, term.output
    assert API_KEY.encode() not in term.output  # not echoed, not printed
    stored = (isolated_home / ".config" / "hhsession" / "config.toml").read_text()
    assert f'api_key = "{API_KEY}"' in stored


def test_settings_repr_hides_the_key(isolated_home: Path) -> None:
    settings = resolve({"HH_API_KEY": KEY_B})
    assert settings.api_key == KEY_B
    assert KEY_B not in repr(settings) and KEY_B not in str(settings)


# ----------------------------------------------------------------------------- proxies (SPEC §4)

TEST_NET_PROXY = "http://192.0.2.1:3128"  # TEST-NET-1: nothing answers there; a request sent there would hang


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_a_loopback_url_is_sent_directly_whatever_the_proxy_variables_say(cli: Invoker, fake: FakeServer, variable: str) -> None:
    env = {"HH_API_URL": fake.url, "HH_API_KEY": API_KEY, "HH_MAX_RETRIES": "0", "NO_PROXY": "", "no_proxy": "",
           variable: TEST_NET_PROXY}
    started = time.monotonic()
    result = cli("start", "-o", "id", "--timeout", "3", env=env)
    assert result.exit_code == 0, result.stderr
    assert fake.requests[0].path == "/v1/sessions"  # a direct request, not a proxy's absolute URI
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("url", "environ", "expected"),
    [
        ("http://127.0.0.1:8787", {"http_proxy": "http://p:1"}, None),
        ("http://localhost:8787", {"ALL_PROXY": "http://p:1"}, None),
        ("http://[::1]:8787", {"HTTP_PROXY": "http://p:1"}, None),
        ("https://api.example.com", {"https_proxy": "p:3128"}, "http://p:3128"),
        ("https://api.example.com", {"HTTPS_PROXY": "http://P:1", "https_proxy": "http://p:2"}, "http://p:2"),
        ("https://api.example.com", {"ALL_PROXY": "http://all:1"}, "http://all:1"),
        ("https://api.example.com", {"https_proxy": "http://p:1", "no_proxy": "example.com"}, None),
        ("https://api.example.com", {"https_proxy": "http://p:1", "NO_PROXY": ".example.com"}, None),
        ("https://api.example.com", {"https_proxy": "http://p:1", "no_proxy": "*"}, None),
        ("https://api.example.com", {"https_proxy": "http://p:1", "no_proxy": "ample.com"}, "http://p:1"),
        # no_proxy as Python's urllib reads it: names and suffixes, not CIDR blocks (README, Settings)
        ("https://10.1.2.3", {"https_proxy": "http://p:1", "no_proxy": "10.0.0.0/8"}, "http://p:1"),
        ("https://10.1.2.3", {"https_proxy": "http://p:1", "no_proxy": "10.1.2.3"}, None),
        ("https://api.example.com:8443", {"https_proxy": "http://p:1", "no_proxy": "api.example.com:443"}, "http://p:1"),
        ("https://api.example.com", {"http_proxy": "http://p:1"}, None),
        ("https://api.example.com", {"https_proxy": "", "HTTPS_PROXY": "http://p:1"}, None),  # empty lower case: none
        ("https://api.example.com", {"all_proxy": "", "ALL_PROXY": "http://p:1"}, None),
    ],
)
def test_which_proxy(url: str, environ: dict[str, str], expected: str | None) -> None:
    from hhsession.urls import proxy_for

    assert proxy_for(url, environ) == expected


def test_a_socks_proxy_is_a_clear_usage_error(cli: Invoker) -> None:
    env = {"HH_API_KEY": API_KEY, "ALL_PROXY": "socks5://user:pw@192.0.2.1:1080", "NO_PROXY": "", "no_proxy": ""}
    result = cli("start", "--api-url", "https://api.example.com", env=env)
    assert result.exit_code == 2
    assert "proxy socks5://***@192.0.2.1:1080 (socks5) is not supported" in result.stderr
    assert "pw" not in result.stderr


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


def test_under_umask_000_new_directories_are_still_private(isolated_home: Path) -> None:
    env = {**os.environ, "HOME": str(isolated_home), "XDG_CONFIG_HOME": str(isolated_home / ".config")}
    result = subprocess.run(["sh", "-c", f"umask 000 && {sys.executable} -m hhsession config set source ci"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
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


def test_words_that_do_not_contradict_themselves(cli: Invoker, fake: FakeServer) -> None:
    zero = cli("start", "--timeout", "0", "--dry-run")
    assert zero.exit_code == 2 and "timeout 0.0 must be more than 0 and at most 3600 seconds" in zero.stderr
    url = cli("start", "--api-url", "http://[::1", env={"HH_API_KEY": API_KEY})
    assert url.exit_code == 2 and "is not a valid URL" in url.stderr and "internal error" not in url.stderr
    verbose = cli("start", "-v", "--dry-run")
    assert 'source: "unknown" (built-in default, as the server would fill it in)' in verbose.stderr
    assert json.loads(verbose.stdout)["source"] == "unknown"  # what -v says is what is sent


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


def test_a_name_under_localhost_is_not_taken_for_loopback() -> None:
    assert is_loopback_host("localhost") and is_loopback_host("127.0.0.2") and is_loopback_host("[::1]")
    assert not is_loopback_host("foo.localhost")  # a resolver may send it anywhere
    assert not is_loopback_host("localhost.")  # a rooted name: not in /etc/hosts, asked of DNS


@pytest.mark.parametrize(("url", "message"), [
    ("https://exa mple.com", "'https://exa mple.com' holds spaces; give the URL alone"),
    ("https://[::1]x", "has an invalid host '[::1]x'"),
    ("https://ex<ample.com", "has an invalid host"),
    ("https://user:pa55word@example.com", "the URL holds a user name or password (not shown)"),
    ("https://pa55word@example.com", "the URL holds a user name or password (not shown)"),
    ("https://example.com:99999999", "has an invalid port"),
    ("https://a%zz.com", "has an invalid host"),
    ("https://%00.com", "has an invalid host"),
    ("http://local\thost:18787", "holds control characters (a tab, a newline)"),
    ("https://user:p[ss@api.example.com", "the URL holds a user name or password (not shown)"),
    ("https://user:pa55word@[zz]", "the URL holds a user name or password (not shown)"),
    ("ftp://user:pa55word@api.example.com", "the URL holds a user name or password (not shown)"),
    ("https:/user:pa55word@api.example.com", "the URL holds a user name or password (not shown)"),
    ("https://user:pa55word@", "the URL holds a user name or password (not shown)"),
    ("//user:pa55word@api.example.com", "the URL holds a user name or password (not shown)"),
    ("user:pa55word@api.example.com", "the URL holds a user name or password (not shown)"),
    ("https://user:pa55word＠api.example.com", "the URL holds a user name or password (not shown)"),
])
def test_a_malformed_api_url_is_exit_2_and_nothing_is_sent(cli: Invoker, fake: FakeServer, url: str, message: str) -> None:
    for how in (["--api-url", url], ["--data-plane-url", url]):
        result = cli("start", *how, "-n", "x", env={"HH_API_KEY": API_KEY})
        assert result.exit_code == 2, result.stderr
        assert message in result.stderr and result.stderr.count("\n") == 1 and "internal error" not in result.stderr
        assert "pa55word" not in result.stderr
    result = cli("start", "-n", "x", env={"HH_API_KEY": API_KEY, "HH_API_URL": url})
    assert result.exit_code == 2 and "environment HH_API_URL" in result.stderr and "pa55word" not in result.stderr
    stored = cli("config", "set", "api_url", url)
    assert stored.exit_code == 2 and "pa55word" not in stored.stderr
    assert fake.requests == []


@pytest.mark.parametrize("url", ["http://[::1]:8080", "https://xn--bcher-kva.example", "https://bücher.example/",
                                 "http://[fe80::1%25eth0]:80", "https://api.example.com/base@v1",
                                 "https://api.example.com:8443/base", "http://127.0.0.1"])
def test_well_formed_api_urls_pass(cli: Invoker, url: str) -> None:
    assert cli("start", "--api-url", url, "--dry-run", "-o", "none").exit_code == 0


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


def test_a_rooted_localhost_is_not_sent_plain_http(cli: Invoker) -> None:
    result = cli("start", "--api-url", "http://localhost.:1", "-n", "x", env={"HH_API_KEY": API_KEY})
    assert result.exit_code == 2 and "refusing to send the API key over plain http to localhost." in result.stderr
