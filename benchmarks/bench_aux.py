"""HuBERT features and RMVPE f0, full size, 10 s of 16 kHz audio: MLX runtime vs PyTorch; conversion cost.

The full-size checkpoints (hubert_base.pt in the fairseq layout, rmvpe.pt = E2E(4, 1, (2, 2)))
hold random weights in the real layouts, made by fixtures/make_aux.py and cached in the temp dir.
Each conversion runs in a fresh child (wall time, peak RSS, RSS above a child that only imports
rvc_convert.convert); each forward runs in its own child: MLX after `import rvc_runtime` (fast
BLAS), PyTorch (benchmarks/torch_reference.py, torch.set_num_threads(2)) on the source file.
The audio is the golden speech clip repeated to 10 s (a synthetic vowel-like signal without it).

    python benchmarks/bench_aux.py [--seconds 10] [--repeat 3] [--convert-repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO, fmt_mb, fmt_s, golden_file, median, print_header, print_table, run_child, work_dir  # noqa: E402

SEED = 0
SAMPLE_RATE = 16000

CONVERT_CHILD = """
import sys, time
start = time.perf_counter()
from rvc_convert.convert import convert_model
imported = time.perf_counter()
if sys.argv[3] == "work":
    convert_model(sys.argv[1], "ios", sys.argv[2])
report(work_s=time.perf_counter() - imported, import_s=imported - start)
"""

FORWARD_CHILD = """
import sys, time
engine, model_path, audio_path, repeat, out_path = sys.argv[1:6]
import numpy as np
if engine.startswith("mlx"):
    import rvc_runtime
    import mlx.core as mx
    from rvc_runtime.hubert import HuBERT
    from rvc_runtime.rmvpe import RMVPE
else:
    import torch
    torch.set_num_threads(int(_os.environ.get("BENCH_TORCH_THREADS", "2")))
    from torch_reference import TorchHubert, TorchRMVPE
audio = np.load(audio_path)

start = time.perf_counter()
if engine == "mlx-hubert":
    model = HuBERT.from_file(model_path)
    run = lambda: np.array(model.extract_features(audio, "v2"))
elif engine == "mlx-rmvpe":
    model = RMVPE.from_file(model_path)
    run = lambda: model.f0(audio)
elif engine == "torch-hubert":
    model = TorchHubert(model_path)
    run = lambda: model.extract_features(audio, "v2").numpy()
else:
    model = TorchRMVPE(model_path)
    run = lambda: model.f0(audio)
load_s = time.perf_counter() - start
times = []
for _ in range(1 + int(repeat)):
    start = time.perf_counter()
    result = run()
    times.append(time.perf_counter() - start)
np.save(out_path, result)
report(load_s=load_s, first_s=times[0], steady_s=times[1:])
"""


def make_audio(seconds: float) -> np.ndarray:
    samples = int(seconds * SAMPLE_RATE)
    refs = golden_file("hubert/hubert_refs.npz")
    if refs is not None:
        with np.load(refs) as data:
            clip = data["audio"].astype(np.float32)
        return np.resize(clip, samples)
    t = np.arange(samples) / SAMPLE_RATE  # 120-200 Hz harmonic tone with a little noise
    f0 = 160 + 40 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 12))
    return (0.2 * tone + 0.01 * np.random.default_rng(SEED).standard_normal(samples)).astype(np.float32)


def ensure_checkpoints(folder: Path) -> tuple[Path, Path]:
    hubert, rmvpe = folder / "hubert_base.pt", folder / "rmvpe.pt"
    if not (hubert.exists() and rmvpe.exists()):
        print(f"generating full-size random-weight checkpoints in {folder} (fixtures/make_aux.py, once) ...", flush=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "fixtures" / "make_aux.py"), str(folder), "--seed", str(SEED)], check=True, stdout=subprocess.DEVNULL)
        print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
    return hubert, rmvpe


def forward(engine: str, model: Path, audio: Path, repeat: int, out: Path, torch_threads: int = 2, mlx_threads: int | None = None) -> dict:
    env = {"BENCH_TORCH_THREADS": str(torch_threads)} | ({"RVC_RUNTIME_BLAS_THREADS": str(mlx_threads)} if mlx_threads else {})
    return run_child(FORWARD_CHILD, [engine, str(model), str(audio), str(repeat), str(out)], env=env)


def cents(f0: np.ndarray) -> np.ndarray:
    return 1200.0 * np.log2(np.maximum(f0, 1e-9) / 10.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3, help="steady-state calls after the first (median reported)")
    parser.add_argument("--convert-repeat", type=int, default=3)
    args = parser.parse_args()

    work = work_dir(f"aux-seed{SEED}")
    hubert_src, rmvpe_src = ensure_checkpoints(work)
    out = work / "converted"
    out.mkdir(exist_ok=True)
    audio_path = work / "audio.npy"
    np.save(audio_path, make_audio(args.seconds))

    print_header(f"bench_aux: full-size HuBERT base and RMVPE (random weights), {args.seconds:g} s of 16 kHz audio")

    # conversion: interleaved runs, then the interpreter's own footprint
    sources = {"HuBERT base (fairseq .pt)": hubert_src, "RMVPE (rmvpe.pt)": rmvpe_src}
    runs: dict[str, list[dict]] = {name: [] for name in sources}
    for _ in range(args.convert_repeat):
        for name, src in sources.items():
            runs[name].append(run_child(CONVERT_CHILD, [str(src), str(out), "work"]))
    interpreter = median([run_child(CONVERT_CHILD, [str(hubert_src), str(out), "bare"])["peak_rss"] for _ in range(3)])
    rows = []
    for name, src in sources.items():
        size = src.stat().st_size
        peak = max(r["peak_rss"] for r in runs[name])
        output = out / f"{src.stem}.safetensors"
        rows.append([
            name, fmt_mb(size), fmt_s(median([r["work_s"] for r in runs[name]])), fmt_s(median([r["process_s"] for r in runs[name]])),
            fmt_mb(peak), fmt_mb(peak - interpreter), f"{(peak - interpreter) / size:.2f}x", fmt_mb(output.stat().st_size),
        ])  # fmt: skip
    print_table(
        ["conversion (convert_model, ios)", "source MB", f"convert s (median of {args.convert_repeat})", "process s", "peak RSS MB", "RSS above interp. MB", "above / file", "output MB"],
        rows,
        title=f"conversion (interpreter importing rvc_convert.convert: {fmt_mb(interpreter)} MB)",
    )

    # forwards
    hubert_mlx, rmvpe_mlx = out / "hubert_base.safetensors", out / "rmvpe.safetensors"
    results = {
        "mlx-hubert": forward("mlx-hubert", hubert_mlx, audio_path, args.repeat, work / "mlx-hubert.npy"),
        "mlx2-hubert": forward("mlx-hubert", hubert_mlx, audio_path, args.repeat, work / "mlx2-hubert.npy", mlx_threads=2),
        "torch-hubert": forward("torch-hubert", hubert_src, audio_path, args.repeat, work / "torch-hubert.npy"),
        "torch1-hubert": forward("torch-hubert", hubert_src, audio_path, args.repeat, work / "torch1-hubert.npy", torch_threads=1),
        "mlx-rmvpe": forward("mlx-rmvpe", rmvpe_mlx, audio_path, args.repeat, work / "mlx-rmvpe.npy"),
        "mlx2-rmvpe": forward("mlx-rmvpe", rmvpe_mlx, audio_path, args.repeat, work / "mlx2-rmvpe.npy", mlx_threads=2),
        "torch-rmvpe": forward("torch-rmvpe", rmvpe_src, audio_path, args.repeat, work / "torch-rmvpe.npy"),
        "torch1-rmvpe": forward("torch-rmvpe", rmvpe_src, audio_path, args.repeat, work / "torch1-rmvpe.npy", torch_threads=1),
    }
    labels = {
        "mlx-hubert": "HuBERT v2 features: MLX runtime, 1 BLAS thread (default)",
        "mlx2-hubert": "HuBERT v2 features: MLX runtime, 2 BLAS threads",
        "torch-hubert": "HuBERT v2 features: PyTorch reference, 2 threads",
        "torch1-hubert": "HuBERT v2 features: PyTorch reference, 1 thread",
        "mlx-rmvpe": "RMVPE f0: MLX runtime, 1 BLAS thread (default)",
        "mlx2-rmvpe": "RMVPE f0: MLX runtime, 2 BLAS threads",
        "torch-rmvpe": "RMVPE f0: PyTorch reference, 2 threads",
        "torch1-rmvpe": "RMVPE f0: PyTorch reference, 1 thread",
    }
    rows = []
    for engine, r in results.items():
        model = engine.split("-")[1]
        steady = median(r["steady_s"])
        base2, base1 = median(results["torch-" + model]["steady_s"]), median(results["torch1-" + model]["steady_s"])
        rows.append([labels[engine], fmt_s(r["load_s"]), fmt_s(r["first_s"]), fmt_s(steady), f"{min(r['steady_s']):.3f}", f"{steady / args.seconds:.2f}", f"{steady / base2:.2f}x", f"{steady / base1:.2f}x", fmt_mb(r["peak_rss"])])
    print_table(
        ["forward", "load s", "first call s", f"steady s (median of {args.repeat})", "steady s (best)", "real-time factor", "vs PyTorch 2 threads", "vs PyTorch 1 thread", "peak RSS MB"],
        rows,
        title=f"forward on {args.seconds:g} s of audio",
    )

    feats_mlx, feats_torch = np.load(work / "mlx-hubert.npy"), np.load(work / "torch-hubert.npy")
    rms = float(np.sqrt(np.mean(feats_torch.astype(np.float64) ** 2)))
    print(f"\nHuBERT MLX vs PyTorch: shape {feats_mlx.shape}, max |diff| {np.max(np.abs(feats_mlx - feats_torch)):.2e} (features RMS {rms:.3g})")
    f0_mlx, f0_torch = np.load(work / "mlx-rmvpe.npy"), np.load(work / "torch-rmvpe.npy")
    both = (f0_mlx > 0) & (f0_torch > 0)
    agree = float(np.mean((f0_mlx > 0) == (f0_torch > 0)))
    worst = float(np.max(np.abs(cents(f0_mlx[both]) - cents(f0_torch[both])), initial=0.0))
    print(f"RMVPE MLX vs PyTorch: {f0_mlx.size} frames, voicing agrees on {100 * agree:.2f} %, max {worst:.3g} cents on {int(both.sum())} frames voiced in both")
    return 0


if __name__ == "__main__":
    sys.exit(main())
