"""`rvc-convert convert` (the default command: `rvc-convert MODEL` is `rvc-convert convert MODEL`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import ValidationFailedError
from .app import Dtype, Target, app, emit_json
from .display import megabytes, print_checks, print_plan_summary


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
    from ..convert import convert_model, describe_plan

    report = None
    if validate and not dry_run:
        from ..staging import convert_and_publish

        staged = convert_and_publish(model, target.value, output, dtype.value if dtype else None, name)
        result, report = staged.result, staged.report
    else:
        result = convert_model(model, target.value, output, dtype.value if dtype else None, name, dry_run)
    plan = describe_plan(result)
    outputs = [str(p) for p in (result.weights_path, result.config_path) if p]
    if as_json:
        emit_json(
            {
                "schema": "rvc-convert/convert/1",
                "ok": report.ok if report else True,
                "dry_run": dry_run,
                "target": target.value,
                "outputs": outputs,
                "plan": plan,
                "validation": report.to_dict() if report else None,
            }
        )
    else:
        print_plan_summary(plan, verbose_tensors=False)
        if dry_run:
            typer.echo("  dry run    nothing written")
        elif outputs:
            typer.echo(f"  wrote      {result.weights_path} ({megabytes(result.weights_path.stat().st_size)})")
            typer.echo(f"             {result.config_path}")
        if report:
            print_checks(report)
    if report and not report.ok:
        raise ValidationFailedError(f"{model}: the converted file failed validation ({report.failures()[0]}); nothing was written")
