"""What the pipeline accepts and refuses: audio files, arrays, model combinations, parameters;
noise modes, the pitch-extractor protocol, resampling.

Every refusal is a ValueError subclass with a one-line message naming the cause: AudioFileError
(with a `reason` a command line maps to an exit code), InputAudioError, ModelMismatchError.
"""

from __future__ import annotations

import math
import struct

import rvc_runtime  # noqa: F401  (before mlx: gives MLX its BLAS)
import numpy as np
import pytest
import soundfile as sf
import soxr
from golden import golden_path
from mlx.utils import tree_flatten
from pipeline_helpers import HUBERT, INDEX_FILE, RMVPE, VOICE, convert

from rvc_runtime import Synthesizer
from rvc_runtime.audio import AudioFileError, load_audio_16k, read_audio, to_mono, write_audio
from rvc_runtime.hubert import HuBERT
from rvc_runtime.index import RetrievalIndex
from rvc_runtime.pipeline import WINDOW, InputAudioError, ModelMismatchError, Pipeline, RMVPEPitch
from rvc_runtime.rmvpe import RMVPE as RMVPEModel
from rvc_runtime.weights import load_into

SPEECH = "audio/speech_16k.wav"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline-input-models")
    hubert = HuBERT.from_file(convert(golden_path(HUBERT), out))
    return {
        "v1": Synthesizer.from_file(convert(golden_path(VOICE), out)),
        "v2": Synthesizer.from_file(convert(golden_path("synth/models/v2-48k-f0-tiny.pth"), out)),
        "v2-nof0": Synthesizer.from_file(convert(golden_path("synth/models/v2-32k-nof0-tiny.pth"), out)),
        "hubert": hubert,
        "hubert-768": hubert_768(hubert),
        "hubert-no-proj": hubert_without_final_proj(hubert),
        "rmvpe": RMVPEPitch(RMVPEModel.from_file(convert(golden_path(RMVPE), out))),
        "index-256": RetrievalIndex.from_file(convert(golden_path(INDEX_FILE), out)),
    }


def hubert_without_final_proj(hubert: HuBERT) -> HuBERT:
    """The same ContentVec as a plain transformers HubertModel export: no final_proj."""
    config = {k: v for k, v in hubert.config.items() if k != "final_proj_dim"}
    weights = {k: v for k, v in tree_flatten(hubert.parameters()) if not k.startswith("final_proj.")}
    return load_into(HuBERT(config), weights)


def hubert_768(hubert: HuBERT) -> HuBERT:
    """A one-layer HuBERT with 768-d hidden states (random weights): what v2 voices take."""
    config = dict(hubert.config) | {"hidden_size": 768, "num_layers": 1, "ffn_dim": 64}
    config.pop("final_proj_dim")
    return HuBERT(config)


@pytest.fixture(scope="module")
def speech():
    return load_audio_16k(golden_path(SPEECH))


@pytest.fixture(scope="module")
def v1_pipeline(models):
    return Pipeline(models["v1"], models["hubert"], models["rmvpe"])


# ------------------------------------------------------------------ audio files


def write(path, data, rate, **kw):
    sf.write(str(path), data, rate, **kw)
    return path


def test_16k_mono_float_wav_passes_untouched(speech):
    data, rate = sf.read(str(golden_path(SPEECH)), dtype="float32")
    assert rate == 16000 and np.array_equal(speech, data)


def test_stereo_is_the_channel_mean_and_other_rates_are_resampled(tmp_path):
    rng = np.random.default_rng(0)
    stereo = (rng.standard_normal((44100, 2)) * 0.1).astype(np.float32)
    path = write(tmp_path / "stereo.wav", stereo, 44100, subtype="FLOAT")
    samples, rate = read_audio(path)
    assert rate == 44100 and samples.shape == (44100, 2)
    mono = to_mono(samples)
    assert np.array_equal(mono, stereo.mean(axis=1, dtype=np.float32))
    loaded = load_audio_16k(path)
    assert np.array_equal(loaded, soxr.resample(mono, 44100, 16000, quality="VHQ"))
    assert len(loaded) == 16000


@pytest.mark.parametrize("fmt", ["FLAC", "OGG", "MP3"])
def test_compressed_formats_are_read(tmp_path, fmt):
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile cannot write {fmt}")
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(32000) / 32000)).astype(np.float32)
    path = write(tmp_path / f"tone.{fmt.lower()}", tone, 32000, format=fmt)
    loaded = load_audio_16k(path)
    assert abs(len(loaded) - 16000) <= 1200  # codecs add priming samples
    spectrum = np.abs(np.fft.rfft(loaded[2000:14000]))
    assert abs(np.argmax(spectrum) * 16000 / 12000 - 220) < 3


def test_int16_wav_reads_as_float(tmp_path):
    samples = np.array([0, 1, -1, 32767, -32768], dtype=np.int16)
    path = write(tmp_path / "pcm.wav", np.tile(samples, 100), 16000, subtype="PCM_16")
    assert np.array_equal(load_audio_16k(path)[:5], samples / np.float32(32768))


def truncated(path, keep: float):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.mark.parametrize(
    "make, reason",
    [
        pytest.param(lambda d: d / "missing.wav", "missing", id="missing"),
        pytest.param(lambda d: d, "unreadable", id="a-folder"),
        pytest.param(lambda d: (d / "text.wav").write_text("not audio at all") and d / "text.wav", "unreadable", id="not-audio"),
        pytest.param(lambda d: (d / "model.pth").write_bytes(b"PK\x03\x04" + bytes(200)) and d / "model.pth", "unreadable", id="zip-bytes"),
        pytest.param(lambda d: (d / "empty.wav").write_bytes(b"") or d / "empty.wav", "empty", id="empty-file"),
        pytest.param(lambda d: write(d / "zero.wav", np.zeros(0, np.float32), 16000), "empty", id="no-samples"),
        pytest.param(lambda d: write(d / "nan.wav", np.full(800, np.nan, np.float32), 16000, subtype="FLOAT"), "non_finite", id="all-nan"),
        pytest.param(lambda d: write(d / "inf.wav", np.r_[np.zeros(800), np.inf].astype(np.float32), 16000, subtype="FLOAT"), "non_finite", id="one-inf"),
        pytest.param(lambda d: truncated(write(d / "t.wav", np.zeros(16000, np.float32), 16000), 0.5), "truncated", id="truncated-wav"),
        pytest.param(lambda d: truncated(write(d / "t.flac", np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 0.1, 16000), 0.5), "truncated", id="truncated-flac"),
        pytest.param(lambda d: write(d / "many.wav", np.zeros((100, 65), np.float32), 16000), "too_many_channels", id="65-channels"),
        pytest.param(lambda d: write(d / "slow.wav", np.zeros(100, np.float32), 100), "bad_rate", id="100-Hz"),
        pytest.param(lambda d: huge_wav_header(d / "huge.wav"), "truncated", id="header-claims-2GB"),
    ],
)
def test_hostile_audio_files_are_refused(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(AudioFileError) as error:
        load_audio_16k(path)
    assert error.value.reason == reason
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def huge_wav_header(path):
    """A RIFF header announcing 2 GB of 16-bit samples, followed by 1 kB of them."""
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    data_bytes = 0x7FFFFFF0
    path.write_bytes(b"RIFF" + struct.pack("<I", data_bytes + 36) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data_bytes) + bytes(1024))
    return path


def flac_claiming(path, frames: int, channels: int = 8, rate: int = 96000):
    """A real 8-channel FLAC of 0.05 s whose STREAMINFO announces `frames` frames."""
    sf.write(str(path), (np.random.default_rng(0).standard_normal((rate // 20, channels)) * 0.1).astype(np.float32), rate, format="FLAC")
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO first; its total-samples field is the low 36 bits of bytes 18..25
    packed = int.from_bytes(data[18:26], "big")
    data[18:26] = ((packed & ~((1 << 36) - 1)) | frames).to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("hours, reason", [(0.95, "too_long"), (0.15, "truncated")])
def test_a_header_claim_is_never_allocated(tmp_path, hours, reason):
    """A FLAC header announcing 0.95 h of 96 kHz x 8 channels (within the hour and the channel limit)
    once made the reader allocate all of it (10 GiB) before decoding a byte: more samples than the
    decoding budget are refused from the header, fewer are decoded block by block, so memory follows
    the data and the missing frames are reported."""
    path = flac_claiming(tmp_path / "claim.flac", int(hours * 3600 * 96000))
    assert sf.info(str(path)).frames == int(hours * 3600 * 96000)
    with pytest.raises(AudioFileError) as error:
        load_audio_16k(path)
    assert error.value.reason == reason and str(path) in str(error.value)


def test_truncated_mp3_is_refused(tmp_path):
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3")
    tone = (0.3 * np.sin(np.arange(48000) / 10)).astype(np.float32)
    path = truncated(write(tmp_path / "t.mp3", tone, 48000, format="MP3"), 0.5)
    with pytest.raises(AudioFileError) as error:
        load_audio_16k(path)
    assert error.value.reason == "truncated"


def test_absurd_lengths_are_refused_before_decoding(tmp_path):
    path = write(tmp_path / "long.wav", np.zeros(32000, np.float32), 16000)
    with pytest.raises(AudioFileError) as error:
        load_audio_16k(path, max_seconds=1.0)
    assert error.value.reason == "too_long" and "2 s" in str(error.value)


def test_output_files_round_trip_and_appear_only_when_complete(tmp_path):
    pcm = (np.sin(np.arange(4000) / 7) * 30000).astype(np.int16)
    written = write_audio(tmp_path / "out.wav", pcm, 40000)
    data, rate = sf.read(str(written), dtype="int16")
    assert rate == 40000 and np.array_equal(data, pcm) and sf.info(str(written)).subtype == "PCM_16"
    floats = np.linspace(-1, 1, 999, dtype=np.float32)
    write_audio(tmp_path / "out32.wav", floats, 48000, float32=True)
    assert np.array_equal(sf.read(str(tmp_path / "out32.wav"), dtype="float32")[0], floats)
    with pytest.raises(ValueError, match="int16"):
        write_audio(tmp_path / "bad.wav", floats, 48000)
    with pytest.raises(AudioFileError) as error:
        write_audio(tmp_path / "no-such-folder" / "out.wav", pcm, 40000)
    assert error.value.reason == "unwritable"
    (tmp_path / "a-folder.wav").mkdir()
    with pytest.raises(AudioFileError):
        write_audio(tmp_path / "a-folder.wav", pcm, 40000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder.wav", "out.wav", "out32.wav"]  # no temp files left


# ------------------------------------------------------------------ arrays handed to the pipeline


def output_samples(samples: int, hop: int) -> int:
    """One chunk: 2T frames of synthesizer audio minus 1 s (100 frames) of padding at each end."""
    frames = 2 * ((samples + 2 * 16000 - 400) // 320 + 1)
    return (frames - 200) * hop


def test_shortest_input_is_one_hubert_frame(v1_pipeline, speech):
    with pytest.raises(InputAudioError, match="one HuBERT frame"):
        v1_pipeline.convert(speech[:399], noise="zero")
    result = v1_pipeline.convert(speech[:400], noise="zero")
    assert len(result.audio) == output_samples(400, 400) == 800


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.full(8000, np.nan, np.float32), "NaN"),
        (np.r_[np.zeros(8000), np.inf].astype(np.float32), "NaN/infinite"),
        (np.zeros((8000, 2), np.float32), "1-D"),
        (np.zeros(8000, np.int16), "float"),
        (np.zeros(0, np.float32), "one HuBERT frame"),
    ],
)
def test_unusable_arrays_are_refused(v1_pipeline, audio, message):
    with pytest.raises(InputAudioError, match=message):
        v1_pipeline.convert(audio)


def test_output_length_follows_upstreams_frame_rule(v1_pipeline, speech):
    for samples in (400, 16000, 16080, 23999):
        assert len(v1_pipeline.convert(speech[:samples], noise="zero").audio) == output_samples(samples, 400) == v1_pipeline.output_samples(samples)


# ------------------------------------------------------------------ models that do not fit together


def test_v1_voice_needs_a_hubert_with_final_proj(models):
    with pytest.raises(ModelMismatchError, match="no final_proj"):
        Pipeline(models["v1"], models["hubert-no-proj"], models["rmvpe"])


def test_v2_voice_needs_768_d_features(models):
    with pytest.raises(ModelMismatchError, match=r"v2 and takes 768-d features, but this HuBERT gives 64-d"):
        Pipeline(models["v2"], models["hubert"], models["rmvpe"])


def test_index_must_match_the_voice(models):
    """The golden v1 voice's index (256-d) with a v2 voice (768-d features)."""
    assert models["index-256"].dim == 256
    with pytest.raises(ModelMismatchError, match=r"256-d vectors but the voice is v2 \(768-d\)"):
        Pipeline(models["v2"], models["hubert-768"], models["rmvpe"], models["index-256"])
    Pipeline(models["v1"], models["hubert"], models["rmvpe"], models["index-256"])  # its own voice fits


def test_pitch_options_and_pitch_guidance_must_agree(models, speech):
    with pytest.raises(ModelMismatchError, match="no pitch guidance"):
        Pipeline(models["v2-nof0"], models["hubert-768"], models["rmvpe"])
    with pytest.raises(ModelMismatchError, match="needs a pitch extractor"):
        Pipeline(models["v1"], models["hubert"])
    nof0 = Pipeline(models["v2-nof0"], models["hubert-768"])
    with pytest.raises(ModelMismatchError, match=r"key shift \(\+2\)"):
        nof0.convert(speech, key=2)
    result = nof0.convert(speech, noise="zero", trace=True)
    assert len(result.audio) == output_samples(len(speech), 320) and result.f0 is None and result.f0_raw is None and result.pitchf is None
    assert "f0_pitch" not in result.trace and "chunk0.pitch" not in result.trace


@pytest.mark.parametrize(
    "options, message",
    [
        ({"index_rate": 1.5}, "index_rate"),
        ({"protect": 0.7}, "protect"),
        ({"rms_mix_rate": -0.1}, "rms_mix_rate"),
        ({"key": math.nan}, "key"),
        ({"key": 60}, "key"),
        ({"compat": "applio"}, "compat"),
        ({"noise": "pink"}, "noise"),
        ({"sid": 3}, "sid"),
        ({"resample_sr": 8000}, "resample_sr"),
        ({"resample_sr": 44100.0}, "resample_sr"),
        ({"seed": -1}, "seed"),
        ({"index_rate": True}, "index_rate"),
    ],
)
def test_parameters_out_of_range_are_refused(v1_pipeline, speech, options, message):
    with pytest.raises(ValueError, match=message):
        v1_pipeline.convert(speech, **options)


# ------------------------------------------------------------------ noise, trace, resampling, protocol


def test_noise_modes(v1_pipeline, speech):
    """zero: deterministic; default: a fresh draw each run; seed: repeatable, per seed."""
    clip = speech[:8000]
    zero = [v1_pipeline.convert(clip, noise="zero").audio_int16 for _ in range(2)]
    assert np.array_equal(*zero)
    random = [v1_pipeline.convert(clip).audio for _ in range(2)]
    assert not np.array_equal(*random)
    seeded = [v1_pipeline.convert(clip, seed=7).audio for _ in range(2)]
    assert np.array_equal(*seeded) and not np.array_equal(seeded[0], v1_pipeline.convert(clip, seed=8).audio)
    assert not np.array_equal(seeded[0], v1_pipeline.convert(clip, noise="zero").audio)


def test_trace_does_not_change_the_result(v1_pipeline, speech):
    plain = v1_pipeline.convert(speech, key=3, noise="zero")
    traced = v1_pipeline.convert(speech, key=3, noise="zero", trace=True)
    assert plain.trace is None and np.array_equal(plain.audio, traced.audio)
    assert set(plain.timings) == {"highpass", "split", "f0", "hubert", "synth", "rms_mix", "int16"}


def test_resample_sr_resamples_the_final_audio(v1_pipeline, speech):
    result = v1_pipeline.convert(speech, noise="zero", resample_sr=48000, trace=True)
    before = result.trace["audio_rms"]
    assert result.sample_rate == 48000 and len(result.audio) == math.ceil(len(before) * 48000 / 40000)
    assert np.array_equal(result.audio, soxr.resample(before, 40000, 48000, quality="HQ")[: len(result.audio)])
    same = v1_pipeline.convert(speech, noise="zero", resample_sr=40000)
    assert same.sample_rate == 40000 and np.array_equal(same.audio, before)


class ConstantPitch:
    """A stand-in pitch method: 200 Hz everywhere except 20 unvoiced frames, 1.2 to 1.4 s into the
    padded audio (0.2 to 0.4 s into the input)."""

    name = "const"

    def __init__(self, frames_short: int = 0):
        self.calls = []
        self.frames_short = frames_short

    def f0(self, audio16k):
        self.calls.append(audio16k)
        f0 = np.full(1 + len(audio16k) // WINDOW - self.frames_short, 200.0)
        f0[120:140] = 0
        return f0


def test_any_pitch_extractor_plugs_in(models, speech):
    method = ConstantPitch()
    pipe = Pipeline(models["v1"], models["hubert"], method)
    result = pipe.convert(speech, key=12, compat="webui", noise="zero", trace=True)
    (audio,) = method.calls
    assert audio.dtype == np.float32 and len(audio) == len(speech) + 2 * 16000
    assert "f0_const" in result.trace and np.all(result.trace["f0_pitchf"] == 400)  # filled, one octave up
    classic = pipe.convert(speech, key=12, compat="classic", noise="zero", trace=True)
    assert np.all(classic.trace["f0_pitchf"][120:140] == 0) and np.all(classic.trace["f0_pitch"][120:140] == 1)
    # the contours on the input's timeline: the padding's 100 frames dropped
    frames = len(speech) // WINDOW
    for run in (result, classic):
        assert len(run.f0_raw) == len(run.f0) == len(run.pitchf) == frames
        assert np.all(run.f0_raw[20:40] == 0) and np.all(np.delete(run.f0_raw, np.s_[20:40]) == 200)
    assert np.all(result.f0 == 200) and np.all(result.pitchf == 400)
    assert np.all(classic.f0[20:40] == 0) and np.all(classic.pitchf[20:40] == 0) and classic.pitchf[0] == 400
    with pytest.raises(ValueError, match="at least len"):
        Pipeline(models["v1"], models["hubert"], ConstantPitch(frames_short=2)).convert(speech)


def test_pipeline_modules_need_no_rvc_convert():
    """An app ships rvc_runtime alone: the pipeline, audio and figures modules import without it."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['rvc_convert'] = None\n"
        "import rvc_runtime.pipeline, rvc_runtime.audio, rvc_runtime.figures\n"
        "assert not any(name.startswith('rvc_convert') and sys.modules[name] for name in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
