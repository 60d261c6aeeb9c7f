"""The typer application every command registers on, and what commands share: their own exit code
past click, the --target / --dtype choices, JSON output. A leaf: it imports no command module."""

from __future__ import annotations

import inspect
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from .. import __version__
from .output import CommandExit, emit_json

__all__ = ["CommandExit", "Dtype", "Target", "app", "emit_json", "with_path_options"]


app = typer.Typer(
    name="rvc-convert",
    help=(
        "Convert RVC voice models (.pth) and the models a voice runs with (its content model, pitch models and "
        "index of training features) to MLX weights: .safetensors for MLX Swift (iOS/macOS apps) or .npz for Python MLX, "
        "read without executing pickled code, checked tensor by tensor and proven by running them.\n\n"
        "\b\n"
        "  rvc-convert alice.pth                      convert (the default command), validated\n"
        "  rvc-convert inspect alice.pth              what a file is and where every tensor goes\n"
        "  rvc-convert validate alice.pth             safe? does it compute what upstream computes?\n"
        "  rvc-convert infer alice.pth in.wav ...     convert a recording with the voice\n"
        "  rvc-convert bundle bundle.yaml -o Assets/  many voices and their shared models\n"
        "  rvc-convert verify Assets/                 check a bundle against its manifest\n\n"
        "`rvc-convert COMMAND --help` explains each. Exit codes: 0 ok, 1 validation failed, 2 unsupported model or "
        "unmapped tensor, 3 unsafe input refused, 4 usage error, 5 I/O error or corrupt file, 70 internal error (a bug)."
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


def with_path_options(command: Callable[..., Any], after: str, options: list[tuple[str, str]]) -> Callable[..., Any]:
    """`command` with one `--NAME PATH` option per (name, help) inserted after its parameter `after`,
    in the signature typer reads: options the family registry decides (the shared bundle roles),
    which `command` receives in its `**keyword` parameter."""
    signature = inspect.signature(command)
    fixed = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=typer.Option(None, f"--{name}", help=help), annotation=Optional[Path])
        for name, help in options
    ]
    at = [p.name for p in fixed].index(after) + 1
    keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in fixed[at:]]
    command.__signature__ = signature.replace(parameters=fixed[:at] + added + keyword)  # type: ignore[attr-defined]
    command.__annotations__ = {**{p.name: p.annotation for p in fixed + added}, "return": None}
    return command
