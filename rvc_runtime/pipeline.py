"""RVC voice conversion end to end: 16 kHz audio -> converted voice, as upstream's inference pipeline.

    from rvc_runtime import Synthesizer
    from rvc_runtime.hubert import HuBERT
    from rvc_runtime.rmvpe import RMVPE
    from rvc_runtime.pipeline import Pipeline, RMVPEPitch

    pipe = Pipeline(Synthesizer.from_file(voice), HuBERT.from_file(hubert),
                    pitch=RMVPEPitch(RMVPE.from_file(rmvpe)), index=None)
    result = pipe.convert(audio16k, key=2, index_rate=0.75, compat="classic")
    result.audio_int16, result.sample_rate

The steps and their numerics follow the RVC WebUI's `Pipeline.pipeline` / `Pipeline.vc` on the
fp32 (CPU) configuration row; docs/pipeline.md describes each one, the two upstream behaviours
(`compat="classic"` and `compat="webui"`), the pitch-extractor protocol and where this port's
numbers can differ from upstream's. Every stage can be recorded (`trace=True`) under the names the
golden references use (`audio_highpassed`, `f0_rmvpe`, `chunk0.hubert`, `chunk0.synth`, ...).

Only mlx, numpy, scipy (Butterworth design, filtfilt) and soxr (resampling) are used.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

SAMPLE_RATE = 16000  # every model of the chain reads 16 kHz audio
WINDOW = 160  # samples per f0 frame (10 ms)
HUBERT_WINDOW, HUBERT_HOP = 400, 320  # HuBERT's conv stack: 25 ms receptive field, 20 ms hop
MIN_SAMPLES = HUBERT_WINDOW  # shorter input gives no output frame after the per-chunk trim
PEAK_LIMIT = 0.95  # input peaks above this are scaled down (never up)
HIGHPASS = {"order": 5, "cutoff_hz": 48.0}
F0_MEL_MIN = 1127.0 * math.log(1.0 + 50.0 / 700.0)  # the mels of 50 Hz and 1100 Hz bound the coarse scale
F0_MEL_MAX = 1127.0 * math.log(1.0 + 1100.0 / 700.0)
PITCH_BINS = 255
INDEX_NEIGHBOURS = 8
RMS_FLOOR = 1e-6  # the output envelope's floor in the volume mix
INT16_HEADROOM = 0.99
COMPAT_MODES = ("classic", "webui")
NOISE_MODES = (None, "zero")
MAX_KEY = 48.0  # semitones either way (upstream's slider stops at 12; 4 octaves is already absurd)

PHONE_VERSIONS = {256: "v1", 768: "v2"}


class ModelMismatchError(ValueError):
    """The models of a chain do not fit together (feature sizes, pitch guidance)."""


class InputAudioError(ValueError):
    """The audio handed to the pipeline cannot be converted (empty, too short, not finite)."""


@dataclass(frozen=True)
class Timing:
    """Upstream's configuration row, in seconds: x_pad, x_query, x_center, x_max.

    The fp32 row (CPU, MPS and every GPU without fast fp16) is the default; the fp16 CUDA row is
    (3, 10, 60, 65). It sets the reflect padding around each chunk and where long inputs split.
    """

    x_pad: int = 1
    x_query: int = 6
    x_center: int = 38
    x_max: int = 41

    @property
    def t_pad(self) -> int:
        return SAMPLE_RATE * self.x_pad

    @property
    def t_query(self) -> int:
        return SAMPLE_RATE * self.x_query

    @property
    def t_center(self) -> int:
        return SAMPLE_RATE * self.x_center

    @property
    def t_max(self) -> int:
        return SAMPLE_RATE * self.x_max


FP32_TIMING = Timing()


class PitchExtractor(Protocol):
    """What the pipeline needs of a pitch estimator (RMVPE, CREPE, FCPE, ...).

    `f0(audio16k)` takes float32 16 kHz mono audio and returns f0 in Hz per 10 ms frame (hop 160),
    0 = unvoiced, at least len(audio) // 160 frames (RMVPE's convention is 1 + len // 160). The
    method's own post-processing (thresholds, median filters, ...) happens inside; the pipeline
    applies only what upstream applies after every method: unvoiced filling (webui), key shift,
    coarse pitch, cut to the frame count.
    """

    name: str

    def f0(self, audio16k: np.ndarray) -> np.ndarray: ...


class PitchMethod:
    """Any model whose `f0(audio16k)` follows the protocol (CREPE, FCPE, ...) as the pipeline's
    pitch extractor, under upstream's method name ("crepe", "crepe-tiny", "fcpe")."""

    def __init__(self, name: str, model: Any):
        self.name = name
        self.model = model

    def f0(self, audio16k: np.ndarray) -> np.ndarray:
        return self.model.f0(audio16k)


class RMVPEPitch:
    """RMVPE as a pitch extractor, with the voicing threshold upstream's pipeline passes (0.03).
    pad_mode None pads the mel with zeros as the WebUI does; "reflect" is Applio's padding."""

    name = "rmvpe"

    def __init__(self, model: Any, threshold: float = 0.03, pad_mode: str | None = None):
        self.model = model
        self.threshold = threshold
        self.pad_mode = pad_mode

    def f0(self, audio16k: np.ndarray) -> np.ndarray:
        return self.model.f0(audio16k, threshold=self.threshold, pad_mode=self.pad_mode)


# ------------------------------------------------------------------ stages (pure numpy)


def peak_limit(audio: np.ndarray) -> np.ndarray:
    """x / (max|x| / 0.95) when that divisor exceeds 1, else x unchanged (float32 arithmetic,
    NumPy 2 scalar rules: the divisor is a float32)."""
    audio = np.asarray(audio, dtype=np.float32)
    divisor = np.abs(audio).max() / np.float32(PEAK_LIMIT)
    return audio / divisor if divisor > 1 else audio


_BUTTER: tuple[np.ndarray, np.ndarray] | None = None


def highpass_coefficients() -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of the 5th-order Butterworth high-pass at 48 Hz for 16 kHz audio."""
    global _BUTTER
    if _BUTTER is None:
        from scipy import signal

        _BUTTER = signal.butter(HIGHPASS["order"], HIGHPASS["cutoff_hz"], btype="high", fs=SAMPLE_RATE)
    return _BUTTER


def highpass(audio: np.ndarray) -> np.ndarray:
    """Zero-phase high-pass (filtfilt with scipy's defaults: odd extension, padlen 18); float64."""
    from scipy import signal

    b, a = highpass_coefficients()
    return signal.filtfilt(b, a, audio)


def window_sums(audio: np.ndarray, compat: str) -> np.ndarray:
    """Per sample j, the sum of the 160 samples around it (audio reflect-padded by 80):
    of |x| (webui) or of x (classic), accumulated window offset by window offset in float64
    exactly as upstream does, so that the argmin lands on the same sample."""
    half = WINDOW // 2
    padded = np.pad(audio, (half, half), mode="reflect")
    if compat == "webui":
        padded = np.abs(padded)
    total = np.zeros_like(audio, dtype=np.float64)
    for i in range(WINDOW):
        total += padded[i : i - WINDOW]
    return total


def split_points(audio: np.ndarray, compat: str, timing: Timing = FP32_TIMING) -> list[int]:
    """Where a long input is cut (sample positions in the unpadded audio), one per multiple of
    x_center: the quietest point within ±x_query of it. Webui: smallest sum of |x| over 10 ms;
    classic: smallest |sum of x| (a near-zero mean, not necessarily silence). None when
    len + 160 <= t_max (the whole input is one chunk)."""
    if compat not in COMPAT_MODES:
        raise ValueError(f"compat must be one of {COMPAT_MODES}, got {compat!r}")
    if len(audio) + WINDOW <= timing.t_max:
        return []
    sums = window_sums(audio, compat)
    if compat == "classic":
        sums = np.abs(sums)
    points = []
    for t in range(timing.t_center, len(audio), timing.t_center):
        window = sums[t - timing.t_query : t + timing.t_query]
        points.append(t - timing.t_query + int(np.argmin(window)))  # first minimum, as upstream
    return points


def fill_unvoiced(f0: np.ndarray) -> np.ndarray:
    """The 2026 WebUI's step: unvoiced frames (0 Hz) take the linear interpolation of the voiced
    ones, the first and last voiced values held flat at the ends. All-unvoiced stays all zero."""
    voiced = np.nonzero(f0)[0]
    if voiced.size == 0:
        return f0
    return np.interp(np.arange(len(f0)), voiced, f0[voiced])


def coarse_pitch(f0: np.ndarray) -> np.ndarray:
    """Coarse pitch bins 1..255 (int32): mel = 1127 ln(1 + f/700) mapped linearly so that 50 Hz -> 1
    and 1100 Hz -> 255, clipped, rounded half to even; 0 Hz -> 1."""
    mel = 1127.0 * np.log(1.0 + np.asarray(f0) / 700.0)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - F0_MEL_MIN) * (PITCH_BINS - 1) / (F0_MEL_MAX - F0_MEL_MIN) + 1
    mel[mel <= 1] = 1
    mel[mel > PITCH_BINS] = PITCH_BINS
    return np.rint(mel).astype(np.int32)


def pitch_inputs(f0_raw: np.ndarray, frames: int, key: float, compat: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(f0 before the key shift, coarse pitch int32, pitchf float32), each cut to `frames`.
    Float64 throughout, as upstream's arrays are."""
    f0 = np.asarray(f0_raw, dtype=np.float64)
    if len(f0) < frames:
        raise ValueError(f"the pitch extractor returned {len(f0)} frames for audio of {frames} frames; it must return at least len(audio) // 160")
    if compat == "webui":
        f0 = fill_unvoiced(f0)
    shifted = f0 * pow(2, key / 12)
    return f0[:frames], coarse_pitch(shifted)[:frames], shifted[:frames].astype(np.float32)


def hubert_frames(samples: int) -> int:
    """Frames HuBERT yields for `samples` of 16 kHz audio (25 ms window, 20 ms hop)."""
    return max(0, (samples - HUBERT_WINDOW) // HUBERT_HOP + 1)


def upsample_x2(features: np.ndarray) -> np.ndarray:
    """Nearest-neighbour x2 in time (50 -> 100 frames/s): every frame twice. (T, C) -> (2T, C)."""
    return np.repeat(features, 2, axis=0)


def protect_features(features: np.ndarray, features0: np.ndarray, pitchf: np.ndarray, protect: float) -> np.ndarray:
    """Keep the pre-index features where the frame is unvoiced: weight m = 1 where pitchf >= 1 Hz,
    m = protect where pitchf < 1 (unvoiced); features·m + features0·(1 − m) in float32."""
    m = np.where(pitchf < 1, np.float32(protect), np.float32(1.0)).astype(np.float32)[:, None]
    return features * m + features0 * (np.float32(1.0) - m)


def frame_rms(audio: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """RMS per frame, centred frames over zero-padded audio (librosa.feature.rms with center=True,
    pad_mode constant): frames k·hop ± frame_length/2, squares in float32. The framing is a
    strided view of the padded audio laid out as librosa lays it out, so numpy sums each frame
    in the same order (and to the same bits)."""
    audio = np.asarray(audio)
    padded = np.pad(audio, (frame_length // 2, frame_length // 2), mode="constant")
    frames = 1 + (len(padded) - frame_length) // hop_length
    step = padded.strides[0]
    view = np.lib.stride_tricks.as_strided(padded, shape=(frame_length, frames), strides=(step, step * hop_length), writeable=False)
    power = np.mean(np.square(view, dtype=np.float32), axis=-2)
    return np.sqrt(power)


def interpolate_linear(values: np.ndarray, size: int) -> np.ndarray:
    """Resize a float32 sequence to `size` samples by linear interpolation with half-sample
    alignment, as torch's F.interpolate(mode="linear", align_corners=False) computes it on CPU:
    source position fma(n/size, i + 0.5, -0.5) clamped at 0, output fma(w0, x[i0], w1·x[i1]), all
    float32. The fused multiply-adds are emulated exactly in float64 (a float32 product is exact
    there), which makes the result equal torch's bit for bit."""
    values = np.asarray(values, dtype=np.float32)
    n = len(values)
    if n == size:
        return values.copy()
    f32 = np.float32
    scale = f32(n) / f32(size)
    centres = np.arange(size, dtype=f32) + f32(0.5)
    position = (np.float64(scale) * centres - 0.5).astype(f32)
    position = np.maximum(position, f32(0.0))
    left = np.minimum(np.floor(position).astype(np.int64), n - 1)
    w1 = np.clip(position - left.astype(f32), f32(0.0), f32(1.0))
    w0 = f32(1.0) - w1
    right = np.where(left < n - 1, left + 1, left)
    return (w0.astype(np.float64) * values[left] + (w1 * values[right])).astype(f32)


def mix_rms(source16k: np.ndarray, output: np.ndarray, output_rate: int, rate: float) -> np.ndarray:
    """Volume envelope mix: output · rms_in^(1−rate) · max(rms_out, 1e-6)^(rate−1), both envelopes
    from 1 s frames every 0.5 s, linearly interpolated to the output's length. rate 1 keeps the
    output's own loudness; rate 0 imposes the input's envelope."""
    rms_in = frame_rms(source16k, SAMPLE_RATE // 2 * 2, SAMPLE_RATE // 2)
    rms_out = frame_rms(output, output_rate // 2 * 2, output_rate // 2)
    rms_in = interpolate_linear(rms_in, len(output))
    rms_out = np.maximum(interpolate_linear(rms_out, len(output)), np.float32(RMS_FLOOR))
    # float32 exponents as upstream's tensors hold them; each power rounded once from float64
    # (numpy's float32 power is off by an ulp on a quarter of the samples, torch's on ~3 %)
    gain_in = np.power(rms_in.astype(np.float64), np.float64(np.float32(1 - rate))).astype(np.float32)
    gain_out = np.power(rms_out.astype(np.float64), np.float64(np.float32(rate - 1))).astype(np.float32)
    return np.asarray(output, dtype=np.float32) * (gain_in * gain_out)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """soxr at high quality (librosa.resample's default), length fixed to ceil(len·out/in) by
    zero-padding or trimming as librosa does; keeps the input dtype."""
    import soxr

    audio = np.asarray(audio)
    length = int(np.ceil(len(audio) * float(rate_out) / rate_in))
    out = soxr.resample(audio, rate_in, rate_out, quality="HQ")
    out = out[:length] if len(out) >= length else np.pad(out, (0, length - len(out)))
    return np.asarray(out, dtype=audio.dtype)


def to_int16(audio: np.ndarray) -> np.ndarray:
    """16-bit samples as upstream writes them: scale 32768, divided by max|y|/0.99 only when that
    exceeds 1 (never a gain), then truncated toward zero."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0:
        return np.zeros(0, dtype=np.int16)
    divisor = np.abs(audio).max() / np.float32(INT16_HEADROOM)
    scale = np.float32(32768) / divisor if divisor > 1 else np.float32(32768)
    return (audio * scale).astype(np.int16)


# ------------------------------------------------------------------ chunks


@dataclass
class Chunk:
    """One synthesizer call: padded-audio samples [start, end), pitch frames [pitch_start, pitch_end)."""

    index: int
    start: int
    end: int
    pitch_start: int
    pitch_end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def plan_chunks(padded_length: int, points: list[int], timing: Timing = FP32_TIMING) -> list[Chunk]:
    """Cut the padded audio at the split points (each floored to a 10 ms frame): chunk i spans from
    the previous cut to this cut + 2·t_pad + 160 samples, so neighbours overlap by their padding;
    the last runs to the end."""
    frames = padded_length // WINDOW
    chunks, start = [], 0
    for point in points:
        cut = point // WINDOW * WINDOW
        chunks.append(Chunk(len(chunks), start, cut + 2 * timing.t_pad + WINDOW, start // WINDOW, (cut + 2 * timing.t_pad) // WINDOW))
        start = cut
    chunks.append(Chunk(len(chunks), start, padded_length, start // WINDOW, frames))
    return chunks


# ------------------------------------------------------------------ pipeline


@dataclass
class Conversion:
    """What `Pipeline.convert` returns."""

    audio: np.ndarray  # float32, the last float stage (before int16)
    audio_int16: np.ndarray
    sample_rate: int
    chunks: list[dict[str, Any]]
    timings: dict[str, float]  # seconds per stage
    # f0 contours in Hz per 10 ms frame of the input (frame i starts at sample 160·i; the
    # padding's frames dropped); None for voices without pitch guidance
    f0_raw: np.ndarray | None  # the pitch extractor's, 0 = unvoiced
    f0: np.ndarray | None  # after the unvoiced filling (webui), before the key shift
    pitchf: np.ndarray | None  # after the key shift: what the synthesizer got
    split_points: list[int] = field(default_factory=list)
    trace: dict[str, np.ndarray] | None = None

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


def _seed_for_chunk(seed: int, chunk: int) -> int:
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


class Pipeline:
    """The models of one voice chain: synthesizer (net_g), HuBERT/ContentVec, pitch extractor
    (pitch-guided voices only) and optional retrieval index."""

    def __init__(self, synthesizer: Any, hubert: Any, pitch: PitchExtractor | None = None, index: Any = None, timing: Timing = FP32_TIMING, v1_layer: int | None = None):
        self.synthesizer = synthesizer
        self.hubert = hubert
        self.pitch = pitch
        self.index = index
        self.timing = timing
        self.v1_layer = v1_layer
        config = synthesizer.config
        self.phone_dim = config.phone_dim
        self.version = PHONE_VERSIONS.get(self.phone_dim)
        if self.version is None:
            raise ModelMismatchError(f"the voice takes {self.phone_dim}-d features; RVC voices take 256 (v1) or 768 (v2)")
        self._check_models()
        highpass_coefficients()  # imports scipy.signal now, not inside the first conversion's timings

    @property
    def sample_rate(self) -> int:
        return self.synthesizer.sample_rate

    @property
    def f0(self) -> bool:
        """Whether the voice is pitch-guided."""
        return bool(self.synthesizer.config.f0)

    @property
    def speakers(self) -> int:
        return int(self.synthesizer.config.n_speakers)

    def output_samples(self, samples: int) -> int:
        """Output samples (at the voice's rate) for `samples` of 16 kHz input short enough to be one
        chunk: 2T frames of 10 ms (T HuBERT frames of the padded input) less the padding's."""
        frames = 2 * hubert_frames(samples + 2 * self.timing.t_pad)
        return max(0, frames - 2 * self.timing.x_pad * SAMPLE_RATE // WINDOW) * self.synthesizer.config.hop

    def _check_models(self) -> None:
        """Refuse chains whose parts cannot work together, naming the mismatch."""
        hubert_config = self.hubert.config
        if self.version == "v1":
            proj = hubert_config.get("final_proj_dim")
            if not proj or "final_proj" not in self.hubert:
                raise ModelMismatchError(
                    "the voice is v1 (256-d features, HuBERT layer 9 through final_proj) but this HuBERT has no final_proj; "
                    "use a HuBERT/ContentVec file that keeps final_proj (hubert_base.pt does)"
                )
            feature_dim = int(proj)
        else:
            feature_dim = int(hubert_config["hidden_size"])
        if feature_dim != self.phone_dim:
            raise ModelMismatchError(
                f"the voice is {self.version} and takes {self.phone_dim}-d features, but this HuBERT gives {feature_dim}-d "
                f"{'final_proj' if self.version == 'v1' else 'hidden'} features; use a HuBERT base / ContentVec model"
            )
        if self.index is not None and int(self.index.dim) != self.phone_dim:
            raise ModelMismatchError(
                f"the retrieval index holds {int(self.index.dim)}-d vectors but the voice is {self.version} ({self.phone_dim}-d); "
                "use the index trained with this voice"
            )
        if self.f0 and self.pitch is None:
            raise ModelMismatchError("the voice is pitch-guided (f0 = 1) and needs a pitch extractor (RMVPE)")
        if not self.f0 and self.pitch is not None:
            raise ModelMismatchError("the voice has no pitch guidance (f0 = 0): it takes no pitch extractor, key or f0 method")

    def _check_parameters(self, key, index_rate, protect, rms_mix_rate, resample_sr, sid, compat, noise, seed) -> None:
        def number(name, value, low, high):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value) or not low <= value <= high:
                raise ValueError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")

        number("key", key, -MAX_KEY, MAX_KEY)
        number("index_rate", index_rate, 0.0, 1.0)
        number("protect", protect, 0.0, 0.5)
        number("rms_mix_rate", rms_mix_rate, 0.0, 1.0)
        if compat not in COMPAT_MODES:
            raise ValueError(f"compat must be one of {', '.join(COMPAT_MODES)}, got {compat!r}")
        if noise not in NOISE_MODES:
            raise ValueError(f"noise must be None (random draws like upstream) or 'zero', got {noise!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not isinstance(resample_sr, (int, np.integer)) or not (resample_sr == 0 or SAMPLE_RATE <= resample_sr <= 384000):
            raise ValueError(f"resample_sr must be 0 (the voice's rate, {self.sample_rate} Hz) or a rate from 16000 to 384000 Hz, got {resample_sr!r}")
        speakers = self.speakers
        if not isinstance(sid, (int, np.integer)) or not 0 <= sid < speakers:
            raise ValueError(f"sid must be a speaker id from 0 to {speakers - 1} (this voice has {speakers}), got {sid!r}")
        if not self.f0 and key != 0:
            raise ModelMismatchError(f"the voice has no pitch guidance (f0 = 0): a key shift ({key:+g}) does not apply to it")

    def convert(
        self,
        audio: np.ndarray,
        *,
        key: float = 0,
        index_rate: float = 0.75,
        protect: float = 0.33,
        rms_mix_rate: float = 0.25,
        resample_sr: int = 0,
        sid: int = 0,
        compat: str = "classic",
        noise: str | None = None,
        seed: int | None = None,
        trace: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> Conversion:
        """Convert 16 kHz mono audio (1-D float array) to the voice.

        Parameters as upstream names them: key (semitones), index_rate (0 = no retrieval), protect
        (0..0.5; 0.5 = off), rms_mix_rate (1 = keep the output's loudness), resample_sr (0 = the
        voice's rate), sid (speaker id). compat "classic" or "webui" (docs/pipeline.md). noise None
        draws like upstream (repeatable with `seed`), "zero" is the deterministic mode. progress is
        called as progress(stage, done, total) after each chunk and stage.
        """
        self._check_parameters(key, index_rate, protect, rms_mix_rate, resample_sr, sid, compat, noise, seed)
        audio = np.asarray(audio)
        if audio.ndim != 1:
            raise InputAudioError(f"the pipeline takes mono audio as a 1-D array, got shape {audio.shape}; downmix first")
        if audio.size < MIN_SAMPLES:
            raise InputAudioError(
                f"the audio has {audio.size} samples; it must hold at least one HuBERT frame ({MIN_SAMPLES} samples = 25 ms at 16 kHz)"
            )
        if not np.issubdtype(audio.dtype, np.floating):
            raise InputAudioError(f"audio must be float samples in [-1, 1], got dtype {audio.dtype}")
        if not np.all(np.isfinite(audio)):
            bad = int(np.count_nonzero(~np.isfinite(audio)))
            raise InputAudioError(f"the audio holds {bad} NaN/infinite samples of {audio.size}; it cannot be converted")

        timings: dict[str, float] = {}
        record: dict[str, np.ndarray] | None = {} if trace else None

        def keep(name: str, value) -> None:
            if record is not None:
                record[name] = value

        def clock(stage: str, start: float) -> float:
            now = time.perf_counter()
            timings[stage] = timings.get(stage, 0.0) + now - start
            return now

        def report(stage: str, done: int, total: int) -> None:
            if progress is not None:
                progress(stage, done, total)

        t = time.perf_counter()
        keep("audio_loaded", audio)
        x = peak_limit(audio)
        keep("audio_input", x)
        x = highpass(x)
        if record is not None:
            record["highpass_b"], record["highpass_a"] = highpass_coefficients()
        keep("audio_highpassed", x)
        t = clock("highpass", t)

        points = split_points(x, compat, self.timing)
        padded = np.pad(x, (self.timing.t_pad, self.timing.t_pad), mode="reflect")
        frames = len(padded) // WINDOW
        chunks = plan_chunks(len(padded), points, self.timing)
        t = clock("split", t)
        report("split", 1, 1)

        f0_raw = f0 = pitch = pitchf = None
        if self.f0:
            f0_raw = np.asarray(self.pitch.f0(padded.astype(np.float32)), dtype=np.float64)
            keep(f"f0_{self.pitch.name}", f0_raw)
            f0, pitch, pitchf = pitch_inputs(f0_raw, frames, key, compat)
            keep("f0_pitch", pitch)
            keep("f0_pitchf", pitchf)
            t = clock("f0", t)
            report("f0", 1, 1)

        use_index = self.index is not None and index_rate != 0
        pieces, table = [], []
        base_seed = seed
        for chunk in chunks:
            piece, row = self._convert_chunk(
                chunk, padded, pitch, pitchf, index_rate if use_index else 0.0, protect, sid, noise,
                None if base_seed is None else _seed_for_chunk(base_seed, chunk.index), keep if trace else None, clock,
            )  # fmt: skip
            pieces.append(piece)
            table.append(row)
            report("chunks", chunk.index + 1, len(chunks))

        t = time.perf_counter()
        out = np.concatenate(pieces).astype(np.float32)
        keep("audio_concat", out)
        rate = self.sample_rate
        if rms_mix_rate != 1:
            out = mix_rms(x, out, rate, rms_mix_rate)
            keep("audio_rms", out)
        t = clock("rms_mix", t)
        if resample_sr >= SAMPLE_RATE and resample_sr != rate:
            out = resample(out, rate, resample_sr)
            rate = resample_sr
            keep("audio_resampled", out)
            t = clock("resample", t)
        keep("audio_final_float", out)
        samples16 = to_int16(out)
        keep("audio_int16", samples16)
        keep("sr_out", np.array(rate, dtype=np.int64))
        clock("int16", t)
        contours = [None, None, None]
        if self.f0:  # on the input's timeline: drop the reflect padding's frames
            first = self.timing.t_pad // WINDOW
            span = slice(first, first + len(x) // WINDOW)
            contours = [f0_raw[span].astype(np.float32), f0[span].astype(np.float32), pitchf[span]]
        return Conversion(out, samples16, rate, table, timings, *contours, points, record)

    def _convert_chunk(self, chunk, padded, pitch, pitchf, index_rate, protect, sid, noise, seed, keep, clock):
        """Upstream's `vc` on one chunk: HuBERT -> index blend -> x2 -> p_len cut -> protect ->
        synthesizer -> trim t_pad at the voice's rate from each end. `keep(name, array)` records
        stages (None: no trace)."""
        import mlx.core as mx

        tracing = keep is not None
        if keep is None:
            keep = lambda name, value: None  # noqa: E731

        prefix = f"chunk{chunk.index}."
        t = time.perf_counter()
        samples = padded[chunk.start : chunk.end].astype(np.float32)
        feats = np.array(self.hubert.extract_features(samples, self.version, self.v1_layer), dtype=np.float32)[0]
        keep(prefix + "hubert", feats[None])
        frames_50 = len(feats)
        if frames_50 != hubert_frames(chunk.length):
            raise ModelMismatchError(
                f"HuBERT gave {frames_50} frames for {chunk.length} samples, not {hubert_frames(chunk.length)}: "
                "its feature extractor does not have the 25 ms window / 20 ms hop the pipeline aligns pitch to"
            )
        t = clock("hubert", t)

        protecting = self.f0 and protect < 0.5
        feats0 = feats if protecting else None
        if index_rate != 0:
            if tracing:
                distances, ids = self.index.search(feats, k=INDEX_NEIGHBOURS)
                keep(prefix + "index_D", np.asarray(distances, dtype=np.float32))
                keep(prefix + "index_I", np.asarray(ids, dtype=np.int64))
            feats = np.asarray(self.index.blend(feats, index_rate, k=INDEX_NEIGHBOURS), dtype=np.float32)
            t = clock("index", t)
        keep(prefix + "feats_index", feats[None])

        feats = upsample_x2(feats)
        keep(prefix + "feats_x2", feats[None])
        p_len = min(chunk.length // WINDOW, len(feats))
        feats = feats[:p_len]
        if self.f0:
            chunk_pitch = pitch[chunk.pitch_start : chunk.pitch_end][:p_len].astype(np.int64)
            chunk_pitchf = pitchf[chunk.pitch_start : chunk.pitch_end][:p_len]
            if protecting:
                feats = protect_features(feats, upsample_x2(feats0)[:p_len], chunk_pitchf, protect)
        keep(prefix + "feats_protect", feats[None])
        keep(prefix + "p_len", np.array([p_len], dtype=np.int64))
        if self.f0:
            keep(prefix + "pitch", chunk_pitch[None])
            keep(prefix + "pitchf", chunk_pitchf[None])
        keep(prefix + "sid", np.array([sid], dtype=np.int64))

        args = {"pitch": chunk_pitch[None], "pitchf": chunk_pitchf[None]} if self.f0 else {}
        audio = self.synthesizer.infer(mx.array(feats[None]), mx.array([p_len]), sid=sid, noise=noise, seed=seed, **args)
        synth = np.array(audio[0], dtype=np.float32)
        keep(prefix + "synth", synth)
        clock("synth", t)

        trim = self.sample_rate * self.timing.x_pad
        row = {
            "index": chunk.index,
            "start": chunk.start,
            "end": chunk.end,
            "length": chunk.length,
            "padded_audio_len": len(padded),
            "hubert_frames": frames_50,
            "p_len": p_len,
            "synth_samples": len(synth),
            "trimmed": [trim, max(trim, len(synth) - trim)],
            "index_used": index_rate != 0,
        }
        if self.f0:
            row["pitch_frames"] = [chunk.pitch_start, chunk.pitch_end]
        return synth[trim : len(synth) - trim], row
