"""The sub-commands: one module each, registering itself on `app` (app.py) when imported.

A new command is one new module here (`@app.command("infer")` on `from .app import app`);
`load_commands` imports every module of this package, the ones in COMMAND_ORDER first (the order
`--help` lists them in), then any other in name order.
"""

from __future__ import annotations

import importlib
import pkgutil

from .app import app

COMMAND_ORDER = ("convert", "validate", "inspect", "bundle", "verify")
NOT_COMMANDS = ("app", "display")


def load_commands() -> None:
    names = [m.name for m in pkgutil.iter_modules(__path__) if m.name not in NOT_COMMANDS]
    for name in sorted(names, key=lambda n: (COMMAND_ORDER.index(n) if n in COMMAND_ORDER else len(COMMAND_ORDER), n)):
        importlib.import_module(f"{__name__}.{name}")


__all__ = ["app", "load_commands"]
