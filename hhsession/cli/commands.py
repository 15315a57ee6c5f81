"""The command tree: the Typer app and its commands, registered in one place.

Each command lives in a module of its own (``start.py``, ``replay.py``, ...)
as a plain function; this module names them, and a command's module is
imported (and turned into a click command) only when that command runs, as
pip's command registry does: ``hhsession start`` pays for no other command.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from .. import __version__

if TYPE_CHECKING:
    from ..completion import Node

HELP = """Start HoneyHive sessions from a shell, a CI pipeline or a script.

Exit codes: 0 ok, 1 internal error, 2 invalid input (nothing sent), 3 no key or
401/403, 4 rejected by the server, 5 network or server failure after retries,
6 replay finished with failed or invalid records, 7 a local file (the
journal) could not be written, 130 interrupted, 141 stdout
closed by its reader, 143 replay stopped by SIGTERM.

Environment: HH_PROJECT_API_KEY (or HH_API_KEY), HH_DATA_PLANE_URL (or HH_API_URL),
HH_API_TIMEOUT, HH_MAX_RETRIES, HH_SOURCE, HHSESSION_PROFILE, HHSESSION_CONFIG,
HHSESSION_PROGRESS_INTERVAL (replay), HH_EMULATOR_TOKEN (emulator).
"""
EPILOG = (
    "Examples:\n\n\b\n"
    "  hhsession start --name nightly-eval -m branch=main\n"
    "  echo '{\"session_name\": \"etl\"}' | hhsession start -f - -o id\n"
    "  hhsession exec --name build -- make test\n"
    "  hhsession event --name tests -m failed:=3\n"
    "  hhsession get \"$HH_SESSION_ID\"\n"
    "  hhsession end \"$HH_SESSION_ID\" --outputs result=passed\n"
    "  hhsession replay recorded.jsonl --journal replay.journal\n"
    "  hhsession emulator --port 8787"
)


class OneLineErrors(TyperGroup):
    """The root group: commands built when asked for (``COMMANDS``), and usage errors (an unknown
    flag, a bad choice) as one line, like every other error (SPEC §6)."""

    _built: dict[str, Any]

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        built = self.__dict__.setdefault("_built", {})
        if cmd_name not in built and cmd_name in COMMANDS:
            built[cmd_name] = COMMANDS[cmd_name]()
        return built.get(cmd_name)

    def all_commands(self) -> dict[str, Any]:
        """Every command, built (completion scripts and help list them all)."""
        return {name: self.get_command(None, name) for name in COMMANDS}

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

        raise typer.Exit(completion_command(app_tree(), install, None, os.environ, sys.stdout, sys.stderr))

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


def app_tree() -> Node:
    """The command tree of the CLI, as the completion scripts describe it."""
    from ..completion import command_tree

    return command_tree(typer.main.get_command(app))


# ----------------------------------------------------------------------------- the registry


def _command(module: str, function: str, name: str, **settings: Any) -> Callable[[], Any]:
    """How to build one command: import its module, make it a click command."""

    def build() -> Any:
        code = importlib.import_module(f"{__package__}.{module}")
        single = typer.Typer(add_completion=False, rich_markup_mode=None)
        single.command(name, epilog=getattr(code, "EPILOG", None), **settings)(getattr(code, function))
        return typer.main.get_command(single)

    return build


def _config_group() -> Any:
    from . import config

    group = typer.Typer(name="config", help=config.HELP, epilog=config.EPILOG, no_args_is_help=True,
                        rich_markup_mode=None, add_completion=False)
    # A value may begin with "-" (max_retries -1 is a value, and gets the range error).
    group.command("set", context_settings={"ignore_unknown_options": True})(config.config_set)
    group.command("get")(config.config_get)
    group.command("unset")(config.config_unset)
    group.command("list")(config.config_list)
    group.command("path")(config.config_path_command)
    group.command("use")(config.config_use)
    return typer.main.get_command(group)


#: Every command, in the order --help lists them.
COMMANDS: dict[str, Callable[[], Any]] = {
    "start": _command("start", "start", "start"),
    "end": _command("end", "end", "end"),
    "update": _command("update", "update", "update"),
    "event": _command("event", "event", "event"),
    "get": _command("get", "get", "get"),
    # Options before the command are exec's; from the first word of the command on, all is the command's.
    "exec": _command("exec", "exec_command", "exec", context_settings={"allow_interspersed_args": False}),
    "replay": _command("replay", "replay", "replay"),
    "config": _config_group,
    "schema": _command("schema", "schema", "schema"),
    "emulator": _command("emulator", "emulator", "emulator"),
}
