"""inspect and validate: does their cost grow with tensor bytes?

Runs `rvc-convert inspect` and `rvc-convert validate --no-runtime` on the full-size golden v2-40k
model (55 MB) and on a synthetic v2-40k model about 10x larger (same architecture, a wider
decoder: upsample_initial_channel 2240 instead of 512), each in a fresh subprocess, and prints
wall time and peak RSS. inspect reads only the pickle and headers, so it should not grow;
validate converts and compares every layer, so it should.

    python benchmarks/bench_inspect.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO.parent / "shared" / "golden" / "synth" / "models" / "v2-40k-f0.pth"
sys.path.insert(0, str(REPO / "fixtures"))

# VmHWM, not ru_maxrss: Linux copies the parent's ru_maxrss into a forked child.
MEASURE = """
import sys, time
from rvc_convert.cli import main
started = time.perf_counter()
code = main(sys.argv[1:])
elapsed = time.perf_counter() - started
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(f"BENCH {code} {elapsed:.4f} {hwm / 1024:.1f}", file=sys.stderr)
"""


def run(args: list[str]) -> tuple[float, float]:
    proc = subprocess.run([sys.executable, "-c", MEASURE, *args], capture_output=True, text=True)
    line = next(l for l in proc.stderr.splitlines() if l.startswith("BENCH "))
    code, seconds, rss = line.split()[1:]
    if code != "0":
        raise SystemExit(f"{args} exited {code}: {proc.stderr[-400:]}")
    return float(seconds), float(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    if not GOLDEN.is_file():
        raise SystemExit(f"needs {GOLDEN}")
    import make_variants

    with tempfile.TemporaryDirectory() as scratch:
        big = Path(scratch) / "v2-40k-f0-wide.pth"
        started = time.perf_counter()
        make_variants.write_checkpoint(big, "v2", "40k", True, full_size=True, upsample_initial_channel=2240)
        print(f"generated {big.name}: {big.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - started:.0f} s\n")
        baseline = run(["--version"])
        rows = []
        for label, model in (("v2-40k-f0 (golden)", GOLDEN), ("v2-40k-f0 wide (synthetic)", big)):
            size = model.stat().st_size / 1e6
            for command in (["inspect", str(model), "--brief"], ["validate", str(model), "--no-runtime"]):
                samples = [run(command) for _ in range(options.repeats)]
                seconds = statistics.median(s for s, _ in samples)
                rss = max(r for _, r in samples)
                rows.append((command[0], label, size, seconds, rss, rss - baseline[1]))
    print(f"interpreter + rvc_convert imports: {baseline[1]:.0f} MB peak RSS\n")
    print(f"| command | model | file MB | wall s (median of {options.repeats}) | peak RSS MB | RSS above interpreter MB |")
    print("|---|---|---:|---:|---:|---:|")
    for command, label, size, seconds, rss, above in rows:
        print(f"| {command} | {label} | {size:.0f} | {seconds:.2f} | {rss:.0f} | {above:.0f} |")


if __name__ == "__main__":
    main()
