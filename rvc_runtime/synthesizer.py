"""RVC synthesizer (net_g) inference in MLX: text encoder, reverse coupling flow, NSF-HiFi-GAN.

Channels-last ([B, T, C]) throughout. The decoder is chosen by the file's `vocoder` metadata:
the classic NSF-HiFi-GAN `Generator` here, or Applio's MRF HiFi-GAN / RefineGAN from
`rvc_runtime.decoders`, which register themselves in `DECODERS`. Parameter paths equal the converted file's keys
(`enc_p.encoder.attn_0.conv_q.weight`, `flow.flow_0.enc.in_layer_2.weight`, `dec.up_0.weight`,
...), so loading is strict and nothing is renamed at load time. Numbered layers are attributes
(`attn_0`, `up_0`) rather than lists, because MLX names list items `.0`.

The math follows the RVC WebUI `infer`; see docs/synthesizer_format.md, "Inference".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .cpu_ops import softmax
from .kernels import cpu_kernels
from .weights import MAX_CHANNELS, MAX_HOP, MAX_KERNEL, MAX_LAYERS, MAX_RATE, SAMPLE_RATES, check_config, listed, load_into, load_weights, optional, real, whole

LRELU_SLOPE = 0.1
WINDOW_SIZE = 10  # relative-attention window; heads share one table
PITCH_BINS = 256
FLOW_COUPLINGS = 4
FLOW_WN_LAYERS = 3
FLOW_WN_KERNEL = 5
SINE_AMP = 0.1
NOISE_STD = 0.003
PRIOR_NOISE_SCALE = 0.66666
PHONE_DIMS = {"v1": 256, "v2": 768}

# the RVC 18-field config list, in order (docs/synthesizer_format.md, "The config list")
CONFIG_FIELDS = (
    "spec_channels", "segment_size", "inter_channels", "hidden_channels", "filter_channels",
    "n_heads", "n_layers", "kernel_size", "p_dropout", "resblock", "resblock_kernel_sizes",
    "resblock_dilation_sizes", "upsample_rates", "upsample_initial_channel",
    "upsample_kernel_sizes", "spk_embed_dim", "gin_channels", "sr",
)  # fmt: skip


MAX_SPEAKERS = 1 << 16
# What the config's fields may hold (weights.check_config): sizes and counts within the shared
# bounds, dilations and kernels small positive integers. A field the runtime never reads is not checked.
CONFIG_RULES = {
    "inter_channels": whole(1, MAX_CHANNELS),
    "hidden_channels": whole(1, MAX_CHANNELS),
    "filter_channels": whole(1, MAX_CHANNELS),
    "n_heads": whole(1, MAX_LAYERS),
    "n_layers": whole(1, MAX_LAYERS),
    "kernel_size": whole(1, MAX_KERNEL),
    "p_dropout": optional(real(0.0, 1.0)),
    "resblock_kernel_sizes": listed(whole(1, MAX_KERNEL)),
    "resblock_dilation_sizes": listed(listed(whole(1, MAX_KERNEL))),
    "upsample_rates": listed(whole(1, MAX_RATE)),
    "upsample_initial_channel": whole(1, MAX_CHANNELS),
    "upsample_kernel_sizes": listed(whole(1, MAX_KERNEL)),
    "spk_embed_dim": optional(whole(1, MAX_SPEAKERS)),
    "gin_channels": whole(1, MAX_CHANNELS),
    "sr": optional(whole(*SAMPLE_RATES)),
}


def _metadata_int(metadata: dict[str, str], key: str, low: int, high: int) -> int:
    """An integer metadata entry within [low, high] (its text is the file's word: checked first)."""
    text = str(metadata[key]).strip()
    if not (text.isdigit() and len(text) <= 9 and low <= int(text) <= high):
        raise ValueError(f"metadata {key} {text[:40]!r} is not a whole number from {low} to {high}")
    return int(text)


def _parse_flag(value) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise ValueError(f"f0 flag {value!r} is not one of 1/0/true/false")


@dataclass(frozen=True)
class SynthesizerConfig:
    inter_channels: int
    hidden_channels: int
    filter_channels: int
    n_heads: int
    n_layers: int
    kernel_size: int
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    upsample_rates: tuple[int, ...]
    upsample_initial_channel: int
    upsample_kernel_sizes: tuple[int, ...]
    n_speakers: int
    gin_channels: int
    sample_rate: int
    f0: bool
    phone_dim: int
    vocoder: str = "HiFi-GAN"

    @property
    def hop(self) -> int:
        """Output samples per input frame."""
        return math.prod(self.upsample_rates)

    @classmethod
    def from_rvc(
        cls,
        config: list | tuple | dict,
        metadata: dict[str, str] | None = None,
        weights: dict[str, mx.array] | None = None,
    ) -> "SynthesizerConfig":
        """Build from the RVC config (18-field list or dict of those field names), the file's
        metadata (`f0`, `version`, `sample_rate`, `speakers`) and the weights (speaker rows)."""
        metadata = dict(metadata or {})
        if isinstance(config, dict):
            fields = dict(config)
            for key in ("f0", "version", "sample_rate"):
                if key in fields:
                    metadata[key] = str(fields.pop(key))
        else:
            if len(config) != len(CONFIG_FIELDS):
                raise ValueError(
                    f"the RVC config list has {len(config)} entries, expected {len(CONFIG_FIELDS)}"
                )
            fields = dict(zip(CONFIG_FIELDS, config))
        if fields.get("sr") in ("", 0):
            fields["sr"] = None  # not given: the metadata's sample_rate must say it
        check_config(fields, CONFIG_RULES, "the RVC config")
        rates, kernels = fields["upsample_rates"], fields["upsample_kernel_sizes"]
        if len(rates) != len(kernels) or math.prod(rates) > MAX_HOP:
            raise ValueError(f"upsample_rates {rates} and upsample_kernel_sizes {kernels}: one kernel per rate, a hop of at most {MAX_HOP}")
        if len(fields["resblock_kernel_sizes"]) != len(fields["resblock_dilation_sizes"]):
            raise ValueError("resblock_kernel_sizes and resblock_dilation_sizes must list one entry per block each")
        if fields["hidden_channels"] % fields["n_heads"] or fields["inter_channels"] % 2:
            raise ValueError(f"hidden_channels {fields['hidden_channels']} must be a multiple of n_heads {fields['n_heads']}, inter_channels even")
        weights = weights or {}

        if str(fields.get("resblock", "1")) != "1":
            raise ValueError(f"resblock type {fields['resblock']!r} is not supported (only '1')")
        vocoder = metadata.get("vocoder", "HiFi-GAN")
        if vocoder not in DECODERS:
            raise ValueError(f"vocoder {vocoder!r} is not supported (this runtime runs {', '.join(DECODERS)})")

        # B18: the sample rate comes from the file, never from a default
        rates = {}
        if fields.get("sr") is not None:
            rates["config[17]"] = int(fields["sr"])
        if metadata.get("sample_rate") not in (None, ""):
            rates["metadata sample_rate"] = _metadata_int(metadata, "sample_rate", *SAMPLE_RATES)
        if not rates:
            raise ValueError(
                "no sample rate: neither a 'sample_rate' metadata entry nor config[17]; "
                "refusing to guess. Re-convert the model or pass the config explicitly."
            )
        if len(set(rates.values())) > 1:
            raise ValueError(f"conflicting sample rates {rates}; re-convert the model")
        sample_rate = next(iter(rates.values()))

        if "f0" in metadata:
            f0 = _parse_flag(metadata["f0"])
        elif weights:
            f0 = any(key.startswith("dec.m_source.") for key in weights)
        else:
            raise ValueError("pitch guidance unknown: no 'f0' metadata and no weights")

        phone_dim = None
        if "version" in metadata:
            if metadata["version"] not in PHONE_DIMS:
                raise ValueError(f"version {metadata['version']!r} is not v1 or v2")
            phone_dim = PHONE_DIMS[metadata["version"]]
        if "enc_p.emb_phone.weight" in weights:
            width = int(weights["enc_p.emb_phone.weight"].shape[1])
            if phone_dim is not None and width != phone_dim:
                raise ValueError(
                    f"enc_p.emb_phone.weight takes {width}-d features but the metadata says "
                    f"{metadata['version']} ({phone_dim}-d); re-convert the model"
                )
            phone_dim = width
        if phone_dim is None:
            raise ValueError("phone feature size unknown: no 'version' metadata and no weights")
        if vocoder != "HiFi-GAN" and not f0:
            raise ValueError(f"the {vocoder} decoder exists only for pitch-guided models, but the file says f0=0")

        # upstream replaces spk_embed_dim by the real row count of emb_g
        if "emb_g.weight" in weights:
            n_speakers = int(weights["emb_g.weight"].shape[0])
        elif "speakers" in metadata:
            n_speakers = _metadata_int(metadata, "speakers", 1, MAX_SPEAKERS)
        elif fields.get("spk_embed_dim") is not None:
            n_speakers = int(fields["spk_embed_dim"])
        else:
            raise ValueError("speaker count unknown: no emb_g weights, no 'speakers' metadata, no spk_embed_dim")

        hop = math.prod(int(u) for u in fields["upsample_rates"])
        if metadata.get("hop") not in (None, "") and _metadata_int(metadata, "hop", 1, MAX_HOP) != hop:
            raise ValueError(f"metadata hop {metadata['hop']} != product of upsample_rates {hop}")

        return cls(
            inter_channels=int(fields["inter_channels"]),
            hidden_channels=int(fields["hidden_channels"]),
            filter_channels=int(fields["filter_channels"]),
            n_heads=int(fields["n_heads"]),
            n_layers=int(fields["n_layers"]),
            kernel_size=int(fields["kernel_size"]),
            resblock_kernel_sizes=tuple(int(k) for k in fields["resblock_kernel_sizes"]),
            resblock_dilation_sizes=tuple(
                tuple(int(d) for d in ds) for ds in fields["resblock_dilation_sizes"]
            ),
            upsample_rates=tuple(int(u) for u in fields["upsample_rates"]),
            upsample_initial_channel=int(fields["upsample_initial_channel"]),
            upsample_kernel_sizes=tuple(int(k) for k in fields["upsample_kernel_sizes"]),
            n_speakers=n_speakers,
            gin_channels=int(fields["gin_channels"]),
            sample_rate=sample_rate,
            f0=f0,
            phone_dim=phone_dim,
            vocoder=vocoder,
        )

    @classmethod
    def from_metadata(
        cls, metadata: dict[str, str], weights: dict[str, mx.array] | None = None
    ) -> "SynthesizerConfig":
        if "config" not in metadata:
            raise ValueError(
                "the file has no 'config' metadata (the RVC 18-field list); "
                "pass config=... explicitly or re-convert the model"
            )
        return cls.from_rvc(json.loads(metadata["config"]), metadata, weights)


# ---------------------------------------------------------------- text encoder


def relative_to_absolute(x: mx.array, window: int) -> mx.array:
    """[..., T, 2w+1] logits per relative offset -> [..., T, T] with out[i, j] = x[i, j-i+w]
    (0 where |j-i| > w). Skews the rows by padding each to T+2w+1 and re-reading them as T+2w."""
    *lead, t, width = x.shape
    x = mx.pad(x, [(0, 0)] * len(lead) + [(0, 0), (0, t)])
    x = x.reshape(*lead, t * (t + width))[..., : t * (t + width - 1)]
    return x.reshape(*lead, t, t + width - 1)[..., window : window + t]


def absolute_to_relative(x: mx.array, window: int) -> mx.array:
    """[..., T, T] weights -> [..., T, 2w+1] with out[i, k] = x[i, i+k-w] (0 outside [0, T));
    the inverse skew of `relative_to_absolute`."""
    *lead, t, _ = x.shape
    width = 2 * window + 1
    x = mx.pad(x, [(0, 0)] * len(lead) + [(0, 0), (window, window)])
    x = x.reshape(*lead, t * (t + width - 1))
    x = mx.pad(x, [(0, 0)] * len(lead) + [(0, t)])
    return x.reshape(*lead, t, t + width)[..., :width]


class MultiHeadAttention(nn.Module):
    """Self-attention with windowed relative position keys and values (shared by heads)."""

    def __init__(self, channels: int, n_heads: int, window: int = WINDOW_SIZE):
        super().__init__()
        self.n_heads = n_heads
        self.window = window
        head_dim = channels // n_heads
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        self.emb_rel_k = mx.zeros((1, 2 * window + 1, head_dim))
        self.emb_rel_v = mx.zeros((1, 2 * window + 1, head_dim))

    def __call__(self, x: mx.array, mask: mx.array) -> mx.array:
        b, t, c = x.shape

        def heads(y):  # [B, T, C] -> [B, H, T, D]
            return y.reshape(b, t, self.n_heads, -1).transpose(0, 2, 1, 3)

        q = heads(self.conv_q(x)) / math.sqrt(c // self.n_heads)
        k, v = heads(self.conv_k(x)), heads(self.conv_v(x))
        scores = q @ k.transpose(0, 1, 3, 2)
        scores = scores + relative_to_absolute(q @ self.emb_rel_k[0].T, self.window)
        pair_mask = (mask * mask.transpose(0, 2, 1))[:, None]  # [B, 1, T, T]
        p = softmax(mx.where(pair_mask > 0, scores, -1e4), axis=-1)
        out = p @ v + absolute_to_relative(p, self.window) @ self.emb_rel_v[0]
        return self.conv_o(out.transpose(0, 2, 1, 3).reshape(b, t, c))


def pad_same(x: mx.array, kernel_size: int) -> mx.array:
    """Zero-pad the time axis of [B, T, C] for a stride-1 'same' convolution."""
    return mx.pad(x, [(0, 0), ((kernel_size - 1) // 2, kernel_size // 2), (0, 0)])


class FFN(nn.Module):
    def __init__(self, channels: int, filter_channels: int, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)

    def __call__(self, x: mx.array, mask: mx.array) -> mx.array:
        x = nn.relu(self.conv_1(pad_same(x * mask, self.kernel_size)))
        x = self.conv_2(pad_same(x * mask, self.kernel_size))
        return x * mask


class Encoder(nn.Module):
    """n_layers x (x = LN1(x + MHA(x)); x = LN2(x + FFN(x)))."""

    def __init__(self, hidden, filter_channels, n_heads, n_layers, kernel_size):
        super().__init__()
        self.n_layers = n_layers
        for i in range(n_layers):
            setattr(self, f"attn_{i}", MultiHeadAttention(hidden, n_heads))
            setattr(self, f"norm1_{i}", nn.LayerNorm(hidden, eps=1e-5))
            setattr(self, f"ffn_{i}", FFN(hidden, filter_channels, kernel_size))
            setattr(self, f"norm2_{i}", nn.LayerNorm(hidden, eps=1e-5))

    def __call__(self, x: mx.array, mask: mx.array) -> mx.array:
        x = x * mask
        for i in range(self.n_layers):
            x = getattr(self, f"norm1_{i}")(x + getattr(self, f"attn_{i}")(x, mask))
            x = getattr(self, f"norm2_{i}")(x + getattr(self, f"ffn_{i}")(x, mask))
        return x * mask


class TextEncoder(nn.Module):
    """Content features (+ coarse pitch) -> prior mean m_p and log-scale logs_p."""

    def __init__(self, config: SynthesizerConfig):
        super().__init__()
        hidden = config.hidden_channels
        self.hidden = hidden
        self.emb_phone = nn.Linear(config.phone_dim, hidden)
        if config.f0:
            self.emb_pitch = nn.Embedding(PITCH_BINS, hidden)
        self.encoder = Encoder(
            hidden, config.filter_channels, config.n_heads, config.n_layers, config.kernel_size
        )
        self.proj = nn.Conv1d(hidden, 2 * config.inter_channels, 1)

    def __call__(self, phone, pitch, mask, trace=None):
        x = self.emb_phone(phone)
        _record(trace, "enc_p.emb_phone.out", x)
        if pitch is not None:
            pitch_embedding = self.emb_pitch(pitch)
            _record(trace, "enc_p.emb_pitch.out", pitch_embedding)
            x = x + pitch_embedding
        x = nn.leaky_relu(x * math.sqrt(self.hidden), LRELU_SLOPE)
        x = self.encoder(x * mask, mask)
        _record(trace, "enc_p.encoder.out", x)
        stats = self.proj(x) * mask
        m_p, logs_p = mx.split(stats, 2, axis=-1)
        return m_p, logs_p


# ---------------------------------------------------------------- flow


class WN(nn.Module):
    """WaveNet body: gated dilated convs conditioned on the speaker, with skip outputs."""

    def __init__(self, hidden: int, kernel_size: int, n_layers: int, gin_channels: int):
        super().__init__()
        self.hidden = hidden
        self.n_layers = n_layers
        for i in range(n_layers):
            conv = nn.Conv1d(hidden, 2 * hidden, kernel_size, padding=(kernel_size - 1) // 2)
            setattr(self, f"in_layer_{i}", conv)
            width = 2 * hidden if i < n_layers - 1 else hidden
            setattr(self, f"res_skip_layer_{i}", nn.Conv1d(hidden, width, 1))
        self.cond_layer = nn.Conv1d(gin_channels, 2 * hidden * n_layers, 1)

    def __call__(self, x: mx.array, mask: mx.array, g: mx.array) -> mx.array:
        h = self.hidden
        cond = self.cond_layer(g)  # [B, 1, 2h * n_layers]
        out = mx.zeros_like(x)
        for i in range(self.n_layers):
            a = getattr(self, f"in_layer_{i}")(x) + cond[..., 2 * h * i : 2 * h * (i + 1)]
            acts = mx.tanh(a[..., :h]) * mx.sigmoid(a[..., h:])
            r = getattr(self, f"res_skip_layer_{i}")(acts)
            if i < self.n_layers - 1:
                x = (x + r[..., :h]) * mask
                out = out + r[..., h:]
            else:
                out = out + r
        return out * mask


class ResidualCouplingLayer(nn.Module):
    """Mean-only affine coupling: x1 -= post(WN(pre(x0)))."""

    def __init__(self, channels: int, hidden: int, gin_channels: int):
        super().__init__()
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.enc = WN(hidden, FLOW_WN_KERNEL, FLOW_WN_LAYERS, gin_channels)
        self.post = nn.Conv1d(hidden, self.half, 1)

    def reverse(self, x, mask, g, trace=None, name=""):
        x0, x1 = x[..., : self.half], x[..., self.half :]
        h = self.enc(self.pre(x0) * mask, mask, g)
        _record(trace, f"{name}.enc.out", h)
        m = self.post(h) * mask
        _record(trace, f"{name}.post.out", m)
        return mx.concatenate([x0, (x1 - m) * mask], axis=-1)


class ResidualCouplingBlock(nn.Module):
    """Upstream's module list is [Coupling0, Flip1, Coupling2, Flip3, ...]; only couplings
    hold weights (flow_i = flows.2i). Reverse walks it backwards: Flip then Coupling."""

    def __init__(self, channels: int, hidden: int, gin_channels: int):
        super().__init__()
        for i in range(FLOW_COUPLINGS):
            setattr(self, f"flow_{i}", ResidualCouplingLayer(channels, hidden, gin_channels))

    def reverse(self, x, mask, g, trace=None):
        for i in reversed(range(FLOW_COUPLINGS)):
            x = x[..., ::-1]  # Flip 2i+1 comes before Coupling 2i in reverse (B12)
            x = getattr(self, f"flow_{i}").reverse(x, mask, g, trace, f"flow.flows.{2 * i}")
        return x


# ---------------------------------------------------------------- NSF-HiFi-GAN generator


def tap_sum_conv1d(x, weight, bias=None, dilation: int = 1, padding: int = 0) -> mx.array:
    """Stride-1 conv1d [B, T, I] -> [B, T', O] with weight (O, K, I): one matmul per tap of the
    shifted input, accumulated in place by addmm (no unfolded [T, K*I] buffer)."""
    out_channels, taps, _ = weight.shape
    x = mx.pad(x, [(0, 0), (padding, padding), (0, 0)])
    length = x.shape[1] - dilation * (taps - 1)
    y = None if bias is None else mx.broadcast_to(bias, (x.shape[0], length, out_channels))
    for j in range(taps):
        shifted, w = x[:, j * dilation : j * dilation + length], weight[:, j].T
        y = shifted @ w if y is None else mx.addmm(y, shifted, w)
    return y


class Conv1d(nn.Conv1d):
    """nn.Conv1d (same parameters); on the Linux CPU path, stride-1 convs by tap-sum: MLX's CPU
    conv kernel is slow for the generator's shapes (ResBlocks ~2x, dilated 10-30x, 1-channel
    conv_post ~6x)."""

    def __call__(self, x: mx.array) -> mx.array:
        if self.stride != 1 or not cpu_kernels():
            return super().__call__(x)
        return tap_sum_conv1d(x, self.weight, self.get("bias"), self.dilation, self.padding)


def overlap_add_conv_transpose1d(x, weight, bias, stride: int, padding: int, output_padding: int = 0) -> mx.array:
    """ConvTranspose1d [B, T, I] -> [B, T', O] with weight (O, K, I) as one matmul and an overlap-add:
    y[t*u + j - padding] += x[t] @ W[:, j, :].T; the taps are zero-padded to m*u so that tap
    j = q*u + r lands in output block t + q, phase r."""
    out_channels, taps, in_channels = weight.shape
    b, t, _ = x.shape
    u = stride
    m = -(-taps // u)
    w = mx.pad(weight, [(0, 0), (0, m * u - taps), (0, 0)])
    w = w.transpose(1, 0, 2).reshape(m * u * out_channels, in_channels)
    z = (x @ w.T).reshape(b, t, m, u * out_channels)
    y = sum(mx.pad(z[:, :, q], [(0, 0), (q, m - 1 - q), (0, 0)]) for q in range(m))
    y = y.reshape(b, (t + m - 1) * u, out_channels)
    length = (t - 1) * u - 2 * padding + taps + output_padding
    y = y[:, padding : padding + length]
    return y if bias is None else y + bias


class ConvTranspose1d(nn.ConvTranspose1d):
    """nn.ConvTranspose1d; on the Linux CPU path by overlap_add_conv_transpose1d (MLX's CPU kernel
    is 10-30x slower there)."""

    def __call__(self, x: mx.array) -> mx.array:
        if not cpu_kernels():
            return super().__call__(x)
        return overlap_add_conv_transpose1d(x, self.weight, self.get("bias"), self.stride, self.padding, self.output_padding)


def nsf_excitation(f0, sample_rate: int, upp: int, noise: mx.array) -> mx.array:
    """NSF excitation e [B, T*upp, 1] from frame f0 [B, T] in Hz (0 = unvoiced):

        e_n = 0.1 sin(2 pi phase_n) uv_n + (0.003 uv_n + 0.1/3 (1 - uv_n)) noise_n
        phase_n = (sum_{m<=n} (f0_frame(m) / sr mod 1)) mod 1

    The phase is accumulated in float64 (numpy) so that long inputs do not drift.
    """
    f0 = np.asarray(f0, dtype=np.float64)
    step = np.repeat(np.mod(f0 / sample_rate, 1.0), upp, axis=1)
    phase = np.mod(np.cumsum(step, axis=1), 1.0)
    sine = mx.array((SINE_AMP * np.sin(2 * np.pi * phase))[..., None].astype(np.float32))
    uv = mx.array(np.repeat(f0 > 0, upp, axis=1)[..., None].astype(np.float32))
    noise_amp = uv * NOISE_STD + (1 - uv) * SINE_AMP / 3
    return sine * uv + noise_amp * noise


class SourceModuleHnNSF(nn.Module):
    """Merge the excitation into one source channel: tanh(l_linear(e))."""

    def __init__(self):
        super().__init__()
        self.l_linear = nn.Linear(1, 1)

    def __call__(self, excitation: mx.array) -> mx.array:
        return mx.tanh(self.l_linear(excitation))


class ResBlock1(nn.Module):
    """Three (dilated conv, conv) pairs with leaky-ReLU pre-activations and residuals."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.n = len(dilations)
        for j, d in enumerate(dilations):
            pad = d * (kernel_size - 1) // 2
            conv1 = Conv1d(channels, channels, kernel_size, dilation=d, padding=pad)
            conv2 = Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2)
            setattr(self, f"c1_{j}", conv1)
            setattr(self, f"c2_{j}", conv2)

    def __call__(self, x: mx.array) -> mx.array:
        for j in range(self.n):
            t = getattr(self, f"c1_{j}")(nn.leaky_relu(x, LRELU_SLOPE))
            t = getattr(self, f"c2_{j}")(nn.leaky_relu(t, LRELU_SLOPE))
            x = x + t
        return x


class Generator(nn.Module):
    """HiFi-GAN generator; with `f0` the NSF variant that adds a harmonic source per stage.

    Every decoder offers `noise_shapes(batch, frames)` (its random draws, channels-last) and
    `decode(z, g, f0, draws, trace)`; `upstream_draws()` names upstream's draws in call order
    ((name, stored channels-first), name None for a draw upstream discards).
    """

    def __init__(self, config: SynthesizerConfig):
        super().__init__()
        self.sample_rate, self.hop = config.sample_rate, config.hop
        rates, kernels = config.upsample_rates, config.upsample_kernel_sizes
        self.n_stages = len(rates)
        self.n_kernels = len(config.resblock_kernel_sizes)
        self.f0 = config.f0
        ch = config.upsample_initial_channel
        self.conv_pre = Conv1d(config.inter_channels, ch, 7, padding=3)
        self.cond = nn.Conv1d(config.gin_channels, ch, 1)
        resblocks = list(zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes))
        for i, (u, k) in enumerate(zip(rates, kernels)):
            c_in, c_out = ch // 2**i, ch // 2 ** (i + 1)
            up = ConvTranspose1d(c_in, c_out, k, stride=u, padding=(k - u) // 2)
            setattr(self, f"up_{i}", up)
            for j, (block_kernel, dilations) in enumerate(resblocks):
                block = ResBlock1(c_out, block_kernel, dilations)
                setattr(self, f"resblock_{i * self.n_kernels + j}", block)
            if self.f0:
                s = math.prod(rates[i + 1 :])  # source samples per output sample of stage i
                if s > 1:
                    noise_conv = nn.Conv1d(1, c_out, 2 * s, stride=s, padding=s // 2)
                else:
                    noise_conv = nn.Conv1d(1, c_out, 1)
                setattr(self, f"noise_conv_{i}", noise_conv)
        self.conv_post = Conv1d(ch // 2**self.n_stages, 1, 7, padding=3, bias=False)
        if self.f0:
            self.m_source = SourceModuleHnNSF()

    def noise_shapes(self, batch: int, frames: int) -> dict[str, tuple[int, ...]]:
        return {"source": (batch, frames * self.hop, 1)} if self.f0 else {}

    def upstream_draws(self) -> tuple[tuple[str | None, bool], ...]:
        return (("source", False),) if self.f0 else ()

    def decode(self, x, g, f0, draws: dict, trace=None) -> mx.array:
        excitation = None
        if self.f0:
            excitation = nsf_excitation(f0, self.sample_rate, self.hop, draws["source"]).astype(x.dtype)
        return self(x, g, excitation, trace)

    def __call__(self, x, g, excitation=None, trace=None):
        har = None
        if self.f0:
            har = self.m_source(excitation)
            _record(trace, "dec.m_source.out", har)
        x = self.conv_pre(x)
        _record(trace, "dec.conv_pre.out", x)
        cond = self.cond(g)
        _record(trace, "dec.cond.out", cond)
        x = x + cond
        for i in range(self.n_stages):
            x = nn.leaky_relu(x, LRELU_SLOPE)
            _record(trace, f"dec.ups.{i}.in", x)
            x = getattr(self, f"up_{i}")(x)
            _record(trace, f"dec.ups.{i}.out", x)
            if har is not None:
                source = getattr(self, f"noise_conv_{i}")(har)
                _record(trace, f"dec.noise_convs.{i}.out", source)
                x = x + source
            blocks = range(i * self.n_kernels, (i + 1) * self.n_kernels)
            x = sum(getattr(self, f"resblock_{n}")(x) for n in blocks) / self.n_kernels
        x = nn.leaky_relu(x, 0.01)  # torch's default slope here, not LRELU_SLOPE
        _record(trace, "dec.conv_post.in", x)
        x = self.conv_post(x)
        _record(trace, "dec.conv_post.out", x)
        return mx.tanh(x)


# ---------------------------------------------------------------- synthesizer


def _record(trace: dict | None, name: str, value: mx.array) -> None:
    if trace is not None:
        trace[name] = value


# vocoder name (the file's `vocoder` metadata) -> decoder class; rvc_runtime.decoders adds Applio's
DECODERS: dict[str, type] = {"HiFi-GAN": Generator}


def register_decoder(vocoder: str, decoder: type) -> None:
    DECODERS[vocoder] = decoder


class Synthesizer(nn.Module):
    """SynthesizerTrnMs{256,768}NSFsid[_nono] inference: features (+ pitch) -> audio."""

    def __init__(self, config: SynthesizerConfig):
        super().__init__()
        self.config = config
        self.emb_g = nn.Embedding(config.n_speakers, config.gin_channels)
        self.enc_p = TextEncoder(config)
        self.flow = ResidualCouplingBlock(
            config.inter_channels, config.hidden_channels, config.gin_channels
        )
        self.dec = DECODERS[config.vocoder](config)

    @classmethod
    def from_file(
        cls, path: str | Path, config=None, dtype: mx.Dtype = mx.float32
    ) -> "Synthesizer":
        """Build from a converted file's metadata (or an explicit RVC `config` list/dict) and load
        its weights strictly, computing in `dtype`."""
        weights, metadata = load_weights(path)
        try:
            if config is None:
                cfg = SynthesizerConfig.from_metadata(metadata, weights)
            else:
                cfg = SynthesizerConfig.from_rvc(config, metadata, weights)
            model = load_into(cls(cfg), weights, dtype)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        model.metadata = MappingProxyType(metadata)  # a dict would become a child module
        return model

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def infer(
        self,
        phone,
        phone_lengths=None,
        pitch=None,
        pitchf=None,
        sid=0,
        noise: None | str | dict = None,
        seed: int | None = None,
        return_intermediates: bool = False,
    ):
        """Convert content features to audio [B, T * hop] at `self.sample_rate`.

        phone [B, T, 256|768] float; phone_lengths [B] (default: T); pitch [B, T] coarse bins
        1..255 and pitchf [B, T] f0 in Hz (pitch models only; ignored otherwise); sid: int or [B].

        noise: None draws the random terms like upstream (mx.random, `seed` optional);
        "zero" is the deterministic mode (every draw 0, as the golden references);
        a dict supplies them by name, channels-last, missing ones 0: "prior" [B, T, inter_channels]
        and the decoder's (`self.noise_shapes(B, T)`): classic pitch models "source" [B, T * hop, 1]
        (or [B, T * hop]); MRF HiFi-GAN "phase" [B, 9] (cycles; the first is ignored) and "source"
        [B, T * hop, 9]; RefineGAN "source" [B, T * hop, 1] and "adain.<stage>.<branch>.<in|out>"
        [B, length, channels]. `noise_from_upstream` builds the dict from upstream's draws.

        With return_intermediates=True returns (audio, dict) whose names follow the golden
        references (`m_p`, `z`, `flow.flows.6.enc.out`, `dec.ups.0.out`, ...), channels-last.
        """
        cfg = self.config
        dtype = self.emb_g.weight.dtype  # compute in the dtype the weights were loaded in
        phone = mx.array(phone).astype(dtype)
        b, t, _ = phone.shape
        if phone_lengths is None:
            phone_lengths = mx.full((b,), t)
        lengths = mx.array(phone_lengths).reshape(-1)
        mask = (mx.arange(t)[None, :] < lengths[:, None])[..., None].astype(phone.dtype)
        sid = mx.broadcast_to(mx.array(sid).reshape(-1), (b,))
        if cfg.f0:
            if pitch is None or pitchf is None:
                raise ValueError("this model is pitch-guided (f0=1): pass pitch and pitchf")
            pitch = mx.array(pitch).astype(mx.int32)
        else:
            pitch = None
        draws = draw_noise(noise, seed, self.noise_shapes(b, t))
        draws = {name: array.astype(dtype) for name, array in draws.items()}

        trace = {} if return_intermediates else None
        _record(trace, "x_mask", mask)
        g = self.emb_g(sid)
        _record(trace, "g", g)
        g = g[:, None, :]  # [B, 1, gin]
        m_p, logs_p = self.enc_p(phone, pitch, mask, trace)
        z_p = (m_p + mx.exp(logs_p) * draws["prior"] * PRIOR_NOISE_SCALE) * mask
        z = self.flow.reverse(z_p, mask, g, trace)
        x = z * mask
        f0 = None
        if cfg.f0:
            f0 = np.asarray(pitchf, dtype=np.float32)
            _record(trace, "dec.in.f0", mx.array(f0))
        audio = self.dec.decode(x, g, f0, draws, trace)
        if trace is None:
            return audio[..., 0]
        trace.update(m_p=m_p, logs_p=logs_p, z_p=z_p, z=z, audio=audio)
        trace["dec.in.x"] = x
        return audio[..., 0], trace

    def noise_shapes(self, batch: int, frames: int) -> dict[str, tuple[int, ...]]:
        """Every random draw of one `infer` call by name, channels-last: the prior's, then the decoder's."""
        return {"prior": (batch, frames, self.config.inter_channels)} | self.dec.noise_shapes(batch, frames)

    def upstream_draws(self) -> tuple[tuple[str | None, bool], ...]:
        """Upstream's random draws of one infer call in call order: (name here, stored channels-first);
        the name is None for a draw upstream makes and then discards."""
        return (("prior", True), *self.dec.upstream_draws())

    def noise_from_upstream(self, draws: list) -> dict[str, np.ndarray]:
        """The `noise` dict from upstream's random draws in call order (PyTorch layout, as a golden
        reference's noise.0, noise.1, ... hold them): the prior [B, C, T], then the decoder's."""
        order = self.upstream_draws()
        if len(draws) != len(order):
            raise ValueError(f"{len(draws)} draws given; upstream's {self.config.vocoder} makes {len(order)} per call: {[n for n, _ in order]}")
        out = {}
        for (name, channels_first), array in zip(order, draws):
            if name is not None:  # a draw upstream makes but then discards
                array = np.asarray(array, dtype=np.float32)
                out[name] = np.swapaxes(array, 1, 2) if channels_first else array
        return out


def draw_noise(noise, seed, shapes: dict[str, tuple[int, ...]]) -> dict[str, mx.array]:
    """Every draw named in `shapes`: random (noise=None), zeros ("zero") or supplied (dict; the
    names it leaves out are zeros)."""
    usage = f"noise={noise!r}: use None (random), 'zero' or a dict with entries among {sorted(shapes)}"
    if isinstance(noise, str):
        if noise != "zero":
            raise ValueError(usage)
        return {name: mx.zeros(shape) for name, shape in shapes.items()}
    if isinstance(noise, dict):
        unknown = set(noise) - set(shapes)
        if unknown:
            raise ValueError(f"unknown noise entries {sorted(unknown)}; {usage}")
        drawn = {}
        for name, shape in shapes.items():
            array = mx.array(noise[name]) if name in noise else mx.zeros(shape)
            if array.ndim == len(shape) - 1 and shape[-1] == 1:
                array = array[..., None]  # [B, N] -> [B, N, 1]
            if tuple(array.shape) != shape:
                got = tuple(array.shape)
                raise ValueError(f"noise['{name}'] has shape {got}, expected {shape} (channels-last)")
            drawn[name] = array.astype(mx.float32)
        return drawn
    if noise is not None:
        raise ValueError(usage)
    # at least two keys, so a classic model draws what it drew before decoders were pluggable
    keys = mx.random.split(mx.random.key(seed), max(2, len(shapes))) if seed is not None else [None] * len(shapes)
    uniform = {"phase"}  # initial phases are U[0, 1) cycles; everything else N(0, 1)
    return {
        name: (mx.random.uniform(shape=shape, key=key) if name in uniform else mx.random.normal(shape, key=key))
        for (name, shape), key in zip(shapes.items(), keys)
    }
