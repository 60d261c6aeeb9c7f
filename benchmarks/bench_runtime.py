"""Synthesizer inference, full-size v2-40k, 10 s of audio: MLX runtime vs the PyTorch reference.

Input: 1000 frames (100 fps) of seeded N(0, 1) phone features, a speech-like f0 contour (glide,
vibrato, unvoiced gaps) and its coarse bins, speaker 0, deterministic (zero-noise) mode. Every
engine runs in its own child process: MLX after `import rvc_runtime` (fast BLAS), PyTorch with
torch.set_num_threads(2), and MLX with its reference BLAS (mlx.core imported first) on a shorter
input next to the fast BLAS on the same input. First call (includes MLX's lazy set-up) and steady
state (median of --repeat calls after it) are reported separately. Also `rvc-convert validate`
wall time on v2-40k, with and without the golden reference (-r).

    python benchmarks/bench_runtime.py [--frames 1000] [--repeat 3] [--blas-frames 50] [--profile]

Aim (issue): MLX <= 1.0x the PyTorch time; validate < 10 s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import fmt_mb, fmt_s, median, print_header, print_table, require_golden, run_child, work_dir  # noqa: E402

MODEL = "synth/models/v2-40k-f0.pth"
REFERENCE = "synth/refs/v2-40k-f0.npz"
SEED = 0

MLX_CHILD = """
import sys, time
weights, inputs_path, repeat, out_path, blas, profile = sys.argv[1:7]
if blas == "reference":
    import mlx.core  # noqa: imported before rvc_runtime, so MLX keeps its reference BLAS
import rvc_runtime
import mlx.core as mx
import numpy as np

start = time.perf_counter()
model = rvc_runtime.Synthesizer.from_file(weights)
load_s = time.perf_counter() - start
inputs = dict(np.load(inputs_path))

def run():
    audio = model.infer(inputs["phone"], inputs["phone_lengths"], inputs["pitch"], inputs["pitchf"], inputs["sid"], noise="zero")
    return np.array(audio)  # forces evaluation

times = []
for _ in range(1 + int(repeat)):
    start = time.perf_counter()
    audio = run()
    times.append(time.perf_counter() - start)
np.save(out_path, audio)
stages, top = {}, []
if profile == "1":
    from profile_stages import mlx_stage_times, cprofile_top
    stages = mlx_stage_times(model, inputs)
    top = cprofile_top(run)
report(load_s=load_s, first_s=times[0], steady_s=times[1:], blas=rvc_runtime.blas_status(), stages=stages, cprofile=top)
"""

TORCH_CHILD = """
import sys, time
source, inputs_path, repeat, out_path, profile, threads = sys.argv[1:7]
import numpy as np
import torch
torch.set_num_threads(int(threads))
from torch_reference import TorchSynthesizer

start = time.perf_counter()
model = TorchSynthesizer(source)
load_s = time.perf_counter() - start
inputs = dict(np.load(inputs_path))

def run():
    return model.infer(inputs["phone"], inputs["phone_lengths"], inputs["pitch"], inputs["pitchf"], inputs["sid"]).numpy()[:, 0]

times = []
for _ in range(1 + int(repeat)):
    start = time.perf_counter()
    audio = run()
    times.append(time.perf_counter() - start)
np.save(out_path, audio)
stages = {}
if profile == "1":
    from profile_stages import torch_stage_times
    stages = torch_stage_times(model, inputs)
report(load_s=load_s, first_s=times[0], steady_s=times[1:], threads=torch.get_num_threads(), stages=stages)
"""

CLI_CHILD = """
import resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
elapsed = time.perf_counter() - start
report(wall_s=elapsed, returncode=proc.returncode, child_peak_rss=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, err=proc.stderr[-500:])
"""


def coarse_pitch(f0: np.ndarray) -> np.ndarray:
    """RVC's coarse bins: mel(50 Hz) -> 1, mel(1100 Hz) -> 255, clipped, rounded half-to-even; 0 Hz -> 1."""
    mel = 1127.0 * np.log(1.0 + f0 / 700.0)
    lo, hi = 1127.0 * np.log(1.0 + 50.0 / 700.0), 1127.0 * np.log(1.0 + 1100.0 / 700.0)
    bins = np.where(mel > 0, (mel - lo) * 254.0 / (hi - lo) + 1.0, 1.0)
    return np.rint(np.clip(bins, 1, 255)).astype(np.int64)


def make_inputs(frames: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """phone N(0,1) [1, T, 768]; f0: 140 Hz gliding to ~220 Hz and back, 5.5 Hz vibrato (±30 cents),
    unvoiced gaps of 150 ms every 2 s (0 Hz, as Applio and older WebUI pass them)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 100.0
    glide = 140.0 * 2.0 ** ((8.0 / 12.0) * np.sin(np.pi * t / max(t[-1], 1e-9)))
    f0 = glide * 2.0 ** (0.3 / 12.0 * np.sin(2 * np.pi * 5.5 * t))
    f0[(t % 2.0) > 1.85] = 0.0
    pitchf = f0[None].astype(np.float32)
    return {
        "phone": rng.standard_normal((1, frames, 768)).astype(np.float32),
        "phone_lengths": np.array([frames], dtype=np.int64),
        "pitch": coarse_pitch(pitchf.astype(np.float64)),
        "pitchf": pitchf,
        "sid": np.array([0], dtype=np.int64),
    }


def run_mlx(weights: Path, inputs: Path, repeat: int, out: Path, blas: str, profile: bool, env: dict | None = None) -> dict:
    return run_child(MLX_CHILD, [str(weights), str(inputs), str(repeat), str(out), blas, "1" if profile else "0"], env=env)


def run_torch(source: Path, inputs: Path, repeat: int, out: Path, profile: bool, threads: int = 2) -> dict:
    return run_child(TORCH_CHILD, [str(source), str(inputs), str(repeat), str(out), "1" if profile else "0", str(threads)])


def compare(a_path: Path, b_path: Path) -> str:
    a, b = np.load(a_path).astype(np.float64), np.load(b_path).astype(np.float64)
    if a.shape != b.shape:
        return f"shapes differ: {a.shape} vs {b.shape}"
    rel = np.sqrt(np.mean((a - b) ** 2)) / max(np.sqrt(np.mean(b**2)), 1e-30)
    return f"max |diff| {np.max(np.abs(a - b)):.2e}, rel-RMS {rel:.2e} over {a.size} samples"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="input frames (100 per second of audio)")
    parser.add_argument("--repeat", type=int, default=3, help="steady-state calls after the first (median reported)")
    parser.add_argument("--blas-frames", type=int, default=50, help="input frames for the reference-BLAS comparison (it is ~5-50x slower)")
    parser.add_argument("--blas-repeat", type=int, default=1)
    parser.add_argument("--validate-repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also time each stage (MLX and torch) and print a cProfile of one MLX call")
    parser.add_argument(
        "--single-thread-rows", action="store_true",
        help="also run PyTorch with 1 thread and MLX with 2 BLAS threads (the runtime's default is 1; on a busy 2-core machine two threads can lose to one)",
    )
    args = parser.parse_args()

    source, reference = require_golden(MODEL), require_golden(REFERENCE)
    work = work_dir("runtime")
    from rvc_convert.convert import convert_model

    # fp32 file: both engines then hold the same fused weights (the default fp16 file computes the same
    # way, in float32, from fp16-rounded weights)
    weights = Path(convert_model(source, "ios", work, dtype="fp32").weights_path)
    long_inputs, short_inputs = work / "inputs.npz", work / "inputs-short.npz"
    np.savez(long_inputs, **make_inputs(args.frames))
    np.savez(short_inputs, **make_inputs(args.blas_frames))
    seconds = args.frames / 100.0
    print_header(
        f"bench_runtime: {source.name}, {args.frames} frames = {seconds:g} s of audio at 40 kHz, "
        f"first call + median of {args.repeat} steady calls"
    )

    mlx = run_mlx(weights, long_inputs, args.repeat, work / "mlx.npy", "fast", args.profile)
    torch_ = run_torch(source, long_inputs, args.repeat, work / "torch.npy", args.profile)
    single = []
    if args.single_thread_rows:
        single.append(("MLX runtime, RVC_RUNTIME_BLAS_THREADS=2", run_mlx(weights, long_inputs, args.repeat, work / "mlx-2t.npy", "fast", False, {"RVC_RUNTIME_BLAS_THREADS": "2"})))
        single.append(("PyTorch reference (1 thread)", run_torch(source, long_inputs, args.repeat, work / "torch-1t.npy", False, threads=1)))
    mlx_fast_short = run_mlx(weights, short_inputs, args.blas_repeat, work / "mlx-fast-short.npy", "fast", False)
    mlx_ref_short = run_mlx(weights, short_inputs, args.blas_repeat, work / "mlx-ref-short.npy", "reference", False)

    torch_steady = median(torch_["steady_s"])
    rows = []
    for label, r, frames, base in (
        (f"MLX runtime, {mlx['blas']['source'] or 'reference BLAS'}, {mlx['blas']['threads']} BLAS thread(s)", mlx, args.frames, torch_steady),
        ("PyTorch reference (2 threads)", torch_, args.frames, torch_steady),
        *((label, r, args.frames, torch_steady) for label, r in single),
        (f"MLX, fast BLAS ({mlx_fast_short['blas']['source']})", mlx_fast_short, args.blas_frames, None),
        ("MLX, reference BLAS (mlx.core first)", mlx_ref_short, args.blas_frames, None),
    ):
        steady = median(r["steady_s"])
        audio_s = frames / 100.0
        rows.append([
            label,
            f"{audio_s:g}",
            fmt_s(r["load_s"]),
            fmt_s(r["first_s"]),
            fmt_s(steady),
            f"{min(r['steady_s']):.3f}" if r["steady_s"] else "n/a",
            f"{steady / audio_s:.2f}",
            f"{steady / base:.2f}x PyTorch" if base else f"{steady / median(mlx_fast_short['steady_s']):.2f}x fast BLAS",
            fmt_mb(r["peak_rss"]),
        ])  # fmt: skip
    print_table(
        ["engine", "audio s", "load s", "first call s", "steady s (median)", "steady s (best)", "real-time factor", "steady vs baseline", "peak RSS MB"],
        rows,
    )
    print(f"\nMLX vs PyTorch audio on the {seconds:g} s input: {compare(work / 'mlx.npy', work / 'torch.npy')}")
    print(f"MLX reference BLAS vs fast BLAS on the {args.blas_frames / 100:g} s input: {compare(work / 'mlx-ref-short.npy', work / 'mlx-fast-short.npy')}")
    print(f"BLAS: fast child {mlx['blas'].get('library')}; reference child: {mlx_ref_short['blas'].get('reason')}")
    print("real-time factor: steady seconds per second of audio (< 1 is faster than real time)")

    validate_rows = []
    for label, extra in (("rvc-convert validate v2-40k-f0.pth", []), ("rvc-convert validate v2-40k-f0.pth -r v2-40k-f0.npz", ["-r", str(reference)])):
        argv = [sys.executable, "-m", "rvc_convert", "validate", str(source), *extra]
        results = [run_child(CLI_CHILD, argv) for _ in range(args.validate_repeat)]
        failed = [r for r in results if r["returncode"] != 0]
        if failed:
            print(f"\n{label} exited {failed[0]['returncode']}: {failed[0]['err']}")
        walls = [r["wall_s"] for r in results]
        validate_rows.append([label, fmt_s(median(walls)), fmt_s(min(walls)), fmt_mb(max(r["child_peak_rss"] for r in results)), "yes" if median(walls) < 10 else "no", str(results[0]["returncode"])])
    print_table(["command (CLI subprocess)", f"wall s (median of {args.validate_repeat})", "wall s (best)", "peak RSS MB", "< 10 s", "exit"], validate_rows, title="validate")

    if args.profile:
        print_table(
            ["stage", "MLX s", "PyTorch s", "MLX / PyTorch"],
            [[name, fmt_s(t), fmt_s(torch_["stages"].get(name, float("nan"))), f"{t / torch_['stages'][name]:.2f}x" if torch_["stages"].get(name) else "n/a"] for name, t in mlx["stages"].items()],
            title=f"per stage ({args.frames} frames; each stage evaluated on its own, so MLX cannot fuse across stages)",
        )
        print(f"\ncProfile of one MLX call ({args.frames} frames; MLX evaluates lazily, so the graph's work shows up in the call that forces it):")
        for line in mlx["cprofile"]:
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
