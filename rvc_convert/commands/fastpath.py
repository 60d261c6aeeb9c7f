"""`rvc-convert MODEL ...` without typer: the default command's arguments parsed by argparse, and
the command's body, which the typer command (convert.py) runs too.

Building the typer application costs ~0.1 s per process (typer, click, pydantic), more than a
whole `--no-validate` conversion of a small model. So when the command line is a plain convert
invocation that argparse reads completely, cli.py runs it here; anything else (--help, a usage
error, another command) goes to typer, which prints its usage messages as before.
tests/test_cli_fastpath.py keeps this parser and the typer command's options the same.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .output import echo, emit_json

COMMAND = "convert"
TARGETS = ("ios", "mlx")
DTYPES = ("fp16", "fp32")
HELP_FLAGS = ("-h", "--help")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # never print or exit: typer handles anything argparse cannot read
        raise ValueError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rvc-convert convert", add_help=False, allow_abbrev=False)
    parser.add_argument("model", type=Path)
    parser.add_argument("--target", "-t", choices=TARGETS, default="ios")
    parser.add_argument("--output", "-o", type=Path, default=None)
    parser.add_argument("--dtype", choices=DTYPES, default=None)
    parser.add_argument("--name", default=None)
    parser.add_argument("--dry-run", dest="dry_run", action="store_true", default=False)
    parser.add_argument("--validate", dest="validate", action="store_true", default=True)
    parser.add_argument("--no-validate", dest="validate", action="store_false")
    parser.add_argument("--json", dest="as_json", action="store_true", default=False)
    return parser


def parse(argv: list[str]) -> dict[str, Any] | None:
    """The convert command's parameters if `argv` (starting with "convert") is a plain convert
    invocation argparse reads completely; None for anything else."""
    if not argv or argv[0] != COMMAND or any(arg in HELP_FLAGS for arg in argv) or "--" in argv:
        return None
    try:
        return vars(_parser().parse_args(argv[1:]))
    except ValueError:
        return None


def run_convert(model: Path, target: str, output: Path | None, dtype: str | None, name: str | None, dry_run: bool, validate: bool, as_json: bool) -> None:
    """Convert MODEL and print the report (the body of `rvc-convert convert`)."""
    from ..convert import convert_model, describe_plan
    from ..errors import ValidationFailedError
    from .display import megabytes, print_checks, print_plan_summary

    report = None
    if dry_run:
        result = convert_model(model, target, output, dtype, name, dry_run)
    else:
        from ..staging import convert_and_publish

        staged = convert_and_publish(model, target, output, dtype, name, check=validate)
        result, report = staged.result, staged.report
    plan = describe_plan(result)
    outputs = [str(p) for p in (result.weights_path, result.config_path) if p]
    if as_json:
        emit_json(
            {
                "schema": "rvc-convert/convert/1",
                "ok": report.ok if report else True,
                "dry_run": dry_run,
                "target": target,
                "outputs": outputs,
                "plan": plan,
                "validation": report.to_dict() if report else None,
            }
        )
    else:
        print_plan_summary(plan, verbose_tensors=False)
        if dry_run:
            echo("  dry run    nothing written")
        elif outputs:
            echo(f"  wrote      {result.weights_path} ({megabytes(result.weights_path.stat().st_size)})")
            echo(f"             {result.config_path}")
        if report:
            print_checks(report)
    if report and not report.ok:
        raise ValidationFailedError(f"{model}: the converted file failed validation ({report.failures()[0]}); nothing was written")
