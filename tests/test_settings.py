"""Settings resolution (SPEC §4): flags, environment, profile, defaults; URLs, proxies and TLS.

The config file itself and `hhsession config` are in test_config.py."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from hhsession.errors import InvalidInput
from hhsession.redact import mask_secret
from hhsession.settings import resolve_settings
from hhsession.urls import DEFAULT_API_URL, is_loopback_host
from tests.conftest import API_KEY, KEY_A, Invoker
from tests.fakeserver import FakeServer

KEY_B = "hh_environ_key_bbbbbbbbbbbb2222"


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


# ----------------------------------------------------------------------------- secrets and hosts


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


# ----------------------------------------------------------------------------- no key


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
        result = cli("start", "--api-url", "https://api.example.test", "--timeout", "0.5", env=env)
        took = time.monotonic() - started
        assert proxy.requests and proxy.requests[0].method == "CONNECT"
    assert result.exit_code == 5, result.stderr
    assert "no complete answer within 1 s" in result.stderr and took < 10


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
        # no_proxy as Python's urllib reads it: names and suffixes, not CIDR blocks (docs/settings.md, Security)
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


# ----------------------------------------------------------------------------- words, URLs and hosts


def test_words_that_do_not_contradict_themselves(cli: Invoker, fake: FakeServer) -> None:
    zero = cli("start", "--timeout", "0", "--dry-run")
    assert zero.exit_code == 2 and "timeout 0.0 must be more than 0 and at most 3600 seconds" in zero.stderr
    url = cli("start", "--api-url", "http://[::1", env={"HH_API_KEY": API_KEY})
    assert url.exit_code == 2 and "is not a valid URL" in url.stderr and "internal error" not in url.stderr
    verbose = cli("start", "-v", "--dry-run")
    assert 'source: "unknown" (built-in default, as the server would fill it in)' in verbose.stderr
    assert json.loads(verbose.stdout)["source"] == "unknown"  # what -v says is what is sent


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


def test_a_rooted_localhost_is_not_sent_plain_http(cli: Invoker) -> None:
    result = cli("start", "--api-url", "http://localhost.:1", "-n", "x", env={"HH_API_KEY": API_KEY})
    assert result.exit_code == 2 and "refusing to send the API key over plain http to localhost." in result.stderr


@pytest.mark.parametrize(("url", "meant"), [("127.0.0.1:8787", "http://127.0.0.1:8787"), ("localhost:8787", "http://localhost:8787"),
                                            ("api.example.com", "https://api.example.com"),
                                            ("hh.example.com:443/v1", "https://hh.example.com:443/v1")])
def test_a_url_without_its_scheme_gets_the_likely_one(cli: Invoker, url: str, meant: str) -> None:
    result = cli("start", "-o", "id", "--api-url", url, env={"HH_API_KEY": "k"})
    assert result.exit_code == 2
    assert result.stderr == f"hhsession: error: flag --api-url: {url!r} has no scheme; did you mean {meant}?\n"


@pytest.mark.parametrize(("variable", "value", "instead"), [("HONEYHIVE_API_KEY", API_KEY, "HH_API_KEY"),
                                                            ("HONEYHIVE_SERVER_URL", "http://127.0.0.1:9", "HH_API_URL"),
                                                            ("HH_SERVER_URL", "http://127.0.0.1:9", "HH_API_URL")])
def test_a_deprecated_variable_is_taken_and_said_so(cli: Invoker, variable: str, value: str, instead: str) -> None:
    result = cli("start", "--dry-run", "-o", "id", env={"HH_API_KEY": API_KEY, variable: value} if variable != "HONEYHIVE_API_KEY"
                 else {variable: value})
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (f"hhsession: warning: {variable} is deprecated (the vendor's SDK warns so too): set {instead} "
                             f"instead\n")
