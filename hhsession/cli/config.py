"""``hhsession config``: read and write the config file (keys masked)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from ..context import Environment
from ..errors import InvalidInput
from ..redact import one_line
from .common import load_config, run_command

HELP = "Read and write the config file: keys, URLs and profiles."
EPILOG = (
    "Examples:\n\n\b\n"
    "  hhsession config set api_key                # a hidden prompt\n"
    "  hhsession config set api_url https://hh.example --profile staging\n"
    "  hhsession config use staging\n"
    "  hhsession config list"
)

ConfigProfile = Annotated[
    Optional[str],
    typer.Option("--profile", help="Profile to act on (default: HHSESSION_PROFILE, default_profile, 'default').", show_default=False),
]
KEY_HELP = "One of: api_key, ingestion_api_key, api_url, source, timeout, max_retries."


def config_keys() -> list[str]:
    from ..config import KEYS

    return list(KEYS)


ConfigKey = Annotated[str, typer.Argument(help=KEY_HELP, show_default=False, autocompletion=config_keys)]


def config_target(env: Environment, key: str, profile: Optional[str]) -> tuple[str, Any, str]:
    """(the checked key, the loaded config file, the profile to act on)."""
    from ..config import check_key
    from ..settings import select_profile

    name = check_key(key)
    config = load_config(env)
    return name, config, select_profile(profile, env.env, config)[0]


def config_set(
    ctx: typer.Context,
    key: ConfigKey,
    value: Annotated[Optional[str], typer.Argument(help="The value. For api_key and ingestion_api_key, leave it out to be prompted (or pipe it in).", show_default=False)] = None,
    profile: ConfigProfile = None,
) -> None:
    """Store a setting in a profile of the config file.

    Examples:

    \b
      hhsession config set api_key             # a hidden prompt
      pass show honeyhive | hhsession config set api_key   # standard input
      hhsession config set api_url https://hh.example --profile prod
      hhsession config set source ci
    """

    def body(env: Environment) -> None:
        from ..config import SECRET_KEYS, change_config
        from ..settings import shown_value, validate_value
        from ..urls import check_plain_http

        name, config, target = config_target(env, key, profile)
        raw = value
        if raw is not None and raw.startswith("--"):  # ignore_unknown_options lets a mistyped option through
            raise InvalidInput(
                f"config set {name}: {raw!r} looks like an option, not a value; the options are --profile and "
                f"--help (see hhsession config set --help)"
            )
        if raw is None:
            if name not in SECRET_KEYS:
                raise InvalidInput(f"config set {name}: give a value, e.g. hhsession config set {name} VALUE")
            raw = read_secret(env, name)
        elif name in SECRET_KEYS:
            env.warn(f"the key given on the command line may stay in your shell history; next time run `hhsession config set {name}` and paste it at the prompt")
        checked = validate_value(name, raw, f"config set {name}")
        if name == "api_url" and check_plain_http(checked, allow_http=True) is not None:  # the rule sending follows
            env.warn(f"{checked} is plain http: hhsession will refuse to send the key there unless given --allow-http")
        _, warnings = change_config(config, lambda fresh: fresh.set(target, name, checked))
        for warning in warnings:
            env.warn(warning)
        env.info(f"set {name} = {shown_value(name, checked)} in profile {target!r} ({config.path})")

    run_command(ctx, False, body)


def read_secret(env: Environment, name: str = "api_key") -> str:
    if env.stdin_isatty:
        import getpass

        label = "Ingestion API key" if name == "ingestion_api_key" else "API key"
        return getpass.getpass(f"{label} (input hidden): ", stream=env.stderr)  # type: ignore[arg-type]
    line = env.stdin.readline(4096)  # a key is a line, not whatever standard input holds
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
    if not text.strip():
        raise InvalidInput(f"config set {name}: nothing on standard input; pipe the key in or run it in a terminal to be prompted")
    return text


def config_get(
    ctx: typer.Context,
    key: ConfigKey,
    profile: ConfigProfile = None,
) -> None:
    """Print a stored setting (the keys are shown masked).

    Example: hhsession config get api_url --profile staging
    """

    def body(env: Environment) -> None:
        from ..settings import shown_value

        name, config, target = config_target(env, key, profile)
        stored = config.profile(target).get(name)
        if stored is None:
            raise InvalidInput(f"{name} is not set in profile {target!r} of {config.path}; set it with `hhsession config set {name}`")
        env.stdout.write(f"{shown_value(name, stored)}\n")

    run_command(ctx, False, body)


def config_unset(
    ctx: typer.Context,
    key: ConfigKey,
    profile: ConfigProfile = None,
) -> None:
    """Remove a setting from a profile.

    Example: hhsession config unset api_key --profile old
    """

    def body(env: Environment) -> None:
        from ..config import change_config

        name, config, target = config_target(env, key, profile)
        removed, warnings = change_config(config, lambda fresh: fresh.unset(target, name))
        if removed:
            for warning in warnings:
                env.warn(warning)
            env.info(f"removed {name} from profile {target!r}")
        else:
            env.info(f"{name} was not set in profile {target!r}; nothing to do")

    run_command(ctx, False, body)


def config_list(ctx: typer.Context, profile: ConfigProfile = None) -> None:
    """Show the profiles and their settings (keys masked); --profile shows one.

    Example: hhsession config list
    """

    def body(env: Environment) -> None:
        from ..settings import select_profile, shown_value

        config = load_config(env)
        active = select_profile(None, env.env, config)[0]
        names = [profile] if profile else sorted(config.profiles)
        env.stdout.write(f"# {config.path}{'' if config.exists else ' (not created yet)'}\n")
        for name in names:
            marker = "  # active" if name == active else ""
            env.stdout.write(f"[profiles.{one_line(name)}]{marker}\n")  # (a hand-edited file may hold anything)
            for key, stored in config.profile(name).items():
                shown = shown_value(key, stored)
                env.stdout.write(f"{key} = {shown!r}\n" if isinstance(shown, str) else f"{key} = {shown}\n")

    run_command(ctx, False, body)


def config_path_command(ctx: typer.Context) -> None:
    """Print where the config file is ($HHSESSION_CONFIG, else the platform's config dir).

    Example: cat "$(hhsession config path)"
    """

    def body(env: Environment) -> None:
        from ..config import config_path

        env.stdout.write(f"{config_path(env.env)}\n")

    run_command(ctx, False, body)


def config_use(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The profile to make the default.", show_default=False)],
    profile: ConfigProfile = None,
) -> None:
    """Make a profile the default (default_profile in the file).

    Example: hhsession config use staging
    """

    def body(env: Environment) -> None:
        from ..config import change_config
        from ..settings import check_profile_name

        check_profile_name(name, f"config use {name}")
        if profile is not None and profile != name:
            raise InvalidInput(
                f"config use {name} --profile {profile}: two different profiles; give one: "
                f"hhsession config use {name}"
            )
        config = load_config(env)
        if name not in config.profiles:
            known = ", ".join(sorted(config.profiles)) or "none yet"
            raise InvalidInput(
                f"no profile {name!r} in {config.path} (profiles: {known}); create it with "
                f"`hhsession config set api_key --profile {name}`"
            )
        _, warnings = change_config(config, lambda fresh: fresh.data.__setitem__("default_profile", name))
        for warning in warnings:
            env.warn(warning)
        env.info(f"default profile is now {name!r}")

    run_command(ctx, False, body)


