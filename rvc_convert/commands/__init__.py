"""The sub-commands: one module each, registering itself on `app` (app.py) when imported.

A new command is one new module here (`@app.command("infer")` on `from .app import app`);
`load_commands` imports every module of this package, the ones in COMMAND_ORDER first (the order
`--help` lists them in), then any other in name order. Importing this package does not import
typer: `command_names()` lists the commands from the module names alone, so that the default
command's fast path (fastpath.py) can run without it.
"""

from __future__ import annotations

import importlib
import pkgutil

COMMAND_ORDER = ("convert", "validate", "inspect", "infer", "bundle", "verify")
NOT_COMMANDS = ("app", "display", "fastpath", "output")


def command_names() -> list[str]:
    """Every command module's name, in --help order (one module per command, named as the command)."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if m.name not in NOT_COMMANDS]
    return sorted(names, key=lambda n: (COMMAND_ORDER.index(n) if n in COMMAND_ORDER else len(COMMAND_ORDER), n))


def load_commands():
    """Import every command module (registering it on the typer app) and return the app."""
    for name in command_names():
        importlib.import_module(f"{__name__}.{name}")
    return importlib.import_module(f"{__name__}.app").app


def __getattr__(name: str):
    if name == "app":  # `from rvc_convert.commands import app`, typer only when asked for
        return importlib.import_module(f"{__name__}.app").app
    raise AttributeError(name)


__all__ = ["app", "command_names", "load_commands"]
