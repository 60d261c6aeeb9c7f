"""RMVPE pitch estimator in MLX: 16 kHz audio -> log-mel -> U-Net -> BiGRU -> salience -> f0.

Channels-last (NHWC with H = time, W = mel bin). Parameter paths equal the converted file's keys
(mappings/rmvpe.yaml). The math follows RVC's `RMVPE` / `E2E(4, 1, (2, 2))` in eval mode
(docs/hubert_rmvpe_format.md, "RMVPE forward"):

    mel    = ln(max(melbank_htk_slaney @ |STFT_1024/160, periodic Hann, reflect-centred|, 1e-5))
    pad mel at the end to a multiple of 32 frames (RVC: zeros; Applio: reflect)
    x      = BN(mel); 5 x [4 ConvBlockRes, keep skip, AvgPool 2x2]; 4 x [4 ConvBlockRes]
    5 x    [ConvTranspose2d(3x3, stride 2, output_padding 1) -> BN -> ReLU, concat skip, 4 ConvBlockRes]
    cnn    3x3 -> 3 channels; flatten channel-major to 384; BiGRU (PyTorch gates); Linear; sigmoid
    f0     local weighted average of cents over 9 bins around the argmax; unvoiced if max <= 0.03

BatchNorm always uses the stored running statistics (eval), eps from the config (1e-5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .kernels import cpu_kernels
from .spectral import hann_window, hz_to_mel_htk, mel_filterbank, mel_to_hz_htk  # noqa: F401  (re-exported)
from .weights import MAX_CHANNELS, MAX_LAYERS, MEL_FRONT_END_RULES, check_mel_front_end, choice, entries, load_model, optional, real, whole

FAMILY = "rmvpe"
CENTS_OFFSET = 1997.3794084376191  # cents of bin 0 (31.7 Hz)
CENTS_PER_BIN = 20.0
DECODE_HALF_WIDTH = 4  # 9-bin window around the argmax
MAX_LEVELS = 10  # U-Net levels: the width doubles at each (RVC: 5)
CONFIG_RULES = {  # what a converted file's config may hold (weights.check_config)
    "n_blocks": whole(1, MAX_LAYERS),
    "n_gru": whole(1, 8),
    "kernel_size": entries(whole(1, 8), whole(1, 8)),
    "en_de_layers": whole(1, MAX_LEVELS),
    "inter_layers": whole(1, MAX_LAYERS),
    "in_channels": whole(1, 16),
    "en_out_channels": whole(1, MAX_CHANNELS),
    "gru_hidden": whole(1, MAX_CHANNELS),
    "n_classes": whole(1, MAX_CHANNELS),
    "bn_eps": real(1e-12, 0.1),
    **MEL_FRONT_END_RULES,
    "mel_pad_multiple": whole(1, 1 << MAX_LEVELS),
    "mel_pad_mode": optional(choice("constant", "reflect")),
    "threshold": optional(real(0.0, 1.0)),
}


# --- log-mel front end (numpy, float64) -------------------------------------------------------


def log_mel_spectrogram(audio: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """(n_mels, 1 + len(audio) // hop) natural-log mel magnitudes, float32 (RVC's extract_mel, center=True)."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    n_fft, hop, win = config["n_fft"], config["hop_length"], config["win_length"]
    if audio.size <= n_fft // 2:
        raise ValueError(f"audio has {audio.size} samples; RMVPE needs more than {n_fft // 2} (reflect padding)")
    window = np.zeros(n_fft)
    start = (n_fft - win) // 2
    window[start : start + win] = hann_window(win)
    padded = np.pad(audio, n_fft // 2, mode="reflect")
    frames = 1 + (padded.size - n_fft) // hop
    index = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None, :]
    magnitude = np.abs(np.fft.rfft(padded[index] * window, axis=1)).T  # (bins, frames)
    basis = mel_filterbank(config["sample_rate"], n_fft, config["n_mels"], config["fmin"], config["fmax"]).astype(np.float64)
    mel = basis @ magnitude
    return np.log(np.maximum(mel, config["mel_clamp"])).astype(np.float32)


# --- f0 decoding (numpy) ----------------------------------------------------------------------


def salience_to_cents(salience: np.ndarray, threshold: float) -> np.ndarray:
    """Weighted average of bin cents over the 9 bins around each frame's argmax; 0 where max <= threshold."""
    salience = np.asarray(salience, dtype=np.float64)
    frames, bins = salience.shape
    cents_of_bin = np.pad(CENTS_PER_BIN * np.arange(bins) + CENTS_OFFSET, DECODE_HALF_WIDTH)
    padded = np.pad(salience, ((0, 0), (DECODE_HALF_WIDTH, DECODE_HALF_WIDTH)))
    window = np.argmax(salience, axis=1)[:, None] + np.arange(2 * DECODE_HALF_WIDTH + 1)[None, :]
    weights = padded[np.arange(frames)[:, None], window]
    with np.errstate(divide="ignore", invalid="ignore"):
        cents = (weights * cents_of_bin[window]).sum(axis=1) / weights.sum(axis=1)
    cents[salience.max(axis=1) <= threshold] = 0.0
    return cents


def cents_to_f0(cents: np.ndarray) -> np.ndarray:
    """Hz = 10 * 2^(cents / 1200); cents 0 (unvoiced) -> 0 Hz."""
    f0 = 10.0 * 2.0 ** (np.asarray(cents, dtype=np.float64) / 1200.0)
    f0[f0 == 10.0] = 0.0
    return f0


# --- network ----------------------------------------------------------------------------------


class BatchNorm(nn.Module):
    """Eval-mode BatchNorm over the last (channel) axis with stored running statistics.

    There is no training mode to forget to switch off: batch statistics are never used.
    """

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = mx.ones((channels,))
        self.bias = mx.zeros((channels,))
        self.running_mean = mx.zeros((channels,))
        self.running_var = mx.ones((channels,))

    def __call__(self, x: mx.array) -> mx.array:
        # scale and shift in float32 whatever the compute dtype: 1/sqrt(var + eps) is the sensitive part
        f32 = mx.float32
        scale = self.weight.astype(f32) * mx.rsqrt(self.running_var.astype(f32) + self.eps)
        shift = self.bias.astype(f32) - self.running_mean.astype(f32) * scale
        return (x * scale.astype(x.dtype) + shift.astype(x.dtype)).astype(x.dtype)


def conv2d_3x3_taps(x: mx.array, weight: mx.array) -> mx.array:
    """3x3 conv, stride 1, padding 1, no bias: [B, H, W, I] -> [B, H, W, O] with weight (O, 3, 3, I).
    The input is padded to (H + 3, W + 2) and flattened over space; tap (kh, kw) of output row
    h·(W + 2) + w reads flat row h·(W + 2) + w + kh·(W + 2) + kw, so each tap is one matmul of a
    contiguous slice (accumulated with addmm) and the two wrap-around columns are cropped."""
    b, h, w, i = x.shape
    wp = w + 2
    rows = h * wp
    flat = mx.pad(x, [(0, 0), (1, 2), (1, 1), (0, 0)]).reshape(b, -1, i)
    taps = weight.transpose(1, 2, 3, 0)  # (3, 3, I, O)
    out = None
    for kh in range(3):
        for kw in range(3):
            start = kh * wp + kw
            a = flat[:, start : start + rows]
            out = a @ taps[kh, kw] if out is None else mx.addmm(out, a, taps[kh, kw])
    return out.reshape(b, h, wp, -1)[:, :, :w]


class Conv2d(nn.Conv2d):
    """nn.Conv2d (same weight (O, KH, KW, I) / bias parameters). On the Linux CPU path 1x1 convs are
    one matmul (+ bias) and 3x3 / stride 1 / padding 1 maps at least 16 bins wide with >= 16 input
    channels are a tap-sum (conv2d_3x3_taps): MLX's CPU kernel is 1.1-14x slower there at RMVPE's
    10 s shapes. Narrow maps (32x4, 64x8: padding overhead, few rows) and single-channel inputs stay
    native, where it is faster."""

    def __call__(self, x: mx.array) -> mx.array:
        if not cpu_kernels():
            return super().__call__(x)
        plain = tuple(self.stride) == (1, 1) and self.dilation in (1, (1, 1)) and getattr(self, "groups", 1) == 1
        kernel = tuple(self.weight.shape[1:3])
        channels = x.shape[-1]
        if plain and kernel == (1, 1) and tuple(self.padding) == (0, 0) and channels > 1:
            b, h, w, _ = x.shape
            flat = x.reshape(-1, channels)
            weight = self.weight.reshape(-1, channels).T
            y = mx.addmm(self.bias, flat, weight) if "bias" in self else flat @ weight
            return y.reshape(b, h, w, -1)
        if plain and kernel == (3, 3) and tuple(self.padding) == (1, 1) and x.shape[2] >= 16 and channels >= 16:
            y = conv2d_3x3_taps(x, self.weight)
            return y + self.bias if "bias" in self else y
        return super().__call__(x)


class ConvBlockRes(nn.Module):
    """relu(bn(conv3x3)) twice, plus the input, through a 1x1 conv with bias when channels change."""

    def __init__(self, in_channels: int, out_channels: int, eps: float):
        super().__init__()
        self.conv1 = Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = BatchNorm(out_channels, eps)
        self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = BatchNorm(out_channels, eps)
        if in_channels != out_channels:
            self.shortcut = Conv2d(in_channels, out_channels, 1, bias=True)

    def __call__(self, x: mx.array) -> mx.array:
        h = nn.relu(self.bn1(self.conv1(x)))
        h = nn.relu(self.bn2(self.conv2(h)))
        return h + (self.shortcut(x) if "shortcut" in self else x)


def _blocks(in_channels: int, out_channels: int, count: int, eps: float) -> list[ConvBlockRes]:
    return [ConvBlockRes(in_channels if j == 0 else out_channels, out_channels, eps) for j in range(count)]


class ResLevel(nn.Module):
    """An encoder or intermediate level: ConvBlockRes blocks (the encoder then pools)."""

    def __init__(self, in_channels: int, out_channels: int, n_blocks: int, eps: float):
        super().__init__()
        self.blocks = _blocks(in_channels, out_channels, n_blocks, eps)

    def __call__(self, x: mx.array) -> mx.array:
        for block in self.blocks:
            x = block(x)
        return x


class Encoder(nn.Module):
    def __init__(self, channels: list[tuple[int, int]], in_channels: int, n_blocks: int, pool: tuple[int, int], eps: float):
        super().__init__()
        self.pool = tuple(pool)
        self.bn = BatchNorm(in_channels, eps)
        self.layers = [ResLevel(c_in, c_out, n_blocks, eps) for c_in, c_out in channels]

    def __call__(self, x: mx.array) -> tuple[mx.array, list[mx.array]]:
        x = self.bn(x)
        skips = []
        for layer in self.layers:
            x = layer(x)
            skips.append(x)
            x = average_pool(x, self.pool)
        return x, skips


def average_pool(x: mx.array, pool: tuple[int, int]) -> mx.array:
    """AvgPool2d(kernel = stride = pool) on NHWC; the U-Net's sizes are exact multiples."""
    batch, height, width, channels = x.shape
    ph, pw = pool
    return x.reshape(batch, height // ph, ph, width // pw, pw, channels).mean(axis=(2, 4))


class Intermediate(nn.Module):
    def __init__(self, channels: list[tuple[int, int]], n_blocks: int, eps: float):
        super().__init__()
        self.layers = [ResLevel(c_in, c_out, n_blocks, eps) for c_in, c_out in channels]

    def __call__(self, x: mx.array) -> mx.array:
        for layer in self.layers:
            x = layer(x)
        return x


def conv_transpose2d_s2(x: mx.array, weight: mx.array) -> mx.array:
    """3x3 transposed conv, stride 2, padding 1, output_padding 1, no bias: [B, H, W, I] ->
    [B, 2H, 2W, O] with weight (O, 3, 3, I). One matmul gives every tap's contribution; tap
    (kh, kw) of input (h, w) lands on output (2h + kh - 1, 2w + kw - 1), i.e. block
    (h + kh // 2, w + kw // 2), phase (kh % 2, kw % 2) of a grid shifted by one: the four phases
    are summed, interleaved and the shift cropped."""
    b, h, w, i = x.shape
    o = weight.shape[0]
    z = (x.reshape(-1, i) @ weight.reshape(o * 9, i).T).reshape(b, h, w, o, 3, 3)

    def tap(kh: int, kw: int) -> mx.array:
        return mx.pad(z[..., kh, kw], [(0, 0), (kh // 2, 1 - kh // 2), (kw // 2, 1 - kw // 2), (0, 0)])

    even_even = tap(0, 0) + tap(0, 2) + tap(2, 0) + tap(2, 2)
    even_odd = tap(0, 1) + tap(2, 1)
    odd_even = tap(1, 0) + tap(1, 2)
    odd_odd = tap(1, 1)
    grid = mx.stack([mx.stack([even_even, even_odd], axis=3), mx.stack([odd_even, odd_odd], axis=3)], axis=2)
    grid = grid.reshape(b, 2 * h + 2, 2 * w + 2, o)
    return grid[:, 1 : 2 * h + 1, 1 : 2 * w + 1]


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d (same parameters); on the Linux CPU path RVC's 3x3 / stride 2 / padding 1 /
    output_padding 1 case as a matmul + overlap-add: MLX's CPU kernel is 12-69x slower for these shapes."""

    def __call__(self, x: mx.array) -> mx.array:
        fast = cpu_kernels() and (self.weight.shape[1:3] == (3, 3) and tuple(self.stride) == (2, 2) and tuple(self.padding) == (1, 1)
                and tuple(self.output_padding) == (1, 1) and self.dilation in (1, (1, 1)) and "bias" not in self)  # fmt: skip
        return conv_transpose2d_s2(x, self.weight) if fast else super().__call__(x)


class DecoderLevel(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, n_blocks: int, stride: tuple[int, int], eps: float):
        super().__init__()
        # output_padding = stride - 1 restores exactly (stride·H, stride·W): (1, 1) for RVC's (2, 2).
        self.conv_transpose = ConvTranspose2d(
            in_channels, out_channels, 3, stride=tuple(stride), padding=1, output_padding=(stride[0] - 1, stride[1] - 1), bias=False
        )
        self.bn = BatchNorm(out_channels, eps)
        self.blocks = _blocks(2 * out_channels, out_channels, n_blocks, eps)

    def __call__(self, x: mx.array, skip: mx.array) -> mx.array:
        x = nn.relu(self.bn(self.conv_transpose(x)))
        x = mx.concatenate([x, skip], axis=-1)  # [upsampled, skip], channels
        for block in self.blocks:
            x = block(x)
        return x


class Decoder(nn.Module):
    def __init__(self, channels: list[tuple[int, int]], n_blocks: int, stride: tuple[int, int], eps: float):
        super().__init__()
        self.layers = [DecoderLevel(c_in, c_out, n_blocks, stride, eps) for c_in, c_out in channels]

    def __call__(self, x: mx.array, skips: list[mx.array]) -> mx.array:
        for layer, skip in zip(self.layers, reversed(skips)):
            x = layer(x, skip)
        return x


class DeepUnet(nn.Module):
    def __init__(self, config: dict[str, Any]):
        super().__init__()
        eps, blocks, pool = config["bn_eps"], config["n_blocks"], tuple(config["kernel_size"])
        channels = unet_channels(config)
        self.encoder = Encoder(channels["encoder"], config["in_channels"], blocks, pool, eps)
        self.intermediate = Intermediate(channels["intermediate"], blocks, eps)
        self.decoder = Decoder(channels["decoder"], blocks, pool, eps)

    def __call__(self, x: mx.array) -> mx.array:
        x, skips = self.encoder(x)
        return self.decoder(self.intermediate(x), skips)


def unet_channels(config: dict[str, Any]) -> dict[str, list[tuple[int, int]]]:
    """(C_in, C_out) per level: the encoder doubles from en_out_channels, the intermediate doubles
    once, the decoder halves back down."""
    en_out, levels = config["en_out_channels"], config["en_de_layers"]
    encoder = [(config["in_channels"] if i == 0 else en_out * 2 ** (i - 1), en_out * 2**i) for i in range(levels)]
    bottom = encoder[-1][1]
    intermediate = [(bottom if i == 0 else 2 * bottom, 2 * bottom) for i in range(config["inter_layers"])]
    decoder = [(2 * bottom // 2**i, 2 * bottom // 2 ** (i + 1)) for i in range(levels)]
    return {"encoder": encoder, "intermediate": intermediate, "decoder": decoder}


class GRUDirection(nn.Module):
    """One direction of a PyTorch GRU layer, PyTorch's tensors unchanged (gate rows [r; z; n])."""

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.weight_ih = mx.zeros((3 * hidden, input_size))
        self.weight_hh = mx.zeros((3 * hidden, hidden))
        self.bias_ih = mx.zeros((3 * hidden,))
        self.bias_hh = mx.zeros((3 * hidden,))


class BiGRU(nn.Module):
    """Bidirectional multi-layer GRU with PyTorch semantics, h0 = 0:

        r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))      h' = (1 − z) ⊙ n + z ⊙ h

    b_hn sits inside the reset product; MLX's nn.GRU adds its `b` outside, so it is not used here.
    The backward direction reads t = T−1 … 0 and writes its output at t. Output [forward | backward].
    """

    def __init__(self, input_size: int, hidden: int, layers: int):
        super().__init__()
        self.hidden = hidden
        self.forward = [GRUDirection(input_size if l == 0 else 2 * hidden, hidden) for l in range(layers)]
        self.backward = [GRUDirection(input_size if l == 0 else 2 * hidden, hidden) for l in range(layers)]

    def __call__(self, x: mx.array) -> mx.array:
        for forward, backward in zip(self.forward, self.backward):
            x = self._layer(x, forward, backward)
        return x

    def _layer(self, x: mx.array, forward: GRUDirection, backward: GRUDirection) -> mx.array:
        batch, frames, _ = x.shape
        hidden = self.hidden
        # Both directions step together: index 0 = forward at t, 1 = backward at T-1-t.
        inputs = mx.stack([x @ forward.weight_ih.T + forward.bias_ih, (x @ backward.weight_ih.T + backward.bias_ih)[:, ::-1]])
        w_hh = mx.stack([forward.weight_hh.T, backward.weight_hh.T])  # (2, H, 3H)
        b_hh = mx.stack([forward.bias_hh, backward.bias_hh])[:, None, :]  # (2, 1, 3H)
        if cpu_kernels() and x.dtype == mx.float32:
            steps = gru_scan_numpy(inputs, w_hh, b_hh, hidden)
            return mx.concatenate([steps[0], steps[1][:, ::-1]], axis=-1)
        h = mx.zeros((2, batch, hidden), dtype=x.dtype)
        outputs = []
        for t in range(frames):
            gi = inputs[:, :, t]
            gh = h @ w_hh + b_hh
            r = mx.sigmoid(gi[..., :hidden] + gh[..., :hidden])
            z = mx.sigmoid(gi[..., hidden : 2 * hidden] + gh[..., hidden : 2 * hidden])
            n = mx.tanh(gi[..., 2 * hidden :] + r * gh[..., 2 * hidden :])
            h = (1 - z) * n + z * h
            outputs.append(h)
            if t % 64 == 63:
                mx.eval(h)  # keep the lazy graph shallow on long inputs
        steps = mx.stack(outputs, axis=2)  # (2, B, T, H)
        return mx.concatenate([steps[0], steps[1][:, ::-1]], axis=-1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def gru_scan_numpy(inputs: mx.array, w_hh: mx.array, b_hh: mx.array, hidden: int) -> mx.array:
    """The GRU recurrence of BiGRU._layer in numpy float32: both directions step together, the
    input projections `inputs` (2, B, T, 3H) precomputed. A step is a dozen operations on
    (2, B, H) arrays, where MLX's per-operation cost on CPU (~20 us) would dominate."""
    gi = np.array(inputs, dtype=np.float32)
    w, b = np.array(w_hh, dtype=np.float32), np.array(b_hh, dtype=np.float32)
    directions, batch, frames, _ = gi.shape
    h = np.zeros((directions, batch, hidden), dtype=np.float32)
    out = np.empty((directions, batch, frames, hidden), dtype=np.float32)
    for t in range(frames):
        gh = np.matmul(h, w) + b
        g = gi[:, :, t]
        r = _sigmoid(g[..., :hidden] + gh[..., :hidden])
        z = _sigmoid(g[..., hidden : 2 * hidden] + gh[..., hidden : 2 * hidden])
        n = np.tanh(g[..., 2 * hidden :] + r * gh[..., 2 * hidden :])
        h = (1 - z) * n + z * h
        out[:, :, t] = h
    return mx.array(out)


class OutputHead(nn.Module):
    def __init__(self, input_size: int, hidden: int, layers: int, classes: int):
        super().__init__()
        self.bigru = BiGRU(input_size, hidden, layers)
        self.linear = nn.Linear(2 * hidden, classes)


class RMVPE(nn.Module):
    def __init__(self, config: dict[str, Any]):
        super().__init__()
        check_mel_front_end(config)
        widest = config["en_out_channels"] << config["en_de_layers"]
        if widest > MAX_CHANNELS:
            raise ValueError(f"en_out_channels {config['en_out_channels']} doubled over {config['en_de_layers']} levels is {widest} channels (at most {MAX_CHANNELS})")
        self.config = dict(config)
        self.unet = DeepUnet(config)
        self.cnn = Conv2d(config["en_out_channels"], 3, 3, padding=1, bias=True)
        self.fc = OutputHead(3 * config["n_mels"], config["gru_hidden"], config["n_gru"], config["n_classes"])

    @classmethod
    def from_file(cls, path: str | Path, dtype: mx.Dtype = mx.float32) -> "RMVPE":
        """A converted RMVPE `.safetensors` / `.npz`, loaded strictly; computes in `dtype`."""
        return load_model(cls, path, FAMILY, CONFIG_RULES, dtype)

    @property
    def dtype(self) -> mx.Dtype:
        return self.cnn.weight.dtype

    def mel(self, audio: np.ndarray) -> np.ndarray:
        """(n_mels, frames) log-mel of 16 kHz mono audio."""
        return log_mel_spectrogram(audio, self.config)

    def pad_mel(self, mel: np.ndarray, mode: str | None = None) -> np.ndarray:
        """Pad (n_mels, frames) at the end to a multiple of 32 frames: zeros (RVC) or reflect (Applio)."""
        mode = mode or self.config.get("mel_pad_mode", "constant")
        frames = mel.shape[-1]
        multiple = self.config["mel_pad_multiple"]
        pad = -frames % multiple
        if mode not in ("constant", "reflect"):
            raise ValueError(f"mel pad mode must be 'constant' (RVC) or 'reflect' (Applio), got {mode!r}")
        return np.pad(mel, ((0, 0), (0, pad)), mode=mode) if pad else mel

    def trace(self, mel_padded: np.ndarray) -> dict[str, mx.array]:
        """Every stage on a padded (n_mels, frames) mel, NHWC / (B, T, ·); names as upstream's hooks."""
        x = mx.array(np.asarray(mel_padded, dtype=np.float32).T[None, :, :, None]).astype(self.dtype)
        out: dict[str, mx.array] = {}
        out["unet.encoder.bn.out"] = self.unet.encoder.bn(x)
        bottom, skips = self.unet.encoder(x)
        out["unet.encoder.out"] = bottom
        out["unet.intermediate.out"] = middle = self.unet.intermediate(bottom)
        out["unet.out"] = top = self.unet.decoder(middle, skips)
        out["cnn.out"] = maps = self.cnn(top)
        batch, frames, bins, channels = maps.shape
        flat = maps.transpose(0, 1, 3, 2).reshape(batch, frames, channels * bins)  # channel-major: c·128 + bin
        out["fc.0.out"] = gru = self.fc.bigru(flat)
        out["fc.1.out"] = logits = self.fc.linear(gru)
        out["salience"] = mx.sigmoid(logits.astype(mx.float32))
        return out

    def salience_from_mel(self, mel: np.ndarray, pad_mode: str | None = None) -> np.ndarray:
        """(frames, n_classes) salience for a (n_mels, frames) log-mel."""
        frames = mel.shape[-1]
        salience = self.trace(self.pad_mel(mel, pad_mode))["salience"]
        return np.array(salience[0, :frames], dtype=np.float32)

    def salience(self, audio: np.ndarray, pad_mode: str | None = None) -> np.ndarray:
        return self.salience_from_mel(self.mel(audio), pad_mode)

    def f0(self, audio: np.ndarray, threshold: float | None = None, pad_mode: str | None = None) -> np.ndarray:
        """f0 in Hz per 10 ms frame (1 + len(audio) // 160 frames); 0 = unvoiced (not interpolated)."""
        threshold = self.config.get("threshold", 0.03) if threshold is None else threshold
        return cents_to_f0(salience_to_cents(self.salience(audio, pad_mode), threshold))

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.f0(audio)
