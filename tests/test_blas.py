"""MLX gets an optimized BLAS from pip-installed wheels alone, says which, and never prints unless
something is wrong.

The decisive test runs a fresh interpreter in a private mount namespace where the system's
libgfortran.so.5 is an empty file (what a new user's machine without Debian's libgfortran5 has):
the scipy-openblas32 route still loads, MLX's cblas_sgemm resolves to it, and convolutions match
float64. The other tests pin down the pieces: the ELF renaming against the real glibc loader,
the candidate order and fallbacks, the thread policy, the status report.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import rvc_runtime  # noqa: F401  (first: gives MLX its BLAS before mlx.core loads)
import mlx.core as mx
import numpy as np
import pytest

from rvc_runtime import blas
from rvc_runtime.elf_symbols import ElfError, gnu_hash, strip_symbol_prefix

REPO = Path(__file__).resolve().parent.parent
BLAS_MODULE = str(REPO / "rvc_runtime" / "blas.py")
LINUX = sys.platform.startswith("linux")
linux_only = pytest.mark.skipif(not LINUX, reason="the BLAS loader acts on Linux only")
BLAS_ENV = ("RVC_RUNTIME_BLAS", "RVC_RUNTIME_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any BLAS selection or thread setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in BLAS_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str] | None = None, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(prefix or []), sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env or clean_env(), cwd=REPO)


def scipy_openblas_library() -> Path:
    path = blas.scipy_openblas32_path()
    if path is None:
        pytest.fail("scipy-openblas32 is not installed: the [runtime] extra requires it on Linux (pip install -e '.[runtime]')")
    return path


# --- the fresh machine: no system libgfortran ------------------------------------------------


def gfortran_files() -> list[str]:
    """The real files behind every libgfortran.so.5 the system loader could find."""
    found = set()
    listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout if shutil.which("ldconfig") else ""
    for line in listing.splitlines():
        if "libgfortran.so" in line and "=>" in line:
            found.add(os.path.realpath(line.split("=>")[-1].strip()))
    for pattern in ("/usr/lib*/libgfortran.so*", "/usr/lib/*/libgfortran.so*", "/lib*/libgfortran.so*", "/usr/local/lib*/libgfortran.so*"):
        found.update(os.path.realpath(p) for p in glob.glob(pattern))
    return sorted(p for p in found if os.path.isfile(p))


def without_system_gfortran(tmp_path: Path) -> list[str]:
    """A command prefix that runs a program with every system libgfortran replaced by an empty file
    (bind mounts in a private mount namespace; the machine itself is untouched), or [] when the
    system has none."""
    files = gfortran_files()
    if not files:
        return []
    unshare = shutil.which("unshare")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    mounts = " && ".join(f"mount --bind {empty} {path}" for path in files)
    prefix = [unshare or "unshare", "-m" if os.geteuid() == 0 else "-rm", "sh", "-c", f'{mounts} && exec "$@"', "hide-gfortran"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import ctypes; ctypes.CDLL('libgfortran.so.5')"], capture_output=True, text=True)
    if unshare is None or "cannot open shared object" not in probe.stderr and "too short" not in probe.stderr:
        pytest.skip(f"cannot hide the system libgfortran ({', '.join(files)}) on this machine: {probe.stderr.strip()[-200:] or 'unshare missing'}")
    return prefix


FRESH_PROBE = """
import ctypes, json, sys
try:
    ctypes.CDLL("libgfortran.so.5")
    gfortran = "loadable"
except OSError as error:
    gfortran = str(error)
import rvc_runtime
from rvc_runtime import blas
import mlx.core as mx
import numpy as np
rng = np.random.default_rng(0)
x = rng.standard_normal((1, 4800, 256)).astype(np.float32)
w = rng.standard_normal((256, 3, 256)).astype(np.float32)
ours = np.array(mx.conv1d(mx.array(x), mx.array(w), padding=1))[0].astype(np.float64)
padded = np.pad(x[0].astype(np.float64), [(1, 1), (0, 0)])
expected = sum(padded[k : k + 4800] @ w[:, k, :].T.astype(np.float64) for k in range(3))
rel = float(np.sqrt(np.mean((ours - expected) ** 2) / np.mean(expected ** 2)))
print(json.dumps({"gfortran": gfortran, "status": blas.status(measure=True), "conv_rel_rms": rel}))
"""


@linux_only
def test_fast_blas_without_system_libgfortran(tmp_path):
    """A machine without libgfortran5 (hidden here) gets scipy-openblas32, bound to MLX's
    cblas_sgemm, with correct results, and nothing is printed."""
    scipy_openblas_library()
    prefix = without_system_gfortran(tmp_path)
    probe = run_python(FRESH_PROBE, prefix=prefix)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stderr == "", f"importing rvc_runtime printed: {probe.stderr}"
    result = json.loads(probe.stdout)
    status = result["status"]
    print(f"hidden: {gfortran_files() or 'none on this system'}; BLAS: {blas.describe(status)}, {status['matmul_gflops']} GFLOP/s")
    assert result["gfortran"] != "loadable", "the system libgfortran was still loadable"
    assert status["fast"] and status["source"] == "scipy-openblas32", status
    assert status["mapped"] and status["bound"], status
    assert status["threads"] == blas.DEFAULT_THREADS and status["threads_from"] == "default"
    assert "OpenBLAS" in status["config"]
    assert result["conv_rel_rms"] < 1e-6


@linux_only
@pytest.mark.skipif(platform.machine() != "x86_64", reason="the [test] extra installs cmeel-openblas on x86_64 only")
def test_cmeel_route_needs_the_system_libgfortran(tmp_path):
    """The old route (cmeel-openblas) fails where libgfortran is missing, is reported in `tried`,
    and the loader falls back to MLX's reference BLAS with one line on stderr, not a crash."""
    # the [test] extra installs cmeel-openblas on Linux x86_64 so that this fallback is exercised
    assert blas.cmeel_openblas_path() is not None, "cmeel-openblas is not installed: run python3 tests/install_deps.py"
    prefix = without_system_gfortran(tmp_path)  # [] where the system has none: nothing to hide
    probe = run_python("import json, rvc_runtime; print(json.dumps(rvc_runtime.blas.status()))", env=clean_env(RVC_RUNTIME_BLAS="cmeel-openblas"), prefix=prefix)
    assert probe.returncode == 0, probe.stderr[-2000:]
    status = json.loads(probe.stdout)
    assert not status["fast"] and "libgfortran" in status["tried"][0]["error"]
    notice = probe.stderr.strip().splitlines()
    assert len(notice) == 1 and "slow reference BLAS" in notice[0]


# --- this process ---------------------------------------------------------------------------------


def test_conv1d_is_correct_and_the_fast_blas_is_bound():
    """Correct on the active BLAS; on Linux the optimized one is loaded, mapped and bound."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 4800, 256)).astype(np.float32)
    w = rng.standard_normal((256, 3, 256)).astype(np.float32)
    ours = np.array(mx.conv1d(mx.array(x), mx.array(w), padding=1))
    padded = np.pad(x[0].astype(np.float64), [(1, 1), (0, 0)])
    expected = sum(padded[k : k + 4800] @ w[:, k, :].T.astype(np.float64) for k in range(3))
    assert np.sqrt(np.mean((ours[0] - expected) ** 2) / np.mean(expected**2)) < 1e-6
    status = blas.status(measure=True)
    print(f"BLAS: {json.dumps(status)}")
    if LINUX:
        assert status["fast"], f"no optimized BLAS in the test process: {status['reason']}"
        assert status["mapped"] and status["bound"], status


# --- the ELF renaming, judged by the system's own loader -----------------------------------------

RENAMED_PROBE = """
import ctypes, json, sys
import numpy as np
from rvc_runtime.elf_symbols import unprefixed_copy
fd, renamed = unprefixed_copy(sys.argv[1], b"scipy_", b"cblas_")
lib = ctypes.CDLL(f"/proc/self/fd/{fd}")  # RTLD_LOCAL: only this handle sees it
missing = [n.decode() for n in renamed if not hasattr(lib, n.decode())]
a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
b = np.arange(20, dtype=np.float32).reshape(4, 5) / 3
c = np.zeros((3, 5), dtype=np.float32)
ptr = lambda m: m.ctypes.data_as(ctypes.c_void_p)
lib.cblas_sgemm(101, 111, 111, 3, 5, 4, ctypes.c_float(1.0), ptr(a), 4, ptr(b), 5, ctypes.c_float(0.0), ptr(c), 5)
print(json.dumps({
    "renamed": len(renamed), "missing": missing,
    "old_name_left": hasattr(lib, "scipy_cblas_sgemm"),
    "other_exports_kept": hasattr(lib, "scipy_sgemm_") and hasattr(lib, "scipy_openblas_get_config"),
    "unprefixed_other": hasattr(lib, "sgemm_"),
    "max_err": float(np.max(np.abs(c - a.astype(np.float64) @ b))),
}))
"""


@linux_only
def test_renamed_copy_exports_every_cblas_function_to_the_loader():
    """glibc finds every renamed cblas_* through the rebuilt hash table, the old names are gone, the
    library's other exports keep their prefix, and cblas_sgemm computes a correct product."""
    library = scipy_openblas_library()
    probe = run_python(RENAMED_PROBE.replace("sys.argv[1]", repr(str(library))))
    assert probe.returncode == 0, probe.stderr[-2000:]
    result = json.loads(probe.stdout)
    assert result["renamed"] > 150 and result["missing"] == []
    assert not result["old_name_left"] and result["other_exports_kept"] and not result["unprefixed_other"]
    assert result["max_err"] < 1e-5


@linux_only
def test_renaming_leaves_everything_but_names_and_hash_table_unchanged(tmp_path):
    """Only the renamed symbols' name offsets and the .gnu.hash section differ from the original."""
    library = scipy_openblas_library()
    original = library.read_bytes()
    image = bytearray(original)
    renamed = strip_symbol_prefix(image, b"scipy_", b"cblas_")
    assert b"cblas_sgemm" in renamed and all(name.startswith(b"cblas_") for name in renamed)
    changed = [i for i in range(0, len(image), 4096) if image[i : i + 4096] != original[i : i + 4096]]
    assert len(changed) * 4096 < 400_000, f"{len(changed)} pages changed"  # symbol table + hash table only
    assert len(image) == len(original)


def test_elf_errors_are_clear(tmp_path):
    with pytest.raises(ElfError, match="not an ELF file"):
        strip_symbol_prefix(bytearray(b"#!/bin/sh\n" * 20), b"scipy_", b"cblas_")
    with pytest.raises(ElfError, match="64-bit little-endian"):
        strip_symbol_prefix(bytearray(b"\x7fELF\x01\x01" + bytes(100)), b"scipy_", b"cblas_")
    if LINUX:
        image = bytearray(scipy_openblas_library().read_bytes())
        with pytest.raises(ElfError, match="no defined symbol starts with nothing_"):
            strip_symbol_prefix(image, b"nothing_", b"")


def test_gnu_hash_is_the_loaders_function():
    """Values from the GNU hash specification's examples (dl_new_hash)."""
    assert gnu_hash(b"") == 0x00001505
    assert gnu_hash(b"printf") == 0x156B2BB8
    assert gnu_hash(b"exit") == 0x7C967E3F
    assert gnu_hash(b"syscall") == 0xBAC212A0


# --- selection, fallbacks, threads, reporting ---------------------------------------------------------

STATUS = "import json, rvc_runtime; print(json.dumps(rvc_runtime.blas.status()))"


@linux_only
def test_import_prints_nothing_and_reports_the_default_threads():
    probe = run_python(STATUS)
    assert probe.returncode == 0 and probe.stderr == "" and probe.stdout.count("\n") == 1, probe.stderr
    status = json.loads(probe.stdout)
    assert status["fast"] and status["threads"] == blas.DEFAULT_THREADS and status["threads_from"] == "default"


@linux_only
@pytest.mark.parametrize(
    "env, threads, source",
    [
        ({"RVC_RUNTIME_BLAS_THREADS": "2"}, 2, "RVC_RUNTIME_BLAS_THREADS"),
        ({"OPENBLAS_NUM_THREADS": "2"}, 2, "OPENBLAS_NUM_THREADS"),
        ({"OMP_NUM_THREADS": "2"}, 2, "OMP_NUM_THREADS"),
        ({"RVC_RUNTIME_BLAS_THREADS": "1", "OPENBLAS_NUM_THREADS": "2"}, 1, "RVC_RUNTIME_BLAS_THREADS"),
    ],
)
def test_thread_count_follows_the_environment(env, threads, source):
    probe = run_python(STATUS, env=clean_env(**env))
    assert probe.returncode == 0, probe.stderr
    status = json.loads(probe.stdout)
    assert (status["threads"], status["threads_from"]) == (threads, source)


@linux_only
def test_invalid_thread_setting_is_one_line_and_falls_back_to_the_default():
    probe = run_python(STATUS, env=clean_env(RVC_RUNTIME_BLAS_THREADS="many"))
    assert probe.returncode == 0
    assert probe.stderr.strip().count("\n") == 0 and "RVC_RUNTIME_BLAS_THREADS='many'" in probe.stderr
    assert json.loads(probe.stdout)["threads"] == blas.DEFAULT_THREADS


@linux_only
def test_set_threads_changes_the_count_in_force():
    code = "import json, rvc_runtime; b = rvc_runtime.blas; n = b.set_threads(2); print(json.dumps([n, b.status()['threads'], b.status()['threads_from']]))"
    probe = run_python(code)
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == [2, 2, "set_threads()"]
    with pytest.raises(ValueError, match=">= 1"):
        blas.set_threads(0)


@linux_only
@pytest.mark.parametrize(
    "setting, expect_source, expect_tried",
    [
        ("/nonexistent/libblas.so", "scipy-openblas32", "env RVC_RUNTIME_BLAS"),  # a bad path falls back to the list
        ("libm.so.6", "scipy-openblas32", "env RVC_RUNTIME_BLAS"),  # loads, but has no cblas_sgemm
        ("scipy-openblas32", "scipy-openblas32", None),
        ("auto", "scipy-openblas32", None),
    ],
)
def test_selection_by_environment(setting, expect_source, expect_tried):
    probe = run_python(STATUS, env=clean_env(RVC_RUNTIME_BLAS=setting))
    assert probe.returncode == 0 and probe.stderr == "", probe.stderr
    status = json.loads(probe.stdout)
    assert status["source"] == expect_source and status["bound"]
    if expect_tried:
        assert status["tried"][0]["source"] == expect_tried and setting in status["tried"][0]["path"]
        assert "failed" in status["reason"]
    else:
        assert status["tried"] == []


@linux_only
def test_off_keeps_the_reference_blas_quietly():
    probe = run_python(STATUS, env=clean_env(RVC_RUNTIME_BLAS="off"))
    assert probe.returncode == 0 and probe.stderr == ""
    status = json.loads(probe.stdout)
    assert not status["fast"] and "disabled by RVC_RUNTIME_BLAS" in status["reason"]


STANDALONE = (
    "import importlib.util, json, sys\n"
    f"spec = importlib.util.spec_from_file_location('blas_probe', {BLAS_MODULE!r})\n"
    "blas = importlib.util.module_from_spec(spec); spec.loader.exec_module(blas)\n"
)


@linux_only
def test_missing_blas_falls_back_with_one_line_notice():
    probe = run_python(
        STANDALONE
        + "blas.candidate_libraries = lambda: [('test', '/nonexistent/libopenblas.so.0')]\n"
        + "status = blas.enable()\nimport mlx.core as mx\nmx.eval(mx.ones((2, 2)) @ mx.ones((2, 2)))\n"
        + "print(json.dumps(status))\n"
    )
    assert probe.returncode == 0, probe.stderr
    status = json.loads(probe.stdout)
    assert not status["fast"] and status["library"] is None
    assert status["tried"][0]["path"] == "/nonexistent/libopenblas.so.0"
    notice = probe.stderr.strip().splitlines()
    assert len(notice) == 1 and "slow reference BLAS" in notice[0] and "scipy-openblas32" in notice[0]


@linux_only
def test_importing_mlx_first_is_reported():
    probe = run_python("import mlx.core, json, rvc_runtime\nprint(json.dumps(rvc_runtime.blas.status()))")
    assert probe.returncode == 0, probe.stderr
    status = json.loads(probe.stdout)
    assert status["mlx_imported_before"] and not status["fast"] and status["bound"] is None
    assert "imported before rvc_runtime" in probe.stderr


def test_blas_loader_does_nothing_off_linux():
    spec = importlib.util.spec_from_file_location("blas_off_linux", BLAS_MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.sys = type("FakeSys", (), {"platform": "darwin", "modules": sys.modules, "stderr": sys.stderr})
    status = module.enable()
    assert status["library"] is None and not status["fast"] and "not Linux" in status["reason"]


@linux_only
def test_python_m_rvc_runtime_says_what_is_active():
    probe = subprocess.run([sys.executable, "-m", "rvc_runtime"], capture_output=True, text=True, timeout=120, env=clean_env(), cwd=REPO)
    assert probe.returncode == 0, probe.stderr
    lines = probe.stdout.splitlines()
    assert lines[0] == f"BLAS: scipy-openblas32, {blas.DEFAULT_THREADS} thread" + ("s" if blas.DEFAULT_THREADS != 1 else "")
    assert any(line.startswith("why: ") for line in lines) and any(line.startswith("threads: ") for line in lines)
    as_json = subprocess.run([sys.executable, "-m", "rvc_runtime", "--json"], capture_output=True, text=True, timeout=120, env=clean_env(), cwd=REPO)
    assert json.loads(as_json.stdout)["source"] == "scipy-openblas32"

