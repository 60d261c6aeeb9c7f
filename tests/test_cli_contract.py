"""The CLI contract CI relies on: one exit-code table for every command, and --json documents that
match their versioned schemas, for success and for every failure class."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from golden import golden_path

from rvc_convert.errors import EXIT_CODES, EXIT_IO, EXIT_OK, EXIT_UNSAFE, EXIT_UNSUPPORTED, EXIT_USAGE
from rvc_convert.reports import check_report

README = Path(__file__).resolve().parent.parent / "README.md"
COMMANDS = ["convert", "inspect", "validate"]


class Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch /nonexistent-marker",))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    unsafe = root / "unsafe.pth"
    with zipfile.ZipFile(unsafe, "w") as archive:
        archive.writestr("unsafe/data.pkl", pickle.dumps({"weight": Payload()}, protocol=2))
        archive.writestr("unsafe/version", "3\n")
    unsupported = root / "page.pth"
    unsupported.write_text("<!DOCTYPE html><html><body>404</body></html>")
    return {"ok": golden_path("synth/models/v2-32k-nof0-tiny.pth"), "unsafe": unsafe, "unsupported": unsupported, "missing": root / "absent.pth"}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rvc_convert", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def command_args(command: str, model: Path, out: Path) -> list[str]:
    if command == "convert":
        return ["convert", str(model), "-o", str(out), "--no-validate"]
    if command == "validate":
        return ["validate", str(model), "--no-runtime"]
    return [command, str(model)]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    "case, expected",
    [("ok", EXIT_OK), ("unsafe", EXIT_UNSAFE), ("unsupported", EXIT_UNSUPPORTED), ("missing", EXIT_IO)],
)
def test_same_exit_code_and_schema_valid_json_for_every_command(command, case, expected, inputs, tmp_path):
    """Each failure class exits with the same code from every command, and --json prints a
    document valid against the schema its `schema` field names (the error schema on failure)."""
    proc = run(*command_args(command, inputs[case], tmp_path / "out"), "--json", cwd=tmp_path)
    assert proc.returncode == expected, proc.stderr
    assert "Traceback" not in proc.stderr
    document = json.loads(proc.stdout)
    check_report(document)
    assert document["ok"] is (expected == EXIT_OK)
    if expected != EXIT_OK and document["schema"] == "rvc-convert/error/1":
        assert document["error"]["exit_code"] == expected
        assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_usage_errors_exit_4(command, tmp_path):
    """An unknown flag is a usage error (4), never confused with 'unsupported' (2), which click uses."""
    proc = run(command, "model.pth", "--no-such-flag", cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    assert "Traceback" not in proc.stderr


def test_readme_documents_the_exit_code_table():
    """README's table lists every code the tool can return, with its meaning."""
    text = README.read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in text, f"exit code {code} missing from README"


def test_help_teaches_exit_codes_and_default_command(tmp_path):
    """`--help` explains the default command and the exit codes."""
    proc = run("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "rvc-convert MODEL" in proc.stdout and "Exit codes" in proc.stdout


def test_unsafe_marker_never_created(inputs, tmp_path):
    """The os.system payload used above never ran."""
    run("inspect", str(inputs["unsafe"]), cwd=tmp_path)
    assert not Path("/nonexistent-marker").exists()
