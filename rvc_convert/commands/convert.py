"""`rvc-convert convert` (the default command: `rvc-convert MODEL` is `rvc-convert convert MODEL`). Its
body and a typer-free parser of the same options for the common case live in fastpath.py."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import Dtype, Target, app
from .fastpath import run_convert


@app.command("convert")
def convert_command(
    model: Path = typer.Argument(..., help="RVC model: .pth/.pt export or G_*.pth checkpoint, .safetensors, .npz, or a Hugging Face folder."),
    target: Target = typer.Option(Target.ios, "--target", "-t", help="ios: .safetensors for MLX Swift; mlx: .npz for Python MLX."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output folder (default: beside the model)."),
    dtype: Optional[Dtype] = typer.Option(None, "--dtype", help="Output float dtype (default: the source's, fp16 for exports)."),
    name: Optional[str] = typer.Option(None, "--name", help="Output file stem (default: the model's)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Read, detect and plan; write nothing."),
    validate: bool = typer.Option(True, "--validate/--no-validate", help="Check the written file: structure, layer-wise against the source, MLX runtime smoke test."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report instead of text."),
) -> None:
    """Convert MODEL to MLX (the default command: `rvc-convert MODEL` is `rvc-convert convert MODEL`).

    The file is validated before it is moved into place (unless --no-validate): a failed check exits 1
    and writes nothing, leaving any previous output untouched."""
    run_convert(model, target.value, output, dtype.value if dtype else None, name, dry_run, validate, as_json)
