"""Every --help reads well at 80 columns (issue 14): no line runs over, no example broken."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from hhsession.cli import app
from hhsession.cli.commands import app_tree

PATHS = [node.path for node in app_tree().walk()]


def examples(path: tuple[str, ...]) -> list[str]:
    """The example command lines a command's help holds, as written in the source."""
    import typer.main

    command = typer.main.get_command(app)
    for name in path:
        command = command.get_command(None, name)  # type: ignore[attr-defined]
    source = (command.epilog or "") + "\n" + (command.help or "")
    return [line.strip() for line in source.splitlines() if line.strip().startswith(("hhsession ", "echo ", "cat ", "pass "))]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "hhsession")
def test_help_at_80_columns(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80", "TERM": "dumb"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Example" in text
    too_long = [line for line in text.splitlines() if len(line) > 80]
    assert not too_long, too_long
    # An example is one line, as written: never broken in two.
    shown = {line.strip() for line in text.splitlines()}
    for example in examples(path):
        assert example in shown, f"example broken or missing at 80 columns: {example!r}"
    assert "\x1b[" not in text  # plain text: no colour codes, no box drawing in a pipe or a log
    assert not re.search(r"--[a-z-]+,--[a-z-]+", text)  # option names separated, not run together
