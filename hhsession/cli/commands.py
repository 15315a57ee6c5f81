"""The command tree: the Typer app and its commands, registered in one place.

Each command lives in a module of its own (``start.py``, ``replay.py``, ...)
as a plain function; this module wires them up, as pip's command registry does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__
from . import config, emulator, end, replay, schema, start
from . import exec as exec_module

HELP = """Start HoneyHive sessions from a shell, a CI pipeline or a script.

Exit codes: 0 ok, 1 internal error, 2 invalid input (nothing sent), 3 no key or
401/403, 4 rejected by the server, 5 network or server failure after retries,
6 replay finished with failed or invalid records, 130 interrupted.

Environment: HH_PROJECT_API_KEY (or HH_API_KEY), HH_DATA_PLANE_URL (or HH_API_URL),
HH_API_TIMEOUT, HH_MAX_RETRIES, HH_SOURCE, HHSESSION_PROFILE, HHSESSION_CONFIG.
"""
EPILOG = (
    "Examples:\n\n\b\n"
    "  hhsession start --name nightly-eval -m branch=main\n"
    "  echo '{\"session_name\": \"etl\"}' | hhsession start -f - -o id\n"
    "  hhsession exec --name build -- make test\n"
    "  hhsession end \"$HH_SESSION_ID\" --outputs result=passed\n"
    "  hhsession replay recorded.jsonl --journal replay.journal\n"
    "  hhsession emulator --port 8787"
)


class OneLineErrors(TyperGroup):
    """Usage errors (an unknown flag, a bad choice) as one line, like every other error (SPEC §6)."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **kwargs: Any,
    ) -> Any:
        call = {"args": args, "prog_name": prog_name, "complete_var": complete_var, **kwargs}
        if not standalone_mode:
            return super().main(standalone_mode=False, **call)
        env = kwargs.get("obj")
        stderr = getattr(env, "stderr", None) or sys.stderr
        try:
            result = super().main(standalone_mode=False, **call)
        except typer.TyperException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `hhsession config`: show the help
                exc.show()  # type: ignore[attr-defined]
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            hint = f"; see {ctx.command_path} --help" if ctx is not None else ""
            stderr.write(f"hhsession: error: {exc.format_message().rstrip('.')}{hint}\n")
            sys.exit(exc.exit_code)
        except typer.Abort:
            stderr.write("hhsession: aborted\n")
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    name="hhsession",
    cls=OneLineErrors,
    help=HELP,
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help (click's): readable at 80 columns, examples kept as written, and no rich to import.
    rich_markup_mode=None,
    # Our own --install-completion writes the static scripts of completions/.
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hhsession {__version__}")
        raise typer.Exit()


def _completion(install: bool) -> Callable[[bool], None]:
    """The bare flag: the shell of $SHELL. (``main`` handles ``--show-completion SHELL`` before Typer.)"""

    def callback(value: bool) -> None:
        if not value:
            return
        import os

        from ..completion import completion_command

        raise typer.Exit(completion_command(install, None, os.environ, sys.stdout, sys.stderr))

    return callback


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    install_completion: Annotated[
        bool,
        typer.Option("--install-completion", callback=_completion(True), is_eager=True, expose_value=False,
                     help="Install completion for a shell: bash, zsh, fish or powershell after it (default: $SHELL)."),
    ] = False,
    show_completion: Annotated[
        bool,
        typer.Option("--show-completion", callback=_completion(False), is_eager=True, expose_value=False,
                     help="Print the completion script of a shell named after it (default: $SHELL)."),
    ] = False,
) -> None:
    """Start HoneyHive sessions from a shell, a CI pipeline or a script."""


# ----------------------------------------------------------------------------- the registry

app.command(epilog=start.EPILOG)(start.start)
app.command(epilog=end.EPILOG)(end.end)
app.command(
    "exec",
    epilog=exec_module.EPILOG,
    # Options before the command are exec's; from the first word of the command on, all is the command's.
    context_settings={"allow_interspersed_args": False},
)(exec_module.exec_command)
app.command(epilog=replay.EPILOG)(replay.replay)

config_app = typer.Typer(name="config", help=config.HELP, epilog=config.EPILOG, no_args_is_help=True, rich_markup_mode=None)
# A value may begin with "-" (max_retries -1 is a value, and gets the range error).
config_app.command("set", context_settings={"ignore_unknown_options": True})(config.config_set)
config_app.command("get")(config.config_get)
config_app.command("unset")(config.config_unset)
config_app.command("list")(config.config_list)
config_app.command("path")(config.config_path_command)
config_app.command("use")(config.config_use)
app.add_typer(config_app)

app.command()(schema.schema)
app.command(epilog=emulator.EPILOG)(emulator.emulator)
