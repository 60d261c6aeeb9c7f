"""Independent PyTorch forwards of Applio's MRF HiFi-GAN and RefineGAN synthesizers, on the source exports.

The baselines bench_vocoders.py times the MLX runtime against. Written from docs/vocoders.md in
plain functional torch (F.conv1d, F.interpolate, ...) on the *source* key names, with their own
sinc resampler (a direct strided convolution, where the runtime uses a banded matrix product), so
they share nothing with the converter or the MLX runtime. tests/test_vocoders_torch_reference.py
proves them against Applio's own outputs (golden/vocoders/refs).

The text encoder and the flow are the classic ones (torch_reference.TorchSynthesizer); only the
decoder differs. Random draws are passed as upstream makes them: a list in call order, PyTorch
layout (the prior, then the decoder's), None meaning every draw is 0.

    from torch_vocoders import TorchApplioSynthesizer
    audio = TorchApplioSynthesizer("voice.pth").infer(phone, phone_lengths, pitch, pitchf, sid)
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from torch_reference import PRIOR_SCALE, SINE_AMP, TorchSynthesizer

HARMONICS = 9
UNVOICED_STD, VOICED_STD = SINE_AMP / 3, 0.003
ZERO_CROSSINGS, ROLLOFF, KAISER_BETA = 64, 0.9475937167399596, 14.769656459379492
REFINEGAN_KERNELS, REFINEGAN_DILATIONS = (3, 7, 11), (1, 3, 5)


def sine_excitation(f0: torch.Tensor, sr: int, harmonics: int, phase0: torch.Tensor | None, noise: torch.Tensor | None) -> torch.Tensor:
    """Per-sample f0 [B, N] -> excitation [B, N, H]: float32 increments as torch computes them,
    accumulated in float64 (docs/vocoders.md)."""
    h = torch.arange(1, harmonics + 1, dtype=torch.float32)
    increments = torch.remainder(f0.float()[..., None] * h / sr, 1.0).double()
    f0 = f0.double()
    if phase0 is not None:
        increments[:, 0, :] += phase0.double()
    sine = SINE_AMP * torch.sin(2 * math.pi * torch.remainder(torch.cumsum(increments, dim=1), 1.0))
    uv = (f0 > 0).double()[..., None]
    e = sine * uv
    if noise is not None:
        e = e + (VOICED_STD * uv + UNVOICED_STD * (1 - uv)) * noise.double()
    return e.float()


def sinc_resample_kernel(d: int) -> torch.Tensor:
    """Kaiser-windowed sinc taps for downsampling by d: m = -w .. w+d-1, w = ceil(64 d / rolloff)."""
    w = math.ceil(ZERO_CROSSINGS * d / ROLLOFF)
    t = torch.clamp(ROLLOFF * torch.arange(-w, w + d, dtype=torch.float64) / d, -ZERO_CROSSINGS, ZERO_CROSSINGS)
    window = torch.special.i0(KAISER_BETA * torch.sqrt(1 - (t / ZERO_CROSSINGS) ** 2)) / torch.special.i0(torch.tensor(KAISER_BETA, dtype=torch.float64))
    return (ROLLOFF / d * torch.special.sinc(t) * window).float()


def sinc_downsample(x: torch.Tensor, d: int) -> torch.Tensor:
    """[B, C, L] -> [B, C, L/d]: every channel through the same low-pass, every d-th output kept."""
    h = sinc_resample_kernel(d)
    w = (h.numel() - d) // 2
    b, c, length = x.shape
    y = F.conv1d(F.pad(x.reshape(b * c, 1, length), (w, w + d)), h.view(1, 1, -1), stride=d)
    return y[..., : -(-length // d)].reshape(b, c, -1)


class TorchApplioSynthesizer(TorchSynthesizer):
    """Applio's Synthesizer.infer with the MRF HiFi-GAN or RefineGAN decoder (chosen from the keys)."""

    def __init__(self, path):
        super().__init__(path)
        if "dec.mrfs.0.0.layers.0.conv1.weight" in self.w:
            self.vocoder = "MRF HiFi-GAN"
        elif "dec.upsample_conv_blocks.0.input_conv.weight" in self.w:
            self.vocoder = "RefineGAN"
        else:
            raise ValueError(f"{path}: neither an MRF HiFi-GAN nor a RefineGAN decoder")

    # -- MRF HiFi-GAN

    def mrf_decoder(self, z, g, f0, draws):
        phase0 = noise = None
        if draws:
            phase0 = torch.as_tensor(np.asarray(draws[0], dtype=np.float32)).clone()
            phase0[:, 0] = 0  # the fundamental keeps phase 0
            noise = torch.as_tensor(np.asarray(draws[1], dtype=np.float32))
        f0_up = torch.repeat_interleave(f0, self.hop, dim=1)
        e = sine_excitation(f0_up, self.sample_rate, HARMONICS, phase0, noise)
        har = torch.tanh(F.linear(e, self.w["dec.m_source.l_linear.weight"], self.w["dec.m_source.l_linear.bias"])).transpose(1, 2)
        x = self.conv("dec.conv_pre", z, padding=3) + self.conv("dec.cond", g)
        for i, (u, k) in enumerate(zip(self.rates, self.up_kernels)):
            x = F.conv_transpose1d(F.leaky_relu(x, 0.1), self.w[f"dec.upsamples.{i}.weight"], self.w[f"dec.upsamples.{i}.bias"], stride=u, padding=(k - u) // 2)
            s = math.prod(self.rates[i + 1 :])
            kn = 1 if s == 1 else 2 * s - s % 2
            x = x + self.conv(f"dec.noise_convs.{i}", har, stride=s, padding=(kn - s) // 2)
            total = 0
            for j, (kernel, dilations) in enumerate(zip(self.rb_kernels, self.rb_dilations)):
                y = x
                for layer, d in enumerate(dilations):
                    name = f"dec.mrfs.{i}.{j}.layers.{layer}"
                    t = self.conv(f"{name}.conv1", F.leaky_relu(y, 0.1), dilation=d, padding=d * (kernel - 1) // 2)
                    y = y + self.conv(f"{name}.conv2", F.leaky_relu(t, 0.1), padding=kernel // 2)
                total = total + y
            x = total / len(self.rb_kernels)
        return torch.tanh(self.conv("dec.conv_post", F.leaky_relu(x, 0.01), padding=3))

    # -- RefineGAN

    def refinegan_decoder(self, z, g, f0, draws):
        rates = self.rates
        noise = draws[1:] if draws else None  # draws[0]: the fundamental's phase, unused
        f0_up = F.interpolate(f0[:, None], size=f0.shape[1] * self.hop, mode="linear", align_corners=False)[:, 0]
        source_noise = torch.as_tensor(np.asarray(noise[0], dtype=np.float32))[..., 0] if noise else None
        e = sine_excitation(f0_up, self.sample_rate, 1, None, None if source_noise is None else source_noise[..., None])
        har = torch.tanh(e * self.w["dec.m_source.merge.0.weight"][0, 0]).transpose(1, 2)  # [B, 1, N]
        x = self.conv("dec.pre_conv", har, padding=3)
        skips = []
        for i, d in enumerate(rates[::-1]):
            x = F.leaky_relu(x, 0.2)
            skips.append(x)
            x = self.conv(f"dec.downsample_blocks.{i}", sinc_downsample(x, d), padding=3)
        m = self.conv("dec.mel_conv", z, padding=3) + self.conv("dec.cond", g)
        x = torch.cat([m, x], dim=1)
        adain = iter(noise[1:]) if noise else None
        for i, u in enumerate(rates):
            x = F.interpolate(F.leaky_relu(x, 0.2), scale_factor=u, mode="linear", align_corners=False)
            x = torch.cat([x, skips[len(rates) - 1 - i]], dim=1)
            block = f"dec.upsample_conv_blocks.{i}"
            y = self.conv(f"{block}.input_conv", x, padding=3)
            total = 0
            for j, kernel in enumerate(REFINEGAN_KERNELS):
                v = self._inject(y, f"{block}.blocks.{j}.0.weight", adain)
                for layer, d in enumerate(REFINEGAN_DILATIONS):
                    name = f"{block}.blocks.{j}.1"
                    t = self.conv(f"{name}.convs1.{layer}", F.leaky_relu(v, 0.2), dilation=d, padding=d * (kernel - 1) // 2)
                    v = v + self.conv(f"{name}.convs2.{layer}", F.leaky_relu(t, 0.2), padding=(kernel - 1) // 2)
                total = total + self._inject(v, f"{block}.blocks.{j}.2.weight", adain)
            x = total / len(REFINEGAN_KERNELS)
        return torch.tanh(self.conv("dec.conv_post", F.leaky_relu(x, 0.2), padding=3))

    def _inject(self, v, scale_key, draws):
        """lrelu(v + noise * scale[c], 0.2); noise 0 unless drawn."""
        if draws is not None:
            v = v + torch.as_tensor(np.asarray(next(draws), dtype=np.float32)) * self.w[scale_key][None, :, None]
        return F.leaky_relu(v, 0.2)

    @torch.inference_mode()
    def infer(self, phone, phone_lengths, pitch=None, pitchf=None, sid=0, draws: list | None = None) -> torch.Tensor:
        """Audio [B, 1, T*hop]. draws: upstream's random draws in call order (the prior [B, inter, T],
        then the decoder's), or None for the deterministic mode."""
        phone = torch.as_tensor(np.asarray(phone), dtype=torch.float32)
        b, t, _ = phone.shape
        lengths = torch.as_tensor(np.asarray(phone_lengths)).reshape(-1)
        mask = (torch.arange(t)[None, :] < lengths[:, None]).float()[:, None, :]
        sid = torch.as_tensor(np.asarray(sid), dtype=torch.long).reshape(-1)
        g = F.embedding(sid, self.w["emb_g.weight"])[:, :, None]
        m_p, logs_p = self.text_encoder(phone, torch.as_tensor(np.asarray(pitch), dtype=torch.long), mask)
        z_p = m_p * mask
        if draws:
            z_p = (m_p + torch.exp(logs_p) * torch.as_tensor(np.asarray(draws[0], dtype=np.float32)) * PRIOR_SCALE) * mask
        z = self.flow_reverse(z_p, mask, g) * mask
        f0 = torch.as_tensor(np.asarray(pitchf), dtype=torch.float32)
        decoder = self.mrf_decoder if self.vocoder == "MRF HiFi-GAN" else self.refinegan_decoder
        return decoder(z, g, f0, list(draws[1:]) if draws else None)
