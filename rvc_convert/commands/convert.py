"""`rvc-convert convert` (the default command: `rvc-convert MODEL` is `rvc-convert convert MODEL`). Its
body and a typer-free parser of the same options for the common case live in fastpath.py."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import Dtype, Target, app
from .fastpath import run_convert


@app.command("convert", short_help="Convert a model to MLX (the default command: `rvc-convert MODEL`).")
def convert_command(
    model: Path = typer.Argument(..., metavar="MODEL", help="A voice (.pth export or G_*.pth checkpoint), its FAISS .index, a content or pitch model (.pt, .pth, Hugging Face folder), or a converted .safetensors/.npz."),
    target: Target = typer.Option(Target.ios, "--target", "-t", help="ios: .safetensors for MLX Swift; mlx: .npz for Python MLX."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output folder (default: beside the model)."),
    dtype: Optional[Dtype] = typer.Option(None, "--dtype", help="Output float dtype (default: the source's, fp16 for exports)."),
    name: Optional[str] = typer.Option(None, "--name", help="Output file stem (default: the model's)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Read, detect and plan; write nothing."),
    validate: bool = typer.Option(True, "--validate/--no-validate", help="Check the written file: structure, layer-wise against the source, MLX runtime smoke test."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report instead of text."),
) -> None:
    """Convert MODEL to MLX (the default command: `rvc-convert MODEL` is `rvc-convert convert MODEL`).

    \b
      rvc-convert alice.pth                  alice.safetensors + alice.json beside it
      rvc-convert alice.pth -t mlx -o out/   out/alice.npz + out/alice.json
      rvc-convert alice.pth --dtype fp32 --name alice-fp32
      rvc-convert added_IVF256_Flat_nprobe_1_alice_v2.index   the voice's index

    MODEL is any file `rvc-convert inspect` recognises: an RVC voice, its FAISS .index, the
    content and pitch models voices run with, or an rvc-convert output. The weights go into
    <name>.safetensors (or .npz) and the configuration an app needs into <name>.json. They are
    validated before they are moved into place (unless --no-validate): a failed check exits 1 and
    writes nothing, leaving any previous output untouched.

    Exit codes: 0 converted; 1 validation failed; 2 unsupported model or unmapped tensor; 3 unsafe
    input refused; 4 usage error; 5 I/O error or corrupt file; 70 internal error."""
    run_convert(model, target.value, output, dtype.value if dtype else None, name, dry_run, validate, as_json)
