"""Audio files in and out of the voice-conversion pipeline, treating every input file as hostile.

    samples = load_audio_16k("speech.flac")            # float32 mono at 16 kHz, checked
    write_audio("out.wav", result.audio_int16, 40000)   # 16-bit PCM, written atomically

Reading goes through libsndfile (soundfile): WAV, FLAC, OGG/Vorbis/Opus, AIFF, and MP3 where the
installed libsndfile decodes it (1.1 and later). Several channels are averaged into one (the
channel mean, as upstream's torchaudio path does); other rates are resampled to 16 kHz with soxr
at very high quality (upstream's ffmpeg path uses swresample, so converted non-16 kHz input is not
bit-identical to upstream's; 16 kHz input passes through untouched).

Every refusal is an `AudioFileError` (a ValueError) whose `reason` names the class of problem, so
that a command line can map it to an exit code, and whose message says what was found and what
to do.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
MAX_SECONDS = 3600.0  # one hour: longer input is refused before it is decoded
MAX_CHANNELS = 64
MAX_SAMPLES = 1 << 29  # frames x channels decoded at most (2 GiB of float32): one hour of 48 kHz stereo fits
READ_BLOCK_FRAMES = 1 << 18  # decoded block by block: memory follows the data, not the header's claim
MIN_RATE, MAX_RATE = 1000, 768000
REASONS = ("missing", "unreadable", "truncated", "empty", "non_finite", "too_long", "too_many_channels", "bad_rate", "unwritable")


class AudioFileError(ValueError):
    """An audio file that cannot be read or written; `reason` is one of REASONS."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _riff_data_shortfall(path: Path) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF/WAVE file's data chunk when the file ends before the
    chunk does; None when it is complete or not a plain RIFF/WAVE file. libsndfile reads such a
    file without complaint, returning only the frames that are there."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(12)
            if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
                return None
            size = path.stat().st_size
            offset = 12
            for _ in range(64):  # a WAVE file has a handful of chunks before `data`
                handle.seek(offset)
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return None
                name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if name == b"data":
                    present = size - offset - 8
                    # 0 and 0xFFFFFFFF are streaming placeholders: the writer did not know the length
                    if length not in (0, 0xFFFFFFFF) and length > present:
                        return length, present
                    return None
                offset += 8 + length + (length & 1)
    except OSError:
        return None
    return None


def read_audio(path: str | Path, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """(samples float32 [frames, channels], sample rate) of an audio file, or AudioFileError."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioFileError("missing", f"{path}: no such file")
    if not path.is_file():
        raise AudioFileError("unreadable", f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioFileError("empty", f"{path}: the file is empty (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioFileError(
            "unreadable", f"{path}: not a readable audio file ({str(error).splitlines()[0]}); use WAV, FLAC, OGG or MP3"
        ) from None
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise AudioFileError("bad_rate", f"{path}: sample rate {info.samplerate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise AudioFileError("too_many_channels", f"{path}: {info.channels} channels; at most {MAX_CHANNELS} are accepted")
    if info.frames > max_seconds * info.samplerate:
        raise AudioFileError(
            "too_long", f"{path}: {info.frames / info.samplerate:.0f} s of audio; at most {max_seconds:.0f} s are accepted (split the file)"
        )
    if info.frames * info.channels > MAX_SAMPLES:
        raise AudioFileError(
            "too_long", f"{path}: {info.frames} frames x {info.channels} channels is more than {MAX_SAMPLES} samples to decode; split or downmix the file"
        )
    shortfall = _riff_data_shortfall(path)
    if shortfall is not None:
        raise AudioFileError(
            "truncated", f"{path}: truncated WAV: the header announces {shortfall[0]} bytes of samples but only {shortfall[1]} are present"
        )
    blocks, decoded = [], 0
    try:
        with sf.SoundFile(str(path)) as handle:
            rate = handle.samplerate
            while decoded < info.frames or info.frames <= 0:
                block = handle.read(READ_BLOCK_FRAMES, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                blocks.append(block)
                decoded += len(block)
                if decoded * info.channels > MAX_SAMPLES:
                    raise AudioFileError("too_long", f"{path}: more than {MAX_SAMPLES} samples to decode; split or downmix the file")
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioFileError("truncated", f"{path}: the audio data is corrupt or cut short ({str(error).splitlines()[0]})") from None
    samples = np.concatenate(blocks) if blocks else np.zeros((0, info.channels), np.float32)
    if info.frames > 0 and len(samples) < info.frames:
        raise AudioFileError("truncated", f"{path}: truncated: {len(samples)} of the {info.frames} frames the header announces could be decoded")
    if samples.shape[0] == 0:
        raise AudioFileError("empty", f"{path}: the file holds no samples")
    return samples, int(rate)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Channel mean of [frames, channels] (or 1-D) samples, float32."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        return samples
    if samples.shape[1] == 1:
        return samples[:, 0].copy()
    return samples.mean(axis=1, dtype=np.float32)


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono float32 samples resampled to 16 kHz (soxr, very high quality); 16 kHz unchanged."""
    if rate == SAMPLE_RATE:
        return np.asarray(samples, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(samples, dtype=np.float32), rate, SAMPLE_RATE, quality="VHQ").astype(np.float32)


def check_finite(samples: np.ndarray, what: str) -> None:
    """Refuse NaN/infinite samples: they would poison every stage downstream."""
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        share = "all" if bad == samples.size else f"{bad} of {samples.size}"
        raise AudioFileError("non_finite", f"{what}: {share} samples are NaN or infinite; the file is damaged")


def load_audio_16k(path: str | Path, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """The file as the pipeline takes it: float32 mono at 16 kHz, finite, non-empty."""
    samples, rate = read_audio(path, max_seconds)
    check_finite(samples, str(path))
    return to_16k(to_mono(samples), rate)


def write_audio(path: str | Path, samples: np.ndarray, rate: int, float32: bool = False) -> Path:
    """Write mono samples as WAV: int16 samples as 16-bit PCM (upstream's output), float samples as
    32-bit float with `float32=True`. The file appears only when complete (temp file + rename)."""
    import soundfile as sf

    path = Path(path)
    samples = np.asarray(samples)
    if float32:
        data, subtype = samples.astype(np.float32), "FLOAT"
    else:
        if samples.dtype != np.int16:
            raise ValueError(f"16-bit PCM output takes int16 samples (Conversion.audio_int16), got {samples.dtype}")
        data, subtype = samples, "PCM_16"
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise AudioFileError("unwritable", f"{path}: the folder {folder} does not exist")
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as error:
        raise AudioFileError("unwritable", f"{path}: cannot write in {folder} ({error.strerror})") from None
    os.close(handle)
    try:
        sf.write(temp, data, rate, subtype=subtype, format="WAV")
        os.replace(temp, path)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        if isinstance(error, (OSError, sf.LibsndfileError, RuntimeError)):
            raise AudioFileError("unwritable", f"{path}: cannot write the output ({error})") from None
        raise
    return path
