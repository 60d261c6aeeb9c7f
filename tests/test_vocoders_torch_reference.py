"""The benchmark's PyTorch baseline for Applio's vocoders (benchmarks/torch_vocoders.py) computes what
Applio computes: bench_vocoders.py compares the MLX runtime with it, which only means something if
both sides run the same network. References: golden/vocoders/refs (Applio's own classes, float32,
draws zeroed or supplied). Bound: the audio within twice the float64 floor of each model (manifest)
and at least 80 dB SNR, as for the runtime.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from golden import golden_path
from outputs import torch_single_thread

from rvc_runtime.figures import snr_db

torch = pytest.importorskip("torch")

from torch_vocoders import TorchApplioSynthesizer  # noqa: E402  (benchmarks/, on the path by conftest)

CASES = {
    "v2-40k-mrf-tiny": ("v2-40k-mrf-tiny", "vocoders/manifest-mrf.json"),
    "v2-40k-mrf-tiny.noise": ("v2-40k-mrf-tiny", "vocoders/manifest-mrf.json"),
    "v2-48k-mrf-tiny": ("v2-48k-mrf-tiny", "vocoders/manifest-mrf.json"),
    "v2-32k-refinegan-tiny": ("v2-32k-refinegan-tiny", "vocoders/manifest-refinegan.json"),
}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    with torch_single_thread():
        yield


@pytest.mark.parametrize("case", CASES)
def test_torch_reference_reproduces_applio_audio(case):
    model_name, manifest = CASES[case]
    with np.load(golden_path(f"vocoders/refs/{case}.npz")) as data:
        ref = {k: data[k] for k in data.files}
    supplied = json.loads(str(ref["meta"])).get("supplied_noise")
    draws = [ref[entry["key"]] for entry in supplied] if supplied else None
    model = TorchApplioSynthesizer(golden_path(f"vocoders/models/{model_name}.pth"))
    audio = model.infer(*[ref[k] for k in ("phone", "phone_lengths", "pitch", "pitchf", "sid")], draws=draws).numpy()
    expected = ref["audio"]
    assert audio.shape == expected.shape
    diff = audio.astype(np.float64) - expected
    snr = snr_db(audio, expected)
    floor = json.loads(golden_path(manifest).read_text())["variants"][model_name]["float64_floor"]["audio"]["max_abs"]
    print(f"torch reference {case}: audio SNR {snr:.1f} dB, max abs {np.max(np.abs(diff)):.2e}")
    assert snr >= 80.0
    assert np.max(np.abs(diff)) <= 2 * floor
