"""Applio's "RefineGAN" decoder (Applio 3.3.0 and later) in MLX (docs/vocoders.md).

A sine source from linearly interpolated f0 runs down a path of convs and sinc resamplers to the
frame rate, meets the latent z there, and the signal climbs back up through linear upsampling,
skip connections from the down path and parallel noisy residual blocks. Leaky-ReLU slope 0.2
everywhere. The sizes are Applio's constructor defaults; only the upsample rates (and so the
sample rate) come from the config.

Parameter paths equal the converted file's keys (mappings/synthesizer_refinegan.yaml):
`dec.m_source.merge`, `dec.pre_conv`, `dec.down_I`, `dec.mel_conv`, `dec.cond`,
`dec.up_block_I.input_conv`, `dec.up_block_I.branch_J.{adain_in, c1_L, c2_L, adain_out}`, `dec.conv_post`.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from ..synthesizer import Conv1d
from ..synthesizer import _record as record  # the runtime's trace helper
from .dsp import interpolate_linear, sine_excitation, sinc_downsample, upsample_linear

LRELU_SLOPE = 0.2
START_CHANNELS = 16
UPSAMPLE_CHANNELS = 512
COND_CHANNELS = 256
KERNELS = (3, 7, 11)
DILATIONS = (1, 3, 5)
STAGES = 4


def stage_channels(i: int) -> tuple[int, int]:
    """(input, output) channels of up-stage i: the upsampled signal plus the down path's skip, to half."""
    ch = UPSAMPLE_CHANNELS // 2**i
    return ch + START_CHANNELS * 2 ** (STAGES - 1 - i), ch // 2


class AdaIN(nn.Module):
    """Noise injection: lrelu(v + noise * weight[c], 0.2), noise ~ N(0, 1) of v's shape."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = mx.zeros((channels,))

    def __call__(self, v: mx.array, noise: mx.array) -> mx.array:
        return nn.leaky_relu(v + noise * self.weight, LRELU_SLOPE)


class NoisyResBlock(nn.Module):
    """adain_in -> three (dilated conv, conv) residual pairs with slope-0.2 pre-activations -> adain_out."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.adain_in = AdaIN(channels)
        for layer, d in enumerate(DILATIONS):
            setattr(self, f"c1_{layer}", Conv1d(channels, channels, kernel_size, dilation=d, padding=d * (kernel_size - 1) // 2))
            setattr(self, f"c2_{layer}", Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2))
        self.adain_out = AdaIN(channels)

    def __call__(self, v: mx.array, noise_in: mx.array, noise_out: mx.array) -> mx.array:
        v = self.adain_in(v, noise_in)
        for layer in range(len(DILATIONS)):
            t = getattr(self, f"c1_{layer}")(nn.leaky_relu(v, LRELU_SLOPE))
            v = v + getattr(self, f"c2_{layer}")(nn.leaky_relu(t, LRELU_SLOPE))
        return self.adain_out(v, noise_out)


class ParallelBlock(nn.Module):
    """input_conv, then the mean of three noisy residual branches (kernels 3, 7, 11)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.input_conv = Conv1d(c_in, c_out, 7, padding=3)
        for j, kernel in enumerate(KERNELS):
            setattr(self, f"branch_{j}", NoisyResBlock(c_out, kernel))

    def __call__(self, x: mx.array, draws: dict, stage: int, trace=None) -> mx.array:
        y = self.input_conv(x)
        record(trace, f"dec.upsample_conv_blocks.{stage}.input_conv.out", y)
        total = 0
        for j in range(len(KERNELS)):
            branch = getattr(self, f"branch_{j}")
            total = total + branch(y, draws[adain_name(stage, j, "in")], draws[adain_name(stage, j, "out")])
        return total / len(KERNELS)


def adain_name(stage: int, branch: int, side: str) -> str:
    """Name of a noise-injection draw in `Synthesizer.infer(noise={...})`: adain.<stage>.<branch>.in|out."""
    return f"adain.{stage}.{branch}.{side}"


class SineSource(nn.Module):
    """tanh(merge(e)): one bias-free weight on the fundamental's excitation."""

    def __init__(self):
        super().__init__()
        self.merge = nn.Linear(1, 1, bias=False)

    def __call__(self, excitation: mx.array) -> mx.array:
        return mx.tanh(self.merge(excitation))


class RefineGANGenerator(nn.Module):
    # Upstream's random draws inside the decoder, in call order: the fundamental's phase (rand [B, 1],
    # then zeroed, so it has no effect), the source noise (randn [B, T*hop, 1]) and two noise
    # injections per branch, 3 branches per stage, 4 stages ([B, C, L] each, PyTorch layout).
    UPSTREAM_DRAWS: tuple[tuple[str | None, bool], ...] = (
        (None, False),
        ("source", False),
        *((adain_name(i, j, side), True) for i in range(STAGES) for j in range(len(KERNELS)) for side in ("in", "out")),
    )

    def __init__(self, config):
        super().__init__()
        rates = tuple(config.upsample_rates)
        if len(rates) != STAGES:
            raise ValueError(f"RefineGAN has {STAGES} upsampling stages; the config lists rates {list(rates)}")
        self.sample_rate, self.hop = config.sample_rate, config.hop
        self.up_rates, self.down_rates = rates, rates[::-1]
        self.m_source = SineSource()
        self.pre_conv = Conv1d(1, START_CHANNELS, 7, padding=3)
        for i in range(STAGES):
            c = START_CHANNELS * 2**i
            setattr(self, f"down_{i}", Conv1d(c, 2 * c, 7, padding=3))
        self.mel_conv = Conv1d(config.inter_channels, UPSAMPLE_CHANNELS // 2, 7, padding=3)
        self.cond = nn.Conv1d(COND_CHANNELS, UPSAMPLE_CHANNELS // 2, 1)
        for i in range(STAGES):
            setattr(self, f"up_block_{i}", ParallelBlock(*stage_channels(i)))
        self.conv_post = Conv1d(UPSAMPLE_CHANNELS // 2**STAGES, 1, 7, padding=3, bias=False)

    def upstream_draws(self) -> tuple[tuple[str | None, bool], ...]:
        return self.UPSTREAM_DRAWS

    def noise_shapes(self, batch: int, frames: int) -> dict[str, tuple[int, ...]]:
        shapes = {"source": (batch, frames * self.hop, 1)}
        length = frames
        for i, u in enumerate(self.up_rates):
            length *= u
            for j in range(len(KERNELS)):
                for side in ("in", "out"):
                    shapes[adain_name(i, j, side)] = (batch, length, stage_channels(i)[1])
        return shapes

    def decode(self, x, g, f0, draws: dict, trace=None) -> mx.array:
        """z [B, T, inter], g [B, 1, 256], frame f0 [B, T] (Hz) -> audio [B, T*hop, 1]."""
        f0_up = interpolate_linear(f0, self.hop)
        record(trace, "dec.m_source.in", mx.array(f0_up[..., None].astype(np.float32)))
        # voiced wherever the interpolated f0 is above 0, so ramps into unvoiced frames count as voiced
        excitation, _ = sine_excitation(f0_up, self.sample_rate, 1, None, np.array(draws["source"]))
        excitation = mx.array(excitation.astype(np.float32)).astype(x.dtype)
        record(trace, "dec.m_source.merge.in", excitation)
        har = self.m_source(excitation)
        record(trace, "dec.m_source.out", har)

        y = self.pre_conv(har)
        record(trace, "dec.pre_conv.out", y)
        skips = []
        for i, d in enumerate(self.down_rates):
            y = nn.leaky_relu(y, LRELU_SLOPE)
            skips.append(y)
            y = sinc_downsample(y, d)
            record(trace, f"dec.downsample_blocks.{i}.in", y)
            y = getattr(self, f"down_{i}")(y)
            record(trace, f"dec.downsample_blocks.{i}.out", y)

        m = self.mel_conv(x)
        record(trace, "dec.mel_conv.out", m)
        cond = self.cond(g)
        record(trace, "dec.cond.out", cond)
        x = mx.concatenate([m + cond, y], axis=-1)  # latent first, then the source path
        for i, u in enumerate(self.up_rates):
            x = upsample_linear(nn.leaky_relu(x, LRELU_SLOPE), u)
            record(trace, f"dec.upsample_blocks.{i}.out", x)
            x = mx.concatenate([x, skips[STAGES - 1 - i]], axis=-1)  # upsampled first, then the skip
            x = getattr(self, f"up_block_{i}")(x, draws, i, trace)
            record(trace, f"dec.upsample_conv_blocks.{i}.out", x)
        x = self.conv_post(nn.leaky_relu(x, LRELU_SLOPE))
        record(trace, "dec.conv_post.out", x)
        return mx.tanh(x)
