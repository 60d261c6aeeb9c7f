"""The benchmarks' PyTorch baselines (benchmarks/torch_reference.py) compute what upstream computes.

bench_runtime.py and bench_aux.py time the MLX runtime against these independent torch forwards;
the comparison only means something if both sides run the same network. Golden references:
upstream outputs in float32, deterministic mode. Bounds: the synthesizer audio within 1e-4 max
abs (docs/testing.md, "Numerical floors": the float32 floor is <= 2.4e-5, a real mistake costs >= 0.1 relative RMS);
HuBERT features within 1e-4 (floor ~6e-6); RMVPE salience within 1e-5 and f0 within 0.01 cents.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from golden import golden_path

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from torch_reference import TorchHubert, TorchRMVPE, TorchSynthesizer  # noqa: E402

TINY_SYNTHS = ("v1-40k-f0-tiny", "v2-48k-f0-tiny", "v2-32k-nof0-tiny", "v1-32k-nof0-tiny")
AUDIO_MAX_ABS = 1e-4
HUBERT_MAX_ABS = 1e-4
SALIENCE_MAX_ABS = 1e-5
F0_MAX_CENTS = 0.01


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models: one thread is fastest, and on a busy 2-core machine two OpenMP threads wait on
    each other (measured 0.03 s vs 1-4 s per tiny synthesizer call)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def load_npz(relpath: str) -> dict[str, np.ndarray]:
    with np.load(golden_path(relpath)) as data:
        return {k: data[k] for k in data.files}


def synth_audio(model_rel: str, ref: dict, noise: dict | None = None) -> np.ndarray:
    model = TorchSynthesizer(golden_path(model_rel))
    inputs = {k: ref.get(k) for k in ("phone", "phone_lengths", "pitch", "pitchf", "sid")}
    return model.infer(**inputs, noise=noise).numpy()


@pytest.mark.parametrize("variant", TINY_SYNTHS)
def test_synthesizer_reproduces_upstream_audio(variant):
    ref = load_npz(f"synth/refs/{variant}.npz")
    audio = synth_audio(f"synth/models/{variant}.pth", ref)
    assert audio.shape == ref["audio"].shape
    assert float(np.max(np.abs(audio - ref["audio"]))) <= AUDIO_MAX_ABS


@pytest.mark.parametrize("model", ["synth/models/v2-48k-f0-tiny.pth", "synth/extra/v2-48k-f0-tiny-parametrizations.pth"])
def test_synthesizer_replays_supplied_noise(model):
    """With upstream's own draws (noise.0 prior, noise.1 source) instead of zeros; both weight-norm spellings."""
    ref = load_npz("synth/refs/v2-48k-f0-tiny.noise.npz")
    audio = synth_audio(model, ref, noise={"prior": ref["noise.0"], "source": ref["noise.1"]})
    assert float(np.max(np.abs(audio - ref["audio"]))) <= AUDIO_MAX_ABS


@pytest.mark.parametrize("source", ["hubert/hubert_tiny.pt", "hubert/contentvec_tiny_hf"])
def test_hubert_reproduces_upstream_features(source):
    ref = load_npz("hubert/hubert_refs.npz")
    model = TorchHubert(golden_path(source))
    hidden = torch.cat(model.run(ref["audio"])["hidden_states"]).numpy()
    assert hidden.shape == ref["hidden_states"].shape
    assert float(np.max(np.abs(hidden - ref["hidden_states"]))) <= HUBERT_MAX_ABS
    v1 = model.extract_features(ref["audio"], "v1").numpy()
    assert float(np.max(np.abs(v1 - ref["v1"]))) <= HUBERT_MAX_ABS


def test_rmvpe_reproduces_upstream_salience_and_f0():
    ref = load_npz("rmvpe/rmvpe_refs.npz")
    model = TorchRMVPE(golden_path("rmvpe/rmvpe_small.pt"))
    np.testing.assert_allclose(model.mel_basis.numpy(), ref["mel_basis"], atol=1e-7)
    assert float(np.max(np.abs(model.mel(ref["audio"]).numpy() - ref["mel"]))) <= 1e-4
    salience = model.salience_from_mel(torch.as_tensor(ref["mel"])).numpy()
    assert float(np.max(np.abs(salience - ref["hidden"]))) <= SALIENCE_MAX_ABS
    f0 = model.f0(ref["audio"])
    np.testing.assert_array_equal(f0 > 0, ref["voiced"])
    voiced = ref["voiced"]
    cents = 1200 * np.log2(f0[voiced] / ref["f0"][voiced])
    assert float(np.max(np.abs(cents))) <= F0_MAX_CENTS
