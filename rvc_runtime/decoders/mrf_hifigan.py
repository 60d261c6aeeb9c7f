"""Applio's "MRF HiFi-GAN" decoder in MLX: a 9-harmonic source and HiFi-GAN stages whose
multi-receptive-field blocks are the classic ResBlock1 under other names (docs/vocoders.md).

Parameter paths equal the converted file's keys (mappings/synthesizer_mrf_hifigan.yaml):
`dec.conv_pre`, `dec.cond`, `dec.up_I`, `dec.noise_conv_I`, `dec.mrf_I_J.c1_L / c2_L`,
`dec.conv_post` (with bias), `dec.m_source.l_linear` [1, 9].
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ..synthesizer import Conv1d, ConvTranspose1d, ResBlock1
from ..synthesizer import _record as record  # the runtime's trace helper
from .dsp import sine_excitation

HARMONICS = 9
LRELU_SLOPE = 0.1
POST_LRELU_SLOPE = 0.01  # torch's default slope before conv_post


def noise_conv_kernel(stride: int) -> int:
    """Kernel of a stage's source conv: 1 when it runs at the output rate, else 2s - (s mod 2)."""
    return 1 if stride == 1 else 2 * stride - stride % 2


class MRFGenerator(nn.Module):
    """HiFiGANMRFGenerator inference: harmonic source + conv_pre + per stage (upsample, add the
    source, mean of the MRF blocks) + conv_post."""

    # Upstream's random draws inside the decoder, in call order: the harmonics' initial phases
    # (rand [B, 9], column 0 then zeroed) and the source noise (randn [B, T*hop, 9]).
    UPSTREAM_DRAWS: tuple[tuple[str | None, bool], ...] = (("phase", False), ("source", False))

    def __init__(self, config):
        super().__init__()
        self.sample_rate, self.hop = config.sample_rate, config.hop
        rates, kernels = config.upsample_rates, config.upsample_kernel_sizes
        self.n_stages, self.n_blocks = len(rates), len(config.resblock_kernel_sizes)
        ch = config.upsample_initial_channel
        self.m_source = HarmonicSource()
        self.conv_pre = Conv1d(config.inter_channels, ch, 7, padding=3)
        self.cond = nn.Conv1d(config.gin_channels, ch, 1)
        for i, (u, k) in enumerate(zip(rates, kernels)):
            c_in, c_out = ch // 2**i, ch // 2 ** (i + 1)
            setattr(self, f"up_{i}", ConvTranspose1d(c_in, c_out, k, stride=u, padding=(k - u) // 2))
            s = math.prod(rates[i + 1 :])
            kn = noise_conv_kernel(s)
            setattr(self, f"noise_conv_{i}", nn.Conv1d(1, c_out, kn, stride=s, padding=(kn - s) // 2))
            for j, (block_kernel, dilations) in enumerate(zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes)):
                setattr(self, f"mrf_{i}_{j}", ResBlock1(c_out, block_kernel, dilations))
        self.conv_post = Conv1d(ch // 2**self.n_stages, 1, 7, padding=3)

    def upstream_draws(self) -> tuple[tuple[str | None, bool], ...]:
        return self.UPSTREAM_DRAWS

    def noise_shapes(self, batch: int, frames: int) -> dict[str, tuple[int, ...]]:
        return {"phase": (batch, HARMONICS), "source": (batch, frames * self.hop, HARMONICS)}

    def decode(self, x, g, f0, draws: dict, trace=None) -> mx.array:
        """z [B, T, inter], g [B, 1, gin], frame f0 [B, T] (Hz) -> audio [B, T*hop, 1]."""
        f0_up = np.repeat(np.asarray(f0, dtype=np.float64), self.hop, axis=1)  # nearest
        record(trace, "dec.f0_upsample.out", mx.array(f0_up[..., None].astype(np.float32)))
        phase = np.array(draws["phase"], dtype=np.float64)
        phase[:, 0] = 0.0  # the fundamental has no random phase (upstream zeroes that column)
        excitation, uv = sine_excitation(f0_up, self.sample_rate, HARMONICS, phase, np.array(draws["source"]))
        excitation = mx.array(excitation.astype(np.float32)).astype(x.dtype)
        record(trace, "dec.m_source.l_sin_gen.out.sine", excitation)
        record(trace, "dec.m_source.l_sin_gen.out.uv", mx.array(uv.astype(np.float32)))
        har = self.m_source(excitation)
        record(trace, "dec.m_source.out", har)

        x = self.conv_pre(x)
        record(trace, "dec.conv_pre.out", x)
        cond = self.cond(g)
        record(trace, "dec.cond.out", cond)
        x = x + cond
        for i in range(self.n_stages):
            x = getattr(self, f"up_{i}")(nn.leaky_relu(x, LRELU_SLOPE))
            record(trace, f"dec.upsamples.{i}.out", x)
            source = getattr(self, f"noise_conv_{i}")(har)
            record(trace, f"dec.noise_convs.{i}.out", source)
            x = x + source
            x = sum(getattr(self, f"mrf_{i}_{j}")(x) for j in range(self.n_blocks)) / self.n_blocks
            record(trace, f"dec.mrfs.{i}.mean", x)
        x = self.conv_post(nn.leaky_relu(x, POST_LRELU_SLOPE))
        record(trace, "dec.conv_post.out", x)
        return mx.tanh(x)


class HarmonicSource(nn.Module):
    """Merge the 9 harmonic excitations into one source channel: tanh(l_linear(e))."""

    def __init__(self):
        super().__init__()
        self.l_linear = nn.Linear(HARMONICS, 1)

    def __call__(self, excitation: mx.array) -> mx.array:
        return mx.tanh(self.l_linear(excitation))
