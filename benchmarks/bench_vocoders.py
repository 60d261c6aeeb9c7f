"""Applio's MRF HiFi-GAN and RefineGAN voices at full size, 10 s of audio: MLX runtime vs PyTorch.

Voices: fixtures/make_vocoder_variants.py builds them at Applio's real sizes from the golden set
(MRF: the full-size v2-40k voice re-laid as MRF HiFi-GAN, 40 kHz; RefineGAN: the full-size v2 text
encoder and flow with the golden RefineGAN decoder, 32 kHz). The MLX side runs the converted fp32
file; the PyTorch side (benchmarks/torch_vocoders.py, checked against Applio's outputs by
tests/test_vocoders_torch_reference.py) runs the source export with the same weights, 2 threads.
Input as bench_runtime.py: 1000 frames of seeded phone features, a speech-like f0 contour with
unvoiced gaps, speaker 0, deterministic (zero-noise) mode. Each engine runs in its own child
process, in the same run; first call and steady state (median of --repeat calls) are reported.

    python benchmarks/bench_vocoders.py [--frames 1000] [--repeat 2] [--vocoders mrf refinegan] [--single-thread-rows]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "fixtures")]
from bench_runtime import compare, make_inputs  # noqa: E402
from benchlib import SHARED_GOLDEN, fmt_mb, fmt_s, median, print_header, print_table, require_golden, run_child, work_dir  # noqa: E402

VOICES = {
    "mrf": ("MRF HiFi-GAN", "full_size_mrf_export", "full-size-mrf-40k"),
    "refinegan": ("RefineGAN", "full_size_refinegan_export", "full-size-refinegan-32k"),
}

MLX_CHILD = """
import sys, time
weights, inputs_path, repeat, out_path = sys.argv[1:5]
import rvc_runtime
import numpy as np

start = time.perf_counter()
model = rvc_runtime.Synthesizer.from_file(weights)
load_s = time.perf_counter() - start
inputs = dict(np.load(inputs_path))
times = []
for _ in range(1 + int(repeat)):
    start = time.perf_counter()
    audio = np.array(model.infer(inputs["phone"], inputs["phone_lengths"], inputs["pitch"], inputs["pitchf"], inputs["sid"], noise="zero"))
    times.append(time.perf_counter() - start)
np.save(out_path, audio)
report(load_s=load_s, first_s=times[0], steady_s=times[1:], sample_rate=model.sample_rate, blas=rvc_runtime.blas_status())
"""

TORCH_CHILD = """
import sys, time
source, inputs_path, repeat, out_path, threads = sys.argv[1:6]
import numpy as np
import torch
torch.set_num_threads(int(threads))
from torch_vocoders import TorchApplioSynthesizer

start = time.perf_counter()
model = TorchApplioSynthesizer(source)
load_s = time.perf_counter() - start
inputs = dict(np.load(inputs_path))
times = []
for _ in range(1 + int(repeat)):
    start = time.perf_counter()
    audio = model.infer(inputs["phone"], inputs["phone_lengths"], inputs["pitch"], inputs["pitchf"], inputs["sid"]).numpy()[:, 0]
    times.append(time.perf_counter() - start)
np.save(out_path, audio)
report(load_s=load_s, first_s=times[0], steady_s=times[1:], threads=torch.get_num_threads())
"""


def build_voice(key: str, work: Path) -> tuple[Path, Path]:
    """(source export, converted fp32 .safetensors) of one full-size voice, cached in `work`."""
    import make_vocoder_variants
    from rvc_convert.convert import convert_model

    _, builder, stem = VOICES[key]
    source = work / f"{stem}.pth"
    if not source.exists():
        getattr(make_vocoder_variants, builder)(SHARED_GOLDEN, source)
    weights = convert_model(source, "ios", work / "converted", dtype="fp32").weights_path
    return source, weights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="input frames (100 per second of audio)")
    parser.add_argument("--repeat", type=int, default=2, help="steady-state calls after the first (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    parser.add_argument("--vocoders", nargs="+", choices=sorted(VOICES), default=sorted(VOICES))
    parser.add_argument(
        "--single-thread-rows", action="store_true",
        help="also run MLX with 2 BLAS threads and PyTorch with 1 thread (the runtime's default is 1 BLAS thread; on a busy 2-core machine two threads can lose to one)",
    )
    args = parser.parse_args()

    require_golden("synth/models/v2-40k-f0.pth")
    require_golden("vocoders/models/v2-32k-refinegan-tiny.pth")
    work = work_dir("vocoders")
    inputs = work / f"inputs-{args.frames}.npz"
    np.savez(inputs, **make_inputs(args.frames))
    seconds = args.frames / 100.0
    print_header(f"bench_vocoders: Applio vocoders at full size, {args.frames} frames = {seconds:g} s of audio, first call + median of {args.repeat} steady calls")

    rows, notes = [], []
    for key in args.vocoders:
        vocoder = VOICES[key][0]
        source, weights = build_voice(key, work)
        mlx = run_child(MLX_CHILD, [str(weights), str(inputs), str(args.repeat), str(work / f"{key}-mlx.npy")])
        torch_ = run_child(TORCH_CHILD, [str(source), str(inputs), str(args.repeat), str(work / f"{key}-torch.npy"), str(args.threads)])
        engines = [(f"MLX runtime ({mlx['blas']['source'] or 'reference BLAS'}, {mlx['blas']['threads']} BLAS thread(s))", mlx), (f"PyTorch reference ({torch_['threads']} threads)", torch_)]
        if args.single_thread_rows:
            two = {"RVC_RUNTIME_BLAS_THREADS": "2"}
            engines.append(("MLX runtime, 2 BLAS threads", run_child(MLX_CHILD, [str(weights), str(inputs), str(args.repeat), str(work / f"{key}-mlx-2t.npy")], env=two)))
            engines.append(("PyTorch reference (1 thread)", run_child(TORCH_CHILD, [str(source), str(inputs), str(args.repeat), str(work / f"{key}-torch-1t.npy"), "1"])))
        base = median(torch_["steady_s"])
        for label, r in engines:
            steady = median(r["steady_s"])
            rows.append([
                vocoder, f"{mlx['sample_rate'] // 1000} kHz", label, fmt_s(r["load_s"]), fmt_s(r["first_s"]), fmt_s(steady),
                f"{steady / seconds:.2f}", f"{steady / base:.2f}x PyTorch", fmt_mb(r["peak_rss"]),
            ])  # fmt: skip
        notes.append(f"{vocoder}: MLX vs PyTorch audio on the {seconds:g} s input: {compare(work / f'{key}-mlx.npy', work / f'{key}-torch.npy')}")
    print_table(
        ["vocoder", "rate", "engine", "load s", "first call s", "steady s (median)", "real-time factor", "steady vs baseline", "peak RSS MB"],
        rows,
    )
    print()
    for line in notes:
        print(line)
    print("real-time factor: steady seconds per second of audio (< 1 is faster than real time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
