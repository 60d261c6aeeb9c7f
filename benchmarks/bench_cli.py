"""Whole processes as users run them: `rvc-convert MODEL --target ios --no-validate`, the default
(validated) `rvc-convert MODEL`, and the plain torch + safetensors script as the baseline.

Each run is one child process measured by the kernel (os.wait4): wall time, CPU time (user + system,
all its threads) and peak RSS (ru_maxrss). Children run without PYTHONDONTWRITEBYTECODE (if this
shell sets it), so that they reuse compiled modules as a user's interpreter does. Runs are interleaved (every command once per round) so
that load from other jobs hits them alike; one untimed round first fills the page cache and
.pyc files. Medians of --repeat rounds; ratios against the baseline of the same run.

    python benchmarks/bench_cli.py [--repeat 7] [--model PATH]

Aims (issue 15): --no-validate <= 0.3 s wall and CPU (>= 5x faster than the torch script), peak
RSS <= 120 MB; validated convert <= 1.5 s wall, <= 300 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import BENCH, REPO, fmt_mb, load_average, median, print_header, print_table, require_golden, work_dir  # noqa: E402

MODEL = "synth/models/v2-40k-f0.pth"


def run_process(argv: list[str], env: dict[str, str]) -> dict:
    """Run argv; its wall time, CPU time and peak RSS as the kernel accounts them."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO)
    stderr = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {stderr.decode()[-1500:]}")
    scale = 1 if sys.platform == "darwin" else 1024
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss * scale}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds (median reported)")
    parser.add_argument("--model", type=Path, default=None, help=f"source .pth (default: golden {MODEL})")
    args = parser.parse_args()
    src = args.model or require_golden(MODEL)
    out = work_dir("cli")
    shutil.rmtree(out)
    out.mkdir(parents=True)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users' interpreters cache compiled modules; the warm-up round writes them
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    cli = [sys.executable, "-m", "rvc_convert"]
    commands = {
        "rvc-convert MODEL --target ios --no-validate": [*cli, str(src), "--target", "ios", "--no-validate", "-o", str(out / "fast")],
        "rvc-convert MODEL --target ios (validated, the default)": [*cli, str(src), "--target", "ios", "-o", str(out / "validated")],
        "baseline: torch + safetensors script": [sys.executable, str(BENCH / "baseline_convert.py"), str(src), str(out / "baseline.safetensors")],
        "python -c pass (the interpreter alone)": [sys.executable, "-c", "pass"],
    }
    baseline = "baseline: torch + safetensors script"
    print_header(f"bench_cli: {src.name} ({src.stat().st_size / 1e6:.1f} MB), whole processes, {args.repeat} interleaved rounds")
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    for round_index in range(args.repeat + 1):  # round 0: warm-up, not counted
        for name, argv in commands.items():
            result = run_process(argv, env)
            if round_index:
                runs[name].append(result)

    base_wall, base_cpu = median([r["wall"] for r in runs[baseline]]), median([r["cpu"] for r in runs[baseline]])
    rows = []
    for name in commands:
        wall, cpu = median([r["wall"] for r in runs[name]]), median([r["cpu"] for r in runs[name]])
        rows.append([
            name, f"{wall:.3f}", f"{min(r['wall'] for r in runs[name]):.3f}", f"{cpu:.3f}", f"{min(r['cpu'] for r in runs[name]):.3f}",
            fmt_mb(max(r["rss"] for r in runs[name])), f"{base_wall / wall:.1f}x", f"{base_cpu / cpu:.1f}x",
        ])  # fmt: skip
    print_table(
        ["process", f"wall s (median of {args.repeat})", "wall s (best)", "CPU s (median)", "CPU s (best)", "peak RSS MB (max)", "baseline wall / this", "baseline CPU / this"],
        rows,
    )
    print(f"\nload average at the end: {load_average()}; wall includes waiting for a core when the machine is shared, CPU does not.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
