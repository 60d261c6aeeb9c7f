"""Applio's MRF HiFi-GAN and RefineGAN voices through the whole chain: `rvc_runtime.pipeline` and
`rvc-convert infer`.

The golden vocoder voices (Applio's own exports, v2, pitch-guided) take 768-d features, so the
chain's HuBERT is fixtures/make_aux.py's small wide HuBERT (random weights, 768-d hidden states);
the small golden RMVPE tracks f0, and a 768-d FAISS index built from that HuBERT's own features on
the speech is blended in. No upstream reference exists for these chains (the golden pipeline
cases are classic-decoder voices), so the test proves what the chain adds around the decoder:

* the output has upstream's length (`Pipeline.output_samples`), is finite and not silent;
* the synthesizer stage is `Synthesizer.infer` on the chunk's features, pitch and pitchf, bit for
  bit (the decoder itself is proven against Applio in tests/test_vocoders_runtime.py);
* noise="zero" and a seed repeat exactly, and the two differ;
* `rvc-convert infer` on the source files writes the pipeline's own int16 samples.

Run with -s to see the figures.
"""

from __future__ import annotations

import json

import rvc_runtime  # noqa: F401  (before mlx: gives MLX its BLAS)
import mlx.core as mx
import numpy as np
import pytest
import soundfile as sf
from golden import golden_path
from pipeline_helpers import RMVPE, convert

import make_aux
from rvc_runtime import Synthesizer
from rvc_runtime.audio import load_audio_16k
from rvc_runtime.hubert import HuBERT
from rvc_runtime.index import RetrievalIndex
from rvc_runtime.pipeline import Pipeline, RMVPEPitch, Timing
from rvc_runtime.rmvpe import RMVPE as RMVPEModel

SPEECH = "audio/speech_16k.wav"
VOICES = {
    "mrf-40k": ("vocoders/models/v2-40k-mrf-tiny.pth", "MRF HiFi-GAN"),
    "mrf-48k": ("vocoders/models/v2-48k-mrf-tiny.pth", "MRF HiFi-GAN"),
    "refinegan-32k": ("vocoders/models/v2-32k-refinegan-tiny.pth", "RefineGAN"),
}
SETTINGS = {"key": 2, "index_rate": 0.75, "protect": 0.33, "rms_mix_rate": 0.25, "compat": "classic"}
MIN_RMS = 1e-3  # the chain check's "not silent" is 1e-4; these voices reach ~1e-2 on speech


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """Source files and the runtime models of the chain (the voices converted in float32)."""
    out = tmp_path_factory.mktemp("vocoder-chain")
    hubert_source = make_aux.save_hubert_fairseq(out / "hubert_wide.pt", make_aux.build_hubert(make_aux.HUBERT_SMALL_WIDE, seed=3), make_aux.HUBERT_SMALL_WIDE)
    hubert = HuBERT.from_file(convert(hubert_source, out))
    speech = load_audio_16k(golden_path(SPEECH))
    index_source = wide_index(out / "speech_768.index", np.array(hubert.extract_features(speech, "v2"))[0])
    return {
        "hubert_source": hubert_source,
        "hubert": hubert,
        "rmvpe_source": golden_path(RMVPE),
        "rmvpe": RMVPEPitch(RMVPEModel.from_file(convert(golden_path(RMVPE), out))),
        "index_source": index_source,
        "index": RetrievalIndex.from_file(convert(index_source, out)),
        "speech": speech,
        "voices": {name: Synthesizer.from_file(convert(golden_path(source), out)) for name, (source, _) in VOICES.items()},
    }


def wide_index(path, features: np.ndarray):
    """A FAISS IVF index of 768-d features, written by faiss itself (RVC's train-index layout)."""
    import faiss

    index = faiss.index_factory(features.shape[1], "IVF2,Flat")
    index.train(features)
    index.add(features)
    faiss.write_index(index, str(path))
    return path


@pytest.mark.parametrize("name", list(VOICES))
def test_vocoder_voice_through_the_pipeline(parts, name):
    voice = parts["voices"][name]
    assert voice.config.vocoder == VOICES[name][1] and voice.config.phone_dim == 768
    pipe = Pipeline(voice, parts["hubert"], pitch=parts["rmvpe"], index=parts["index"])
    speech = parts["speech"]

    zero = pipe.convert(speech, **SETTINGS, noise="zero", trace=True)
    audio = zero.audio
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    voiced = float(np.mean(zero.f0_raw > 0))
    print(f"\n[{name}] {voice.config.vocoder} {voice.sample_rate} Hz: {len(audio)} samples, rms {rms:.4f}, peak {np.abs(audio).max():.3f}, voiced {voiced:.2f}, chunks {len(zero.chunks)}")
    assert zero.sample_rate == voice.sample_rate and len(zero.chunks) == 1
    assert len(audio) == len(zero.audio_int16) == pipe.output_samples(len(speech))
    assert np.isfinite(audio).all() and rms >= MIN_RMS
    assert voiced >= 0.3 and zero.chunks[0]["index_used"]

    # the synthesizer stage is Synthesizer.infer on the chunk's own inputs, bit for bit
    t = zero.trace
    expected = voice.infer(mx.array(t["chunk0.feats_protect"]), mx.array(t["chunk0.p_len"]), t["chunk0.pitch"], t["chunk0.pitchf"], int(t["chunk0.sid"][0]), noise="zero")
    assert np.array_equal(np.array(expected[0]), t["chunk0.synth"])
    assert len(t["chunk0.synth"]) == int(t["chunk0.p_len"][0]) * voice.config.hop

    again = pipe.convert(speech, **SETTINGS, noise="zero")
    assert np.array_equal(again.audio_int16, zero.audio_int16) and np.array_equal(again.audio, audio)
    seeded = [pipe.convert(speech, **SETTINGS, seed=11).audio_int16 for _ in range(2)]
    assert np.array_equal(seeded[0], seeded[1])
    assert not np.array_equal(seeded[0], zero.audio_int16)


@pytest.mark.parametrize("name", ["mrf-40k", "refinegan-32k"])
def test_vocoder_voice_in_chunks(parts, name):
    """A chain whose timing splits the 2.5 s speech into three chunks (1 s padding, a split every
    1 s): every chunk's synthesizer stage is `Synthesizer.infer` on its own inputs, and the output
    is the trimmed chunks end to end."""
    voice = parts["voices"][name]
    pipe = Pipeline(voice, parts["hubert"], pitch=parts["rmvpe"], index=parts["index"], timing=Timing(x_pad=1, x_query=1, x_center=1, x_max=2))
    result = pipe.convert(parts["speech"], **SETTINGS, noise="zero", trace=True)
    t, trim = result.trace, voice.sample_rate
    assert len(result.chunks) == 3 and result.split_points
    pieces = []
    for i in range(len(result.chunks)):
        p = f"chunk{i}."
        expected = voice.infer(mx.array(t[p + "feats_protect"]), mx.array(t[p + "p_len"]), t[p + "pitch"], t[p + "pitchf"], 0, noise="zero")
        assert np.array_equal(np.array(expected[0]), t[p + "synth"]), i
        pieces.append(t[p + "synth"][trim : len(t[p + "synth"]) - trim])
    assert np.array_equal(np.concatenate(pieces), t["audio_concat"])
    assert np.isfinite(result.audio).all() and float(np.sqrt(np.mean(result.audio.astype(np.float64) ** 2))) >= MIN_RMS


def test_infer_command_runs_an_mrf_voice(parts, tmp_path, capsys):
    """`rvc-convert infer` on Applio's export, the fairseq HuBERT, rmvpe.pt and the FAISS index (each
    converted on the fly): the pipeline's own samples, written as 16-bit PCM."""
    from rvc_convert.cli import main

    source = golden_path(VOICES["mrf-40k"][0])
    out = tmp_path / "out.wav"
    args = [source, golden_path(SPEECH), "--hubert", parts["hubert_source"], "--rmvpe", parts["rmvpe_source"], "--index", parts["index_source"]]
    code = main(["infer", *map(str, args), "--key", "2", "--noise", "zero", "-o", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["voice"]["sample_rate"] == 40000 and report["voice"]["version"] == "v2" and report["parameters"]["index_used"]
    written, rate = sf.read(str(out), dtype="int16")
    pipe = Pipeline(parts["voices"]["mrf-40k"], parts["hubert"], pitch=parts["rmvpe"], index=parts["index"])
    expected = pipe.convert(parts["speech"], **SETTINGS, noise="zero")
    assert rate == 40000 and report["output"]["samples"] == len(written)
    assert np.array_equal(written, expected.audio_int16)
