"""rvc-convert command line. `rvc-convert MODEL` converts; sub-commands inspect, validate, ... do the rest.

Every command prints for people by default and a JSON document with --json. Errors are one line
on stderr (and a JSON error object on stdout with --json) with the exit codes of errors.py.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from . import __version__
from .errors import EXIT_CODES, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, EXIT_VALIDATION_FAILED, InputIOError, RvcConvertError, ValidationFailedError

CLICK_USAGE_EXIT = 2  # what click exits with on a usage error


class CommandExit(Exception):
    """A command's own exit code, carried past click (which would read a SystemExit(2) as a usage error)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


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


def emit_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def _model_line(facts: dict[str, str], kind: str) -> str:
    kinds = {
        "webui-export": "RVC WebUI export",
        "applio-export": "Applio export",
        "training-checkpoint": "training checkpoint (G_*.pth)",
        "state-dict": "bare state dict",
        "converted": "rvc-convert output",
    }
    parts = [kinds.get(kind, kind), facts.get("family", "?")]
    if facts.get("family") == "synthesizer":
        parts += [
            facts["version"],
            f"{facts['sample_rate']} Hz",
            "pitch-guided (f0)" if facts["f0"] == "1" else "no pitch (nof0)",
            facts["vocoder"],
            f"{facts['speakers']} speaker(s)",
        ]
    return " · ".join(parts)


def print_plan_summary(plan: dict[str, Any], verbose_tensors: bool) -> None:
    echo = typer.echo
    digest = f", sha256 {plan['source_sha256'][:12]}…" if plan["source_sha256"] else ""
    echo(f"{plan['source']}  ({plan['container']}{digest})")
    echo(f"  model      {_model_line(plan['facts'], plan['kind'])}")
    for line in plan["evidence"]:
        echo(f"  evidence   {line}")
    for line in plan["contradictions"]:
        echo(f"  CONFLICT   {line}")
    for line in plan["notes"]:
        echo(f"  note       {line}")
    echo(f"  pickle     globals: {', '.join(plan['pickle_globals']) or 'none (no pickle)'}")
    fused = sum(1 for t in plan["tensors"] if "fuse_weight_norm" in t["ops"])
    moved = sum(1 for t in plan["tensors"] if any(op.startswith("transpose") for op in t["ops"]))
    echo(
        f"  plan       rule pack '{plan['rule_pack']}' (sha256 {plan['rules_sha256'][:12]}…): {len(plan['tensors'])} target tensors, "
        f"{fused} weight-norm fused ({plan['weight_norm_spelling']} spelling), {moved} transposed, {len(plan['dropped'])} dropped"
    )
    if plan["dropped"]:
        by_rule: dict[str, int] = {}
        for item in plan["dropped"]:
            by_rule[item["rule"]] = by_rule.get(item["rule"], 0) + 1
        echo("  dropped    " + ", ".join(f"{count} by {rule}" for rule, count in sorted(by_rule.items())))
    echo(f"  output     {plan['output_dtype']}, {_megabytes(plan['output_bytes'])}")
    if verbose_tensors:
        echo("")
        width = max(len(t["target"]) for t in plan["tensors"])
        for t in plan["tensors"]:
            sources = " + ".join(f"{src}{shape}" for (role, src), shape in zip(t["sources"].items(), t["source_shapes"].values()))
            ops = ",".join(t["ops"]) or "copy"
            echo(f"  {t['target']:<{width}}  {str(t['target_shape']):<16} <- {ops:<28} {t['rule']:<32} {sources} {t['source_dtype']}")
        for item in plan["dropped"]:
            echo(f"  {'(dropped)':<{width}}  {item['source']} by {item['rule']}")


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
    from .convert import convert_model, describe_plan

    report = None
    if validate and not dry_run:
        from .validate import convert_validated

        result, report = convert_validated(model, target.value, output, dtype.value if dtype else None, name)
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
            typer.echo(f"  wrote      {result.weights_path} ({_megabytes(result.weights_path.stat().st_size)})")
            typer.echo(f"             {result.config_path}")
        if report:
            print_checks(report)
    if report and not report.ok:
        raise ValidationFailedError(f"{model}: the converted file failed validation ({report.failures()[0]}); nothing was written")


def print_checks(report: Any) -> None:
    for check in report.checks:
        mark = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[check.status]
        typer.echo(f"  {mark}       {check.name}: {check.detail}")
    for finding in report.findings:
        typer.echo(f"  {finding.severity:<10} {finding.id}: {finding.message}")


def print_parity(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    width = max(len(r["stage"]) for r in rows)
    typer.echo(f"\n  {'stage':<{width}}  {'max abs':>10}  {'rel RMS':>10}  {'SNR dB':>8}  status")
    for row in rows:
        if "snr_db" not in row:
            typer.echo(f"  {row['stage']:<{width}}  {row.get('detail', '')}  {row['status']}")
            continue
        typer.echo(f"  {row['stage']:<{width}}  {row['max_abs']:>10.2e}  {row['rel_rms']:>10.2e}  {row['snr_db']:>8.1f}  {row['status']}")


@app.command("validate")
def validate_command(
    model: Path = typer.Argument(..., help="A source model (.pth, .pt, HF folder) or an rvc-convert output (.safetensors / .npz)."),
    reference: Optional[Path] = typer.Option(None, "--reference", "-r", help="Upstream reference outputs (.npz, golden refs format): compare every stage."),
    layerwise: bool = typer.Option(True, "--layerwise/--no-layerwise", help="Compare every converted layer with the source layer on random input."),
    runtime: bool = typer.Option(True, "--runtime/--no-runtime", help="Run the MLX runtime on a short deterministic input."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (schema: schemas/validate_report.schema.json)."),
) -> None:
    """Is MODEL safe to open, what is it, does it convert, and does the converted model compute what upstream computes?

    Exit 0 when every check passes, 1 when one fails; 2/3/5 when the file cannot be converted, is unsafe or unreadable."""
    from .validate import validate_model

    if reference is not None and not reference.is_file():
        raise InputIOError(f"{reference}: no such reference file")
    report = validate_model(model, reference, layerwise=layerwise, runtime=runtime)
    if as_json:
        emit_json(report.to_dict())
    else:
        typer.echo(f"{model}  ({report.family} {report.variant}, {report.kind})")
        print_checks(report)
        print_parity(report.parity)
        typer.echo(f"\n  {'PASS' if report.ok else 'FAIL'} in {report.seconds:.1f} s")
    if not report.ok:
        raise CommandExit(report.exit_code or EXIT_VALIDATION_FAILED)


@app.command("inspect")
def inspect_command(
    model: Path = typer.Argument(..., help="Any file rvc-convert reads."),
    as_json: bool = typer.Option(False, "--json", help="Print the full plan as JSON."),
    brief: bool = typer.Option(False, "--brief", help="Summary only, without the per-tensor table."),
    hash_source: bool = typer.Option(False, "--hash", help="Also compute the file's sha256 (reads every byte; inspect otherwise touches only headers)."),
) -> None:
    """Show what MODEL is, the evidence, the pickle globals it uses and where every tensor goes. Writes nothing.

    Reads only the pickle and headers: uncompressed tensor records (all that torch writes) stay memory-mapped
    and untouched, so it is fast on any file size."""
    from .convert import convert_model, describe_plan

    plan = describe_plan(convert_model(model, dry_run=True, hash_source=hash_source))
    if as_json:
        emit_json({"schema": "rvc-convert/inspect/1", "ok": True, "plan": plan})
    else:
        print_plan_summary(plan, verbose_tensors=not brief)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"rvc-convert {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
) -> None:
    """rvc-convert: RVC checkpoints to MLX, safely and verifiably."""


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv


from . import bundle_cli  # noqa: E402,F401  (registers bundle, verify)


def main(argv: list[str] | None = None) -> int:
    """Console entry point. Returns (and exits with) one of the documented exit codes."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    known = set(getattr(command, "commands", {}))
    # `rvc-convert MODEL ...` means `rvc-convert convert MODEL ...`.
    if argv and argv[0] not in known and argv[0] not in ("--help", "-h", "--version"):
        argv.insert(0, "convert")
    try:
        # Standalone mode: click prints usage errors itself and exits with 2, which we report as 4.
        command.main(args=argv, prog_name="rvc-convert", standalone_mode=True)
        code = EXIT_OK
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
        if code == CLICK_USAGE_EXIT:
            code = EXIT_USAGE
    except CommandExit as exc:
        code = exc.code
    except RvcConvertError as exc:
        code = exc.exit_code
        _report_error(argv, exc.kind, str(exc), code)
    except KeyboardInterrupt:
        code = 130
        typer.echo("rvc-convert: interrupted", err=True)
    except Exception as exc:  # a bug in rvc-convert, not in the user's input: still one line, no partial output
        code = EXIT_INTERNAL
        if os.environ.get("RVC_CONVERT_DEBUG"):
            raise
        _report_error(argv, "internal", f"internal error {type(exc).__name__}: {exc} (a bug in rvc-convert; please report it; RVC_CONVERT_DEBUG=1 shows the traceback)", code)
    return code


def _report_error(argv: list[str], kind: str, message: str, code: int) -> None:
    typer.echo(f"rvc-convert: error: {message}", err=True)
    if _wants_json(argv):
        emit_json({"schema": "rvc-convert/error/1", "ok": False, "error": {"kind": kind, "message": message, "exit_code": code, "meaning": EXIT_CODES.get(code, "")}})


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
