"""The reader refuses every file of the hostile corpus (fixtures/hostile.py) the right way.

For each case: read_model_file raises the expected RvcConvertError subclass (UnsafeInputError for
code-execution attempts, hostile rebuild arguments, path escapes and bombs; CorruptFileError for
truncated or malformed files; UnsupportedModelError for files that are no model container), the
message is one line, no payload ran (its marker file does not exist) and nothing was written.
Bombs and hostile structures run in a subprocess with a time limit and an address-space cap, and
their peak RSS growth must stay under 1 GiB.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from outputs import subprocess_env

import hostile
from golden import find_golden, golden_path
from rvc_convert.errors import RvcConvertError
from rvc_convert.reader import iter_tensors, read_model_file

_SOURCE = find_golden(hostile.DEFAULT_SOURCE_REL)
CASES = hostile.cases(_SOURCE.stat().st_size if _SOURCE else 892014)
IN_PROCESS = [c for c in CASES if not c.isolate]
ISOLATED = [c for c in CASES if c.isolate]

ISOLATED_TIMEOUT_S = 6
RSS_LIMIT_KB = 256 << 10  # 256 MiB of peak-RSS growth (every case measures ~0 when refused as it should be)
ADDRESS_SPACE_HEADROOM = 1 << 30  # the subprocess may map at most 1 GiB beyond its start: a bomb fails, it never swaps


def _build(case: hostile.Case, tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "MARKER"
    source = golden_path(hostile.DEFAULT_SOURCE_REL) if case.category in ("truncated", "corrupt") else None
    return hostile.build_case(case, tmp_path / "corpus", marker, source), marker


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _assert_one_line(message: str) -> None:
    assert message.strip(), "empty error message"
    assert "\n" not in message and "\r" not in message, f"multi-line message: {message!r}"
    assert "Traceback" not in message


def _assert_message(case: hostile.Case, message: str) -> None:
    """One line, the case's own reason (not a generic MemoryError/RecursionError fallback), no planted secret, bounded."""
    _assert_one_line(message)
    if case.match:
        assert re.search(case.match, message), f"{case.name}: message lacks /{case.match}/: {message[:300]}"
    assert hostile.SECRET not in message and hostile.SECRET[:12] not in message, f"{case.name}: the message quotes a file outside the input"
    assert len(message) < 2000, f"{case.name}: a {len(message)}-character message"


def test_corpus_covers_every_family():
    """The corpus holds each family the brief asks for, in both containers where that applies."""
    names = {c.name for c in CASES}
    by_category = {}
    for c in CASES:
        by_category.setdefault(c.category, []).append(c)
    assert len(by_category["code_exec"]) >= 40
    for payload in ("os_system", "posix_system", "builtins_exec", "builtins_eval", "subprocess_popen", "subprocess_check_call",
                    "runpy_run_code", "importlib_import_module", "builtins_open", "stack_global_os_system", "inst_os_system",
                    "obj_os_system", "newobj_partial_os_system"):
        assert {f"zip-{payload}", f"legacy-{payload}"} <= names, payload
    assert len([c for c in CASES if c.name.startswith("truncated-zip-at-")]) == 20
    assert {"hostile_args", "malformed", "zip_path", "bomb", "structure", "corrupt", "not_model", "container"} <= set(by_category)
    assert {"zip-bomb-deflate-record", "zip-bomb-storage-2p40", "zip-args-dims-100", "zip-args-huge-size", "zip-path-dotdot"} <= names
    # the classes of issue 10, each with its siblings
    assert {"build_state", "zip_method", "links", "non_regular", "names", "npz_dtype"} <= set(by_category)
    assert {"zip-bomb-bz2-record", "zip-bomb-lzma-record", "zip-bomb-bz2-data-pkl", "zip-bomb-bz2-byteorder", "npz-bomb-bz2-member",
            "zip-bomb-deflate-data-pkl-past-declared", "zip-build-shadow-values-laughs", "zip-build-shadow-values-self-cycle",
            "hf-link-weights-out", "hf-link-config-out", "fifo-as-model", "socket-as-model", "hf-fifo-model.safetensors",
            "safetensors-duplicate-name", "zip-pickle-dotted-duplicate", "npz-structured-dtype"} <= names
    # anything that could block or allocate runs in a subprocess with a timeout and an address-space cap
    assert all(c.isolate for c in CASES if c.category in ("bomb", "structure") or c.name.startswith(("fifo", "hf-fifo", "zip-bomb", "npz-bomb")))


@pytest.mark.parametrize("case", IN_PROCESS, ids=lambda c: c.name)
def test_refused(case, tmp_path):
    """The case is refused with its expected error type and a one-line message; no marker, no new files."""
    path, marker = _build(case, tmp_path)
    before = _snapshot(tmp_path)
    try:
        loaded = read_model_file(path)
    except RvcConvertError as exc:
        assert type(exc).__name__ == case.expected, f"{case.name}: expected {case.expected}, got {type(exc).__name__}: {exc}"
        _assert_message(case, str(exc))
    except BaseException as exc:  # noqa: BLE001 - anything else is a reader bug
        pytest.fail(f"{case.name}: raised {type(exc).__name__} (not an RvcConvertError): {str(exc)[:200]}")
    else:
        assert case.expected == hostile.READABLE, f"{case.name}: read without error, expected {case.expected}"
        assert all(t.array.size < 1000 for _, t in iter_tensors(loaded.root))
    assert not marker.exists(), f"{case.name}: a payload ran"
    assert _snapshot(tmp_path) == before, "the reader wrote files"
    assert not Path("/tmp/rvc-convert-evil.txt").exists()


_ISOLATED_RUNNER = r"""
import json, os, resource, sys, time
import numpy as np
from rvc_convert.errors import RvcConvertError
from rvc_convert.reader import iter_tensors, read_model_file

path, headroom = sys.argv[1], int(sys.argv[2])
if hasattr(resource, "RLIMIT_AS") and os.path.exists("/proc/self/status"):
    vm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmSize:"))
    limit = vm_kb * 1024 + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = {"outcome": "returned", "stage": "read_model_file"}
try:
    loaded = read_model_file(path)
    # what a converter does next: walk the tree (iter_tensors) and materialise every tensor
    result["stage"] = "iter_tensors + np.ascontiguousarray after a successful read"
    count = 0
    for _, tensor in iter_tensors(loaded.root):
        np.ascontiguousarray(tensor.array)
        count += 1
    result["tensors"] = count
except RvcConvertError as exc:
    result.update(outcome="raised", type=type(exc).__name__, message=str(exc), rvc_error=True)
except BaseException as exc:
    result.update(outcome="raised", type=type(exc).__name__, message=str(exc)[:300], rvc_error=False)
result["rss_growth_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps(result))
"""


def _run_isolated(path: Path) -> dict:
    # the subprocess imports the same rvc_convert as this process, whatever the working directory
    env = subprocess_env(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _ISOLATED_RUNNER, str(path), str(ADDRESS_SPACE_HEADROOM)],
            capture_output=True, text=True, timeout=ISOLATED_TIMEOUT_S, env=env, cwd=path.parent,
        )
    except subprocess.TimeoutExpired:
        return {"outcome": "timeout"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"outcome": "crashed", "returncode": proc.returncode, "stderr": proc.stderr[-500:]}
    return json.loads(lines[-1])


@pytest.mark.parametrize("case", ISOLATED, ids=lambda c: c.name)
def test_bomb_refused_with_bounded_memory(case, tmp_path):
    """In a fresh process capped at 1 GiB of extra address space: read_model_file (plus walking and
    materialising whatever it returns) finishes within the time limit, raises the expected error
    with the case's own one-line reason, grows peak RSS by less than 256 MiB, and runs no payload."""
    path, marker = _build(case, tmp_path)
    before = _snapshot(tmp_path)
    result = _run_isolated(path)
    note = f" ({case.note})" if case.note else ""
    assert result["outcome"] != "timeout", f"{case.name}{note}: still running after {ISOLATED_TIMEOUT_S} s"
    assert result["outcome"] != "crashed", f"{case.name}: the reader process died: {result}"
    assert result["outcome"] == "raised", f"{case.name}{note}: read (and walked) without error, expected {case.expected}"
    assert result["rvc_error"], f"{case.name}: {result['type']} (not an RvcConvertError) in {result['stage']}: {result['message'][:200]}"
    assert result["type"] == case.expected, f"{case.name}{note}: expected {case.expected}, got {result['type']} in {result['stage']}: {result['message']}"
    _assert_message(case, result["message"])
    assert result["rss_growth_kb"] < RSS_LIMIT_KB, f"{case.name}: peak RSS grew by {result['rss_growth_kb'] // 1024} MiB"
    assert not marker.exists()
    assert _snapshot(tmp_path) == before
