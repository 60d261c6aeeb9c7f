"""CREPE pitch estimator in MLX: 16 kHz audio -> 1024-sample frames -> 6 conv layers -> 360 bins -> f0.

Any capacity (tiny, small, medium, large, full: the conv widths scale together; the config says
which). Parameter paths equal the converted file's keys (mappings/crepe.yaml). The math follows
torchcrepe in eval mode (facts: docs/pitch_models.md):

    frames   audio zero-padded by 512 at both ends, one 1024-sample frame every 160 samples
             (1 + len // 160 frames); each frame minus its mean, divided by max(std, 1e-10)
             (std with Bessel's correction)
    layer 1  zero-pad (254, 254), conv k=512 stride 4, ReLU, BatchNorm, max-pool 2
    layer 2-6  zero-pad (31, 32), conv k=64 stride 1, ReLU, BatchNorm, max-pool 2
    head     flatten time-major (t · C + c), Linear -> 360, sigmoid = "probabilities"
    decode   bins outside [fmin, fmax] masked; Viterbi on the softmax over bins (per chunk of 512
             frames: torchcrepe decodes each inference batch on its own), or weighted argmax, or
             argmax; periodicity = the probability at the decoded bin

torchcrepe adds random triangular noise of up to ±20 cents (one bin) to the decoded pitch
("dither"); this runtime does not, so the same audio always gives the same f0.

`f0()` is the f0 method of RVC and Applio ("crepe" / "crepe-tiny"): Viterbi over 50-1100 Hz,
periodicity median-filtered over 3 frames, f0 mean-filtered over 3 frames, f0 = 0 where the
filtered periodicity is below 0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .kernels import cpu_kernels
from .spectral import frame_signal
from .weights import MAX_CHANNELS, MAX_FFT, MAX_HOP, MAX_ITEMS, MAX_KERNEL, MAX_RATE, choice, entries, listed, load_model, optional, real, whole

FAMILY = "crepe"
CENTS_OFFSET = 1997.3794084376191  # cents of bin 0 (31.7 Hz)
CENTS_PER_BIN = 20.0
DECODERS = ("viterbi", "weighted_argmax", "argmax")
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # what the Viterbi adds before each log
TAP_SUM_MIN_CHANNELS = 512  # conv_strategy (Linux CPU): tap-sum from this many input channels
SHIFT_MAX_OUT_CHANNELS = 32  # conv_strategy (Linux CPU): all taps in one matmul for outputs this narrow
BATCH_BYTES = 256 << 20  # frames per network call: the largest per-layer temporary stays under this
CONFIG_RULES = {  # what a converted file's config may hold (weights.check_config)
    "channels": listed(whole(1, MAX_CHANNELS), 1, MAX_ITEMS),
    "kernel_sizes": listed(whole(1, MAX_KERNEL), 1, MAX_ITEMS),
    "strides": listed(whole(1, MAX_RATE), 1, MAX_ITEMS),
    "paddings": listed(entries(whole(0, MAX_KERNEL), whole(0, MAX_KERNEL)), 1, MAX_ITEMS),
    "bn_eps": real(1e-12, 0.1),
    "classifier_in": whole(1, MAX_CHANNELS * 64),
    "n_bins": whole(1, MAX_CHANNELS),
    "window": whole(16, MAX_FFT),
    "hop_length": whole(1, MAX_HOP),
    "capacity": optional(choice("tiny", "small", "medium", "large", "full")),
}

# RVC's and Applio's "crepe" f0 method: torchcrepe.predict(audio, 16000, 160, 50, 1100,
# batch_size=512, return_periodicity=True) (Viterbi), then the filters and the periodicity gate.
RVC_FMIN = 50.0
RVC_FMAX = 1100.0
RVC_DECODE_CHUNK = 512
RVC_FILTER_WIDTH = 3
RVC_PERIODICITY_THRESHOLD = 0.1


# --- frames (numpy) ---------------------------------------------------------------------------


def normalized_frames(audio: np.ndarray, window: int = 1024, hop: int = 160, start: int = 0, count: int | None = None) -> np.ndarray:
    """(count, window) float32 frames start, start + 1, … of the 1 + len // hop frames of `audio`
    zero-padded by window / 2 at both ends; each frame mean-centred and divided by max(std, 1e-10),
    std with Bessel's correction (torch.std)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0:
        raise ValueError("audio is empty; CREPE needs at least one sample")
    total = 1 + audio.size // hop
    count = total - start if count is None else min(count, total - start)
    half = window // 2
    # only the samples these frames read: padded[start·hop : (start + count - 1)·hop + window]
    first, last = start * hop - half, (start + count - 1) * hop + window - half
    piece = audio[max(first, 0) : min(last, audio.size)].astype(np.float64)
    piece = np.pad(piece, (max(-first, 0), max(last - audio.size, 0)))
    out = np.array(frame_signal(piece, window, hop, count))
    out -= out.mean(axis=1, keepdims=True)
    out /= np.maximum(out.std(axis=1, ddof=1, keepdims=True), 1e-10)
    return out.astype(np.float32)


# --- decoding (numpy) -------------------------------------------------------------------------


def frequency_to_bin(hz: float, round_up: bool = False) -> int:
    """The pitch bin of `hz` (floor, or ceil with round_up), in float32 arithmetic as torchcrepe does."""
    cents = np.float32(1200.0) * np.log2(np.float32(hz) / np.float32(10.0))
    position = (cents - np.float32(CENTS_OFFSET)) / np.float32(CENTS_PER_BIN)
    return int(np.ceil(position) if round_up else np.floor(position))


def bins_to_frequency(bins: np.ndarray) -> np.ndarray:
    """Hz of bin centres (no dither)."""
    return 10.0 * 2.0 ** ((CENTS_PER_BIN * np.asarray(bins, dtype=np.float64) + CENTS_OFFSET) / 1200.0)


def mask_range(probabilities: np.ndarray, fmin: float, fmax: float) -> np.ndarray:
    """A float32 copy of (frames, bins) with the bins below fmin's bin and from fmax's (rounded up) on set to -inf."""
    masked = np.array(probabilities, dtype=np.float32)
    masked[:, : max(frequency_to_bin(fmin), 0)] = -np.inf
    masked[:, max(frequency_to_bin(fmax, round_up=True), 0) :] = -np.inf
    return masked


def viterbi_transition(bins: int = 360, reach: int = 12) -> np.ndarray:
    """Row-normalised triangular transition matrix: weight max(reach - |i - j|, 0)."""
    distance = np.abs(np.arange(bins)[:, None] - np.arange(bins)[None, :])
    transition = np.maximum(reach - distance, 0).astype(np.float64)
    return transition / transition.sum(axis=1, keepdims=True)


def viterbi_path(masked: np.ndarray, transition: np.ndarray) -> np.ndarray:
    """Most likely bin sequence for (frames, bins) masked probabilities.

    Observation likelihoods are the float32 softmax over bins; logs are taken after adding float32's
    `tiny`, so masked bins and zero transitions are very unlikely rather than impossible; the start
    distribution is uniform; ties go to the lowest bin (librosa.sequence.viterbi's recursion).
    """
    logits = np.asarray(masked, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True), dtype=np.float32)
    softmax = shifted / shifted.sum(axis=1, keepdims=True, dtype=np.float32)
    log_prob = np.log(softmax + np.float32(FLOAT32_TINY)).astype(np.float64)
    log_trans = np.log(transition + FLOAT32_TINY)
    frames, bins = log_prob.shape
    value = log_prob[0] + np.log(np.full(bins, 1.0 / bins) + FLOAT32_TINY)
    pointers = np.zeros((frames, bins), dtype=np.int64)
    columns = np.arange(bins)
    for t in range(1, frames):
        scores = value[:, None] + log_trans  # scores[k, j]: in bin k at t - 1, bin j at t
        best = np.argmax(scores, axis=0)
        pointers[t] = best
        value = log_prob[t] + scores[best, columns]
    path = np.empty(frames, dtype=np.int64)
    path[-1] = int(np.argmax(value))
    for t in range(frames - 1, 0, -1):
        path[t - 1] = pointers[t, path[t]]
    return path


def weighted_argmax_cents(masked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bins, cents): the argmax bin, and the average of bin cents over the 9 bins around it (within
    the bin range) weighted by sigmoid(probability); masked bins weigh 0.

    The network's output is already a sigmoid; torchcrepe applies a second one here, so the weights
    lie in [0.5, 0.73]. Kept for parity.
    """
    frames, count = masked.shape
    bins = np.argmax(masked, axis=1)
    window = bins[:, None] + np.arange(-4, 5)[None, :]
    inside = (window >= 0) & (window < count)
    values = masked[np.arange(frames)[:, None], np.clip(window, 0, count - 1)].astype(np.float64)
    with np.errstate(over="ignore"):
        weights = np.where(inside, 1.0 / (1.0 + np.exp(-values)), 0.0)
    cents = CENTS_PER_BIN * window + CENTS_OFFSET
    return bins, (weights * cents).sum(axis=1) / weights.sum(axis=1)


def decode(probabilities: np.ndarray, fmin: float, fmax: float, decoder: str = "viterbi", chunk: int = RVC_DECODE_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """(f0 Hz float64, periodicity float32) per frame from (frames, 360) probabilities.

    `chunk`: frames decoded together. torchcrepe decodes each inference batch separately, so its
    Viterbi path restarts every `batch_size` frames (512 in RVC and Applio).
    """
    if decoder not in DECODERS:
        raise ValueError(f"unknown CREPE decoder {decoder!r}; expected one of {', '.join(DECODERS)}")
    masked = mask_range(probabilities, fmin, fmax)
    frames = masked.shape[0]
    if decoder == "viterbi":
        transition = viterbi_transition(masked.shape[1])
        bins = np.concatenate([viterbi_path(masked[s : s + chunk], transition) for s in range(0, frames, chunk)])
        hz = bins_to_frequency(bins)
    elif decoder == "weighted_argmax":
        bins, cents = weighted_argmax_cents(masked)
        hz = 10.0 * 2.0 ** (cents / 1200.0)
    else:
        bins = np.argmax(masked, axis=1)
        hz = bins_to_frequency(bins)
    return hz, masked[np.arange(frames), bins]


def median_filter(values: np.ndarray, width: int = 3) -> np.ndarray:
    """Centred running median; near the ends only the samples inside the signal count, and of an
    even count the lower middle value is taken (torchcrepe.filter.median on finite input)."""
    values = np.asarray(values)
    half = width // 2
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(values.astype(np.float64), half, constant_values=np.inf), width)
    inside = np.sum(np.isfinite(windows), axis=1)
    return np.sort(windows, axis=1)[np.arange(values.size), (inside - 1) // 2].astype(values.dtype)


def mean_filter(values: np.ndarray, width: int = 3) -> np.ndarray:
    """Centred running mean over the samples inside the signal (torchcrepe.filter.mean on NaN-free input)."""
    values = np.asarray(values, dtype=np.float64)
    half = width // 2
    sums = np.convolve(np.pad(values, half), np.ones(width), mode="valid")
    counts = np.convolve(np.pad(np.ones(values.size), half), np.ones(width), mode="valid")
    return sums / counts


# --- network ----------------------------------------------------------------------------------


class BatchNorm(nn.Module):
    """Eval-mode BatchNorm over the last (channel) axis with the stored running statistics."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = mx.ones((channels,))
        self.bias = mx.zeros((channels,))
        self.running_mean = mx.zeros((channels,))
        self.running_var = mx.ones((channels,))

    def __call__(self, x: mx.array) -> mx.array:
        scale = self.weight * mx.rsqrt(self.running_var + self.eps)
        return x * scale + (self.bias - self.running_mean * scale)


def conv_strategy(in_channels: int, out_channels: int, stride: int) -> str:
    """How conv_time computes a layer: MLX's conv1d ('conv1d') on the stock path; on the Linux CPU
    path, by shape (measured with benchmarks/bench_kernels.py on a 2-core x86_64 CPU, against MLX's
    conv1d): 'taps' for wide inputs (full's 1024 -> 128: ~1.7x faster), 'shift' for narrow outputs
    of wider inputs (tiny's 128 -> 16: ~2.2x), 'conv1d' otherwise."""
    if stride != 1 or not cpu_kernels():
        return "conv1d"
    if in_channels >= TAP_SUM_MIN_CHANNELS:
        return "taps"
    if out_channels <= SHIFT_MAX_OUT_CHANNELS and in_channels >= 4 * out_channels:
        return "shift"
    return "conv1d"


def conv_time(x: mx.array, weight: mx.array, stride: int) -> mx.array:
    """Valid 1-D convolution of (B, T, I) with weight (O, k, I) at `stride`, as conv_strategy says."""
    strategy = conv_strategy(x.shape[-1], weight.shape[0], stride)
    if strategy == "conv1d":
        return mx.conv1d(x, weight, stride=stride)
    return (flat_tap_sum_conv if strategy == "taps" else flat_shift_conv)(x, weight)


def flat_tap_sum_conv(x: mx.array, weight: mx.array) -> mx.array:
    """Valid stride-1 conv of (B, T, I) with weight (O, k, I): the batch flattened over time, so that
    tap j of output row r reads input row r + j, one matmul (rows, I) @ (I, O) per tap of a
    contiguous slice, accumulated with addmm; rows straddling two frames are computed and cropped."""
    b, t, i = x.shape
    o, k, _ = weight.shape
    flat = x.reshape(b * t, i)
    rows = b * t - (k - 1)
    taps = weight.transpose(1, 2, 0)  # (k, I, O)
    out = flat[0:rows] @ taps[0]
    for j in range(1, k):
        out = mx.addmm(out, flat[j : j + rows], taps[j])
    return mx.pad(out, [(0, k - 1), (0, 0)]).reshape(b, t, o)[:, : t - k + 1]


def flat_shift_conv(x: mx.array, weight: mx.array) -> mx.array:
    """The same convolution as flat_tap_sum_conv, as one matmul (rows, I) @ (I, k·O) for every tap at
    once, then the k shifted (rows, O) slices summed (cheaper when O is narrow)."""
    b, t, i = x.shape
    o, k, _ = weight.shape
    flat = x.reshape(b * t, i)
    rows = b * t - (k - 1)
    every_tap = (flat @ weight.transpose(2, 1, 0).reshape(i, k * o)).reshape(b * t, k, o)
    out = every_tap[0:rows, 0]
    for j in range(1, k):
        out = out + every_tap[j : j + rows, j]
    return mx.pad(out, [(0, k - 1), (0, 0)]).reshape(b, t, o)[:, : t - k + 1]


class ConvLayer(nn.Module):
    """Zero-pad, conv along time (a Conv2d with a (k, 1) kernel: weight (O, k, 1, I)), ReLU,
    BatchNorm, max-pool 2 along time. (B, T, C) in and out."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, padding: list[int], eps: float):
        super().__init__()
        self.stride = stride
        self.padding = tuple(padding)
        self.conv = nn.Conv2d(in_channels, out_channels, (kernel, 1), bias=True)
        self.bn = BatchNorm(out_channels, eps)

    def __call__(self, x: mx.array) -> mx.array:
        x = mx.pad(x, [(0, 0), self.padding, (0, 0)])
        y = conv_time(x, self.conv.weight[:, :, 0, :], self.stride) + self.conv.bias
        y = self.bn(nn.relu(y))
        b, t, c = y.shape
        return y[:, : t - t % 2].reshape(b, t // 2, 2, c).max(axis=2)


class CREPE(nn.Module):
    def __init__(self, config: dict[str, Any]):
        super().__init__()
        layers = {len(config[name]) for name in ("channels", "kernel_sizes", "strides", "paddings")}
        if len(layers) != 1:
            raise ValueError("channels, kernel_sizes, strides and paddings must list one entry per layer each")
        self.config = dict(config)
        widths = [1] + list(config["channels"])
        self.layers = [
            ConvLayer(widths[n], widths[n + 1], kernel, stride, padding, config["bn_eps"])
            for n, (kernel, stride, padding) in enumerate(zip(config["kernel_sizes"], config["strides"], config["paddings"]))
        ]
        self.classifier = nn.Linear(config["classifier_in"], config["n_bins"])

    @classmethod
    def from_file(cls, path: str | Path, dtype: mx.Dtype = mx.float32) -> "CREPE":
        """A converted CREPE `.safetensors` / `.npz`, loaded strictly; computes in `dtype`."""
        return load_model(cls, path, FAMILY, CONFIG_RULES, dtype)

    @property
    def dtype(self) -> mx.Dtype:
        return self.classifier.weight.dtype

    def embed(self, frames: mx.array) -> mx.array:
        """(B, 1024) normalised frames -> (B, T, C) after the last conv layer."""
        x = frames[:, :, None].astype(self.dtype)
        for layer in self.layers:
            x = layer(x)
        return x

    def forward_frames(self, frames: np.ndarray) -> np.ndarray:
        """(B, 1024) normalised frames -> (B, 360) float32 probabilities (sigmoid outputs)."""
        x = self.embed(mx.array(np.asarray(frames, dtype=np.float32)))
        logits = self.classifier(x.reshape(x.shape[0], -1))  # time-major flatten: t · C + c
        return np.array(mx.sigmoid(logits.astype(mx.float32)))

    def frames_per_batch(self) -> int:
        """Frames per network call such that no layer's largest temporary exceeds BATCH_BYTES."""
        length, largest = self.config["window"], 0
        for layer, (kernel, stride, (before, after)) in zip(self.layers, zip(self.config["kernel_sizes"], self.config["strides"], self.config["paddings"])):
            out_len = (length + before + after - kernel) // stride + 1
            out_channels, _, _, in_channels = layer.conv.weight.shape
            temporary = {  # floats per frame
                "conv1d": out_len * kernel * in_channels,  # MLX's CPU conv1d unfolds its input
                "taps": out_len * out_channels,
                "shift": (length + before + after) * kernel * out_channels,
            }[conv_strategy(in_channels, out_channels, stride)]
            largest = max(largest, 4 * max(temporary, out_len * out_channels))
            length = out_len // 2
        return max(1, BATCH_BYTES // largest)

    def probabilities(self, audio: np.ndarray, batch_frames: int | None = None) -> np.ndarray:
        """(1 + len // 160, 360) float32 probabilities of 16 kHz mono audio, `batch_frames` frames per
        network call (default: frames_per_batch())."""
        window, hop = self.config["window"], self.config["hop_length"]
        total = 1 + np.asarray(audio).size // hop
        batch = batch_frames or self.frames_per_batch()
        return np.concatenate([self.forward_frames(normalized_frames(audio, window, hop, start, batch)) for start in range(0, total, batch)])

    def predict(
        self, audio: np.ndarray, fmin: float = RVC_FMIN, fmax: float = RVC_FMAX, decoder: str = "viterbi", chunk: int = RVC_DECODE_CHUNK
    ) -> tuple[np.ndarray, np.ndarray]:
        """(f0 Hz, periodicity) per frame before any post-processing: torchcrepe.predict with
        batch_size = chunk, without its dither."""
        return decode(self.probabilities(audio), fmin, fmax, decoder, chunk)

    def f0(
        self,
        audio: np.ndarray,
        threshold: float = RVC_PERIODICITY_THRESHOLD,
        fmin: float = RVC_FMIN,
        fmax: float = RVC_FMAX,
        decoder: str = "viterbi",
    ) -> np.ndarray:
        """f0 in Hz per 10 ms frame (1 + len(audio) // 160 frames), 0 = unvoiced, post-processed as
        RVC and Applio do: periodicity median-3, f0 mean-3, f0 = 0 where periodicity < threshold."""
        hz, periodicity = self.predict(audio, fmin, fmax, decoder)
        periodicity = median_filter(periodicity, RVC_FILTER_WIDTH)
        f0 = mean_filter(hz, RVC_FILTER_WIDTH).astype(np.float32)
        f0[periodicity < threshold] = 0.0
        return f0

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.f0(audio)
