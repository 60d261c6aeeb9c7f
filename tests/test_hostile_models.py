"""Files that read cleanly and attack detection, planning and writing (fixtures/hostile_models.py).

Each case runs through the real CLI (`convert`, `inspect`, `validate`) in a subprocess under an
address-space cap and a timeout, so a count that would size gigabytes fails the test instead of
swapping. Every command must end with the case's exit code (never 70, "a bug in rvc-convert"), a
one-line message giving the case's reason, strictly valid JSON on stdout with --json (no bare
NaN/Infinity, one document), nothing left in the output folder on failure, no raw terminal
escape from a name, and not one byte of a file outside the input.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from outputs import subprocess_env

import hostile_models
from golden import golden_path

TIMEOUT_S = 120
ADDRESS_SPACE = 6 << 30  # far below what a 1e8-layer table would take; far above what a tiny model needs (MLX included)
CASES = hostile_models.model_cases()


def _env() -> dict[str, str]:
    return subprocess_env(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rvc_convert", *args], capture_output=True, text=True, cwd=cwd, env=_env(),
                          timeout=TIMEOUT_S, preexec_fn=_cap_memory)


def strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"bare {constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def source_of(relpath: str, folder: Path) -> Path:
    """A golden file; `pkg:<name>` a checkpoint published inside a reference package (CREPE, FCPE);
    `index:ivf` a small FAISS IndexIVFFlat written field by field."""
    if relpath.startswith("pkg:"):
        from pitch_reference import reference_checkpoint

        return reference_checkpoint(relpath[len("pkg:") :])
    if relpath == "index:ivf":
        import hostile_index

        path = folder / "voice.index"
        path.write_bytes(hostile_index.valid_bytes(hostile_index.base_index(d=768)))
        return path
    return golden_path(relpath)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """rvc-convert's own output of a golden file, made once per (file, target)."""
    cache: dict[tuple[str, str], Path] = {}
    folder = tmp_path_factory.mktemp("converted")

    def make(relpath: str, target: str) -> Path:
        if (relpath, target) not in cache:
            name = re.sub(r"\W", "-", f"{relpath}-{target}")
            proc = run_cli(["convert", str(source_of(relpath, folder)), "--target", target, "-o", str(folder), "--name", name, "--no-validate"], folder)
            assert proc.returncode == 0, proc.stderr
            cache[(relpath, target)] = folder / f"{name}{'.safetensors' if target == 'ios' else '.npz'}"
        return cache[(relpath, target)]

    return make


def _commands(case: hostile_models.ModelCase, path: Path, out: Path) -> list[tuple[str, list[str]]]:
    runs = []
    for command in case.commands:
        extra = [a for a in case.args if a != "--json"]
        if command == "convert":
            base = ["convert", str(path), "-o", str(out), *extra]
        else:
            base = [command, str(path)]
        runs.append((f"{command} --json", [*base, "--json"]))
        runs.append((command, base))
    return runs


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_model(case, tmp_path, converted):
    ctx = hostile_models.ModelContext(tmp_path / "corpus", golden_path, converted)
    path = case.build(ctx)
    for label, args in _commands(case, path, tmp_path / "OUT"):
        proc = run_cli(args, tmp_path)
        where = f"{case.name}: `{label}`"
        code = proc.returncode
        expected = case.validate_exit if args[0] == "validate" and case.validate_exit is not None else case.exit_code
        if args[0] == "validate" and case.exit_code == 0:
            assert code in (0, 1), f"{where}: exit {code}: {proc.stderr[-600:]}"  # validation may fail a damaged-looking model
        else:
            assert code == expected, f"{where}: exit {code}, expected {expected}: {proc.stderr[-600:]}"
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, f"{where}: {proc.stderr[-600:]}"
        if code not in (0, 1) or code == expected == 1:
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            if args[0] == "validate":  # validate reports the refusal as its finding, on stdout
                assert len(lines) <= 1, f"{where}: stderr is more than one line: {proc.stderr[-800:]}"
                message = proc.stdout
            else:
                assert len(lines) == 1, f"{where}: stderr is not one line: {proc.stderr[-800:]}"
                message = lines[0]
                assert len(message) < 2000, f"{where}: a {len(message)}-character message"
            if case.match:
                assert re.search(case.match, message), f"{where}: message lacks /{case.match}/: {message[:400]}"
            out = tmp_path / "OUT"
            assert not out.exists() or not any(out.iterdir()), f"{where}: left {sorted(p.name for p in out.iterdir())}"
        if "--json" in args:
            document = strict_json(proc.stdout)  # one document, standard JSON
            assert isinstance(document, dict) and "schema" in document, f"{where}: {proc.stdout[:300]}"
        for text in case.absent:
            assert text not in proc.stdout + proc.stderr, f"{where}: output contains {text!r}"
        for leftover in (tmp_path / "OUT").glob("*") if (tmp_path / "OUT").exists() else []:
            if leftover.suffix == ".json":
                strict_json(leftover.read_text())  # the sidecar is standard JSON too
        if (tmp_path / "OUT").exists():
            for item in (tmp_path / "OUT").iterdir():
                if item.is_dir():
                    assert not item.name.startswith(".rvc-convert-"), f"{where}: left a staging folder"
                else:
                    item.unlink()
