"""`rvc-convert bundle` and `rvc-convert verify`: the command-line face of bundle.py.

Importing this module registers both commands on `cli.app` (cli.py imports it last). The work is in
bundle.py; here: arguments, the progress display, the text summary and --json.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from .cli import CommandExit, Dtype, Target, app, emit_json
from .errors import EXIT_CODES, UsageError

BUNDLE_HELP = """Convert, validate and hash many voices plus the shared HuBERT/ContentVec and RMVPE into
OUTPUT, listed in OUTPUT/manifest.json (schemas/manifest.schema.json).

\b
  rvc-convert bundle bundle.yaml -o Assets/
  rvc-convert bundle models/*.pth --hubert hubert_base.pt --rmvpe rmvpe.pt -o Assets/

\b
bundle.yaml (schemas/bundle.schema.json; paths relative to the file):
  target: ios                  # ios: .safetensors (default) | mlx: .npz
  dtype: fp16                  # optional; default: each source's own
  hubert: models/hubert_base.pt
  rmvpe: models/rmvpe.pt
  voices:
    - source: models/alice.pth
      name: alice              # default: the file stem
      display_name: Alice      # also author, license, description,
      license: CC-BY-4.0       #   language, url, tags, extra
      index: models/alice.index  # optional, copied through unchanged
    - models/choir/*.pth       # a glob: one voice per file

Files are named <name>.<sha256 prefix>.<ext>; the app finds them through manifest.json. A rerun
converts only what changed (source, rules, converter version, target, dtype, name) or --force;
unchanged assets are reused after their files' hashes are checked. A failing voice is reported and
the others still build. The folder is updated atomically: a run killed at any point leaves the
previous manifest and all its files intact, and the next run completes.

Exit codes: 0 every asset built or reused; otherwise the class of the first failed asset: 1
validation failed, 2 unsupported model, 3 unsafe input, 5 I/O error or corrupt file (70 an
internal error). 4: a usage or spec error (each problem with its line and field), nothing built."""

VERIFY_HELP = """Re-hash every file BUNDLE/manifest.json lists and report missing, modified and extra files
(files the manifest does not list; rvc-convert's own staging and journal files excepted).
--revalidate also validates every weight file again (structure and MLX runtime smoke test). Files an interrupted `bundle` run left are
listed as pending, not as failures; the next bundle run removes them.

Exit codes: 0 every file matches; 1 a file is missing, modified or extra, or fails
revalidation; 5 no manifest or an unreadable one."""


class ProgressLines:
    """Not a terminal: one plain line per finished asset."""

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] == "finished":
            typer.echo(f"{event['status']:<7} {event['name']}" + (f"  {event['detail']}" if event["detail"] else ""))

    def close(self) -> None:
        pass


class ProgressBars:
    """A terminal: one live line per model (phase and conversion progress) plus an overall bar."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Column

        self.progress = Progress(
            TextColumn("{task.description}", table_column=Column(width=24, no_wrap=True, overflow="ellipsis")),
            BarColumn(bar_width=20),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
            expand=True,
        )
        self.tasks: dict[str, Any] = {}
        self.finished: set[str] = set()
        self.overall: Any = None
        self.total = 0
        self.progress.start()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "planned":
            for asset in event["assets"]:
                self.tasks[asset["name"]] = self.progress.add_task(asset["name"], total=1.0, status=asset["status"], start=False)
            self.total = len(event["assets"])
            self.overall = self.progress.add_task("overall", total=self.total, status=f"0/{self.total}")
        elif kind == "phase":
            for name in (n for n in event["names"] if n not in self.finished):  # a late phase event must not undo "finished"
                task = self.tasks[name]
                self.progress.start_task(task)
                fraction = event["fraction"]
                self.progress.update(task, status=event["phase"], **({"completed": fraction} if fraction is not None else {}))
        elif kind == "finished":
            self.finished.add(event["name"])
            task = self.tasks[event["name"]]
            self.progress.update(task, status=event["status"] + (f": {event['detail']}" if event["detail"] else ""), completed=1.0)
            self.progress.stop_task(task)
            self.progress.update(self.overall, completed=len(self.finished), status=f"{len(self.finished)}/{self.total}")

    def close(self) -> None:
        self.progress.stop()


class NoProgress:
    def __call__(self, event: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_display(as_json: bool) -> Any:
    if as_json:
        return NoProgress()
    if sys.stdout.isatty():
        try:
            return ProgressBars()
        except ImportError:
            pass
    return ProgressLines()


def _print_bundle_summary(report: dict[str, Any]) -> None:
    counts = report["counts"]
    manifest = report["manifest"]
    typer.echo(f"\n{manifest['path']}: {manifest['assets']} asset(s), {'written' if manifest['written'] else 'unchanged'}")
    typer.echo(f"{counts['built']} built, {counts['reused']} reused, {counts['failed']} failed")
    for asset in report["assets"]:
        if asset["status"] == "failed":
            error = asset["error"]
            typer.echo(f"  FAILED  {asset['name']} ({asset['role']}, {asset['source']}): exit {error['exit_code']} ({error['meaning']}): {error['message']}")
    for name in report["removed"]:
        typer.echo(f"  removed {name}")
    for warning in report["warnings"]:
        typer.echo(f"  warning {warning}")


@app.command("bundle", help=BUNDLE_HELP)
def bundle_command(
    inputs: list[Path] = typer.Argument(..., metavar="SPEC.yaml | MODEL...", help="A bundle.yaml, or voice files (globs allowed) for the spec-less form."),
    output: Path = typer.Option(..., "--output", "-o", help="The bundle folder (created if missing)."),
    hubert: Optional[Path] = typer.Option(None, "--hubert", help="Spec-less form: the shared HuBERT/ContentVec (.pt or HF folder)."),
    rmvpe: Optional[Path] = typer.Option(None, "--rmvpe", help="Spec-less form: the shared RMVPE (.pt)."),
    target: Optional[Target] = typer.Option(None, "--target", "-t", help="Spec-less form: ios (.safetensors, default) or mlx (.npz)."),
    dtype: Optional[Dtype] = typer.Option(None, "--dtype", help="Spec-less form: output float dtype (default: each source's own)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Worker processes (default: the number of CPU cores)."),
    force: bool = typer.Option(False, "--force", help="Convert and validate every asset again, even unchanged ones."),
    as_json: bool = typer.Option(False, "--json", help="Print the run report as JSON (schemas/bundle_report.schema.json) instead of text."),
) -> None:
    from .bundle import build_bundle, load_spec, spec_from_paths

    if len(inputs) == 1 and inputs[0].suffix.lower() in (".yaml", ".yml"):
        given = [flag for flag, value in (("--hubert", hubert), ("--rmvpe", rmvpe), ("--target", target), ("--dtype", dtype)) if value is not None]
        if given:
            raise UsageError(f"{', '.join(given)} belong(s) in {inputs[0]} (hubert:, rmvpe:, target:, dtype:), not on the command line")
        spec = load_spec(inputs[0])
    else:
        spec = spec_from_paths(inputs, hubert, rmvpe, target.value if target else "ios", dtype.value if dtype else None)
    display = _progress_display(as_json)
    try:
        report = build_bundle(spec, output, jobs=jobs, force=force, on_event=display)
    finally:
        display.close()
    if as_json:
        emit_json(report)
    else:
        _print_bundle_summary(report)
    if report["exit_code"]:
        raise CommandExit(report["exit_code"])


@app.command("verify", help=VERIFY_HELP)
def verify_command(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="The bundle folder (holding manifest.json)."),
    revalidate: bool = typer.Option(False, "--revalidate", help="Also validate every weight file again (slower)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (schemas/verify_report.schema.json)."),
) -> None:
    from .bundle import verify_bundle

    report = verify_bundle(bundle, revalidate=revalidate)
    if as_json:
        emit_json(report)
    else:
        manifest = report["manifest"]
        typer.echo(f"{bundle}/manifest.json: {manifest['assets']} asset(s), {len(report['files'])} file(s), converter {manifest['converter_version']}")
        for row in report["files"]:
            if row["status"] == "modified":
                typer.echo(f"  MODIFIED {row['path']} ({row['asset']} {row['role']}): sha256 {row['actual_sha256'][:12]}…, expected {row['expected_sha256'][:12]}…")
            elif row["status"] == "missing":
                typer.echo(f"  MISSING  {row['path']} ({row['asset']} {row['role']})")
        for path in report["extra"]:
            typer.echo(f"  EXTRA    {path} (not in the manifest)")
        for path in report["pending"]:
            typer.echo(f"  pending  {path} (left by an interrupted bundle run; the next run removes it)")
        for row in report["revalidated"] or []:
            if not row["ok"]:
                typer.echo(f"  INVALID  {row['path']} ({row['asset']}): {'; '.join(row['failed']) or row['error']['message']}")
        problems = len(report["missing"]) + len(report["modified"]) + len(report["extra"]) + sum(not r["ok"] for r in report["revalidated"] or [])
        revalidated = f", {len(report['revalidated'])} weight file(s) revalidated" if report["revalidated"] is not None else ""
        typer.echo(f"  {'OK' if report['ok'] else 'FAIL'}: {problems} problem(s){revalidated} ({EXIT_CODES[report['exit_code']]})")
    if not report["ok"]:
        raise CommandExit(report["exit_code"])
