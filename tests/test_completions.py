"""Shell completions: generated from the command tree, fresh, and working in real shells."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hhsession.cli.commands import app_tree
from hhsession.completion import FILE_NAMES, SHELLS, render
from hhsession.context import Environment
from tests.conftest import Invoker

REPO = Path(__file__).resolve().parents[1]
COMPLETIONS = REPO / "completions"


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_scripts_are_fresh(shell: str) -> None:
    committed = (COMPLETIONS / FILE_NAMES[shell]).read_text(encoding="utf-8")
    assert committed == render(app_tree(), shell), (
        f"completions/{FILE_NAMES[shell]} is stale: run python scripts/gen_completions.py and commit"
    )


def test_generator_script_writes_every_file(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "gen_completions.py", copy / "scripts")
    result = subprocess.run([sys.executable, str(copy / "scripts" / "gen_completions.py")], capture_output=True, text=True, env={**os.environ, "SHELL": "/bin/false"})
    assert result.returncode == 0, result.stderr
    for shell in SHELLS:
        assert (copy / "completions" / FILE_NAMES[shell]).read_text() == (COMPLETIONS / FILE_NAMES[shell]).read_text()


def bash_complete(line: str, env: dict[str, str] | None = None) -> list[str]:
    """Source the bash script and ask its function what TAB offers for ``line``."""
    script = f"""
source {COMPLETIONS / 'hhsession.bash'}
read -ra COMP_WORDS <<< "$LINE"
[[ "$LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
_hhsession_complete
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    result = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True,
                            env={"LINE": line, "PATH": os.environ["PATH"], **(env or {})}, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return [word for word in result.stdout.splitlines() if word]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("hhsession st", ["start"]),
        ("hhsession start --meta", ["--metadata"]),
        ("hhsession start -o ", ["pretty", "json", "id", "env", "none"]),
        ("hhsession start -m a=1 --name x --dry", ["--dry-run"]),
        ("hhsession config ", ["set", "get", "unset", "list", "path", "use"]),
        ("hhsession config set api_", ["api_key", "api_url"]),
        ("hhsession emulator --fail-", ["--fail-rate", "--fail-status"]),
        ("hhsession --vers", ["--version"]),
    ],
)
def test_bash_completion(line: str, expected: list[str]) -> None:
    assert bash_complete(line) == expected


def test_bash_completes_files_for_file_options() -> None:
    assert bash_complete("hhsession start -f completions/hhsession.ba") == ["completions/hhsession.bash"]
    # replay takes any number of files, each completed
    assert bash_complete("hhsession replay examples/recorded.jsonl examples/sess") == ["examples/session.json", "examples/sessions"]


def test_bash_completes_the_command_exec_runs_as_that_command() -> None:
    assert "touch" in bash_complete("hhsession exec -- tou")
    assert "touch" in bash_complete("hhsession exec --name x -m a=1 tou")
    # The command's own words: never hhsession's options (without bash-completion loaded: files).
    assert bash_complete("hhsession exec -- touch --verb") == []
    assert bash_complete("hhsession exec -- ls completions/hhsession.ba") == ["completions/hhsession.bash"]
    assert "--verbose" in bash_complete("hhsession exec --verb")  # before the command: exec's own


def profiles_file(tmp_path: Path) -> dict[str, str]:
    """A config with two profiles, and a PATH where `hhsession` is this one (the scripts ask `config list`)."""
    config = tmp_path / "config.toml"
    config.write_text('[profiles.default]\nsource = "a"\n\n[profiles.staging-eu]\nsource = "b"\n')
    return {"HHSESSION_CONFIG": str(config), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def test_bash_completes_profiles(tmp_path: Path) -> None:
    env = profiles_file(tmp_path)
    assert bash_complete("hhsession start --profile ", env) == ["default", "staging-eu"]
    assert bash_complete("hhsession config use st", env) == ["staging-eu"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_the_command_exec_runs_and_profiles(tmp_path: Path) -> None:
    def fish(line: str, env: dict[str, str] | None = None) -> list[str]:
        command = f"source {COMPLETIONS / 'hhsession.fish'}; complete -C '{line}'"
        result = subprocess.run(["fish", "--no-config", "-c", command], capture_output=True, text=True, cwd=REPO,
                                env={**os.environ, **(env or {})}, timeout=60)
        return [row.split("\t")[0] for row in result.stdout.splitlines()]

    assert "touch" in fish("hhsession exec -- tou") and "touch" in fish("hhsession exec --name x tou")
    assert "--verbose" not in fish("hhsession exec -- touch --")
    assert fish("hhsession exec -- ls completions/hhsession.ba") == ["completions/hhsession.bash"]
    assert fish("hhsession exec --verb") == ["--verbose"]
    assert fish("hhsession start --profile ", profiles_file(tmp_path)) == ["default", "staging-eu"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
@pytest.mark.parametrize(("line", "expected"), [("hhsession st", "start"), ("hhsession start --meta", "--metadata"), ("hhsession config set api_k", "api_key"), ("hhsession replay examples/recorded.js", "examples/recorded.jsonl")])
def test_fish_completion(line: str, expected: str) -> None:
    command = f"source {COMPLETIONS / 'hhsession.fish'}; complete -C '{line}'"
    result = subprocess.run(["fish", "--no-config", "-c", command], capture_output=True, text=True, cwd=REPO)
    assert [row.split("\t")[0] for row in result.stdout.splitlines()] == [expected]


ZSH_CAPTURE = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'PROMPT=""; fpath=(%(dir)s $fpath); autoload -Uz compinit; compinit -u; hhsession() { :; }'
zpty -w z "$LINE"$'\t'
all=""
for i in {1..100}; do
  while zpty -rt z chunk 2>/dev/null; do all+="$chunk"; done
  plain=$(print -r -- "$all" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g')
  [[ "$plain" == *"$EXPECT"* ]] && break
  sleep 0.1
done
zpty -d z
print -r -- "$plain"
"""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
@pytest.mark.parametrize(("line", "expected"), [("hhsession st", "hhsession start "), ("hhsession start --meta", "--metadata "), ("hhsession config set ", "max_retries"),
                                                ("hhsession exec -- tou", "hhsession exec -- touch "),
                                                ("hhsession exec --name x tou", "--name x touch ")])
def test_zsh_completion(tmp_path: Path, line: str, expected: str) -> None:
    shutil.copy(COMPLETIONS / "_hhsession", tmp_path / "_hhsession")
    script = ZSH_CAPTURE % {"dir": tmp_path}
    result = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, env={**os.environ, "LINE": line, "EXPECT": expected}, timeout=60)
    assert expected in result.stdout


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_parses() -> None:
    assert subprocess.run(["zsh", "-n", str(COMPLETIONS / "_hhsession")]).returncode == 0


def test_install_completion_for_bash_is_idempotent(cli: Invoker, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "SHELL": "/bin/bash", "XDG_DATA_HOME": str(tmp_path / "data")}
    for _ in range(2):
        result = cli("--install-completion", env=env)
        assert result.exit_code == 0, result.stderr
    target = tmp_path / "data" / "bash-completion" / "completions" / "hhsession"
    assert target.read_text() == (COMPLETIONS / "hhsession.bash").read_text()
    assert (tmp_path / ".bashrc").read_text().count("hhsession completion") == 1


@pytest.mark.parametrize(("shell", "path"), [("zsh", ".zfunc/_hhsession"), ("fish", ".config/fish/completions/hhsession.fish")])
def test_install_completion_other_shells(cli: Invoker, tmp_path: Path, shell: str, path: str) -> None:
    env = {"HOME": str(tmp_path), "SHELL": f"/usr/bin/{shell}", "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    assert cli("--install-completion", env=env).exit_code == 0
    assert (tmp_path / path).read_text() == (COMPLETIONS / FILE_NAMES[shell]).read_text()


def test_show_completion_and_unknown_shell(cli: Invoker, tmp_path: Path) -> None:
    shown = cli("--show-completion", env={"SHELL": "/usr/bin/fish"})
    assert shown.stdout == (COMPLETIONS / "hhsession.fish").read_text()
    unknown = cli("--install-completion", env={"SHELL": "/bin/tcsh", "HOME": str(tmp_path)})
    assert unknown.exit_code == 2
    assert "cannot tell your shell from SHELL='/bin/tcsh'" in unknown.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell", "pwsh"])
def test_the_shell_named_wins_over_shell(shell: str) -> None:
    from hhsession.cli import main
    from hhsession.cli.commands import app_tree
    from hhsession.completion import render, shell_named

    env = Environment(stdin=io.BytesIO(), stdout=io.StringIO(), stderr=io.StringIO(), env={"SHELL": "/bin/bash"})
    assert main(["--show-completion", shell], env) == 0
    assert env.stdout.getvalue() == render(app_tree(), shell_named(shell) or "")  # type: ignore[attr-defined]


def test_installing_for_a_named_shell_writes_that_shells_script(cli: Invoker, tmp_path: Path) -> None:
    result = cli("--install-completion", "zsh", env={"SHELL": "/bin/bash", "HOME": str(tmp_path)})
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / ".zfunc" / "_hhsession").read_text().startswith("#compdef hhsession")
    unknown = cli("--show-completion", "tcsh")
    assert unknown.exit_code == 2
    assert "'tcsh' is not a shell hhsession completes; name it: hhsession --show-completion bash|zsh|fish|powershell" in unknown.stderr
    assert "completions/" not in unknown.stderr  # not a folder that pip install does not install
