"""FCPE pitch estimator in MLX: 16 kHz audio -> log-mel -> conv-only conformer -> 360 bins -> f0.

Parameter paths equal the converted file's keys (mappings/fcpe.yaml). The math follows torchfcpe's
CFNaiveMelPE in eval mode with conv_only = True, the bundled model (facts: docs/pitch_models.md):

    mel      reflect-pad (432, 432) (zeros when the audio is too short to reflect), |STFT| with a
             periodic Hann window of 1024, hop 160, no centring, magnitude sqrt(re² + im² + 1e-9);
             Slaney-scale mel filters 0-8000 Hz; ln(max(mel, 1e-5)); one frame appended (a copy of
             the last) or frames cut so there are 1 + len // 160
    input    Conv1d(128 -> 512, k 3) -> GroupNorm(4) -> LeakyReLU(0.01) -> Conv1d(512 -> 512, k 3)
    6 x      x + pointwise(1024 -> 512)(SiLU(depthwise_31(GLU(pointwise(512 -> 2048)(LayerNorm(x))))))
    head     LayerNorm -> Linear(512 -> 360) -> sigmoid = "latent"
    decode   local argmax: the cent-table average over the 9 bins around the argmax (indices clamped
             to the table, so an edge bin can count twice) weighted by the latent; unvoiced (0 Hz)
             where the latent's maximum is <= threshold

`f0()` is the f0 method of RVC and Applio ("fcpe"): local argmax, threshold 0.006, nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .kernels import cpu_kernels
from .spectral import frame_signal, hann_window, mel_filterbank
from .weights import MAX_CHANNELS, MAX_KERNEL, MAX_LAYERS, MEL_FRONT_END_RULES, check_mel_front_end, load_model, real, whole

FAMILY = "fcpe"
DECODE_HALF_WIDTH = 4  # 9 bins around the argmax
DECODERS = ("local_argmax", "argmax")
RVC_THRESHOLD = 0.006  # RVC's and Applio's torchfcpe call: infer(..., decoder_mode="local_argmax", threshold=0.006)
EPS = real(1e-12, 0.1)
CONFIG_RULES = {  # what a converted file's config may hold (weights.check_config)
    "hidden": whole(1, MAX_CHANNELS),
    "n_layers": whole(1, MAX_LAYERS),
    "n_bins": whole(1, MAX_CHANNELS),
    "expansion": whole(1, 16),
    "conv_kernel": whole(1, MAX_KERNEL),
    "input_kernel": whole(1, MAX_KERNEL),
    "group_norm_groups": whole(1, MAX_CHANNELS),
    "group_norm_eps": EPS,
    "layer_norm_eps": EPS,
    "leaky_relu_slope": real(0.0, 1.0),
    **MEL_FRONT_END_RULES,
    "magnitude_eps": real(1e-15, 1.0),
}


# --- log-mel front end (numpy, float64) -------------------------------------------------------


def log_mel_spectrogram(audio: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """(1 + len // hop, n_mels) float32 log-mel frames of 16 kHz mono audio (torchfcpe's Wav2Mel)."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    n_fft, hop, win = config["n_fft"], config["hop_length"], config["win_length"]
    if audio.size == 0:
        raise ValueError("audio is empty; FCPE needs at least one sample")
    left = (win - hop) // 2
    right = max((win - hop + 1) // 2, win - audio.size - left)
    # torch's reflect padding needs fewer pad samples than the signal has; torchfcpe falls back to zeros
    mode = "reflect" if right < audio.size and left < audio.size else "constant"
    padded = np.pad(audio, (left, right), mode=mode)
    window = np.zeros(n_fft)
    start = (n_fft - win) // 2
    window[start : start + win] = hann_window(win)
    count = 1 + (padded.size - n_fft) // hop
    spectrum = np.fft.rfft(frame_signal(padded, n_fft, hop, count) * window, axis=1)  # (frames, bins)
    magnitude = np.sqrt(spectrum.real**2 + spectrum.imag**2 + config["magnitude_eps"])
    basis = mel_filterbank(config["sample_rate"], n_fft, config["n_mels"], config["fmin"], config["fmax"], htk=False).astype(np.float64)
    mel = np.log(np.maximum(magnitude @ basis.T, config["mel_clamp"]))
    wanted = audio.size // hop + 1
    if wanted > count:
        mel = np.concatenate([mel, mel[-1:]])  # torchfcpe appends a single copy, however many are missing
    return mel[:wanted].astype(np.float32)


# --- decoding (numpy) -------------------------------------------------------------------------


def latent_to_cents(latent: np.ndarray, cent_table: np.ndarray, threshold: float, decoder: str = "local_argmax") -> np.ndarray:
    """Cents per frame from (frames, bins) latent; NaN where unvoiced (max <= threshold)."""
    latent = np.asarray(latent, dtype=np.float64)
    table = np.asarray(cent_table, dtype=np.float64)
    if decoder == "local_argmax":
        frames, bins = latent.shape
        window = np.clip(np.argmax(latent, axis=1)[:, None] + np.arange(-DECODE_HALF_WIDTH, DECODE_HALF_WIDTH + 1)[None, :], 0, bins - 1)
        weights = latent[np.arange(frames)[:, None], window]
        cents = (weights * table[window]).sum(axis=1) / weights.sum(axis=1)
    elif decoder == "argmax":  # torchfcpe's "argmax": the average over every bin
        cents = (latent * table).sum(axis=1) / latent.sum(axis=1)
    else:
        raise ValueError(f"unknown FCPE decoder {decoder!r}; expected one of {', '.join(DECODERS)}")
    cents[latent.max(axis=1) <= threshold] = np.nan
    return cents


def cents_to_f0(cents: np.ndarray) -> np.ndarray:
    """Hz = 10 · 2^(cents / 1200); NaN (unvoiced) -> 0."""
    f0 = 10.0 * 2.0 ** (np.asarray(cents, dtype=np.float64) / 1200.0)
    return np.nan_to_num(f0, nan=0.0)


# --- network ----------------------------------------------------------------------------------


def depthwise_same(x: mx.array, weight: mx.array, bias: mx.array) -> mx.array:
    """Depthwise stride-1 'same' conv of (B, T, C) with weight (C, k, 1), k odd: one multiply-add of
    the shifted input per tap."""
    k = weight.shape[1]
    half = k // 2
    t = x.shape[1]
    padded = mx.pad(x, [(0, 0), (half, half), (0, 0)])
    taps = weight[:, :, 0].T  # (k, C)
    out = padded[:, 0:t] * taps[0]
    for j in range(1, k):
        out = out + padded[:, j : j + t] * taps[j]
    return out + bias


class DepthwiseConv1d(nn.Conv1d):
    """nn.Conv1d with one group per channel ('same' padding, weight (C, k, 1)); on the Linux CPU
    path by depthwise_same: MLX's CPU grouped convolution is 3-14x slower at FCPE's 1024 channels,
    kernel 31 (benchmarks/bench_kernels.py)."""

    def __init__(self, channels: int, kernel: int):
        super().__init__(channels, channels, kernel, padding=kernel // 2, groups=channels)

    def __call__(self, x: mx.array) -> mx.array:
        if not cpu_kernels():
            return super().__call__(x)
        return depthwise_same(x, self.weight, self.bias)


class GroupNorm(nn.Module):
    """PyTorch GroupNorm over (B, T, C): statistics per sample over time and each group's channels."""

    def __init__(self, groups: int, channels: int, eps: float):
        super().__init__()
        self.groups = groups
        self.eps = eps
        self.weight = mx.ones((channels,))
        self.bias = mx.zeros((channels,))

    def __call__(self, x: mx.array) -> mx.array:
        b, t, c = x.shape
        grouped = x.reshape(b, t, self.groups, c // self.groups)
        mean = grouped.mean(axis=(1, 3), keepdims=True)
        var = mx.square(grouped - mean).mean(axis=(1, 3), keepdims=True)
        normed = ((grouped - mean) * mx.rsqrt(var + self.eps)).reshape(b, t, c)
        return normed * self.weight + self.bias


class InputStack(nn.Module):
    def __init__(self, config: dict[str, Any]):
        super().__init__()
        hidden, kernel = config["hidden"], config["input_kernel"]
        self.slope = config["leaky_relu_slope"]
        self.conv_in = nn.Conv1d(config["n_mels"], hidden, kernel, padding=kernel // 2)
        self.norm = GroupNorm(config["group_norm_groups"], hidden, config["group_norm_eps"])
        self.conv_out = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2)

    def __call__(self, x: mx.array) -> mx.array:
        return self.conv_out(nn.leaky_relu(self.norm(self.conv_in(x)), self.slope))


class ConvModule(nn.Module):
    """Conformer conv module, as a residual layer: x + pointwise_out(SiLU(depthwise(GLU(pointwise_in(LN(x))))))."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        hidden = config["hidden"]
        inner = hidden * config["expansion"]
        self.norm = nn.LayerNorm(hidden, eps=config["layer_norm_eps"])
        self.pointwise_in = nn.Conv1d(hidden, 2 * inner, 1)
        self.depthwise = DepthwiseConv1d(inner, config["conv_kernel"])
        self.pointwise_out = nn.Conv1d(inner, hidden, 1)

    def __call__(self, x: mx.array) -> mx.array:
        h = self.pointwise_in(self.norm(x))
        value, gate = mx.split(h, 2, axis=-1)
        h = value * mx.sigmoid(gate)
        h = nn.silu(self.depthwise(h))
        return x + self.pointwise_out(h)


class FCPE(nn.Module):
    def __init__(self, config: dict[str, Any]):
        super().__init__()
        if config["hidden"] % config["group_norm_groups"]:
            raise ValueError(f"hidden {config['hidden']} is not a multiple of group_norm_groups {config['group_norm_groups']}")
        check_mel_front_end(config)
        self.config = dict(config)
        self.input_stack = InputStack(config)
        self.layers = [ConvModule(config) for _ in range(config["n_layers"])]
        self.norm = nn.LayerNorm(config["hidden"], eps=config["layer_norm_eps"])
        self.output_proj = nn.Linear(config["hidden"], config["n_bins"])
        self.cent_table = mx.zeros((config["n_bins"],))

    @classmethod
    def from_file(cls, path: str | Path, dtype: mx.Dtype = mx.float32) -> "FCPE":
        """A converted FCPE `.safetensors` / `.npz`, loaded strictly; computes in `dtype`."""
        return load_model(cls, path, FAMILY, CONFIG_RULES, dtype)

    @property
    def dtype(self) -> mx.Dtype:
        return self.output_proj.weight.dtype

    def mel(self, audio: np.ndarray) -> np.ndarray:
        """(frames, n_mels) log-mel of 16 kHz mono audio."""
        return log_mel_spectrogram(audio, self.config)

    def latent_from_mel(self, mel: np.ndarray) -> np.ndarray:
        """(frames, n_bins) float32 sigmoid outputs for a (frames, n_mels) log-mel."""
        x = mx.array(np.asarray(mel, dtype=np.float32)[None]).astype(self.dtype)
        x = self.input_stack(x)
        for layer in self.layers:
            x = layer(x)
        logits = self.output_proj(self.norm(x))
        return np.array(mx.sigmoid(logits.astype(mx.float32))[0])

    def latent(self, audio: np.ndarray) -> np.ndarray:
        return self.latent_from_mel(self.mel(audio))

    def f0(self, audio: np.ndarray, threshold: float = RVC_THRESHOLD, decoder: str = "local_argmax") -> np.ndarray:
        """f0 in Hz per 10 ms frame (1 + len(audio) // 160 frames), 0 = unvoiced: RVC's and Applio's
        torchfcpe call (local argmax, threshold 0.006), no further post-processing."""
        table = np.array(self.cent_table.astype(mx.float32))
        return cents_to_f0(latent_to_cents(self.latent(audio), table, threshold, decoder)).astype(np.float32)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.f0(audio)
