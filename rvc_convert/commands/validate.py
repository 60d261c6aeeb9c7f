"""`rvc-convert validate`: is a file safe, what is it, does it convert, does it compute what upstream computes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import EXIT_VALIDATION_FAILED, InputIOError
from .app import CommandExit, app, emit_json
from .display import print_checks, print_parity, say


@app.command("validate", short_help="Check a model: safe, converts, computes what upstream computes.")
def validate_command(
    model: Path = typer.Argument(..., metavar="MODEL", help="A source model (.pth, .pt, HF folder) or an rvc-convert output (.safetensors / .npz)."),
    reference: Optional[Path] = typer.Option(None, "--reference", "-r", help="Upstream reference outputs (.npz, golden refs format): compare every stage."),
    layerwise: bool = typer.Option(True, "--layerwise/--no-layerwise", help="Compare every converted layer with the source layer on random input."),
    runtime: bool = typer.Option(True, "--runtime/--no-runtime", help="Run the MLX runtime on a short deterministic input."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (schema: schemas/validate_report.schema.json)."),
) -> None:
    """Is MODEL safe to open, what is it, does it convert, and does the converted model compute what upstream computes?

    Exit 0 when every check passes, 1 when one fails; 2/3/5 when the file cannot be converted, is unsafe or unreadable."""
    from ..validate import validate_model

    if reference is not None and not reference.is_file():
        raise InputIOError(f"{reference}: no such reference file")
    report = validate_model(model, reference, layerwise=layerwise, runtime=runtime)
    if as_json:
        emit_json(report.to_dict())
    else:
        say(f"{model}  ({report.family} {report.variant}, {report.kind})")
        print_checks(report)
        print_parity(report.parity)
        say(f"\n  {'PASS' if report.ok else 'FAIL'} in {report.seconds:.1f} s")
    if not report.ok:
        raise CommandExit(report.exit_code or EXIT_VALIDATION_FAILED)
