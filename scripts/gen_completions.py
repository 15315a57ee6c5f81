#!/usr/bin/env python3
"""Regenerate completions/ from the real command tree: python scripts/gen_completions.py"""

from __future__ import annotations

import sys
from pathlib import Path

from hhsession.cli.commands import app_tree
from hhsession.completion import write_all


def main() -> int:
    directory = Path(__file__).resolve().parents[1] / "completions"
    for path in write_all(app_tree(), directory):
        print(f"wrote {path.relative_to(directory.parent)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
