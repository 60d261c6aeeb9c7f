"""`rvc-convert bundle`: many voices plus the shared models, converted, validated, hashed and listed
in a manifest (the work is in rvc_convert.bundle). The shared roles' flags (`--<role> PATH`) and
the help's spec example come from the family registry."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from ..bundle.roles import shared_roles, shared_roles_for_help
from ..families import pitch_families
from ..errors import UsageError
from .app import CommandExit, Dtype, Target, app, emit_json, with_path_options
from .display import say


def _bundle_help() -> str:
    """The help; the shared models' flags and spec keys from the registry (the models every voice
    needs first, then the pitch models: one suffices, the preferred one in the examples)."""
    roles = shared_roles_for_help()
    pitch = {f.bundle_role.name for f in pitch_families() if f.bundle_role is not None}
    needed = [role for role in roles if role.name not in pitch]
    typical = " ".join(f"--{role.name} {role.example}" for role in needed + [next(r for r in roles if r.name in pitch)])
    pitch_roles = [role for role in roles if role.name in pitch]
    notes = {role.name: "# the content model every voice runs" for role in needed} | {role.name: "# optional: more pitch models" if role != pitch_roles[0] else "# a pitch model" for role in pitch_roles}
    spec_lines = "".join(f"{f'  {role.spec_key}: models/{role.example}':<30} {notes[role.name]}\n" for role in roles)
    return f"""Convert, validate and hash many voices plus the models they share ({', '.join(role.title for role in roles)})
into OUTPUT, listed in OUTPUT/manifest.json (schemas/manifest.schema.json).

\b
  rvc-convert bundle bundle.yaml -o Assets/
  rvc-convert bundle models/*.pth {typical} -o Assets/

\b
bundle.yaml (schemas/bundle.schema.json; paths relative to the file):
  target: ios                  # ios: .safetensors (default) | mlx: .npz
  dtype: fp16                  # optional; default: each source's own
{spec_lines}  voices:
    - source: models/alice.pth
      name: alice              # default: the file stem
      display_name: Alice      # also author, license, description,
      license: CC-BY-4.0       #   language, url, tags, extra
      index: models/alice.index  # optional: converted, validated, matched to the voice
    - models/choir/*.pth       # a glob: one voice per file

Files are named <name>.<sha256 prefix>.<ext>; the app finds them through manifest.json. A rerun
converts only what changed (source, rules, output format revision, target, dtype, name) or --force;
unchanged assets are reused after their files' hashes are checked. Every new voice (all of them
when a shared model changed) is run through a short chain (a 1 s test vowel) with the bundle's own
shared models and its index; a voice whose models do not fit together (a v1 voice and a content
model without final_proj, an index of another width) or whose output is silent fails, naming why.
A failing voice is reported and the others still build. The folder is updated atomically: a run killed at any point leaves the
previous manifest and all its files intact, and the next run completes.

Exit codes: 0 every asset built or reused; otherwise the class of the first failed asset: 1
validation failed, 2 unsupported model, 3 unsafe input, 5 I/O error or corrupt file (70 an
internal error). 4: a usage or spec error (each problem with its line and field), nothing built."""


class ProgressLines:
    """Not a terminal: one plain line per finished asset."""

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] == "finished":
            say(f"{event['status']:<7} {event['name']}" + (f"  {event['detail']}" if event["detail"] else ""))

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
    say(f"\n{manifest['path']}: {manifest['assets']} asset(s), {'written' if manifest['written'] else 'unchanged'}")
    say(f"{counts['built']} built, {counts['reused']} reused, {counts['failed']} failed")
    for asset in report["assets"]:
        if asset["status"] == "failed":
            error = asset["error"]
            say(f"  FAILED  {asset['name']} ({asset['role']}, {asset['source']}): exit {error['exit_code']} ({error['meaning']}): {error['message']}")
    for name in report["removed"]:
        say(f"  removed {name}")
    for warning in report["warnings"]:
        say(f"  warning {warning}")


def bundle_command(
    inputs: list[Path] = typer.Argument(..., metavar="SPEC.yaml | MODEL...", help="A bundle.yaml, or voice files (globs allowed) for the spec-less form."),
    output: Path = typer.Option(..., "--output", "-o", help="The bundle folder (created if missing)."),
    target: Optional[Target] = typer.Option(None, "--target", "-t", help="Spec-less form: ios (.safetensors, default) or mlx (.npz)."),
    dtype: Optional[Dtype] = typer.Option(None, "--dtype", help="Spec-less form: output float dtype (default: each source's own)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Worker processes (default: the number of CPU cores)."),
    force: bool = typer.Option(False, "--force", help="Convert and validate every asset again, even unchanged ones."),
    paranoid: bool = typer.Option(
        False, "--paranoid", help="Re-read every source and output to hash it, instead of trusting digests remembered for files whose inode, size and times are unchanged."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run report as JSON (schemas/bundle_report.schema.json) instead of text."),
    **shared: Optional[Path],
) -> None:
    from ..bundle import build_bundle, load_spec, spec_from_paths

    if len(inputs) == 1 and inputs[0].suffix.lower() in (".yaml", ".yml"):
        flags = [(f"--{name}", value) for name, value in shared.items()] + [("--target", target), ("--dtype", dtype)]
        given = [flag for flag, value in flags if value is not None]
        if given:
            keys = ", ".join(f"{role.spec_key}:" for role in shared_roles())
            raise UsageError(f"{', '.join(given)} belong(s) in {inputs[0]} ({keys}, target:, dtype:), not on the command line")
        spec = load_spec(inputs[0])
    else:
        spec = spec_from_paths(inputs, shared, target.value if target else "ios", dtype.value if dtype else None)
    display = _progress_display(as_json)
    try:
        report = build_bundle(spec, output, jobs=jobs, force=force, on_event=display, paranoid=paranoid)
    finally:
        display.close()
    if as_json:
        emit_json(report)
    else:
        _print_bundle_summary(report)
    if report["exit_code"]:
        raise CommandExit(report["exit_code"])


app.command("bundle", help=_bundle_help(), short_help="Convert many voices and the shared models into an app bundle with a manifest.")(
    with_path_options(bundle_command, "output", [(role.name, f"Spec-less form: {role.help}.") for role in shared_roles_for_help()])
)
