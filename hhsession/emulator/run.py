"""Running the emulator in the foreground (the CLI): the lines it prints, and until it is stopped."""

from __future__ import annotations

import shlex
import signal
from collections.abc import Mapping
from typing import IO

from ..urls import is_loopback_host
from .app import Emulator
from .rules import TOKEN_ENV


def token_from(flag: str | None, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The emulator's token and the environment variable it came from, if any.

    ``--token`` wins; else ``$HH_EMULATOR_TOKEN`` (empty counts as unset). Naming
    the variable lets ``serve`` print exports that reuse it instead of the secret.
    """
    if flag:
        return flag, None
    from_env = environ.get(TOKEN_ENV) or None
    return (from_env, TOKEN_ENV) if from_env else (None, None)


def export_lines(url: str, token: str | None, token_env: str | None = None) -> list[str]:
    """Shell lines (paste them, or ``source`` them) that point every version of the tools at the emulator.

    The URL and the key go under the current official names (``HH_DATA_PLANE_URL``,
    ``HH_PROJECT_API_KEY``) and the older ones (``HH_API_URL``, ``HH_API_KEY``),
    the first line always ``export HH_API_URL=...``. A token is never printed:
    one from ``token_env`` is exported by reference (failing loudly in a shell
    that lacks the variable); for one from ``--token`` a line asks for it
    without echoing it.
    """
    where = shlex.quote(url)
    lines = [f"export HH_API_URL={where}", f"export HH_DATA_PLANE_URL={where}"]
    if token is None:
        key = "emulator"
    elif token_env is not None:
        key = f'"${{{token_env}:?is not set in this shell; export it first}}"'
    else:
        # Pasted into a shell on a terminal, the last line asks for the token without echoing it:
        # echo is off before the prompt shows (`read -s` turns it off only after its prompt, and what
        # is typed in between is echoed). Without a terminal (a script sourcing the lines) it reads
        # nothing and changes nothing: a script's standard input is never taken for a token.
        return [
            *lines,
            f"# the emulator accepts only the --token you gave it (never printed); in a shell the next line "
            f"asks for it (or start the emulator with ${TOKEN_ENV} set instead)",
            "[ -t 0 ] && { stty -echo; printf 'emulator token: ' >&2; IFS= read -r _hh_token; stty echo; echo >&2; "
            'export HH_PROJECT_API_KEY="$_hh_token" HH_API_KEY="$_hh_token"; }; unset _hh_token',
        ]
    return [*lines, f"export HH_PROJECT_API_KEY={key}", f"export HH_API_KEY={key}"]


def listening_lines(bound: str, port: int, url: str, where: str, has_token: bool) -> str:
    """What ``serve`` says first: where it listens, really; beyond loopback, a warning saying who can reach it."""
    if is_loopback_host(bound):
        return f"hhsession emulator on {url} (sessions {where}); Ctrl-C to stop\n"
    shown = f"[{bound}]" if ":" in bound else bound
    guard = ("it accepts only its token, sent in plain http that anyone on the path can read" if has_token
             else "it accepts any bearer token: anyone who can reach this machine can read and write its "
                  "sessions; give --token (or HH_EMULATOR_TOKEN)")
    return (f"hhsession emulator listening on {shown}:{port} (sessions {where}), on this machine {url}; "
            f"Ctrl-C to stop\n"
            f"hhsession: warning: listening beyond loopback ({bound}): {guard}, or --host 127.0.0.1 to keep it "
            f"on this machine\n")


def serve(emulator: Emulator, out: IO[str], err: IO[str], *, token_env: str | None = None) -> int:
    """Run in the foreground until Ctrl-C or SIGTERM; both stop cleanly with exit 0.

    Prints ``export_lines`` on ``out``. ``token_env`` names the environment
    variable the token came from (see ``token_from``).
    """
    where = emulator.store.path if emulator.store.path != ":memory:" else "in memory"
    host, port = emulator.httpd.server_address[:2]
    err.write(listening_lines(host.decode() if isinstance(host, bytes) else str(host), port, emulator.url,
                              where, bool(emulator.token)))
    out.write("".join(line + "\n" for line in export_lines(emulator.url, emulator.token, token_env)))
    out.flush()
    err.flush()

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        emulator.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.wait_idle()  # an answer already on its way is logged before the summary
        emulator.httpd.server_close()
        emulator.store.close()
        err.write(f"hhsession emulator stopped after {emulator.requests} request(s)\n")
        err.flush()
    return 0
