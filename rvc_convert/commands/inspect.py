"""`rvc-convert inspect`: what a file is, the evidence, its pickle globals and where every tensor goes."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, emit_json
from .display import print_plan_summary


@app.command("inspect", short_help="Show what a file is, the evidence, and where every tensor goes; writes nothing.")
def inspect_command(
    model: Path = typer.Argument(..., metavar="MODEL", help="Any file rvc-convert reads."),
    as_json: bool = typer.Option(False, "--json", help="Print the full plan as JSON."),
    brief: bool = typer.Option(False, "--brief", help="Summary only, without the per-tensor table."),
    hash_source: bool = typer.Option(False, "--hash", help="Also compute the file's sha256 (reads every byte; inspect otherwise touches only headers)."),
) -> None:
    """Show what MODEL is, the evidence, the pickle globals it uses and where every tensor goes. Writes nothing.

    Reads only the pickle and headers: uncompressed tensor records (all that torch writes) stay memory-mapped
    and untouched, so it is fast on any file size."""
    from ..convert import convert_model, describe_plan

    plan = describe_plan(convert_model(model, dry_run=True, hash_source=hash_source))
    if as_json:
        emit_json({"schema": "rvc-convert/inspect/1", "ok": True, "plan": plan})
    else:
        print_plan_summary(plan, verbose_tensors=not brief)
