"""What every command prints with, without typer: text lines, JSON documents, a command's own exit
code. (The fast path of the default command uses these without importing typer.)"""

from __future__ import annotations

import json
import sys
from typing import Any


class CommandExit(Exception):
    """A command's own exit code, carried past click (which would read a SystemExit(2) as a usage error)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def echo(text: str = "", err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{text}\n")
    stream.flush()


def emit_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
