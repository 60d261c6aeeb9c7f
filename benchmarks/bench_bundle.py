"""Benchmark `rvc-convert bundle`: parallel (--jobs 2) versus sequential (--jobs 1), and a no-change rerun.

Generates full-size fixtures in a temp folder: 20 voices (every v1/v2 x 32k/40k/48k x f0/nof0 variant,
then repeats with other seeds; fixtures/make_variants.py) and a full-size HuBERT base and RMVPE
(fixtures/make_aux.py), then times the real CLI on them, each run a fresh process. Not a test.

    python benchmarks/bench_bundle.py [--voices 20] [--keep DIR] [--blas-threads-row]

--blas-threads-row adds a sequential run with OPENBLAS_NUM_THREADS=2 (the workers' default is one
BLAS thread each) to show what that setting is worth; it is slow.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "fixtures"))


def make_fixtures(folder: Path, voices: int) -> Path:
    import make_aux
    import make_variants

    variants = make_variants.all_variants()
    entries = []
    for index in range(voices):
        version, sr, f0 = variants[index % len(variants)]
        name = f"voice-{index + 1:02d}"
        make_variants.write_checkpoint(folder / f"{name}.pth", version, sr, f0, full_size=True, seed=1000 + index)
        entries.append(f"  - source: {name}.pth\n    display_name: Voice {index + 1} ({make_variants.variant_name(version, sr, f0)})\n")
    make_aux.save_hubert_fairseq(folder / "hubert_base.pt", make_aux.build_hubert(seed=0))
    make_aux.save_rmvpe(folder / "rmvpe.pt", make_aux.build_rmvpe(seed=0))
    spec = folder / "bundle.yaml"
    spec.write_text("target: ios\nhubert: hubert_base.pt\nrmvpe: rmvpe.pt\nvoices:\n" + "".join(entries))
    return spec


def _spin(count: int) -> float:
    started = time.perf_counter()
    total = 0
    for i in range(count):
        total += i * i
    return time.perf_counter() - started


def parallel_capacity() -> float:
    """How much pure-Python work 2 processes get done per unit of time relative to 1 (2.0 = two full cores)."""
    from concurrent.futures import ProcessPoolExecutor

    count = 20_000_000
    one = _spin(count)
    with ProcessPoolExecutor(2) as pool:
        started = time.perf_counter()
        list(pool.map(_spin, [count, count]))
        two = time.perf_counter() - started
    return 2 * one / two


def timed_bundle(spec: Path, out: Path, jobs: int, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "rvc_convert", "bundle", str(spec), "-o", str(out), "--jobs", str(jobs), "--json", *extra],
        capture_output=True, text=True, env=env, cwd=REPO,
    )
    seconds = time.perf_counter() - started
    if not proc.stdout.strip():
        raise SystemExit(f"bundle failed (exit {proc.returncode}): {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    return {"seconds": seconds, "exit": proc.returncode, **report["counts"]}


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", type=int, default=20)
    parser.add_argument("--keep", type=Path, default=None, help="generate into (and keep) this folder instead of a temp one")
    parser.add_argument("--blas-threads-row", action="store_true", help="also run --jobs 1 with OPENBLAS_NUM_THREADS=2")
    parser.add_argument("--no-sequential", action="store_true", help="skip the sequential fresh build (and the byte-identity comparison)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="rvc-bench-bundle-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        spec = make_fixtures(folder, args.voices)
        generated = time.perf_counter() - started
        size = sum(p.stat().st_size for p in folder.glob("*.p*t*")) / 1e6
        print(f"fixtures: {args.voices} full-size voices + full-size HuBERT base + RMVPE, {size:.0f} MB, generated in {generated:.0f} s")
        print(f"machine: {os.cpu_count()} CPU cores, python {sys.version.split()[0]}; 2 processes do {parallel_capacity():.2f}x the work of 1 (pure-Python spin)\n")

        # The rerun rows alternate: remembered digests (file_hashes.py) against --paranoid, which
        # re-reads every source and output as every rerun did before (the baseline, same run).
        rerun = ("no-change rerun", 2, folder / "out-parallel", None, ())
        paranoid = ("no-change rerun --paranoid", 2, folder / "out-parallel", None, ("--paranoid",))
        rows = [("parallel, fresh", 2, folder / "out-parallel", None, ())]
        if not args.no_sequential:
            rows.append(("sequential, fresh", 1, folder / "out-sequential", None, ()))
        rows += [rerun, paranoid, rerun, paranoid, rerun, paranoid]
        if args.blas_threads_row:
            rows.append(("sequential, 2 BLAS threads", 1, folder / "out-blas2", os.environ | {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}, ()))
        results = [(label, jobs, timed_bundle(spec, out, jobs, env, extra)) for label, jobs, out, env, extra in rows]

        print(f"{'run':<28} {'--jobs':>6} {'wall s':>8} {'built':>6} {'reused':>7} {'failed':>7} {'exit':>5}")
        for label, jobs, r in results:
            print(f"{label:<28} {jobs:>6} {r['seconds']:>8.1f} {r['built']:>6} {r['reused']:>7} {r['failed']:>7} {r['exit']:>5}")
        reruns = sorted(r["seconds"] for label, _, r in results if label == rerun[0])
        paranoids = sorted(r["seconds"] for label, _, r in results if label == paranoid[0])
        print(f"\nno-change rerun: median {reruns[len(reruns) // 2]:.2f} s with remembered digests, {paranoids[len(paranoids) // 2]:.2f} s with --paranoid (every file re-read)")
        if not args.no_sequential:
            parallel, sequential = results[0][2]["seconds"], results[1][2]["seconds"]
            print(f"speed-up parallel vs sequential: {sequential / parallel:.2f}x")
            same = folder_bytes(folder / "out-parallel") == folder_bytes(folder / "out-sequential")
            print(f"parallel and sequential bundles byte-identical: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
