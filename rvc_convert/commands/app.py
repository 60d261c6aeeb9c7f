"""The typer application every command registers on, and what commands share: their own exit code
past click, the --target / --dtype choices, JSON output. A leaf: it imports no command module."""

from __future__ import annotations

from enum import Enum

import typer

from .. import __version__
from .output import CommandExit, emit_json

__all__ = ["CLICK_USAGE_EXIT", "CommandExit", "Dtype", "Target", "app", "emit_json"]

CLICK_USAGE_EXIT = 2  # what click exits with on a usage error


app = typer.Typer(
    name="rvc-convert",
    help=(
        "Convert RVC voice models (.pth) to MLX weights: .safetensors for MLX Swift (iOS/macOS apps) or "
        ".npz for Python MLX, read without executing pickled code and checked tensor by tensor.\n\n"
        "Run `rvc-convert MODEL.pth` to convert (the default command), `rvc-convert inspect MODEL.pth` to see what a "
        "file is and how every tensor will be mapped, `rvc-convert validate MODEL` to check a file before shipping it.\n\n"
        "Exit codes: 0 ok, 1 validation failed, 2 unsupported model or unmapped tensor, 3 unsafe input refused, "
        "4 usage error, 5 I/O error or corrupt file, 70 internal error (a bug)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Target(str, Enum):
    ios = "ios"
    mlx = "mlx"


class Dtype(str, Enum):
    fp16 = "fp16"
    fp32 = "fp32"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"rvc-convert {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    """rvc-convert: RVC checkpoints to MLX, safely and verifiably."""
