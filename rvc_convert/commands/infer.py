"""`rvc-convert infer`: convert a recording with a voice, end to end in MLX, as upstream's pipeline does.

The models come from a bundle (`VOICE` a bundle folder plus --voice NAME) or from files; the
shared roles' flags (`--<role> PATH`) come from the family registry, as in `bundle`. The chain
itself is rvc_runtime.pipeline; rvc_convert.chain loads its models.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from ..bundle.manifest import MANIFEST_NAME
from ..bundle.roles import shared_roles_for_help
from ..errors import InputIOError, UsageError
from ..families import BundleRole, f0_method_names, pitch_families
from .app import app, emit_json, with_path_options
from .display import say

SCHEMA = "rvc-convert/infer/1"


def _role_flag(role: BundleRole) -> str:
    return f"--{role.name} {role.example}"


def _infer_help() -> str:
    """The help, its examples and model flags from the registry: the models every voice needs, then
    the pitch models (one of them runs; --f0-method picks)."""
    pitch = [f for f in pitch_families() if f.bundle_role is not None]
    pitch_roles = {f.bundle_role.name for f in pitch}
    needed = [role for role in shared_roles_for_help() if role.name not in pitch_roles]
    content = " ".join(_role_flag(role) for role in needed)
    rows = [(f"--{role.name} PATH", f"the {role.title} ({role.example}): every voice needs it") for role in needed]
    rows += [(f"--{f.bundle_role.name} PATH", f"the {f.bundle_role.title} ({f.bundle_role.example}) for --f0-method {' or '.join(f.f0_methods)}") for f in pitch]
    rows.append(("--index PATH", "the voice's FAISS .index (added_IVF…_Flat….index): optional, used at --index-rate"))
    width = max(len(flag) for flag, _ in rows) + 2
    role_lines = "".join(f"  {flag:<{width}}{what}\n" for flag, what in rows)
    other = f"  rvc-convert infer alice.safetensors speech.flac {content} --f0-method {pitch[1].f0_methods[0]} {_role_flag(pitch[1].bundle_role)} --plot alice.png -o alice.wav\n" if len(pitch) > 1 else ""
    methods = ", ".join(f0_method_names())
    return f"""Convert the recording INPUT with a voice and write OUTPUT.wav, running upstream's inference
pipeline in MLX: high-pass, f0, content features, the voice's own index of training features, the
voice model (chunked on long input), volume envelope, int16.

\b
  rvc-convert infer alice.pth speech.wav {content} {_role_flag(pitch[0].bundle_role)} --index added_IVF256_Flat_nprobe_1_alice_v2.index -o alice.wav
  rvc-convert infer Assets/ speech.wav --voice alice --key 12 -o alice.wav
{other}
\b
VOICE is a voice (.pth, converted on the fly in memory, or its converted .safetensors/.npz), or a
bundle folder with --voice NAME: the bundle's own models and the voice's index are used, each
checked against the manifest, and a model flag replaces the bundle's. Otherwise name the models,
each a source file (converted on the fly) or a converted one:
{role_lines}
A pitch-guided voice needs one pitch model; with several at hand, --f0-method ({methods})
picks one, by default the first present in that order. A voice without pitch guidance takes none
(and no --key or --f0-method).

INPUT is any audio file (WAV, FLAC, OGG, MP3) at any sample rate, up to an hour; channels are
averaged. The parameters are upstream's, with its defaults. --compat classic (default)
reproduces the classic RVC WebUI and Applio (unvoiced frames keep f0 0, protect acts on them);
--compat webui the 2026 WebUI (unvoiced f0 interpolated). --noise zero makes the output
deterministic; by default the voice model draws its noise like upstream (--seed makes it
repeatable). --plot draws input, output and pitch; with --reference UPSTREAM.wav (upstream's output
for the same input and settings) it adds upstream's output and the difference and prints SNR and
spectrogram correlation.

Exit codes: 0 done; 2 a model that cannot be converted, or models that do not fit together (a v1
voice with a content model lacking final_proj, an index of another width); 3 an unsafe model file;
4 a usage error (bad option values, --key or --f0-method for a voice without pitch guidance, a
missing model flag, no model for the chosen --f0-method, --voice without a bundle); 5 an input or
model file that is missing, unreadable, truncated, empty, all NaN or shorter than 25 ms, or an
output that cannot be written; 70 internal error. Nothing is written unless the whole conversion
succeeds."""


# RVC's f0 method names, as the registry's pitch families serve them (the preferred first).
F0Method = Enum("F0Method", {name: name for name in f0_method_names()}, type=str)


class Compat(str, Enum):
    classic = "classic"
    webui = "webui"


class Noise(str, Enum):
    random = "random"
    zero = "zero"


class Progress:
    """One live line on a terminal's stderr: the stage and the chunk count."""

    def __init__(self, enabled: bool, label: str):
        self.enabled = enabled
        self.label = label
        self.start = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        what = {"split": "f0", "f0": "content features and synthesis", "chunks": f"chunk {done}/{total} done"}.get(stage, stage)
        sys.stderr.write(f"\r{self.label}: {what} ({time.perf_counter() - self.start:.0f} s)\033[K")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _check_output(path: Path, suffix: str, flag: str, inputs: list[Path]) -> None:
    if path.suffix.lower() != suffix:
        raise UsageError(f"{flag} {path}: the file name must end in {suffix}")
    if any(path.resolve() == p.resolve() for p in inputs if p.exists()):
        raise UsageError(f"{flag} {path}: would overwrite an input file; choose another name")
    folder = path.parent
    if not folder.is_dir():
        raise InputIOError(f"{flag} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputIOError(f"{flag} {path}: the folder {folder} is not writable")
    if path.is_dir():
        raise InputIOError(f"{flag} {path}: is a folder")


def _read_audio(path: Path) -> tuple[Any, int, int]:
    """(16 kHz mono float32 samples, the file's rate, its channel count)."""
    from rvc_runtime.audio import AudioFileError, check_finite, read_audio, to_16k, to_mono

    try:
        samples, rate = read_audio(path)
        check_finite(samples, str(path))
    except AudioFileError as exc:
        raise InputIOError(str(exc)) from None
    return to_16k(to_mono(samples), rate), rate, samples.shape[1]


def _f0_summary(result: Any) -> dict[str, Any] | None:
    import numpy as np

    if result.f0_raw is None:
        return None
    voiced = result.f0_raw > 0
    if not voiced.any():
        return {"frames": int(voiced.size), "voiced_fraction": 0.0, "input_hz": None, "output_hz": None}

    def stats(values):
        return {"min": round(float(values.min()), 2), "median": round(float(np.median(values)), 2), "max": round(float(values.max()), 2)}

    return {
        "frames": int(voiced.size),
        "voiced_fraction": round(float(voiced.mean()), 4),
        "input_hz": stats(result.f0_raw[voiced]),
        "output_hz": stats(result.pitchf[voiced]),
    }


def infer_command(
    voice: Path = typer.Argument(..., metavar="VOICE", help="A voice (.pth, .safetensors, .npz) or a bundle folder (with --voice)."),
    audio: Path = typer.Argument(..., metavar="INPUT", help="The recording to convert (WAV, FLAC, OGG, MP3; any rate)."),
    output: Path = typer.Option(..., "--output", "-o", help="The converted recording (.wav)."),
    voice_name: Optional[str] = typer.Option(None, "--voice", help="With a bundle folder: the voice's name in its manifest."),
    f0_method: Optional[F0Method] = typer.Option(None, "--f0-method", help="The pitch model to run, by RVC's f0 method name (default: the first of these at hand)."),
    index: Optional[Path] = typer.Option(None, "--index", help="The voice's index of training features (FAISS .index, or converted); with a bundle: replaces the voice's."),
    key: float = typer.Option(0.0, "--key", min=-48, max=48, help="Pitch shift in semitones (+12 = one octave up)."),
    index_rate: float = typer.Option(0.75, "--index-rate", min=0.0, max=1.0, help="Share of the retrieved features (0: the index is not used)."),
    protect: float = typer.Option(0.33, "--protect", min=0.0, max=0.5, help="Keep consonants/breath unretrieved: 0..0.5 (0.5: off)."),
    rms_mix_rate: float = typer.Option(0.25, "--rms-mix-rate", min=0.0, max=1.0, help="1: the voice's own loudness; 0: the input's volume envelope."),
    resample_sr: int = typer.Option(0, "--resample-sr", min=0, max=384000, help="Output sample rate; 0: the voice's own."),
    sid: int = typer.Option(0, "--sid", min=0, help="Speaker id of a multi-speaker voice."),
    compat: Compat = typer.Option(Compat.classic, "--compat", help="classic: classic WebUI / Applio; webui: the 2026 WebUI."),
    noise: Noise = typer.Option(Noise.random, "--noise", help="random: like upstream; zero: deterministic."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Seed of the random draws (repeatable output)."),
    as_float: bool = typer.Option(False, "--float", help="Write 32-bit float samples (the float audio before upstream's int16 step)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw input, output and pitch into this PNG."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Upstream's output for the same input: compare (and plot) it."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report (schemas/infer_report.schema.json)."),
    **shared: Optional[Path],
) -> None:
    from ..chain import bundle_files, load_chain

    started = time.perf_counter()
    if resample_sr and resample_sr < 16000:
        raise UsageError(f"--resample-sr {resample_sr}: use 0 (the voice's rate) or a rate of at least 16000 Hz")
    if noise is Noise.zero and seed is not None:
        raise UsageError("--seed sets the random draws; --noise zero has none")
    given = {name: path for name, path in shared.items() if path is not None}
    inputs = [voice, audio, *given.values(), *(p for p in (index, reference) if p is not None)]
    _check_output(output, ".wav", "--output", inputs)
    for flag, path in (("INPUT", audio), ("--reference", reference)):
        if path is not None and not path.is_file():
            raise InputIOError(f"{flag} {path}: no such file")
    if plot is not None:
        _check_output(plot, ".png", "--plot", inputs + [output])
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'rvc-convert[plot]'") from None
        if plot.resolve() == output.resolve():
            raise UsageError("--plot and --output name the same file")

    if voice.is_dir() and (voice / MANIFEST_NAME).is_file():
        if voice_name is None:
            raise UsageError(f"{voice} is a bundle: name the voice with --voice NAME")
        weights, bundled, bundled_index = bundle_files(voice, voice_name)
        chain_files = {**bundled, **given}
        index = index if index is not None else bundled_index
        voice_file = weights
    else:
        if voice_name is not None:
            raise UsageError(f"--voice {voice_name}: names a voice inside a bundle folder, but {voice} is not a bundle (no {MANIFEST_NAME})")
        voice_file, chain_files = voice, given

    samples, input_rate, channels = _read_audio(audio)
    loading = time.perf_counter()
    chain = load_chain(voice_file, chain_files, index, f0_method.value if f0_method else None, key)
    load_s = time.perf_counter() - loading

    import numpy as np
    from rvc_runtime.audio import read_audio, to_mono, write_audio
    from rvc_runtime.figures import compare_audio
    from rvc_runtime.pipeline import InputAudioError

    pipe = chain.pipeline
    progress = Progress(sys.stderr.isatty() and not as_json and len(samples) > 20 * 16000, f"converting {audio.name}")
    converting = time.perf_counter()
    try:
        result = pipe.convert(
            samples, key=key, index_rate=index_rate, protect=protect, rms_mix_rate=rms_mix_rate, resample_sr=resample_sr, sid=sid,
            compat=compat.value, noise="zero" if noise is Noise.zero else None, seed=seed, progress=progress,
        )  # fmt: skip
    except InputAudioError as exc:
        raise InputIOError(f"{audio}: {exc}") from None
    except ValueError as exc:  # a parameter the pipeline refuses (the options' own ranges are checked above)
        raise UsageError(str(exc)) from None
    finally:
        progress.close()
    convert_s = time.perf_counter() - converting

    # what is written, as float: the 16-bit samples read back, or the float samples
    written_audio = result.audio if as_float else result.audio_int16 / np.float32(32768)
    figures = None
    if reference is not None:
        try:
            ref_samples, ref_rate = read_audio(reference)
        except ValueError as exc:
            raise InputIOError(str(exc)) from None
        if ref_rate != result.sample_rate:
            raise UsageError(f"--reference {reference}: {ref_rate} Hz, but the output is {result.sample_rate} Hz; compare outputs at the same rate (--resample-sr)")
        ref_audio = to_mono(ref_samples)
        figures = compare_audio(written_audio, ref_audio)  # like with like: 16-bit against 16-bit

    written: list[Path] = []
    try:
        if plot is not None:
            from ..conversion_plot import plot_conversion

            handle, temp = tempfile.mkstemp(prefix=f".{plot.name}.", suffix=".tmp", dir=plot.parent)
            os.close(handle)
            written.append(Path(temp))
            plot_conversion(
                Path(temp), input_audio=samples, output_audio=written_audio, output_rate=result.sample_rate, f0_before=result.f0_raw,
                f0_after=result.pitchf, key=key, reference=ref_audio if reference is not None else None, splits_s=[p / 16000 for p in result.split_points],
                title=f"{voice_name or voice.name}: {audio.name} (key {key:+g}, index rate {index_rate:g}, {compat.value})",
            )  # fmt: skip
        try:
            write_audio(output, result.audio if as_float else result.audio_int16, result.sample_rate, float32=as_float)
        except ValueError as exc:
            raise InputIOError(str(exc)) from None
        written.append(output)
        if plot is not None:
            os.replace(written[0], plot)
            written[0] = plot
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise

    report = {
        "schema": SCHEMA,
        "ok": True,
        "voice": {
            "name": voice_name,
            "version": pipe.version,
            "sample_rate": pipe.sample_rate,
            "f0": pipe.f0,
            "speakers": pipe.speakers,
        },
        "models": {part.slot: part.describe() for part in chain.parts},
        "input": {"path": str(audio), "sample_rate": input_rate, "channels": channels, "seconds": round(len(samples) / 16000, 4)},
        "output": {"path": str(output), "sample_rate": result.sample_rate, "samples": int(len(result.audio)), "seconds": round(result.seconds, 4), "format": "float32" if as_float else "pcm16"},
        "parameters": {
            "key": key, "index_rate": index_rate, "protect": protect, "rms_mix_rate": rms_mix_rate, "resample_sr": resample_sr, "sid": sid,
            "compat": compat.value, "noise": noise.value, "seed": seed, "f0_method": chain.part("pitch").runtime.name if chain.part("pitch") else None,
            "index_used": chain.part("index") is not None and index_rate != 0,
        },  # fmt: skip
        "chunks": len(result.chunks),
        "split_points_s": [round(p / 16000, 4) for p in result.split_points],
        "f0": _f0_summary(result),
        "timings": {
            "load_s": round(load_s, 4),
            "convert_s": round(convert_s, 4),
            "total_s": round(time.perf_counter() - started, 4),
            "stages_s": {stage: round(seconds, 4) for stage, seconds in result.timings.items()},
        },
        "real_time_factor": round(convert_s / max(len(samples) / 16000, 1e-9), 4),
        "reference": None if figures is None else {"path": str(reference)} | {k: _json_number(v) for k, v in figures.items()},
        "plot": str(plot) if plot is not None else None,
    }
    if as_json:
        emit_json(report)
    else:
        _print_report(report)


def _json_number(value: Any) -> Any:
    """Floats rounded for the report; an infinite SNR (identical audio) as null."""
    if isinstance(value, float):
        return round(value, 10) if value == value and abs(value) != float("inf") else None
    return value


def _print_report(report: dict[str, Any]) -> None:
    from rvc_runtime.figures import format_correlation

    v, i, o = report["voice"], report["input"], report["output"]
    made = [f"{slot} {part['path']}{' (converted on the fly)' if part['converted_on_the_fly'] else ''}" for slot, part in report["models"].items()]
    say(f"voice: {v['version']}, {v['sample_rate'] / 1000:g} kHz, {'pitch-guided' if v['f0'] else 'no pitch guidance'}, {v['speakers']} speaker(s)")
    say("models: " + "; ".join(made))
    say(f"input: {i['path']}, {i['seconds']:.2f} s ({i['sample_rate'] / 1000:g} kHz, {i['channels']} channel(s))")
    say(f"output: {o['path']}, {o['seconds']:.2f} s at {o['sample_rate'] / 1000:g} kHz, {'32-bit float' if o['format'] == 'float32' else '16-bit PCM'}")
    f0 = report["f0"]
    if f0 and f0["input_hz"]:
        key = report["parameters"]["key"]
        say(
            f"f0: voiced {100 * f0['voiced_fraction']:.0f} % of {f0['frames']} frames, {f0['input_hz']['min']:.0f}-{f0['input_hz']['max']:.0f} Hz "
            f"(median {f0['input_hz']['median']:.0f}); key {key:+g} -> {f0['output_hz']['min']:.0f}-{f0['output_hz']['max']:.0f} Hz"
        )
    elif f0:
        say("f0: no voiced frame found")
    t = report["timings"]
    stages = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in t["stages_s"].items() if seconds >= 0.005)
    say(f"{report['chunks']} chunk(s); models loaded in {t['load_s']:.1f} s; converted in {t['convert_s']:.1f} s (real-time factor {report['real_time_factor']:.2f}): {stages}")
    if report["reference"]:
        r = report["reference"]
        lengths = "" if r["samples_ours"] == r["samples_reference"] else f" (over the first {r['samples']} samples: ours {r['samples_ours']}, upstream {r['samples_reference']})"
        snr = "identical" if r["snr_db"] is None else f"SNR {r['snr_db']:.1f} dB"
        say(f"vs {r['path']}: {snr}, spectrogram correlation {format_correlation(r['spectrogram_correlation'])}, max |diff| {r['max_abs']:.2g}{lengths}")
    if report["plot"]:
        say(f"plot: {report['plot']}")


def _role_option_help(role: BundleRole) -> str:
    methods = next((f.f0_methods for f in pitch_families() if f.bundle_role is not None and f.bundle_role.name == role.name), ())
    serves = f" for --f0-method {' or '.join(methods)}" if methods else ""
    return f"The {role.title} ({role.example}, or converted){serves}; with a bundle: replaces the bundle's."


app.command("infer", help=_infer_help(), short_help="Convert a recording with a voice, end to end in MLX (upstream's pipeline).")(
    with_path_options(infer_command, "voice_name", [(role.name, _role_option_help(role)) for role in shared_roles_for_help()])
)
