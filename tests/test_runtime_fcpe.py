"""FCPE in MLX against torchfcpe, on torchfcpe's bundled weights (fcpe_c_v001).

The weights reach the runtime through the converter (rule pack + tensor list, weight norm fused,
written to a real .safetensors); torchfcpe runs its own bundled model. Parity on the golden speech
and on harmonic tones of known frequency:

* log-mel and latent (the network's sigmoid output): no further from a float64 evaluation of
  torchfcpe than twice torchfcpe's own float32 error (the float32 floor, measured in the same run);
* f0 of RVC's "fcpe" method (local argmax, threshold 0.006) within 1 cent where both call a frame
  voiced, and identical voicing.

Run with -s to see the figures.
"""

from __future__ import annotations

import rvc_runtime  # noqa: F401  (before mlx: gives MLX its BLAS)
import numpy as np
import pytest
from outputs import torch_single_thread
from pitch_convert import convert_pitch_file
from pitch_reference import fcpe_mel_and_latent, fcpe_model, fcpe_rvc_f0, reference_checkpoint
from pitch_signals import compare_f0, speech, stepped_tone, sweep, tracking_errors

from rvc_runtime.fcpe import FCPE, cents_to_f0, latent_to_cents

F0_CENTS = 1.0
FLOOR_FACTOR = 2.0


@pytest.fixture(scope="module")
def fcpe(tmp_path_factory):
    path, _, _ = convert_pitch_file(reference_checkpoint("fcpe"), tmp_path_factory.mktemp("fcpe"))
    return FCPE.from_file(path)


@pytest.fixture(scope="module")
def reference():
    with torch_single_thread():
        yield fcpe_model()


SIGNALS = {"speech": speech, "tones": lambda: stepped_tone(seconds_each=0.25)}
_TORCH_OUTPUTS: dict[tuple[str, str], object] = {}  # torchfcpe's outputs do not depend on our kernel path: once per signal


def torch_mel_and_latent(reference, name: str):
    """torchfcpe's (mel, latent) of SIGNALS[name] in float32 and in float64."""
    key = ("mel-latent", name)
    if key not in _TORCH_OUTPUTS:
        audio = SIGNALS[name]()
        _TORCH_OUTPUTS[key] = (fcpe_mel_and_latent(reference, audio), fcpe_mel_and_latent(reference, audio, float64=True))
    return _TORCH_OUTPUTS[key]


def torch_rvc_f0(reference, name: str):
    """RVC's "fcpe" f0 of SIGNALS[name] through torchfcpe."""
    key = ("f0", name)
    if key not in _TORCH_OUTPUTS:
        _TORCH_OUTPUTS[key] = fcpe_rvc_f0(reference, SIGNALS[name]())
    return _TORCH_OUTPUTS[key]


@pytest.mark.parametrize("name", SIGNALS)
def test_mel_and_latent_at_the_float32_floor(fcpe, reference, name, kernel_path):
    audio = SIGNALS[name]()
    (mel32, latent32), (mel64, latent64) = torch_mel_and_latent(reference, name)
    mel, latent = fcpe.mel(audio), fcpe.latent(audio)
    assert mel.shape == mel32.shape == (1 + len(audio) // 160, 128) and latent.shape == latent32.shape
    figures = {
        "mel": (np.max(np.abs(mel - mel32)), np.max(np.abs(mel - mel64)), np.max(np.abs(mel32 - mel64))),
        "latent": (np.max(np.abs(latent - latent32)), np.max(np.abs(latent - latent64)), np.max(np.abs(latent32 - latent64))),
    }
    for stage, (to32, to64, floor) in figures.items():
        print(f"\nfcpe {name} {stage} ({kernel_path}): max|ours-torch32| {to32:.2e}, max|ours-float64| {to64:.2e}, torch32's own max|torch32-float64| {floor:.2e}")
    for stage, (_, to64, floor) in figures.items():
        assert to64 <= FLOOR_FACTOR * floor, stage


@pytest.mark.parametrize("name", SIGNALS)
def test_rvc_f0_equals_torchfcpe(fcpe, reference, name, kernel_path):
    """RVC's "fcpe" method: same voicing, f0 within 1 cent on voiced frames."""
    audio = SIGNALS[name]()
    expected = torch_rvc_f0(reference, name)
    figures = compare_f0(fcpe.f0(audio), expected)
    print(f"\nfcpe {name} RVC f0 ({kernel_path}): {figures}")
    assert figures["frames"] == 1 + len(audio) // 160
    assert figures["voicing_mismatches"] == 0
    assert figures["voiced_ours"] > 0.3 * figures["frames"]
    assert figures["max_cents"] < F0_CENTS


@pytest.mark.parametrize("length", [1, 100, 300, 500, 1000, 16001])
def test_short_audio_frames_equal_torchfcpe(fcpe, reference, length):
    """Zero padding below ~1024 samples and torchfcpe's single appended frame, as upstream does them
    (against torchfcpe in float64: a pure sine's empty bins sit at its float32 STFT noise)."""
    audio = (0.3 * np.sin(2 * np.pi * 200 * np.arange(length) / 16000)).astype(np.float32)
    with torch_single_thread():
        mel64, _ = fcpe_mel_and_latent(reference, audio, float64=True)
        expected = fcpe_rvc_f0(reference, audio)
    assert fcpe.mel(audio).shape == mel64.shape == (1 + length // 160, 128)
    np.testing.assert_allclose(fcpe.mel(audio), mel64, atol=1e-5)  # float32 rounding of values down to ln(1e-5)
    assert compare_f0(fcpe.f0(audio), expected)["voicing_mismatches"] == 0


def test_local_argmax_clamps_at_the_table_edges():
    """At the top bin the 9-bin window is clamped: bin 359 counts five times (torchfcpe's gather)."""
    table = np.linspace(2000.0, 9000.0, 360)
    latent = np.zeros((1, 360))
    latent[0, 359], latent[0, 358] = 0.9, 0.1
    expected = (5 * 0.9 * table[359] + 0.1 * table[358]) / (5 * 0.9 + 0.1)
    np.testing.assert_allclose(latent_to_cents(latent, table, 0.006), [expected])
    assert cents_to_f0(latent_to_cents(np.full((1, 360), 0.006), table, 0.006))[0] == 0.0  # max <= threshold: unvoiced


@pytest.mark.parametrize("start,end", [(100.0, 800.0), (800.0, 100.0)])
def test_sweep_is_tracked(fcpe, start, end):
    """Independent of torchfcpe: a harmonic sweep's known fundamental, RVC's f0 method. FCPE
    interpolates between its 20-cent bins: median <= 2 cents, 95% within 5, none beyond 10, all voiced.
    Frame i belongs to time i · 10 ms (FCPE's window is centred 5 ms later, yet its output is
    aligned to i · 10 ms: upward and downward sweeps only agree on that)."""
    seconds = 6.0
    audio, fundamental = sweep(start, end, seconds)
    errors = tracking_errors(fcpe.f0(audio), fundamental, seconds)
    magnitude = np.abs(errors)
    print(f"\nfcpe sweep {start:g}->{end:g} Hz: median {np.nanmedian(magnitude):.2f} cents, 95% {np.nanpercentile(magnitude, 95):.2f}, "
          f"max {np.nanmax(magnitude):.2f}, mean {np.nanmean(errors):+.2f}, unvoiced {int(np.isnan(errors).sum())}/{errors.size}")  # fmt: skip
    assert not np.isnan(errors).any()
    assert np.median(magnitude) <= 2.0
    assert np.percentile(magnitude, 95) <= 5.0
    assert magnitude.max() <= 10.0
    assert abs(np.mean(errors)) <= 1.0  # no time offset: 5 ms at this sweep rate would be ±3 cents


def test_a_crepe_file_is_not_loaded_as_fcpe(tmp_path):
    path, _, _ = convert_pitch_file(reference_checkpoint("crepe-tiny"), tmp_path)
    with pytest.raises(ValueError, match="holds a 'crepe' model, not fcpe"):
        FCPE.from_file(path)


def test_f0_methods_by_name(tmp_path_factory):
    """The pipeline's f0 step by RVC's method names: each gives 1 + len // 160 frames with its own
    post-processing, and a CREPE file of the other capacity is refused."""
    from rvc_runtime.pitch import F0_METHODS, f0_method_of, load_f0_method

    from golden import golden_path
    from rvc_convert.convert import convert_model

    files = {
        "crepe-tiny": convert_pitch_file(reference_checkpoint("crepe-tiny"), tmp_path_factory.mktemp("tiny"))[0],
        "fcpe": convert_pitch_file(reference_checkpoint("fcpe"), tmp_path_factory.mktemp("fcpe"))[0],
        "rmvpe": convert_model(golden_path("rmvpe/rmvpe_small.pt"), "ios", tmp_path_factory.mktemp("rmvpe")).weights_path,
    }
    audio = speech()[:8000]
    for method, path in files.items():
        assert f0_method_of(path) == method and method in F0_METHODS
        assert load_f0_method(method, path).f0(audio).shape == (1 + len(audio) // 160,)
    with pytest.raises(ValueError, match="holds CREPE 'tiny', but the f0 method 'crepe' is CREPE 'full'"):
        load_f0_method("crepe", files["crepe-tiny"])
    with pytest.raises(ValueError, match="unknown f0 method 'harvest'"):
        load_f0_method("harvest", files["fcpe"])
