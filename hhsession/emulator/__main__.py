"""``python -m hhsession.emulator``: the emulator in the foreground (as ``hhsession emulator``)."""

import os
import sys

from .app import Emulator
from .run import serve, token_from

_token, _token_env = token_from(None, os.environ)
sys.exit(serve(Emulator(token=_token, log=sys.stderr), sys.stdout, sys.stderr, token_env=_token_env))
