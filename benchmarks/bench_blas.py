"""Which BLAS MLX's Linux CPU wheel runs on, and with how many threads.

Part 1, routes: every BLAS the runtime can load here (``RVC_RUNTIME_BLAS=<route>``, each in its
own child) next to MLX's reference BLAS (``off``, the baseline): float32 matmul GFLOP/s (n x n,
best of --repeat) at 1 and 2 BLAS threads, the conv1d the issue measured (x [1, 4800, 256],
w [256, 3, 256]), agreement of MLX's matmul with float64 (max |err| / max |ref|, next to
numpy's own float32 matmul), installed size of the wheels the route needs, and their licence.
Intel oneMKL is measured too when the ``mkl`` wheel is installed in this interpreter (it is not a
runtime dependency: x86_64 only, ~700 MB installed, proprietary licence).

Part 2, threads (``--threads``): the runtime's own forwards (synthesizer v2-40k, HuBERT base,
RMVPE; --seconds of audio) at 1 and 2 BLAS threads, on the machine as it is ("idle") and with
one competing CPU-bound process per core minus one ("busy"); the default thread count in
rvc_runtime/blas.py comes from this table.

    python benchmarks/bench_blas.py [--n 1024] [--repeat 5] [--rounds 3] [--threads] [--seconds 5]

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: when the environment sets them (some shared machines pin
OpenBLAS's kernel), the scipy-openblas32 route is also measured with both unset, i.e. with the
kernel OpenBLAS picks for this CPU itself (DYNAMIC_ARCH).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import UNPINNED, ChildError, fmt_mb, load_average, median, print_header, print_table, run_child  # noqa: E402

ROUTE_CHILD = """
import sys, time
n, repeat = int(sys.argv[1]), int(sys.argv[2])
import rvc_runtime
from rvc_runtime import blas
import mlx.core as mx
import numpy as np

rng = np.random.default_rng(0)
a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
A, B = mx.array(a), mx.array(b)
mx.eval(A @ B)
best = float("inf")
for _ in range(repeat):
    start = time.perf_counter(); mx.eval(A @ B); best = min(best, time.perf_counter() - start)
ref = a.astype(np.float64) @ b.astype(np.float64)
scale = float(np.max(np.abs(ref)))
err_mlx = float(np.max(np.abs(np.array(A @ B) - ref))) / scale
err_numpy = float(np.max(np.abs(a @ b - ref))) / scale
np_best = float("inf")
for _ in range(repeat):
    start = time.perf_counter(); a @ b; np_best = min(np_best, time.perf_counter() - start)

x = mx.array(rng.standard_normal((1, 4800, 256), dtype=np.float32))
w = mx.array(rng.standard_normal((256, 3, 256), dtype=np.float32))
mx.eval(mx.conv1d(x, w, padding=1))
conv = float("inf")
for _ in range(3):
    start = time.perf_counter(); mx.eval(mx.conv1d(x, w, padding=1)); conv = min(conv, time.perf_counter() - start)
report(status=blas.status(), gflops=2 * n**3 / best / 1e9, numpy_gflops=2 * n**3 / np_best / 1e9,
       err_mlx=err_mlx, err_numpy=err_numpy, conv1d_s=conv)
"""

FORWARD_CHILD = """
import sys, time
model_kind, path, inputs_path, repeat = sys.argv[1:5]
import rvc_runtime
from rvc_runtime import blas
import numpy as np
inputs = dict(np.load(inputs_path))
if model_kind == "synthesizer":
    model = rvc_runtime.Synthesizer.from_file(path)
    run = lambda: np.array(model.infer(inputs["phone"], inputs["phone_lengths"], inputs["pitch"], inputs["pitchf"], inputs["sid"], noise="zero"))
elif model_kind == "hubert":
    from rvc_runtime.hubert import HuBERT
    model = HuBERT.from_file(path)
    run = lambda: np.array(model.extract_features(inputs["audio"], "v2"))
else:
    from rvc_runtime.rmvpe import RMVPE
    model = RMVPE.from_file(path)
    run = lambda: model.f0(inputs["audio"])
times = []
for _ in range(1 + int(repeat)):
    start = time.perf_counter(); run(); times.append(time.perf_counter() - start)
report(first_s=times[0], steady_s=times[1:], blas=blas.describe())
"""

BUSY_LOOP = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    pass\n"
PINNED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
BASE_DISTRIBUTIONS = {"numpy", "mlx", "mlx-cpu", "pip", "setuptools", "wheel", "tomli"}


def installed_size(names: list[str]) -> tuple[int, list[str]]:
    """Bytes on disk of these distributions and the installed ones they require (minus the
    project's own base), and their licences."""
    seen, stack, total, licences = set(), list(names), 0, []
    while stack:
        name = stack.pop()
        key = name.lower().replace("_", "-")
        if key in seen or key in BASE_DISTRIBUTIONS:
            continue
        seen.add(key)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in dist.files or ():
            path = Path(dist.locate_file(file))
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        meta = dist.metadata
        licence = meta.get("License-Expression") or (meta.get("License") or "").splitlines()[0:1]
        licence = licence if isinstance(licence, str) else (licence[0] if licence else "")
        classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
        licences.append((licence or ", ".join(classifiers) or "?").split("  ")[0][:34])
        for requirement in dist.requires or ():
            if "extra ==" in requirement:
                continue
            stack.append(requirement.split(";")[0].split("(")[0].split("<")[0].split(">")[0].split("=")[0].split("!")[0].strip())
    return total, licences


def mkl_route() -> tuple[str, dict[str, str]] | None:
    """libmkl_rt from the `mkl` wheel, with its lib folder on the loader path for its sub-libraries."""
    try:
        dist = importlib.metadata.distribution("mkl")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name.startswith("libmkl_rt.so"):
            path = Path(dist.locate_file(file)).resolve()
            env = {"LD_LIBRARY_PATH": os.pathsep.join(filter(None, [str(path.parent), os.environ.get("LD_LIBRARY_PATH", "")]))}
            return str(path), env
    return None


def routes() -> list[tuple[str, dict[str, str], list[str]]]:
    """(label, child environment, distributions to size) for each route worth measuring here."""
    listed = [("MLX reference BLAS (baseline)", {"RVC_RUNTIME_BLAS": "off"}, [])]
    listed.append(("scipy-openblas32 (renamed CBLAS)", {"RVC_RUNTIME_BLAS": "scipy-openblas32"}, ["scipy-openblas32"]))
    if any(os.environ.get(name) for name in PINNED_ENV):
        pinned = ", ".join(f"{name}={os.environ[name]}" for name in PINNED_ENV if os.environ.get(name))
        listed[-1] = (f"scipy-openblas32 (renamed CBLAS), {pinned}", listed[-1][1], listed[-1][2])
        listed.append(("scipy-openblas32 (renamed CBLAS), kernel of its own choice", {"RVC_RUNTIME_BLAS": "scipy-openblas32", **{n: None for n in PINNED_ENV}}, ["scipy-openblas32"]))
    listed.append(("cmeel-openblas (+ system libgfortran)", {"RVC_RUNTIME_BLAS": "cmeel-openblas"}, ["cmeel-openblas"]))
    listed.append(("system OpenBLAS (Debian)", {"RVC_RUNTIME_BLAS": "system"}, []))
    mkl = mkl_route()
    if mkl is not None:
        path, env = mkl
        listed.append(("Intel oneMKL (`mkl` wheel, libmkl_rt)", {"RVC_RUNTIME_BLAS": path, **env}, ["mkl"]))
    return listed


def child_env(env: dict[str, str | None], threads: int) -> dict[str, str]:
    """The route's environment with `threads` BLAS threads; None values are removed."""
    merged = {k: v for k, v in os.environ.items() if k not in env or env[k] is not None}
    merged.update({k: v for k, v in env.items() if v is not None})
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        merged.pop(name, None)
    merged.update(RVC_RUNTIME_BLAS_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return merged


def run_isolated(snippet: str, args: list[str], env: dict[str, str]) -> dict:
    """run_child with exactly `env` (run_child only adds to os.environ)."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        # run_child drops the OpenBLAS kernel pin; the pinned route asks for it explicitly
        return run_child(snippet, args, env={name: env[name] for name in UNPINNED if name in env})
    finally:
        os.environ.clear()
        os.environ.update(saved)


def route_table(n: int, repeat: int, rounds: int) -> None:
    listed = routes()
    results: dict[tuple[int, int], list[dict]] = {}
    for _ in range(rounds):  # alternate the routes, so that load from other jobs hits them all
        for index, (_label, env, _dists) in enumerate(listed):
            for threads in (1, 2):
                try:
                    result = run_isolated(ROUTE_CHILD, [str(n), str(repeat)], child_env(env, threads))
                except ChildError as error:
                    result = {"error": str(error).strip().splitlines()[-1]}
                results.setdefault((index, threads), []).append(result)

    def best(index: int, threads: int, key: str, pick=max) -> float:
        values = [r[key] for r in results[(index, threads)] if key in r]
        return pick(values) if values else float("nan")

    rows, baseline = [], None
    for index, (label, env, dists) in enumerate(listed):
        first = results[(index, 1)][0]
        if "error" in first:
            rows.append([label, "child failed: " + first["error"][:80], "", "", "", "", "", "", ""])
            continue
        status = first["status"]
        if env.get("RVC_RUNTIME_BLAS") != "off" and not status["fast"]:
            tried = "; ".join(t["error"] for t in status["tried"]) or status["reason"]
            rows.append([label, f"not loadable here: {tried[:110]}", "", "", "", "", "", "", ""])
            continue
        conv = best(index, 1, "conv1d_s", min)
        baseline = baseline or conv
        size, licences = installed_size(dists) if dists else (0, [])
        kernel = (status.get("config") or "").replace("OpenBLAS ", "")
        rows.append([
            label,
            kernel[:60] or ("reference" if not status["fast"] else status["source"]),
            f"{best(index, 1, 'gflops'):.1f}",
            f"{best(index, 2, 'gflops'):.1f}",
            f"{conv * 1e3:.1f} ({baseline / conv:.0f}x)",
            f"{first['err_mlx']:.1e} (numpy {first['err_numpy']:.1e})",
            f"{best(index, 1, 'numpy_gflops'):.0f}",
            fmt_mb(size) if dists else ("0" if env.get("RVC_RUNTIME_BLAS") == "off" else "system package"),
            "; ".join(sorted(set(licences))) or ("MIT (mlx)" if env.get("RVC_RUNTIME_BLAS") == "off" else "BSD-3-Clause (OpenBLAS)"),
        ])  # fmt: skip
    print_table(
        ["route", "kernel / build", f"sgemm {n} GFLOP/s, 1 thread", "2 threads", "conv1d ms, 1 thread (vs baseline)", "max err vs float64", "numpy GFLOP/s (same child)", "installed MB", "licence"],
        rows,
        title=f"BLAS routes: float32 matmul {n}x{n} and conv1d [1,4800,256]*[256,3,256], best of {repeat} calls x {rounds} alternating rounds",
    )


# --- part 2: thread count ----------------------------------------------------------------------


def thread_inputs(work: Path, seconds: float) -> dict[str, tuple[Path, Path]]:
    """(weights, inputs) for the synthesizer, HuBERT and RMVPE forwards."""
    from bench_aux import ensure_checkpoints, make_audio
    from bench_runtime import MODEL, make_inputs
    from benchlib import require_golden

    from rvc_convert.convert import convert_model

    converted = work / "converted"
    converted.mkdir(exist_ok=True)
    synth_source = require_golden(MODEL)
    synth = converted / f"{synth_source.stem}.safetensors"
    if not synth.exists():
        convert_model(synth_source, "ios", converted, dtype="fp32")
    hubert_src, rmvpe_src = ensure_checkpoints(work)
    for src in (hubert_src, rmvpe_src):
        if not (converted / f"{src.stem}.safetensors").exists():
            convert_model(src, "ios", converted)
    synth_inputs, audio_inputs = work / f"synth-{seconds:g}s.npz", work / f"audio-{seconds:g}s.npz"
    np.savez(synth_inputs, **make_inputs(int(seconds * 100)))
    np.savez(audio_inputs, audio=make_audio(seconds))
    return {
        "synthesizer": (synth, synth_inputs),
        "hubert": (converted / "hubert_base.safetensors", audio_inputs),
        "rmvpe": (converted / "rmvpe.safetensors", audio_inputs),
    }


def threads_table(seconds: float, repeat: int) -> None:
    from benchlib import work_dir

    models = thread_inputs(work_dir("blas-threads"), seconds)
    competitors = max(1, (os.cpu_count() or 2) - 1)
    rows = []
    for condition in ("idle", "busy"):
        spinners = []
        if condition == "busy":
            spinners = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(competitors)]
            time.sleep(0.5)
        try:
            load = load_average().split()[0]
            for kind, (weights, inputs) in models.items():
                steady = {}
                for threads in (1, 2, 1, 2):  # alternate, so drifting load hits both
                    env = child_env({}, threads)
                    result = run_isolated(FORWARD_CHILD, [kind, str(weights), str(inputs), str(repeat)], env)
                    steady.setdefault(threads, []).extend(result["steady_s"])
                one, two = median(steady[1]), median(steady[2])
                rows.append([f"{condition} (load {load})", kind, f"{one:.3f}", f"{two:.3f}", f"{two / one:.2f}x"])
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()
    print_table(
        ["machine (1-min load average at start)", "model", "1 BLAS thread s (median)", "2 BLAS threads s (median)", "2 threads / 1 thread"],
        rows,
        title=f"BLAS threads: runtime forwards on {seconds:g} s of audio, children alternating 1/2/1/2 threads; idle = the machine as it is, busy = plus {competitors} competing CPU-bound process(es)",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="matmul size")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per child")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds over the routes (best kept)")
    parser.add_argument("--threads", action="store_true", help="also measure the runtime's forwards at 1 and 2 BLAS threads, idle and busy")
    parser.add_argument("--seconds", type=float, default=5.0, help="audio length for --threads")
    parser.add_argument("--forward-repeat", type=int, default=2, help="steady calls per child for --threads")
    args = parser.parse_args()
    print_header(f"bench_blas: BLAS routes for MLX on Linux CPU ({sys.executable})")
    route_table(args.n, args.repeat, args.rounds)
    if args.threads:
        threads_table(args.seconds, args.forward_repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
