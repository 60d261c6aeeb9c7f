"""HuBERT / ContentVec content encoder in MLX: the features RVC feeds its synthesizer.

Channels-last throughout: audio (B, L) -> conv features (B, T, C) -> hidden states (B, T, D).
Parameter paths equal the converted file's keys (mappings/hubert_*.yaml), so loading is strict and
nothing is renamed. The math follows fairseq's HubertModel in eval mode with
`layer_norm_first: false` (docs/hubert_rmvpe_format.md, "HuBERT forward"):

    conv 0 -> GroupNorm(C, C) -> GELU, convs 1.. -> GELU          (no padding, no bias)
    LayerNorm(C) -> Linear(C, D)                                   proj_features
    pos = GELU(grouped Conv1d(K, pad K//2)[:T])                    even K: drop the last frame
    x = LayerNorm(x + pos)                                         hidden_states[0]
    x = LN(x + MHA(x)); x = LN(x + FFN(x))                         hidden_states[i], post-LN
    RVC v2 = hidden_states[-1];  RVC v1 = final_proj(hidden_states[9])

GELU is the exact erf form everywhere; every norm uses eps 1e-5 unless the config says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .cpu_ops import softmax
from .kernels import cpu_kernels
from .weights import MAX_CHANNELS, MAX_ITEMS, MAX_KERNEL, MAX_LAYERS, MAX_RATE, choice, entries, listed, load_model, optional, real, whole

FAMILY = "hubert"
WAVEFORM_NORM_EPS = 1e-5  # F.layer_norm(wav, wav.shape) in RVC's feature extraction
EPS = real(1e-12, 0.1)
FLAG = choice(True, False)
CONFIG_RULES = {  # what a converted file's config may hold (weights.check_config)
    "conv_layers": listed(entries(whole(1, MAX_CHANNELS), whole(1, MAX_KERNEL), whole(1, MAX_RATE)), 1, MAX_ITEMS),
    "conv_bias": optional(FLAG),
    "group_norm_eps": optional(EPS),
    "layer_norm_eps": EPS,
    "hidden_size": whole(1, MAX_CHANNELS),
    "num_layers": whole(1, MAX_LAYERS),
    "num_heads": whole(1, MAX_LAYERS),
    "ffn_dim": whole(1, MAX_CHANNELS),
    "pos_conv_kernel": whole(1, MAX_KERNEL),
    "pos_conv_groups": whole(1, MAX_CHANNELS),
    "final_proj_dim": optional(whole(0, MAX_CHANNELS)),
    "v1_output_layer": optional(whole(0, MAX_LAYERS)),
    "normalize_waveform": optional(FLAG),
    "layer_norm_first": optional(FLAG),
    "feature_norm": optional(choice("group", "layer")),
    "activation": optional(choice("gelu", "relu")),
}


# GELU(x) = x * Phi(x), Phi from erfc(|z|) = exp(-z^2) * t * Q(t), t = 1 / (1 + P|z|), z = x / sqrt(2):
# Q is a degree-10 least-squares fit of erfcx(z) / t (relative error 1.1e-8 on all z >= 0).
_GELU_P = np.float32(0.3275911)
_GELU_Q = [np.float32(c) for c in (
    0.030245631, -0.12127627, 0.14272294, -0.059006420, 0.094382070, 0.085318010,
    0.12806966, 0.15498886, 0.17490856, 0.18482348, 0.18482349)]  # fmt: skip
_GELU_CHUNK = 1 << 16


def gelu(x: mx.array) -> mx.array:
    """Exact-erf GELU: MLX's nn.gelu, or gelu_numpy on the Linux CPU path."""
    if x.dtype != mx.float32 or not cpu_kernels():
        return nn.gelu(x)  # elsewhere (Metal, Accelerate) MLX's own kernel is fast; a numpy round trip would not be
    return gelu_numpy(x)


def gelu_numpy(x: mx.array) -> mx.array:
    """Exact-erf GELU of a float32 array in cache-sized numpy chunks: MLX's Linux CPU erf/exp are
    scalar (0.18 s vs 0.47 s per 16M elements), and this is closer to the true erf (max rel 1.3e-6
    vs 2.2e-4)."""
    flat = np.asarray(x).reshape(-1)
    out = np.empty_like(flat)
    for i in range(0, flat.size, _GELU_CHUNK):
        _gelu_chunk(flat[i : i + _GELU_CHUNK], out[i : i + _GELU_CHUNK])
    return mx.array(out.reshape(x.shape))


def _gelu_chunk(xi: np.ndarray, o: np.ndarray) -> None:
    """o = GELU(xi) for one cache-sized float32 chunk (o must not alias xi)."""
    z = np.abs(xi)
    z *= np.float32(0.70710678)
    t = z * _GELU_P
    t += np.float32(1)
    np.reciprocal(t, out=t)
    q = t * _GELU_Q[0]
    for c in _GELU_Q[1:]:
        q += c
        q *= t
    z *= z
    np.negative(z, out=z)
    np.exp(z, out=z)
    q *= z
    q *= np.float32(0.5)  # q = erfc(|z|) / 2 = Phi(-|x|)
    np.subtract(np.float32(1), q, out=o)
    np.copyto(o, q, where=xi < 0)
    o *= xi


# --- modules ----------------------------------------------------------------------------------


def time_mean(x: mx.array, block: int = 64) -> mx.array:
    """Mean over axis 1 of (B, T, C), summed in blocks of `block` frames.

    A plain float32 sum over thousands of frames drifts enough (≈ 4e-5 relative after the
    normalisation below) to dominate the parity error; blocked partial sums stay near 1e-6.
    """
    frames = x.shape[1]
    pad = (-frames) % block
    if pad:
        x = mx.concatenate([x, mx.zeros((x.shape[0], pad, x.shape[2]), x.dtype)], axis=1)
    partial = x.reshape(x.shape[0], -1, block, x.shape[2]).sum(axis=2)
    return partial.sum(axis=1, keepdims=True) / frames


class ChannelTimeNorm(nn.Module):
    """GroupNorm(C, C) on (B, T, C): each channel normalised over time, biased variance, affine.

    fairseq's Fp32GroupNorm after conv 0; statistics in float32 whatever the compute dtype.
    """

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = mx.ones((channels,))
        self.bias = mx.zeros((channels,))

    def __call__(self, x: mx.array) -> mx.array:
        x32 = x.astype(mx.float32)
        centred = x32 - time_mean(x32)
        variance = time_mean(centred * centred)
        y = centred * mx.rsqrt(variance + self.eps)
        return (y * self.weight.astype(mx.float32) + self.bias.astype(mx.float32)).astype(x.dtype)


def blocked_strided_conv1d(x: mx.array, weight: mx.array, bias: mx.array | None, stride: int) -> mx.array:
    """Unpadded conv1d with stride s [B, L, C] -> [B, L', O], weight (O, K, C), as ceil(K/s) matmuls:
    the input read as blocks of s frames [B, L/s, s*C] (a free reshape), output frame t = sum over q
    of block t+q times taps q*s..q*s+s-1 (the last group cut to the taps that exist)."""
    batch, length, channels = x.shape
    out_channels, taps, _ = weight.shape
    frames = (length - taps) // stride + 1
    groups = -(-taps // stride)
    needed = (frames + groups - 1) * stride
    x = x[:, :needed] if length >= needed else mx.pad(x, [(0, 0), (0, needed - length), (0, 0)])
    blocks = x.reshape(batch, frames + groups - 1, stride * channels)
    y = None if bias is None else mx.broadcast_to(bias, (batch, frames, out_channels))
    for q in range(groups):
        width = min(stride, taps - q * stride) * channels
        a = blocks[:, q : q + frames, :width]
        w = weight[:, q * stride : q * stride + stride].reshape(out_channels, -1).T
        y = a @ w if y is None else mx.addmm(y, a, w)
    return y


class StridedConv1d(nn.Conv1d):
    """nn.Conv1d; on the Linux CPU path unpadded strided convs by blocked_strided_conv1d (1.1-1.3x
    MLX's CPU kernel at HuBERT's shapes)."""

    def __call__(self, x: mx.array) -> mx.array:
        if self.stride == 1 or self.padding != 0 or self.dilation != 1 or not cpu_kernels():
            return super().__call__(x)
        return blocked_strided_conv1d(x, self.weight, self.get("bias"), self.stride)


def group_norm_gelu_numpy(x: mx.array, weight: mx.array, bias: mx.array, eps: float) -> mx.array:
    """ChannelTimeNorm then GELU on a float32 (B, T, C) array in numpy: statistics per channel over
    time accumulated in float64, then normalise, scale and GELU in cache-sized chunks. MLX's CPU
    element-wise ops allocate and walk the 16M-value conv-0 output once per op."""
    values = np.asarray(x, dtype=np.float32)  # read only: the normalised chunks are new arrays
    mean = values.mean(axis=1, keepdims=True, dtype=np.float64)
    variance = np.square(values - mean.astype(np.float32), dtype=np.float32).mean(axis=1, keepdims=True, dtype=np.float64)
    scale = (np.asarray(weight, np.float64) / np.sqrt(variance + eps)).astype(np.float32)  # (B, 1, C)
    shift = (np.asarray(bias, np.float64) - mean * scale).astype(np.float32)
    out = np.empty(values.shape, np.float32)
    rows = max(1, _GELU_CHUNK // values.shape[2])
    for b in range(values.shape[0]):
        for start in range(0, values.shape[1], rows):
            chunk = values[b, start : start + rows] * scale[b]
            chunk += shift[b]
            _gelu_chunk(chunk, out[b, start : start + rows])
    return mx.array(out)


class FeatureConvLayer(nn.Module):
    def __init__(self, in_channels: int, channels: int, kernel: int, stride: int, bias: bool, group_norm_eps: float | None):
        super().__init__()
        self.conv = StridedConv1d(in_channels, channels, kernel, stride=stride, bias=bias)
        if group_norm_eps is not None:
            self.group_norm = ChannelTimeNorm(channels, group_norm_eps)

    def __call__(self, x: mx.array) -> mx.array:
        x = self.conv(x)
        if "group_norm" in self:
            if x.dtype == mx.float32 and cpu_kernels():
                return group_norm_gelu_numpy(x, self.group_norm.weight, self.group_norm.bias, self.group_norm.eps)
            x = self.group_norm(x)
        return gelu(x)


class FeatureExtractor(nn.Module):
    def __init__(self, conv_layers: list[list[int]], bias: bool, group_norm_eps: float):
        super().__init__()
        channels = [1] + [c for c, _, _ in conv_layers]
        self.conv_layers = [
            FeatureConvLayer(channels[i], c, k, s, bias, group_norm_eps if i == 0 else None) for i, (c, k, s) in enumerate(conv_layers)
        ]

    def __call__(self, audio: mx.array) -> mx.array:
        x = audio[:, :, None]
        for layer in self.conv_layers:
            x = layer(x)
        return x


class FeatureProjection(nn.Module):
    def __init__(self, conv_dim: int, hidden: int, eps: float):
        super().__init__()
        self.layer_norm = nn.LayerNorm(conv_dim, eps=eps)
        self.projection = nn.Linear(conv_dim, hidden)

    def __call__(self, x: mx.array) -> mx.array:
        return self.projection(self.layer_norm(x))


class PositionalConv(nn.Module):
    def __init__(self, hidden: int, kernel: int, groups: int):
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2, groups=groups)

    def __call__(self, x: mx.array) -> mx.array:
        y = self.conv(x)
        if self.kernel % 2 == 0:
            y = y[:, :-1]  # SamePad: an even kernel yields T + 1 frames; the last one goes
        return gelu(y)


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)

    def __call__(self, x: mx.array) -> mx.array:
        batch, frames, hidden = x.shape
        head_dim = hidden // self.heads

        def split(t: mx.array) -> mx.array:
            return t.reshape(batch, frames, self.heads, head_dim).transpose(0, 2, 1, 3)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        scores = (q * head_dim**-0.5) @ k.transpose(0, 1, 3, 2)
        out = softmax(scores.astype(mx.float32), axis=-1).astype(v.dtype) @ v
        return self.out_proj(out.transpose(0, 2, 1, 3).reshape(batch, frames, hidden))


class FeedForward(nn.Module):
    def __init__(self, hidden: int, ffn: int):
        super().__init__()
        self.intermediate_dense = nn.Linear(hidden, ffn)
        self.output_dense = nn.Linear(ffn, hidden)

    def __call__(self, x: mx.array) -> mx.array:
        return self.output_dense(gelu(self.intermediate_dense(x)))


class EncoderLayer(nn.Module):
    """Post-LN transformer layer (layer_norm_first false)."""

    def __init__(self, hidden: int, heads: int, ffn: int, eps: float):
        super().__init__()
        self.attention = SelfAttention(hidden, heads)
        self.layer_norm = nn.LayerNorm(hidden, eps=eps)
        self.feed_forward = FeedForward(hidden, ffn)
        self.final_layer_norm = nn.LayerNorm(hidden, eps=eps)

    def __call__(self, x: mx.array) -> mx.array:
        x = self.layer_norm(x + self.attention(x))
        return self.final_layer_norm(x + self.feed_forward(x))


class Encoder(nn.Module):
    def __init__(self, config: dict[str, Any]):
        super().__init__()
        hidden, eps = config["hidden_size"], config["layer_norm_eps"]
        self.pos_conv_embed = PositionalConv(hidden, config["pos_conv_kernel"], config["pos_conv_groups"])
        self.layer_norm = nn.LayerNorm(hidden, eps=eps)
        self.layers = [EncoderLayer(hidden, config["num_heads"], config["ffn_dim"], eps) for _ in range(config["num_layers"])]


@dataclass
class HubertOutputs:
    """Every stage RVC or a parity check looks at; (B, T, ·) arrays."""

    conv_features: mx.array
    proj_features: mx.array
    pos_conv_out: mx.array
    hidden_states: list[mx.array]  # [0] after the encoder LayerNorm, [i] after layer i


class HuBERT(nn.Module):
    def __init__(self, config: dict[str, Any]):
        super().__init__()
        if config.get("layer_norm_first"):
            raise ValueError("pre-LN HuBERT (layer_norm_first true) is not supported: RVC uses the post-LN base model")
        if config.get("feature_norm", "group") != "group" or config.get("activation", "gelu") != "gelu":
            raise ValueError(f"unsupported HuBERT variant: feature_norm {config.get('feature_norm')}, activation {config.get('activation')}")
        hidden = config["hidden_size"]
        if hidden % config["num_heads"] or hidden % config["pos_conv_groups"]:
            raise ValueError(f"hidden_size {hidden} is not a multiple of num_heads {config['num_heads']} and pos_conv_groups {config['pos_conv_groups']}")
        self.config = dict(config)
        conv_layers = config["conv_layers"]
        self.feature_extractor = FeatureExtractor(conv_layers, config.get("conv_bias", False), config.get("group_norm_eps", 1e-5))
        self.feature_projection = FeatureProjection(conv_layers[-1][0], config["hidden_size"], config["layer_norm_eps"])
        self.encoder = Encoder(config)
        if config.get("final_proj_dim"):
            self.final_proj = nn.Linear(config["hidden_size"], config["final_proj_dim"])

    @classmethod
    def from_file(cls, path: str | Path, dtype: mx.Dtype = mx.float32) -> "HuBERT":
        """A converted HuBERT/ContentVec `.safetensors` / `.npz`, loaded strictly; computes in `dtype`."""
        return load_model(cls, path, FAMILY, CONFIG_RULES, dtype)

    @property
    def dtype(self) -> mx.Dtype:
        return self.encoder.layer_norm.weight.dtype

    def prepare_audio(self, audio: Any) -> mx.array:
        """16 kHz mono float audio, (L,) or (B, L); layer-normalised only when the model asks for it."""
        x = mx.array(np.asarray(audio, dtype=np.float32)) if not isinstance(audio, mx.array) else audio.astype(mx.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2:
            raise ValueError(f"audio must be (samples,) or (batch, samples), got shape {tuple(x.shape)}")
        receptive = 1 + sum((k - 1) * int(np.prod([s for _, _, s in self.config["conv_layers"][:i]])) for i, (_, k, _) in enumerate(self.config["conv_layers"]))
        if x.shape[1] < receptive:
            raise ValueError(f"audio has {x.shape[1]} samples; HuBERT needs at least {receptive} (one frame)")
        if self.config.get("normalize_waveform"):
            samples = x[:, :, None]
            centred = samples - time_mean(samples)
            x = (centred * mx.rsqrt(time_mean(centred * centred) + WAVEFORM_NORM_EPS))[:, :, 0]
        return x.astype(self.dtype)

    def run(self, audio: Any, output_layer: int | None = None) -> HubertOutputs:
        """The forward pass up to layer `output_layer` (1-based; default: all layers)."""
        last = self.config["num_layers"] if output_layer is None else output_layer
        if not 0 <= last <= self.config["num_layers"]:
            raise ValueError(f"output_layer {output_layer} outside 0..{self.config['num_layers']}")
        conv_features = self.feature_extractor(self.prepare_audio(audio))
        proj_features = self.feature_projection(conv_features)
        pos_conv_out = self.encoder.pos_conv_embed(proj_features)
        x = self.encoder.layer_norm(proj_features + pos_conv_out)
        hidden_states = [x]
        for layer in self.encoder.layers[:last]:
            x = layer(x)
            hidden_states.append(x)
        return HubertOutputs(conv_features, proj_features, pos_conv_out, hidden_states)

    def extract_features(self, audio: Any, version: str = "v2", v1_layer: int | None = None) -> mx.array:
        """What RVC feeds the synthesizer, (B, T, ·) at 50 frames/s.

        v2: output of the last layer (no final LayerNorm, no projection). v1: final_proj(output of
        layer `v1_layer`): RVC uses 9 (the config's `v1_output_layer`); Applio uses the last layer.
        """
        if version == "v2":
            return self.run(audio).hidden_states[-1]
        if version == "v1":
            if "final_proj" not in self:
                raise ValueError("this HuBERT file has no final_proj: it can serve RVC v2 models only")
            layer = self.config.get("v1_output_layer", 9) if v1_layer is None else v1_layer
            return self.final_proj(self.run(audio, output_layer=layer).hidden_states[layer])
        raise ValueError(f"version must be 'v1' or 'v2', got {version!r}")

    def __call__(self, audio: Any) -> mx.array:
        return self.extract_features(audio, "v2")
