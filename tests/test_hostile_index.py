"""Every file of the hostile index corpus (fixtures/hostile_index.py) is refused the right way.

The whole corpus goes through convert_model (the registry's engine: the retrieval family's FAISS
reader claims the file by its type code) in one fresh process whose address space is capped
(RLIMIT_AS, 1 GiB above its start): each case must raise its expected RvcConvertError with a
one-line message containing the case's fragment (so it is refused for the reason it was forged
for), the refusal must come from a check and not from hitting the memory cap, peak RSS must not
grow by more than 64 MiB over the whole corpus, and no output (not even a temporary) may appear.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from outputs import subprocess_env

import hostile_index

CASES = hostile_index.cases()
ADDRESS_SPACE_HEADROOM = 1 << 30
RSS_GROWTH_LIMIT_KB = 64 << 10
TIMEOUT_S = 120

_RUNNER = r"""
import json, os, resource, sys
from pathlib import Path
corpus, outroot, headroom = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
from rvc_convert.errors import RvcConvertError
from rvc_convert.convert import convert_model
if hasattr(resource, "RLIMIT_AS") and os.path.exists("/proc/self/status"):
    vm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm_kb * 1024 + headroom, vm_kb * 1024 + headroom))
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
results = {}
for path in sorted(corpus.glob("*.index")):
    name = path.stem
    entry = {"outcome": "converted"}
    try:
        convert_model(path, "ios", outroot / name)
    except RvcConvertError as exc:
        entry = {"outcome": "raised", "type": type(exc).__name__, "message": str(exc), "exit_code": exc.exit_code}
    except BaseException as exc:
        entry = {"outcome": "crashed", "type": type(exc).__name__, "message": str(exc)[:300]}
    entry["rss_growth_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start
    results[name] = entry
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("hostile-index")
    outroot = tmp_path_factory.mktemp("hostile-index-out")
    hostile_index.build_corpus(corpus)
    before = sorted(p.name for p in corpus.iterdir())
    env = subprocess_env(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(corpus), str(outroot), str(ADDRESS_SPACE_HEADROOM)],
                          capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    written = sorted(str(p.relative_to(outroot)) for p in outroot.rglob("*"))
    return results, written, before == sorted(p.name for p in corpus.iterdir())


def test_corpus_covers_every_family():
    """The corpus holds every family the issue names, in numbers."""
    by_category: dict[str, int] = {}
    for case in CASES:
        by_category[case.category] = by_category.get(case.category, 0) + 1
    assert by_category["truncated"] == 20
    assert by_category["bomb"] >= 6 and by_category["header"] >= 15 and by_category["lists"] >= 8
    assert {"not_index", "other_type", "trailing", "values", "sanity"} <= set(by_category)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_refused(case, outcomes):
    """Refused with the expected error class and exit code, for the forged reason, on one line;
    never by running out of the capped memory."""
    results, _, _ = outcomes
    got = results[case.name]
    assert got["outcome"] != "crashed", f"{case.name}: {got['type']} escaped: {got['message']}"
    if case.expected == hostile_index.READABLE:
        assert got["outcome"] == "converted"
        return
    assert got["outcome"] == "raised", f"{case.name}: converted, expected {case.expected}"
    assert got["type"] == case.expected, f"{case.name}: {got['type']}: {got['message']}"
    assert got["exit_code"] == {"UnsafeInputError": 3, "CorruptFileError": 5, "UnsupportedModelError": 2}[case.expected]
    assert case.match in got["message"], f"{case.name}: refused for another reason: {got['message']}"
    assert "\n" not in got["message"] and "exhaust memory" not in got["message"]


def test_bounded_memory_and_nothing_written(outcomes):
    """Across the whole corpus peak RSS grows by < 64 MiB; only the sanity case wrote files (a
    refused file leaves neither a file nor a temporary)."""
    results, written, corpus_unchanged = outcomes
    growth = max(r["rss_growth_kb"] for r in results.values())
    assert growth < RSS_GROWTH_LIMIT_KB, f"peak RSS grew by {growth // 1024} MiB"
    files = [name for name in written if "/" in name]
    assert files == ["valid-ivf/valid-ivf.json", "valid-ivf/valid-ivf.safetensors"], files
    assert corpus_unchanged
