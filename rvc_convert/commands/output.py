"""What every command prints with, without typer: text lines, JSON documents, a command's own exit
code. (The fast path of the default command uses these without importing typer.)"""

from __future__ import annotations

import re
import sys
from typing import Any

# Control characters (ESC starts terminal escape sequences; CR rewrites a line) and the Unicode
# bidirectional overrides: a tensor name, a path or a field from a file must not drive the terminal.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_emitted = False


class CommandExit(Exception):
    """A command's own exit code, carried past click (which would read a SystemExit(2) as a usage error)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def printable(text: str) -> str:
    """`text` with every control character shown as an escape (\\x1b), newlines and tabs kept."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def echo(text: str = "", err: bool = False) -> None:
    """Print a line for people: the one way commands write text, escaped."""
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{printable(text)}\n")
    stream.flush()


def emit_json(document: dict[str, Any]) -> None:
    """Print a command's one JSON document: standard JSON whatever a file put in it."""
    global _emitted
    from ..reports import json_text

    sys.stdout.write(json_text(document, indent=2, sort_keys=True) + "\n")
    _emitted = True


def json_emitted() -> bool:
    """Whether this run already printed its JSON document (an error after it must not add a second)."""
    return _emitted


def begin_run() -> None:
    """A new command run (cli.main may be called many times in one process): nothing printed yet."""
    global _emitted
    _emitted = False
