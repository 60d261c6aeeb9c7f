"""The MLX runtime reproduces Applio's MRF HiFi-GAN and RefineGAN synthesizers, stage by stage.

References: golden/vocoders/refs/<case>.npz, made by Applio's own model classes in float32 with
every random draw zeroed (or, for the .noise case, replaced by the stored draws), PyTorch layout,
big stages cut to their first channel (`meta.channel_sliced_keys`). Bounds come from the same
models run in float64 (manifest `float64_floor`): a correct float32 port lands within that floor
(relative RMS per array); the bound is twice the floor plus 1e-6 (our own float32 rounding).
Mistakes cost 1e-2 relative or more (see the damage tests below).
"""

from __future__ import annotations

import json
from pathlib import Path

import rvc_runtime  # noqa: I001  (first: gives MLX its BLAS before mlx.core loads)
import mlx.core as mx
import numpy as np
import pytest
from golden import golden_path
from make_vocoder_variants import damage_converted
from test_runtime_synth import rel_rms

from rvc_convert.convert import convert_model
from rvc_runtime import Synthesizer, kernels
from rvc_runtime.decoders import dsp
from rvc_runtime.figures import snr_db
from rvc_runtime.synthesizer import draw_noise

MODELS = {
    "v2-40k-mrf-tiny": "vocoders/manifest-mrf.json",
    "v2-48k-mrf-tiny": "vocoders/manifest-mrf.json",
    "v2-32k-refinegan-tiny": "vocoders/manifest-refinegan.json",
}
CASES = [
    ("v2-40k-mrf-tiny", "v2-40k-mrf-tiny"),
    ("v2-40k-mrf-tiny", "v2-40k-mrf-tiny.noise"),
    ("v2-48k-mrf-tiny", "v2-48k-mrf-tiny"),
    ("v2-32k-refinegan-tiny", "v2-32k-refinegan-tiny"),
]
INPUTS = ("phone", "phone_lengths", "pitch", "pitchf", "sid")
# reference arrays stored channels-last already (Linear/Embedding outputs, sources, g)
CHANNELS_LAST = {
    "g", "dec.in.f0", "enc_p.emb_phone.out", "enc_p.emb_pitch.out", "dec.m_source.out", "dec.m_source.in",
    "dec.m_source.merge.in", "dec.m_source.l_sin_gen.out.sine", "dec.m_source.l_sin_gen.out.uv",
}  # fmt: skip
HARMONICS_KEPT = [0, 1, 8]  # the .sine reference keeps harmonics 1, 2 and 9 (meta.channel_sliced_keys)
AUDIO_MIN_SNR_DB = 80.0  # the aim; the float64 floor of these models allows 82-90 dB
PARITY_MIN_SNR_DB = 60.0  # what `validate -r` requires of every stage: the line the damage tests cross


def floor(model: str) -> dict[str, dict[str, float]]:
    return json.loads(golden_path(MODELS[model]).read_text())["variants"][model]["float64_floor"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    cache: dict[tuple[str, str], Path] = {}
    folder = tmp_path_factory.mktemp("vocoder-runtime")

    def get(model: str, target: str = "ios") -> Path:
        if (model, target) not in cache:
            cache[model, target] = convert_model(golden_path(f"vocoders/models/{model}.pth"), target, folder / target, dtype="fp32").weights_path
        return cache[model, target]

    return get


def load_ref(name: str) -> dict[str, np.ndarray]:
    with np.load(golden_path(f"vocoders/refs/{name}.npz")) as data:
        return {k: data[k] for k in data.files}


def reference_noise(model: Synthesizer, ref: dict) -> str | dict:
    """The reference's supplied draws (meta.supplied_noise, in call order) as the runtime's noise dict."""
    supplied = json.loads(str(ref["meta"])).get("supplied_noise")
    return model.noise_from_upstream([ref[entry["key"]] for entry in supplied]) if supplied else "zero"


def stage_pairs(trace: dict, ref: dict) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, ours, reference) for every reference array, in the runtime's execution order, ours in
    the reference's layout and channel selection."""
    sliced = json.loads(str(ref["meta"])).get("channel_sliced_keys", {})
    wanted = [n for n in ref if n not in INPUTS and n != "meta" and not n.startswith("noise.")]
    missing = [n for n in wanted if n not in trace]
    assert not missing, f"the runtime does not expose {missing}"
    pairs = []
    for name in (n for n in trace if n in wanted):
        ours = np.array(trace[name])
        if name in sliced:
            ours = ours[..., HARMONICS_KEPT] if isinstance(sliced[name], str) else ours[..., : sliced[name]]
        if name not in CHANNELS_LAST and ours.ndim == 3:
            ours = ours.transpose(0, 2, 1)
        pairs.append((name, ours, ref[name]))
    return pairs


def first_broken_stage(pairs) -> str | None:
    """The first stage, in execution order, below validate's parity bound."""
    return next((name for name, ours, ref in pairs if ours.shape != ref.shape or snr_db(ours, ref) < PARITY_MIN_SNR_DB), None)


_RUNS: dict[tuple, tuple] = {}


def run_case(model_name: str, ref_name: str, target: str, converted) -> tuple[Synthesizer, dict, np.ndarray, dict]:
    key = (model_name, ref_name, target, kernels.active())
    if key not in _RUNS:
        ref = load_ref(ref_name)
        model = Synthesizer.from_file(converted(model_name, target))
        audio, trace = model.infer(**{k: ref[k] for k in INPUTS}, noise=reference_noise(model, ref), return_intermediates=True)
        _RUNS[key] = (model, ref, np.array(audio), trace)
    return _RUNS[key]


def kernel_case_params():
    """Every case on the Linux CPU kernels, and on MLX's stock ops (what apps run) for the .safetensors
    file (the .npz gives identical audio: test_both_targets_give_identical_audio)."""
    return [
        pytest.param(m, r, t, path, id=f"{path}-{r}-{t}")
        for m, r in CASES
        for t in ("ios", "mlx")
        for path in (kernels.LINUX_CPU, kernels.STOCK)
        if not (path == kernels.STOCK and t == "mlx")
    ]


# ---------------------------------------------------------------- parity with Applio


@pytest.mark.parametrize("model_name, ref_name, target, kernel_path", kernel_case_params())
def test_audio_matches_applio(model_name, ref_name, target, kernel_path, converted, record_property):
    with kernels.forced(kernel_path):
        model, ref, audio, _ = run_case(model_name, ref_name, target, converted)
    expected = ref["audio"][:, 0, :]
    assert audio.shape == expected.shape
    snr, max_abs = snr_db(audio, expected), float(np.max(np.abs(audio - expected)))
    record_property("audio_snr_db", round(snr, 1))
    print(f"{ref_name} ({model.config.vocoder}, {target}, {kernel_path} kernels): audio SNR {snr:.1f} dB, max abs {max_abs:.2e}")
    assert snr >= AUDIO_MIN_SNR_DB
    assert max_abs <= 2 * floor(model_name)["audio"]["max_abs"]


@pytest.mark.parametrize("model_name, ref_name, target, kernel_path", kernel_case_params())
def test_every_stage_matches_applio(model_name, ref_name, target, kernel_path, converted):
    with kernels.forced(kernel_path):
        _, ref, _, trace = run_case(model_name, ref_name, target, converted)
    limits = floor(model_name)  # the .noise case shares the model, so its magnitudes and floor
    failures, compared = [], []
    for name, ours, expected in stage_pairs(trace, ref):
        assert ours.shape == expected.shape, f"{name}: {ours.shape} vs reference {expected.shape}"
        bound = 2 * (limits[name]["rel_rms"] + 1e-6)
        error = rel_rms(ours, expected)
        compared.append(name)
        if error > bound:
            failures.append(f"{name}: rel-RMS {error:.2e} > {bound:.2e}")
    assert not failures, "first diverging stages: " + "; ".join(failures[:5])
    assert len(compared) == len(limits)  # every array the reference holds


@pytest.mark.parametrize("model_name", MODELS)
def test_both_targets_give_identical_audio(model_name, converted):
    ref_name = model_name
    ios = run_case(model_name, ref_name, "ios", converted)[2]
    mlx_ = run_case(model_name, ref_name, "mlx", converted)[2]
    np.testing.assert_array_equal(ios, mlx_)


@pytest.mark.parametrize("model_name", MODELS)
def test_runtime_names_every_draw_applio_makes(model_name, converted):
    """Applio's random calls during infer (meta.random_calls_zeroed: MRF 3, RefineGAN 27, in call
    order) are exactly the runtime's draws, shape for shape; `noise_from_upstream` maps them."""
    model = Synthesizer.from_file(converted(model_name))
    ref = load_ref(model_name)
    calls = json.loads(str(ref["meta"]))["random_calls_zeroed"]
    order = model.upstream_draws()
    assert len(calls) == len(order)
    b, t = ref["phone"].shape[:2]
    shapes = model.noise_shapes(b, t)
    for call, (name, channels_first) in zip(calls, order):
        if name is None:
            assert call["call"] == "torch.rand" and call["shape"] == [b, 1]  # the fundamental's phase, zeroed by Applio
            continue
        ours = shapes.pop(name)
        expected = tuple(call["shape"])
        assert (ours[0], ours[2], ours[1]) == expected if channels_first else ours == expected, f"{name}: {ours} vs {call}"
    assert shapes == {}, f"draws Applio does not make: {sorted(shapes)}"


def test_supplied_zeros_equal_the_deterministic_mode(converted):
    model = Synthesizer.from_file(converted("v2-40k-mrf-tiny"))
    inputs = short_inputs(load_ref("v2-40k-mrf-tiny"), 12)
    zeros = {name: np.zeros(shape, np.float32) for name, shape in model.noise_shapes(1, 12).items()}
    np.testing.assert_array_equal(np.array(model.infer(**inputs, noise=zeros)), np.array(model.infer(**inputs, noise="zero")))


def test_fp16_files_stay_close_to_applio(tmp_path):
    """The default (source fp16) output rounds fused weights to fp16: ~64 dB (MRF), ~54 dB (RefineGAN,
    many wide layers); validate accepts fp16 files from 40 dB."""
    for model_name in MODELS:
        path = convert_model(golden_path(f"vocoders/models/{model_name}.pth"), "ios", tmp_path).weights_path
        model = Synthesizer.from_file(path)
        assert model.metadata["dtype"] == "float16"
        ref = load_ref(model_name)
        snr = snr_db(np.array(model.infer(**{k: ref[k] for k in INPUTS}, noise="zero")), ref["audio"][:, 0])
        print(f"fp16 {model_name}: audio SNR {snr:.1f} dB")
        assert snr >= 40.0


# ---------------------------------------------------------------- noise plumbing


def short_inputs(ref: dict, frames: int) -> dict:
    inputs = {k: ref[k][:, :frames] if k in ("phone", "pitch", "pitchf") else ref[k] for k in INPUTS}
    inputs["phone_lengths"] = np.array([frames])
    return inputs


def grid_draws(shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    """Random draws on the 1/32 grid (as the golden supplied noise): exact in float16 and float32."""
    rng = np.random.default_rng(seed)
    return [np.round(np.clip(rng.standard_normal(shape), -8, 8) * 32).astype(np.float32) / 32 for shape in shapes]


def upstream_shapes(model: Synthesizer, batch: int, frames: int) -> list[tuple[int, ...]]:
    shapes = model.noise_shapes(batch, frames)
    out = []
    for name, channels_first in model.upstream_draws():
        if name is None:
            out.append((batch, 1))
            continue
        shape = shapes[name]
        out.append((shape[0], shape[2], shape[1]) if channels_first else shape)
    return out


def test_refinegan_supplied_noise_matches_the_torch_reference(converted):
    """All 27 of RefineGAN's draws (prior, the unused phase, the source noise, 24 noise injections)
    supplied in Applio's call order reach the same places as in the independent torch reference
    (benchmarks/torch_vocoders.py, itself checked against Applio). No Applio reference with
    RefineGAN noise exists, so this is the upstream-independent check available."""
    torch_vocoders = pytest.importorskip("torch_vocoders")
    model = Synthesizer.from_file(converted("v2-32k-refinegan-tiny"))
    frames = 16
    ref = load_ref("v2-32k-refinegan-tiny")
    inputs = short_inputs(ref, frames)
    draws = grid_draws(upstream_shapes(model, 1, frames), seed=7)
    ours = np.array(model.infer(**inputs, noise=model.noise_from_upstream(draws)))
    theirs = torch_vocoders.TorchApplioSynthesizer(golden_path("vocoders/models/v2-32k-refinegan-tiny.pth")).infer(*[inputs[k] for k in INPUTS], draws=draws).numpy()[:, 0]
    zero = np.array(model.infer(**inputs, noise="zero"))
    snr = snr_db(ours, theirs)
    print(f"RefineGAN with 27 supplied draws: MLX vs torch reference SNR {snr:.1f} dB; the draws move the audio by {np.max(np.abs(ours - zero)):.2f}")
    assert snr >= AUDIO_MIN_SNR_DB
    assert np.max(np.abs(ours - zero)) > 0.05


def test_every_noise_injection_acts_in_its_own_stage(converted):
    """Each AdaIN draw alone changes its stage's output and nothing before it (stage and branch plumbing)."""
    model = Synthesizer.from_file(converted("v2-32k-refinegan-tiny"))
    frames = 4
    inputs = short_inputs(load_ref("v2-32k-refinegan-tiny"), frames)
    shapes = model.noise_shapes(1, frames)
    _, base = model.infer(**inputs, noise="zero", return_intermediates=True)
    rng = np.random.default_rng(3)
    adain = [name for name in shapes if name.startswith("adain.")]
    assert len(adain) == 24
    for name in adain:
        stage = int(name.split(".")[1])
        _, trace = model.infer(**inputs, noise={name: rng.standard_normal(shapes[name]).astype(np.float32)}, return_intermediates=True)
        before = f"dec.upsample_conv_blocks.{stage}.input_conv.out"
        after = f"dec.upsample_conv_blocks.{stage}.out"
        assert np.array_equal(np.array(trace[before]), np.array(base[before])), name
        assert not np.allclose(np.array(trace[after]), np.array(base[after]), atol=1e-6), f"{name} has no effect"


@pytest.mark.parametrize("model_name", MODELS)
def test_random_mode_is_seeded_and_differs_from_zero_mode(model_name, converted):
    model = Synthesizer.from_file(converted(model_name))
    inputs = short_inputs(load_ref(model_name), 8)
    first, again = (np.array(model.infer(**inputs, seed=5)) for _ in range(2))
    other = np.array(model.infer(**inputs, seed=6))
    zero = np.array(model.infer(**inputs, noise="zero"))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other) and not np.allclose(first, zero)
    assert np.all(np.isfinite(first)) and np.max(np.abs(first)) < 1


def test_random_harmonic_phases_are_uniform_cycles():
    draws = draw_noise(None, 0, {"phase": (4096, 9), "source": (2, 8, 9)})
    phase = np.array(draws["phase"])
    assert phase.min() >= 0 and phase.max() < 1 and abs(phase.mean() - 0.5) < 0.02
    assert abs(float(np.std(np.array(draws["source"]))) - 1) < 0.5


def test_unknown_noise_entry_is_refused(converted):
    model = Synthesizer.from_file(converted("v2-40k-mrf-tiny"))
    with pytest.raises(ValueError, match=r"unknown noise entries \['adain.0.0.in'\]"):
        model.infer(**short_inputs(load_ref("v2-40k-mrf-tiny"), 4), noise={"adain.0.0.in": np.zeros((1, 40, 32))})
    with pytest.raises(ValueError, match=r"noise\['source'\] has shape \(1, 1600, 1\), expected \(1, 1600, 9\)"):
        model.infer(**short_inputs(load_ref("v2-40k-mrf-tiny"), 4), noise={"source": np.zeros((1, 1600, 1))})


# ---------------------------------------------------------------- deliberate damage


@pytest.mark.parametrize(
    "model_name, damage, first_broken",
    [
        ("v2-40k-mrf-tiny", "unfused_weight_norm", "dec.conv_pre.out"),
        ("v2-32k-refinegan-tiny", "unfused_weight_norm", "dec.pre_conv.out"),
        ("v2-32k-refinegan-tiny", "swapped_skip_concat", "dec.upsample_conv_blocks.0.input_conv.out"),
    ],
)
def test_damaged_file_fails_parity_at_the_first_broken_stage(model_name, damage, first_broken, converted, tmp_path):
    """A converted file with one mistake still loads, and per-stage parity names where it broke."""
    source = golden_path(f"vocoders/models/{model_name}.pth")
    damaged = damage_converted(converted(model_name), tmp_path / "damaged.safetensors", damage, source)
    model = Synthesizer.from_file(damaged)
    ref = load_ref(model_name)
    _, trace = model.infer(**{k: ref[k] for k in INPUTS}, noise="zero", return_intermediates=True)
    assert first_broken_stage(stage_pairs(trace, ref)) == first_broken


def test_reversed_resampler_kernel_fails_parity_at_the_first_resample(converted, monkeypatch):
    """The sinc taps run m = -w .. w+d-1 (asymmetric around 0): a kernel applied reversed (the
    convolution/correlation mix-up) shifts every downsampled signal by d-1 samples."""
    monkeypatch.setattr(dsp, "sinc_kernel", lambda d, taps=dsp.sinc_kernel: taps(d)[::-1].copy())
    dsp._banded_kernel.cache_clear()
    try:
        model = Synthesizer.from_file(converted("v2-32k-refinegan-tiny"))
        ref = load_ref("v2-32k-refinegan-tiny")
        _, trace = model.infer(**{k: ref[k] for k in INPUTS}, noise="zero", return_intermediates=True)
    finally:
        dsp._banded_kernel.cache_clear()
    assert first_broken_stage(stage_pairs(trace, ref)) == "dec.downsample_blocks.0.in"


def test_undamaged_files_pass_every_stage_at_validates_bound(converted):
    for model_name in MODELS:
        _, ref, _, trace = run_case(model_name, model_name, "ios", converted)
        assert first_broken_stage(stage_pairs(trace, ref)) is None


# ---------------------------------------------------------------- signal pieces


def test_sinc_kernel_lengths_and_passband():
    """w = ceil(64 d / 0.9476): d = 2, 6, 8, 10, 12 -> 136, 406, 541, 676, 811; the taps are symmetric
    around m = 0 and pass DC with gain 1 (sum of the taps)."""
    for d, width in {2: 136, 6: 406, 8: 541, 10: 676, 12: 811}.items():
        taps = dsp.sinc_kernel(d).astype(np.float64)
        assert taps.size == 2 * width + d
        np.testing.assert_allclose(taps[: 2 * width + 1], taps[: 2 * width + 1][::-1], atol=1e-9)
        assert abs(taps.sum() - 1) < 1e-3


def test_banded_resampler_equals_the_direct_strided_convolution():
    rng = np.random.default_rng(0)
    for d in (2, 8, 10):
        x = rng.standard_normal((2, d * 29, 3))
        taps = dsp.sinc_kernel(d).astype(np.float64)
        width = (taps.size - d) // 2
        padded = np.pad(x, ((0, 0), (width, width + d), (0, 0)))
        direct = np.stack([np.tensordot(padded[:, j * d : j * d + taps.size], taps, axes=([1], [0])) for j in range(29)], axis=1)
        ours = np.array(dsp.sinc_downsample(mx.array(x.astype(np.float32)), d))
        assert ours.shape == direct.shape
        assert np.max(np.abs(ours - direct)) < 1e-5


def test_linear_upsampling_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 5, 33)).astype(np.float32)
    # torch reads position (i + 0.5) s - 0.5 with s = 1/factor in float32: exact for powers of two;
    # for 10 the rounded s drifts by ~1e-8 per output sample (here up to 4e-6 at sample 330)
    for factor, bound in ((2, 2e-6), (8, 2e-6), (10, 1e-5)):
        expected = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=factor, mode="linear", align_corners=False).numpy()
        ours = np.array(dsp.upsample_linear(mx.array(x.transpose(0, 2, 1)), factor)).transpose(0, 2, 1)
        assert np.max(np.abs(ours - expected)) < bound, factor
    f0 = np.abs(rng.standard_normal((1, 64))).astype(np.float32) * 300
    expected = torch.nn.functional.interpolate(torch.from_numpy(f0)[:, None], size=64 * 320, mode="linear", align_corners=False).numpy()[:, 0]
    assert np.max(np.abs(dsp.interpolate_linear(f0, 320) - expected)) < 1e-3  # Hz; torch rounds to float32

