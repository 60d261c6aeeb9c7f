"""Shared pieces of the pipeline tests: the golden pipeline cases, their models, and the figures.

The golden cases (pipeline/refs/*.npz) were made by the 2026 RVC WebUI's own pipeline with every
random draw zeroed; each holds every intermediate, per chunk, under the names the runtime's trace
uses. The models are the tiny golden voice, the tiny ContentVec (Hugging Face layout, as the
WebUI loads it) and the small RMVPE, converted here with rvc-convert.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from golden import golden_path

from rvc_runtime.figures import correlation, snr_db, spectrogram_correlation

CASES = {
    "tiny-a": "pipeline/refs/tiny-a-webui-v1-40k-f0-tiny-index.npz",
    "tiny-b": "pipeline/refs/tiny-b-webui-v1-40k-f0-tiny-noindex.npz",
    "tiny-c": "pipeline/refs/tiny-c-webui-v1-40k-f0-tiny-long.npz",
}
VOICE = "synth/models/v1-40k-f0-tiny.pth"
HUBERT = "hubert/contentvec_tiny_hf"
RMVPE = "rmvpe/rmvpe_small.pt"
INDEX_VECTORS = "pipeline/index/v1-40k-f0-tiny/total_fea.npy"  # faiss reconstruct_n of the added index, id order
INDEX_FILE = "pipeline/index/v1-40k-f0-tiny/added_IVF19_Flat_nprobe_1_v1-40k-f0-tiny_v1.index"


def convert(source: Path, out_dir: Path) -> Path:
    """A golden source model (or FAISS .index) converted by rvc-convert (float32 weights file)."""
    from rvc_convert.convert import convert_model

    return Path(convert_model(source, "mlx", out_dir, dtype="fp32").weights_path)


@lru_cache(maxsize=None)
def load_case(name: str) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) of a golden pipeline case, read once per test process."""
    with np.load(golden_path(CASES[name])) as archive:
        arrays = {key: archive[key] for key in archive.files if key != "meta"}
        meta = json.loads(str(archive["meta"]))
    return arrays, meta


def case_input(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """What the pipeline received before the peak limit (tiny-c keeps only the limited audio;
    the limiter is idempotent on it, and tiny-a/b check the limiter on their own input)."""
    return arrays["audio_loaded"] if "audio_loaded" in arrays else arrays["audio_input"]


def case_parameters(meta: dict) -> dict:
    p = meta["parameters"]
    return {"key": p["f0_up_key"], "index_rate": p["index_rate"], "protect": p["protect"], "rms_mix_rate": p["rms_mix_rate"], "resample_sr": p["resample_sr"], "sid": p["sid"]}


class ReplayIndex:
    """Upstream's own retrieval results, replayed: chunk i's search returns the (D, I) the WebUI's
    faiss search returned for chunk i, and the blend applies upstream's formula to them with the
    index's own vectors (w = 1/D², normalised; neighbours summed in order; rate·r + (1 − rate)·x,
    float32). tests/test_pipeline_golden.py proves the replayed blend equals upstream's stored
    feats_index bit for bit, so the stages after the index can be checked before (and apart from)
    the runtime's own index search."""

    def __init__(self, arrays: dict[str, np.ndarray], vectors: np.ndarray):
        self.results = [(arrays[f"chunk{i}.index_D"], arrays[f"chunk{i}.index_I"]) for i in range(8) if f"chunk{i}.index_D" in arrays]
        self.vectors = vectors.astype(np.float32)
        self.dim = self.vectors.shape[1]
        self.calls = 0  # blend calls so far = the chunk being converted
        self.queries: list[np.ndarray] = []

    def search(self, queries: np.ndarray, k: int = 8):
        distances, ids = self.results[self.calls]
        assert queries.shape[0] == distances.shape[0] and k == distances.shape[1]
        return distances, ids

    def blend(self, features: np.ndarray, index_rate: float, k: int = 8) -> np.ndarray:
        distances, ids = self.search(features, k)
        self.queries.append(features)
        self.calls += 1
        weight = np.square(1 / distances)
        weight /= weight.sum(axis=1, keepdims=True)
        retrieved = np.sum(self.vectors[ids] * weight[:, :, None], axis=1)
        return (retrieved * np.float32(index_rate) + np.float32(1 - index_rate) * features).astype(np.float32)


def figures(ours, ref) -> dict[str, float]:
    """max |Δ|, max |Δ| / RMS(ref), SNR (dB) and correlation of two arrays of the same shape."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    rms = float(np.sqrt(np.mean(ref.astype(np.float64) ** 2)))
    return {
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "max_rel": float(diff.max() / rms) if diff.size and rms > 0 else 0.0,
        "snr_db": snr_db(ours, ref),
        "corr": correlation(ours, ref),
    }


def audio_figures(ours, ref) -> dict[str, float]:
    return figures(ours, ref) | {"spec_corr": spectrogram_correlation(ours, ref)}


def show(case: str, stage: str, figs: dict[str, float]) -> None:
    """One line per stage in the test log (pytest -s / -rA shows it)."""
    def text(name, value):
        if isinstance(value, float) and name.endswith("corr"):
            return f"{name} {value:.8f}"
        return f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"

    parts = [text(k, v) for k, v in figs.items()]
    print(f"[{case}] {stage:<22} " + ", ".join(parts))


def hubert_folder_without_final_proj(folder: Path) -> Path:
    """The golden ContentVec folder without final_proj (what a plain transformers HubertModel
    export holds): it serves v2 voices only."""
    import shutil

    from safetensors.numpy import load_file, save_file

    source = golden_path(HUBERT)
    folder.mkdir(parents=True)
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy(source / name, folder / name)
    weights = load_file(str(source / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if not k.startswith("final_proj.")}, str(folder / "model.safetensors"))
    return folder


def neighbour_ties(distances: np.ndarray, next_distance: np.ndarray, rel: float) -> np.ndarray:
    """[n, k] bool: rank j of a frame is in a near-tie, its distance within `rel` of a
    neighbouring rank's (for the last rank, of the next neighbour's, `next_distance` [n]), so a
    search whose distances differ by that much may order or pick it differently."""
    extended = np.concatenate([distances, np.asarray(next_distance).reshape(-1, 1)], axis=1)
    close = np.abs(np.diff(extended, axis=1)) <= rel * np.abs(extended[:, 1:])
    ties = np.zeros(distances.shape, bool)
    ties |= close
    ties[:, 1:] |= close[:, :-1]
    return ties


def cents(f0: np.ndarray) -> np.ndarray:
    return 1200 * np.log2(np.asarray(f0, np.float64) / 10)
