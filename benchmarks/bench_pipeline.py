"""The whole voice-conversion chain, full-size models, 30 s of speech: MLX pipeline vs PyTorch.

Models: the golden full-size voice v2-40k-f0.pth, full-size HuBERT base and RMVPE with random
weights in the real layouts (fixtures/make_aux.py, cached with bench_aux.py's), and a full-size
retrieval index: 30,000 clustered 768-d vectors (about 10 minutes of training audio) built by
faiss as upstream's train_index does (IVF769,Flat, nprobe 1). rvc-convert converts them once for
the MLX side; the PyTorch side reads the source files. Input: the first --seconds of the golden
long speech file (16 kHz).

Both chains run upstream's steps with the same parameters (key 0, index rate 0.75, protect 0.33,
rms mix 0.25, compat classic, zero noise). MLX: `rvc_runtime.pipeline.Pipeline` with
`rvc_runtime.index.RetrievalIndex`. PyTorch: the same steps with the independent PyTorch
references of benchmarks/torch_reference.py as the models and faiss for the index (the
upstream-equivalent chain: numpy/scipy glue around torch models, torch.set_num_threads(2)); the
model-free steps (filter, split, pitch post-processing, volume mix, int16) are the same numpy
code in both, so the difference is the models, the index search and how the chain feeds them.
Each engine runs in its own child (own peak RSS): load, a first call, then --repeat more calls;
the two engines alternate for --rounds rounds so that load on the shared machine hits both.

    python benchmarks/bench_pipeline.py [--seconds 30] [--repeat 1] [--rounds 2]

Aim (issue 12): MLX <= 1.0x PyTorch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_aux import SEED, ensure_checkpoints  # noqa: E402
from benchlib import fmt_mb, fmt_s, golden_file, median, print_header, print_table, require_golden, run_child, work_dir  # noqa: E402

VOICE = "synth/models/v2-40k-f0.pth"
INDEX_VECTORS, INDEX_CLUSTERS = 30000, 300
SPEECH = "pipeline/inputs/speech_long_16k.wav"
PARAMETERS = {"key": 0, "index_rate": 0.75, "protect": 0.33, "rms_mix_rate": 0.25, "resample_sr": 0, "sid": 0, "compat": "classic"}
STAGES = ("highpass", "split", "f0", "hubert", "index", "synth", "rms_mix", "int16")

MLX_CHILD = """
import sys, time, json
voice, hubert, rmvpe, index, audio_path, repeat, out_path, parameters = sys.argv[1:9]
import rvc_runtime
import numpy as np
from rvc_runtime import Synthesizer
from rvc_runtime.hubert import HuBERT
from rvc_runtime.index import RetrievalIndex
from rvc_runtime.rmvpe import RMVPE
from rvc_runtime.pipeline import Pipeline, RMVPEPitch

start = time.perf_counter()
pipe = Pipeline(Synthesizer.from_file(voice), HuBERT.from_file(hubert), RMVPEPitch(RMVPE.from_file(rmvpe)), RetrievalIndex.from_file(index))
load_s = time.perf_counter() - start
audio = np.load(audio_path)
times, stages = [], []
for _ in range(1 + int(repeat)):
    start = time.perf_counter()
    result = pipe.convert(audio, noise="zero", **json.loads(parameters))
    times.append(time.perf_counter() - start)
    stages.append(result.timings)
np.save(out_path, result.audio)
report(load_s=load_s, first_s=times[0], steady_s=times[1:], stages=stages[-1], blas=rvc_runtime.blas_status())
"""

TORCH_CHILD = """
import sys, time, json
voice, hubert, rmvpe, index, audio_path, repeat, out_path, parameters = sys.argv[1:9]
import numpy as np
import torch
torch.set_num_threads(2)
import faiss
from torch_reference import TorchHubert, TorchRMVPE, TorchSynthesizer
from bench_pipeline import torch_chain

start = time.perf_counter()
faiss_index = faiss.read_index(index)
models = TorchSynthesizer(voice), TorchHubert(hubert), TorchRMVPE(rmvpe), (faiss_index, faiss_index.reconstruct_n(0, faiss_index.ntotal))
load_s = time.perf_counter() - start
audio = np.load(audio_path)
times, stages = [], []
for _ in range(1 + int(repeat)):
    start = time.perf_counter()
    out, timings = torch_chain(audio, *models, **json.loads(parameters))
    times.append(time.perf_counter() - start)
    stages.append(timings)
np.save(out_path, out)
report(load_s=load_s, first_s=times[0], steady_s=times[1:], stages=stages[-1])
"""


def torch_chain(audio, synth, hubert, rmvpe, index, key, index_rate, protect, rms_mix_rate, resample_sr, sid, compat):
    """Upstream's pipeline with the PyTorch reference models and faiss: float32 audio, int16 out.
    index: (faiss index, its vectors in id order) or None."""
    import torch

    from rvc_runtime import pipeline as P

    timings: dict[str, float] = {}
    t = time.perf_counter()

    def clock(stage):
        nonlocal t
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - t
        t = now

    x = P.highpass(P.peak_limit(audio))
    clock("highpass")
    points = P.split_points(x, compat)
    padded = np.pad(x, (P.FP32_TIMING.t_pad, P.FP32_TIMING.t_pad), mode="reflect")
    chunks = P.plan_chunks(len(padded), points)
    clock("split")
    f0_raw = rmvpe.f0(padded.astype(np.float32))
    _, pitch, pitchf = P.pitch_inputs(f0_raw, len(padded) // P.WINDOW, key, compat)
    clock("f0")
    version = "v1" if synth.w["enc_p.emb_phone.weight"].shape[1] == 256 else "v2"
    pieces = []
    trim = synth.sample_rate * P.FP32_TIMING.x_pad
    for chunk in chunks:
        samples = padded[chunk.start : chunk.end].astype(np.float32)
        with torch.inference_mode():
            feats = hubert.extract_features(samples, version)
        feats0 = feats.clone()
        clock("hubert")
        if index is not None and index_rate != 0:
            search, vectors = index
            distances, ids = search.search(feats[0].numpy(), 8)
            weight = np.square(1 / distances)
            weight /= weight.sum(axis=1, keepdims=True)
            retrieved = np.sum(vectors[ids] * weight[:, :, None], axis=1)
            feats = torch.from_numpy(retrieved)[None] * index_rate + (1 - index_rate) * feats
            clock("index")
        feats = torch.nn.functional.interpolate(feats.permute(0, 2, 1), scale_factor=2).permute(0, 2, 1)
        feats0 = torch.nn.functional.interpolate(feats0.permute(0, 2, 1), scale_factor=2).permute(0, 2, 1)
        p_len = min(chunk.length // P.WINDOW, feats.shape[1])
        chunk_pitch = torch.as_tensor(pitch[chunk.pitch_start : chunk.pitch_end][:p_len], dtype=torch.long)[None]
        chunk_pitchf = torch.as_tensor(pitchf[chunk.pitch_start : chunk.pitch_end][:p_len])[None]
        feats, feats0 = feats[:, :p_len], feats0[:, :p_len]
        if protect < 0.5:
            mask = chunk_pitchf.clone()
            mask[chunk_pitchf > 0] = 1
            mask[chunk_pitchf < 1] = protect
            mask = mask.unsqueeze(-1)
            feats = feats * mask + feats0 * (1 - mask)
        out = synth.infer(feats.numpy(), [p_len], chunk_pitch.numpy(), chunk_pitchf.numpy(), [sid])[0, 0].numpy()
        pieces.append(out[trim : len(out) - trim])
        clock("synth")
    y = np.concatenate(pieces).astype(np.float32)
    if rms_mix_rate != 1:
        y = P.mix_rms(x, y, synth.sample_rate, rms_mix_rate)
    clock("rms_mix")
    P.to_int16(y)
    clock("int16")
    return y, timings


def speech(seconds: float) -> np.ndarray:
    import soundfile as sf

    path = golden_file(SPEECH) or require_golden("audio/speech_16k.wav")
    audio, rate = sf.read(str(path), dtype="float32")
    assert rate == 16000
    return np.resize(audio, int(seconds * 16000)).astype(np.float32)


def ensure_index(folder: Path) -> Path:
    """A full-size voice index as upstream's train_index builds it: IVF(min(16·sqrt(N), N // 39)),Flat
    over N clustered 768-d vectors, faiss k-means, nprobe 1, written by faiss."""
    path = folder / f"added_IVF_Flat_nprobe_1_bench_v2_{INDEX_VECTORS}.index"
    if path.exists():
        return path
    import faiss

    print(f"building a {INDEX_VECTORS} x 768 IVF index with faiss (once) ...", flush=True)
    rng = np.random.default_rng(SEED)
    centres = rng.standard_normal((INDEX_CLUSTERS, 768)).astype(np.float32)
    vectors = centres[rng.integers(0, INDEX_CLUSTERS, INDEX_VECTORS)] + 0.5 * rng.standard_normal((INDEX_VECTORS, 768)).astype(np.float32)
    nlist = max(1, min(int(16 * np.sqrt(INDEX_VECTORS)), INDEX_VECTORS // 39))
    index = faiss.index_factory(768, f"IVF{nlist},Flat")
    index.nprobe = 1
    index.train(vectors)
    for start in range(0, INDEX_VECTORS, 8192):
        index.add(vectors[start : start + 8192])
    faiss.write_index(index, str(path))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per child after the first")
    parser.add_argument("--rounds", type=int, default=2, help="MLX and PyTorch children, alternating")
    args = parser.parse_args()

    import json

    from rvc_convert.convert import convert_model
    from rvc_runtime.figures import compare_audio, format_correlation

    voice = require_golden(VOICE)
    aux = work_dir(f"aux-seed{SEED}")
    hubert_src, rmvpe_src = ensure_checkpoints(aux)
    work = work_dir("pipeline")
    index_src = ensure_index(work)
    converted = {}
    for name, source in (("voice", voice), ("hubert", hubert_src), ("rmvpe", rmvpe_src), ("index", index_src)):
        target = work / f"{source.stem}.safetensors"
        if not target.exists():
            convert_model(source, "ios", work)
        converted[name] = target
    audio_path = work / "speech.npy"
    np.save(audio_path, speech(args.seconds))
    parameters = json.dumps(PARAMETERS)

    print_header(f"bench_pipeline: the whole chain, full-size v2-40k voice + HuBERT base + RMVPE + {INDEX_VECTORS}-vector index, {args.seconds:g} s of speech")
    runs: dict[str, list[dict]] = {"mlx": [], "torch": []}
    for _ in range(args.rounds):
        runs["mlx"].append(run_child(MLX_CHILD, [str(converted["voice"]), str(converted["hubert"]), str(converted["rmvpe"]), str(converted["index"]), str(audio_path), str(args.repeat), str(work / "mlx.npy"), parameters]))
        runs["torch"].append(run_child(TORCH_CHILD, [str(voice), str(hubert_src), str(rmvpe_src), str(index_src), str(audio_path), str(args.repeat), str(work / "torch.npy"), parameters]))

    def summary(engine: str) -> dict:
        rs = runs[engine]
        return {
            "load_s": median([r["load_s"] for r in rs]),
            "first_s": median([r["first_s"] for r in rs]),
            "steady_s": median([t for r in rs for t in r["steady_s"]]),
            "peak_rss": max(r["peak_rss"] for r in rs),
            "stages": {stage: median([r["stages"][stage] for r in rs if stage in r["stages"]]) for stage in STAGES if any(stage in r["stages"] for r in rs)},
        }

    mlx, torch_ = summary("mlx"), summary("torch")
    base = torch_["steady_s"] if args.repeat else torch_["first_s"]
    rows = []
    for label, r in (("MLX pipeline (rvc_runtime.pipeline)", mlx), ("PyTorch chain (torch_reference models + faiss)", torch_)):
        steady = r["steady_s"] if args.repeat else r["first_s"]
        rows.append([label, fmt_s(r["load_s"]), fmt_s(r["first_s"]), fmt_s(steady), f"{steady / args.seconds:.2f}", f"{steady / base:.2f}x", fmt_mb(r["peak_rss"])])
    print_table(
        ["chain", "load s", "first run s", f"later runs s (median of {args.rounds * args.repeat})", "real-time factor", "vs PyTorch", "peak RSS MB"],
        rows,
        title=f"{args.seconds:g} s of 16 kHz speech in, 40 kHz out ({args.rounds} rounds, engines alternating)",
    )
    rows = []
    for stage in STAGES:
        a, b = mlx["stages"].get(stage), torch_["stages"].get(stage)
        if a is None and b is None:
            continue
        rows.append([stage, fmt_s(a) if a is not None else "-", fmt_s(b) if b is not None else "-", f"{a / b:.2f}x" if a and b else "-"])
    print_table(["stage (last run, median over rounds)", "MLX s", "PyTorch s", "MLX / PyTorch"], rows, title="per stage")
    figures = compare_audio(np.load(work / "mlx.npy"), np.load(work / "torch.npy"))
    print(
        f"\nMLX vs PyTorch output: {figures['samples']} samples, SNR {figures['snr_db']:.1f} dB, "
        f"spectrogram correlation {format_correlation(figures['spectrogram_correlation'])}, max |diff| {figures['max_abs']:.2e}. "
        f"MLX BLAS: {runs['mlx'][-1]['blas']['source']}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
