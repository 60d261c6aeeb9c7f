"""`rvc-convert verify`: re-hash a bundle's files against its manifest (and optionally revalidate them)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import EXIT_CODES
from .app import CommandExit, app, emit_json
from .display import say

VERIFY_HELP = """Re-hash every file BUNDLE/manifest.json lists and report missing, modified and extra files
(files the manifest does not list; rvc-convert's own staging and journal files excepted).
--revalidate also validates every weight file again (structure and MLX runtime smoke test) and runs every voice
through a short chain (a 1 s test vowel) with the bundle's own shared models and its index: output length,
finite, not silent, f0 tracked, index searched; models that do not fit together (a v1 voice and a content
model without final_proj, an index of another width) fail, naming the mismatch. Files an interrupted `bundle` run left are
listed as pending, not as failures; the next bundle run removes them.

Exit codes: 0 every file matches; 1 a file is missing, modified or extra, or fails
revalidation or its chain; 5 no manifest or an unreadable one."""



@app.command("verify", help=VERIFY_HELP, short_help="Re-hash a bundle against its manifest (--revalidate: run it again).")
def verify_command(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="The bundle folder (holding manifest.json)."),
    revalidate: bool = typer.Option(False, "--revalidate", help="Also validate every weight file again (slower)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (schemas/verify_report.schema.json)."),
) -> None:
    from ..bundle import verify_bundle

    report = verify_bundle(bundle, revalidate=revalidate)
    if as_json:
        emit_json(report)
    else:
        manifest = report["manifest"]
        say(f"{bundle}/manifest.json: {manifest['assets']} asset(s), {len(report['files'])} file(s), converter {manifest['converter_version']}")
        for row in report["files"]:
            if row["status"] == "modified":
                say(f"  MODIFIED {row['path']} ({row['asset']} {row['role']}): sha256 {row['actual_sha256'][:12]}…, expected {row['expected_sha256'][:12]}…")
            elif row["status"] == "missing":
                say(f"  MISSING  {row['path']} ({row['asset']} {row['role']})")
        for path in report["extra"]:
            say(f"  EXTRA    {path} (not in the manifest)")
        for path in report["pending"]:
            say(f"  pending  {path} (left by an interrupted bundle run; the next run removes it)")
        for row in report["revalidated"] or []:
            if not row["ok"]:
                say(f"  INVALID  {row['path']} ({row['asset']}): {'; '.join(row['failed']) or row['error']['message']}")
        for row in report["chains"] or []:
            for check in row["checks"]:
                if check["status"] == "fail":
                    say(f"  CHAIN    {row['voice']}: {check['name']}: {check['detail']}")
        problems = len(report["missing"]) + len(report["modified"]) + len(report["extra"]) + sum(not r["ok"] for r in report["revalidated"] or [])
        problems += sum(not c["ok"] for c in report["chains"] or [])
        revalidated = f", {len(report['revalidated'])} weight file(s) revalidated, {len(report['chains'])} voice chain(s) run" if report["revalidated"] is not None else ""
        say(f"  {'OK' if report['ok'] else 'FAIL'}: {problems} problem(s){revalidated} ({EXIT_CODES[report['exit_code']]})")
    if not report["ok"]:
        raise CommandExit(report["exit_code"])
