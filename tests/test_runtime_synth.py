"""The MLX synthesizer runtime reproduces upstream RVC's net_g.infer, stage by stage.

References: golden/synth/refs/<variant>.npz (upstream outputs in deterministic mode, float32,
PyTorch [B, C, T] layout, generator stages cut to their first 2 channels). The runtime is
channels-last [B, T, C]. Golden README: a correct float32 port lands within ~1e-4 max abs of
the audio (float64-vs-float32 floor: <= 2.4e-5 max abs, rel-RMS <= 1e-5 on every array),
while real mistakes cost 0.1 to 4.5 relative RMS (manifest `sensitivity`).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import rvc_runtime  # noqa: I001  (first: gives MLX its BLAS before mlx.core loads)
import mlx.core as mx
import numpy as np
import pytest
from golden import FULL_SYNTH_MODEL, golden_path

from rvc_runtime import Synthesizer, SynthesizerConfig, kernels, load_weights

REPO = Path(__file__).resolve().parent.parent
TINY_VARIANTS = ("v1-40k-f0-tiny", "v2-48k-f0-tiny", "v2-32k-nof0-tiny", "v1-32k-nof0-tiny")
FULL_VARIANT = Path(FULL_SYNTH_MODEL).stem  # v2-40k-f0, 55 MB, shared folder only
INPUTS = ("phone", "phone_lengths", "pitch", "pitchf", "sid")
# reference arrays stored channels-last already (Linear/Embedding outputs, the NSF source, g)
CHANNELS_LAST = {"enc_p.emb_phone.out", "enc_p.emb_pitch.out", "dec.m_source.out", "g", "dec.in.f0"}

STAGE_MAX_REL_RMS = 1e-4  # 10x the worst float32 floor (1e-5); bugs cost >= 0.1
STAGE_MAX_ABS_OVER_RMS = 1e-3
AUDIO_MAX_ABS = 1e-4  # docs/testing.md, "Numerical floors": a correct float32 port lands within ~1e-4
AUDIO_MIN_SNR_DB = 80.0  # the floor allows ~100 dB; 60 dB is the project's minimum


# ---------------------------------------------------------------- helpers


def convert(source: Path, out_dir: Path, target: str = "ios", dtype: str | None = "fp32") -> Path:
    from rvc_convert.convert import convert_model

    return Path(convert_model(source, target=target, out_dir=out_dir, dtype=dtype).weights_path)


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    """variant -> converted fp32 .safetensors, converted once per session."""
    cache: dict[str, Path] = {}
    out_dir = tmp_path_factory.mktemp("synth")

    def get(variant: str) -> Path:
        if variant not in cache:
            cache[variant] = convert(golden_path(f"synth/models/{variant}.pth"), out_dir)
        return cache[variant]

    return get


def load_ref(name: str) -> dict[str, np.ndarray]:
    with np.load(golden_path(f"synth/refs/{name}.npz")) as data:
        return {k: data[k] for k in data.files}


def ref_inputs(ref: dict) -> dict:
    return {k: ref[k] for k in INPUTS if k in ref}


def to_runtime_layout(name: str, ref: np.ndarray) -> np.ndarray:
    return ref if name in CHANNELS_LAST or ref.ndim != 3 else ref.transpose(0, 2, 1)


def rel_rms(ours: np.ndarray, ref: np.ndarray) -> float:
    diff = ours.astype(np.float64) - ref
    return float(np.sqrt(np.mean(diff**2)) / max(np.sqrt(np.mean(ref.astype(np.float64) ** 2)), 1e-30))


def snr_db(ours: np.ndarray, ref: np.ndarray) -> float:
    noise = np.sum((ours.astype(np.float64) - ref) ** 2)
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(noise, 1e-30)))


_RUNS: dict[tuple[str, str], tuple] = {}


def run_reference(variant: str, ref_name: str, converted) -> tuple[Synthesizer, dict, np.ndarray, dict]:
    """(model, reference, audio, intermediates as numpy), computed once per reference and kernel path."""
    key = (ref_name, kernels.active())
    if key not in _RUNS:
        ref = load_ref(ref_name)
        model = Synthesizer.from_file(converted(variant))
        noise = "zero"
        if "noise.0" in ref:  # supplied draws, PyTorch layout: prior [B, C, T], source [B, N, 1]
            noise = {"prior": ref["noise.0"].transpose(0, 2, 1), "source": ref["noise.1"]}
        audio, trace = model.infer(**ref_inputs(ref), noise=noise, return_intermediates=True)
        _RUNS[key] = (model, ref, np.array(audio), {k: np.array(v) for k, v in trace.items()})
    return _RUNS[key]


def reference_cases():
    cases = [pytest.param(v, v, id=v) for v in TINY_VARIANTS]
    cases.append(pytest.param("v2-48k-f0-tiny", "v2-48k-f0-tiny.noise", id="v2-48k-f0-tiny.noise"))
    cases.append(pytest.param(FULL_VARIANT, FULL_VARIANT, id=FULL_VARIANT))
    return cases


# ---------------------------------------------------------------- parity with upstream


@pytest.mark.parametrize("variant, ref_name", reference_cases())
def test_audio_matches_upstream(variant, ref_name, converted, record_property, kernel_path):
    model, ref, audio, _ = run_reference(variant, ref_name, converted)
    expected = ref["audio"][:, 0, :]
    assert audio.shape == expected.shape
    max_abs = float(np.max(np.abs(audio - expected)))
    snr = snr_db(audio, expected)
    record_property("audio_snr_db", round(snr, 1))
    record_property("audio_max_abs", max_abs)
    print(f"{ref_name} ({kernel_path} kernels): audio SNR {snr:.1f} dB, max abs {max_abs:.2e}")
    assert max_abs <= AUDIO_MAX_ABS, f"audio max abs {max_abs:.2e} (SNR {snr:.1f} dB)"
    assert snr >= AUDIO_MIN_SNR_DB


@pytest.mark.parametrize("variant, ref_name", reference_cases())
def test_every_stage_matches_upstream(variant, ref_name, converted, kernel_path):
    _, ref, _, trace = run_reference(variant, ref_name, converted)
    sliced = json.loads(str(ref["meta"])).get("channel_sliced_keys", {})
    compared, failures = [], []
    for name, expected in ref.items():
        if name in INPUTS or name == "meta" or name.startswith("noise."):
            continue
        assert name in trace, f"the runtime does not expose intermediate {name}"
        ours = trace[name]
        expected = to_runtime_layout(name, expected)
        if name in sliced:
            ours = ours[..., : sliced[name]]
        assert ours.shape == expected.shape, f"{name}: {ours.shape} vs reference {expected.shape}"
        rms = float(np.sqrt(np.mean(expected.astype(np.float64) ** 2)))
        error, worst = rel_rms(ours, expected), float(np.max(np.abs(ours - expected)))
        compared.append(name)
        if error > STAGE_MAX_REL_RMS or worst > STAGE_MAX_ABS_OVER_RMS * max(rms, 1e-3):
            failures.append(f"{name}: rel-RMS {error:.1e}, max abs {worst:.1e} (RMS {rms:.2g})")
    assert not failures, "first diverging stages: " + "; ".join(failures[:5])
    assert {"m_p", "z", "audio"} <= set(compared)


def test_stage_layouts_are_channels_last(converted):
    model, ref, audio, trace = run_reference("v2-48k-f0-tiny", "v2-48k-f0-tiny", converted)
    frames, hop = ref["phone"].shape[1], model.config.hop
    assert trace["m_p"].shape == (1, frames, model.config.inter_channels)
    assert trace["dec.ups.0.out"].shape == (1, frames * model.config.upsample_rates[0], 32)
    assert trace["dec.m_source.out"].shape == (1, frames * hop, 1)
    assert audio.shape == (1, frames * hop)


def test_fp16_file_stays_close_to_upstream(tmp_path):
    """The default iOS output keeps the source's fp16: fused weights are rounded to fp16, so the
    audio moves by ~1e-3 (SNR ~60-67 dB) instead of the fp32 floor."""
    ref = load_ref("v2-48k-f0-tiny")
    path = convert(golden_path("synth/models/v2-48k-f0-tiny.pth"), tmp_path, dtype=None)
    _, metadata = load_weights(path)
    assert metadata["dtype"] == "float16"
    audio = np.array(Synthesizer.from_file(path).infer(**ref_inputs(ref), noise="zero"))
    snr = snr_db(audio, ref["audio"][:, 0])
    print(f"fp16 v2-48k-f0-tiny: audio SNR {snr:.1f} dB")
    assert snr >= 55.0


def test_npz_and_safetensors_give_identical_audio(tmp_path, converted):
    ref = load_ref("v1-40k-f0-tiny")
    npz = convert(golden_path("synth/models/v1-40k-f0-tiny.pth"), tmp_path, target="mlx")
    assert npz.suffix == ".npz"
    _, metadata = load_weights(npz)
    assert metadata["sample_rate"] == "40000"
    inputs = short_inputs(ref, 20)
    from_npz = np.array(Synthesizer.from_file(npz).infer(**inputs, noise="zero"))
    from_st = np.array(Synthesizer.from_file(converted("v1-40k-f0-tiny")).infer(**inputs, noise="zero"))
    np.testing.assert_array_equal(from_npz, from_st)


# ---------------------------------------------------------------- regressions


def test_b12_flow_runs_flip_then_coupling_backwards(converted):
    """Reverse flow = Flip7, Coupling6, Flip5, ... Coupling0; walking it forwards breaks parity."""
    model, ref, _, trace = run_reference("v2-48k-f0-tiny", "v2-48k-f0-tiny", converted)
    z_p, mask = mx.array(to_runtime_layout("z_p", ref["z_p"])), mx.array(trace["x_mask"])
    g = mx.array(trace["g"])[:, None, :]
    expected = to_runtime_layout("z", ref["z"])

    assert rel_rms(np.array(model.flow.reverse(z_p, mask, g)), expected) <= STAGE_MAX_REL_RMS

    x = z_p  # the mistake: couplings 0..3 in forward order, each followed by its Flip
    for i in range(4):
        x = getattr(model.flow, f"flow_{i}").reverse(x, mask, g)[..., ::-1]
    assert rel_rms(np.array(x), expected) > 0.05


def test_b16_relative_attention_is_used(converted):
    """Zeroing emb_rel_k/emb_rel_v must move the text encoder away from upstream."""
    model = Synthesizer.from_file(converted("v2-48k-f0-tiny"))
    ref = load_ref("v2-48k-f0-tiny")
    phone, pitch = mx.array(ref["phone"]), mx.array(ref["pitch"])
    mask = mx.array(to_runtime_layout("x_mask", ref["x_mask"]))
    expected = to_runtime_layout("enc_p.encoder.out", ref["enc_p.encoder.out"])

    def encoder_out():
        trace = {}
        model.enc_p(phone, pitch, mask, trace)
        return np.array(trace["enc_p.encoder.out"])

    assert rel_rms(encoder_out(), expected) <= STAGE_MAX_REL_RMS
    table_shape = model.enc_p.encoder.attn_0.emb_rel_k.shape
    zeroed = [
        (f"enc_p.encoder.attn_{i}.emb_rel_{kv}", mx.zeros(table_shape))
        for i in range(model.config.n_layers)
        for kv in "kv"
    ]
    model.load_weights(zeroed, strict=False)
    assert rel_rms(encoder_out(), expected) > 1e-2


def write_safetensors_copy(source: Path, dest: Path, **metadata_changes) -> Path:
    arrays, metadata = load_weights(source)
    for key, value in metadata_changes.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    mx.save_safetensors(str(dest), arrays, metadata=metadata)
    return dest


def test_b18_48k_output_length_and_rate_come_from_the_file(tmp_path, converted):
    ref = load_ref("v2-48k-f0-tiny")
    model = Synthesizer.from_file(converted("v2-48k-f0-tiny"))
    assert model.sample_rate == 48000 and model.config.hop == 480
    audio = model.infer(**short_inputs(ref, 20), noise="zero")
    assert audio.shape == (1, 20 * 480)

    # the NSF sine depends on the rate the file states, so a rate of 44100 is honoured, not replaced
    config = json.loads(load_weights(converted("v2-48k-f0-tiny"))[1]["config"])
    config[17] = 44100
    other = write_safetensors_copy(
        converted("v2-48k-f0-tiny"), tmp_path / "rate.safetensors", sample_rate="44100", config=json.dumps(config)
    )
    assert Synthesizer.from_file(other).sample_rate == 44100


def test_b18_a_file_without_sample_rate_is_refused(tmp_path, converted):
    source = converted("v2-48k-f0-tiny")
    config = json.loads(load_weights(source)[1]["config"])
    config[17] = None
    no_rate = write_safetensors_copy(source, tmp_path / "no_rate.safetensors", sample_rate=None, config=json.dumps(config))
    with pytest.raises(ValueError, match="no sample rate"):
        Synthesizer.from_file(no_rate)
    no_config = write_safetensors_copy(source, tmp_path / "no_config.safetensors", sample_rate=None, config=None)
    with pytest.raises(ValueError, match="no 'config' metadata"):
        Synthesizer.from_file(no_config)


def test_conflicting_sample_rates_are_refused(tmp_path, converted):
    path = write_safetensors_copy(converted("v2-48k-f0-tiny"), tmp_path / "c.safetensors", sample_rate="40000")
    with pytest.raises(ValueError, match="conflicting sample rates"):
        Synthesizer.from_file(path)


# ---------------------------------------------------------------- loading


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda w: w.pop("dec.resblock_5.c1_2.weight"), "missing: dec.resblock_5.c1_2.weight"),
        (lambda w: w.__setitem__("dec.bogus.weight", mx.zeros((1,))), "unexpected: dec.bogus.weight"),
        (
            lambda w: w.__setitem__("dec.conv_pre.weight", w["dec.conv_pre.weight"].transpose(0, 2, 1)),
            r"wrongly shaped: dec.conv_pre.weight: file \(64, 16, 7\), model \(64, 7, 16\)",
        ),
    ],
    ids=["missing", "unexpected", "wrong-shape"],
)
def test_strict_loading_names_the_bad_tensor(change, expected, tmp_path, converted):
    arrays, metadata = load_weights(converted("v2-48k-f0-tiny"))
    change(arrays)
    path = tmp_path / "bad.safetensors"
    mx.save_safetensors(str(path), arrays, metadata=metadata)
    with pytest.raises(ValueError, match=expected):
        Synthesizer.from_file(path)


def test_parameter_paths_equal_file_keys(converted):
    from mlx.utils import tree_flatten

    arrays, _ = load_weights(converted("v1-32k-nof0-tiny"))
    model = Synthesizer.from_file(converted("v1-32k-nof0-tiny"))
    assert {k for k, _ in tree_flatten(model.parameters())} == set(arrays)
    assert "dec.up_4.weight" in arrays and "dec.resblock_14.c2_2.weight" in arrays  # 5 stages


def test_npz_metadata_is_the_zip_comment(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, a=np.zeros(3, np.float32))
    assert load_weights(path)[1] == {}  # empty comment
    with zipfile.ZipFile(path, "a") as archive:
        archive.comment = json.dumps({"sample_rate": "40000", "f0": "1"}).encode()
    arrays, metadata = load_weights(path)
    assert metadata == {"sample_rate": "40000", "f0": "1"} and set(arrays) == {"a"}


def test_explicit_config_list(converted):
    """Tests and apps may pass the 18-field list themselves (e.g. from <stem>.json)."""
    ref = load_ref("v2-32k-nof0-tiny")
    config = json.loads(str(ref["meta"]))["config"]
    model = Synthesizer.from_file(converted("v2-32k-nof0-tiny"), config=config)
    assert model.config == Synthesizer.from_file(converted("v2-32k-nof0-tiny")).config
    assert model.sample_rate == 32000 and model.config.hop == 320 and not model.config.f0
    assert SynthesizerConfig.from_rvc(config, {"f0": "0", "version": "v2"}).n_speakers == 3


# ---------------------------------------------------------------- inference modes


def short_inputs(ref: dict, frames: int) -> dict:
    inputs = {k: v[:, :frames] if k in ("phone", "pitch", "pitchf") else v for k, v in ref_inputs(ref).items()}
    inputs["phone_lengths"] = np.array([frames])
    return inputs


def test_random_mode_is_seeded_and_differs_from_zero_mode(converted):
    model = Synthesizer.from_file(converted("v2-48k-f0-tiny"))
    inputs = short_inputs(load_ref("v2-48k-f0-tiny"), 20)
    first = np.array(model.infer(**inputs, seed=1))
    again = np.array(model.infer(**inputs, seed=1))
    other = np.array(model.infer(**inputs, seed=2))
    zero = np.array(model.infer(**inputs, noise="zero"))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other) and not np.allclose(first, zero)
    assert np.all(np.isfinite(first)) and np.max(np.abs(first)) < 1


def test_batch_items_match_single_runs(converted):
    model = Synthesizer.from_file(converted("v1-40k-f0-tiny"))
    single = short_inputs(load_ref("v1-40k-f0-tiny"), 20)
    batch = {k: np.concatenate([v, v]) for k, v in single.items() if k != "sid"}
    together = np.array(model.infer(**batch, sid=np.array([0, 2]), noise="zero"))
    for row, sid in enumerate((0, 2)):
        alone = np.array(model.infer(**single | {"sid": sid}, noise="zero"))
        np.testing.assert_allclose(together[row], alone[0], atol=1e-6)
    assert not np.allclose(together[0], together[1])  # the speaker matters


def test_pitch_model_requires_pitch(converted):
    model = Synthesizer.from_file(converted("v1-40k-f0-tiny"))
    inputs = short_inputs(load_ref("v1-40k-f0-tiny"), 10)
    with pytest.raises(ValueError, match="pass pitch and pitchf"):
        model.infer(inputs["phone"], inputs["phone_lengths"], noise="zero")
