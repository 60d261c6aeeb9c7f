"""`rvc-convert <hostile file> --target ios -o OUT` fails cleanly on the hostile corpus.

For a representative case of each family of fixtures/hostile.py: the documented exit code (3 unsafe,
5 corrupt / unreadable, 2 not a supported model), exactly one line on stderr and no Python traceback,
OUT empty (or never created), and no payload ran.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from outputs import subprocess_env

import hostile
from golden import find_golden, golden_path

_SOURCE = find_golden(hostile.DEFAULT_SOURCE_REL)
_ALL = {c.name: c for c in hostile.cases(_SOURCE.stat().st_size if _SOURCE else 892014)}
_TRUNCATED = sorted((c for c in _ALL if c.startswith("truncated-zip-at-")), key=lambda n: int(n.rsplit("-", 1)[1]))

SELECTED = [
    "zip-os_system", "legacy-inst_os_system", "zip-stack_global_os_system", "hf-folder-payload", "npz-object-array-payload",
    "zip-args-huge-size-zero-stride", "zip-path-dotdot", "zip-bomb-storage-2p40", "zip-structure-cycle", "legacy-structure-cycle",
    _TRUNCATED[len(_TRUNCATED) // 2], "corrupt-zip-byteorder-crc", "not-model-html", "not-model-empty", "container-safetensors",
    # issue 10
    "fifo-as-model", "hf-fifo-config.json", "char-device-dev-null", "hf-link-weights-out", "hf-link-config-out",
    "zip-build-shadow-values-laughs", "zip-bomb-bz2-record", "zip-bomb-deflate-data-pkl-past-declared",
    "zip-pickle-tuple-key-laughs", "safetensors-duplicate-name", "npz-structured-dtype",
]
EXIT_FOR = {hostile.UNSAFE: 3, hostile.CORRUPT: 5, hostile.UNSUPPORTED: 2, hostile.READABLE: 2, hostile.IO: 5}
CLI_TIMEOUT_S = 20


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = subprocess_env()
    return subprocess.run([sys.executable, "-m", "rvc_convert.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=CLI_TIMEOUT_S)


@pytest.mark.parametrize("name", SELECTED)
def test_cli_refuses_hostile_file(name, tmp_path):
    """Exit code 3 / 5 / 2 by error type, a one-line stderr without a traceback, OUT empty, no marker."""
    case = _ALL[name]
    marker = tmp_path / "MARKER"
    source = golden_path(hostile.DEFAULT_SOURCE_REL) if case.category in ("truncated", "corrupt") else None
    path = hostile.build_case(case, tmp_path / "corpus", marker, source)
    out = tmp_path / "OUT"
    proc = _cli([str(path), "--target", "ios", "-o", str(out)], tmp_path)
    stderr_lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, f"{name}: traceback on stderr:\n{proc.stderr[-1500:]}"
    assert proc.returncode == EXIT_FOR[case.expected], f"{name}: exit {proc.returncode}, expected {EXIT_FOR[case.expected]} ({case.expected}); stderr: {proc.stderr[-500:]}"
    assert len(stderr_lines) == 1, f"{name}: stderr is not one line: {proc.stderr[-800:]}"
    assert not out.exists() or not any(out.iterdir()), f"{name}: wrote {sorted(p.name for p in out.iterdir())}"
    assert not marker.exists(), f"{name}: a payload ran"
    assert hostile.SECRET[:12] not in proc.stderr + proc.stdout, f"{name}: quoted a file outside the input"


@pytest.mark.parametrize("command", [["inspect"], ["validate"], ["convert", "--no-validate"]])
@pytest.mark.parametrize("name", ["hf-link-weights-out", "hf-link-config-out", "hf-link-chain-out"])
def test_links_out_of_a_folder_are_never_followed(name, command, tmp_path):
    """A Hugging Face folder whose member links to a file outside it: exit 3 from every command,
    with --json too, and not one byte of the linked file in the output."""
    path = hostile.build_case(_ALL[name], tmp_path / "corpus", tmp_path / "MARKER")
    proc = _cli([command[0], str(path), *command[1:], "--json"], tmp_path)
    assert proc.returncode == 3, proc.stderr[-500:]
    assert hostile.SECRET[:12] not in proc.stdout + proc.stderr
    assert '"exit_code": 3' in proc.stdout
