"""Per-stage timings of synthesizer inference, MLX runtime and PyTorch reference, with the same names.

Each stage is evaluated on its own (MLX: mx.eval after it), best of `repeat` passes, so the table
shows where the time goes; the sum exceeds one fused MLX call slightly. Used by
bench_runtime.py --profile.
"""

from __future__ import annotations

import cProfile
import io
import math
import pstats
import time
from typing import Callable


def stage_names(rates: list[int], channels: int, frames: int) -> list[tuple[str, str]]:
    """(key, label) per generator stage i: channels after the upsample and the samples it runs on."""
    names, length = [], frames
    for i, u in enumerate(rates):
        length *= u
        channels //= 2
        names.append((f"{i}", f"{channels} ch x {length} samples"))
    return names


def _timed(times: dict[str, float], name: str, fn: Callable, sync: Callable = lambda r: r):
    start = time.perf_counter()
    result = sync(fn())
    elapsed = time.perf_counter() - start
    times[name] = min(times.get(name, float("inf")), elapsed)
    return result


def mlx_stage_times(model, inputs: dict, repeat: int = 2) -> dict[str, float]:
    import mlx.core as mx
    import mlx.nn as nn
    from rvc_runtime.synthesizer import LRELU_SLOPE, nsf_excitation

    cfg, dec = model.config, model.dec
    frames = inputs["phone"].shape[1]
    labels = stage_names(list(cfg.upsample_rates), cfg.upsample_initial_channel, frames)

    def sync(r):
        mx.eval(r)
        return r

    times: dict[str, float] = {}
    for _ in range(repeat):
        phone = mx.array(inputs["phone"])
        mask = (mx.arange(frames)[None, :] < mx.array(inputs["phone_lengths"])[:, None])[..., None].astype(mx.float32)
        g = model.emb_g(mx.array(inputs["sid"]))[:, None, :]
        pitch = mx.array(inputs["pitch"]).astype(mx.int32)
        m_p, _ = _timed(times, "text encoder", lambda: model.enc_p(phone, pitch, mask), sync)
        z = _timed(times, "flow (reverse)", lambda: model.flow.reverse(m_p * mask, mask, g), sync)
        excitation = _timed(times, "NSF source", lambda: dec.m_source(nsf_excitation(inputs["pitchf"], cfg.sample_rate, cfg.hop, mx.zeros((1, frames * cfg.hop, 1)))), sync)
        x = _timed(times, "dec conv_pre + cond", lambda: dec.conv_pre(z * mask) + dec.cond(g), sync)
        for i, (key, label) in enumerate(labels):
            x = _timed(times, f"dec stage {key} upsample ({label})", lambda: getattr(dec, f"up_{i}")(nn.leaky_relu(x, LRELU_SLOPE)), sync)
            x = _timed(times, f"dec stage {key} noise conv", lambda: x + getattr(dec, f"noise_conv_{i}")(excitation), sync)
            blocks = range(i * dec.n_kernels, (i + 1) * dec.n_kernels)
            x = _timed(times, f"dec stage {key} resblocks ({label})", lambda: sum(getattr(dec, f"resblock_{n}")(x) for n in blocks) / dec.n_kernels, sync)
        _timed(times, "dec conv_post + tanh", lambda: mx.tanh(dec.conv_post(nn.leaky_relu(x, 0.01))), sync)
    return times


def torch_stage_times(model, inputs: dict, repeat: int = 2) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    frames = inputs["phone"].shape[1]
    labels = stage_names(model.rates, model.w["dec.conv_pre.weight"].shape[0], frames)
    times: dict[str, float] = {}
    with torch.inference_mode():
        for _ in range(repeat):
            phone = torch.as_tensor(inputs["phone"])
            mask = (torch.arange(frames)[None, :] < torch.as_tensor(inputs["phone_lengths"])[:, None]).float()[:, None, :]
            g = F.embedding(torch.as_tensor(inputs["sid"]), model.w["emb_g.weight"])[:, :, None]
            m_p, _ = _timed(times, "text encoder", lambda: model.text_encoder(phone, torch.as_tensor(inputs["pitch"]), mask))
            z = _timed(times, "flow (reverse)", lambda: model.flow_reverse(m_p * mask, mask, g))
            har = _timed(times, "NSF source", lambda: model.harmonic_source(torch.as_tensor(inputs["pitchf"]), None))
            x = _timed(times, "dec conv_pre + cond", lambda: model.conv("dec.conv_pre", z * mask, padding=3) + model.conv("dec.cond", g))
            n_kernels = len(model.rb_kernels)
            for i, ((key, label), u, k) in enumerate(zip(labels, model.rates, model.up_kernels)):
                weight, bias = model.w[f"dec.ups.{i}.weight"], model.w[f"dec.ups.{i}.bias"]
                x = _timed(times, f"dec stage {key} upsample ({label})", lambda: F.conv_transpose1d(F.leaky_relu(x, 0.1), weight, bias, stride=u, padding=(k - u) // 2))
                s = math.prod(model.rates[i + 1 :])
                kw = {"stride": s, "padding": s // 2} if s > 1 else {}
                x = _timed(times, f"dec stage {key} noise conv", lambda: x + model.conv(f"dec.noise_convs.{i}", har, **kw))
                blocks = list(zip(model.rb_kernels, model.rb_dilations))
                x = _timed(times, f"dec stage {key} resblocks ({label})", lambda: sum(model.resblock(i * n_kernels + j, x, kk, dd) for j, (kk, dd) in enumerate(blocks)) / n_kernels)
            _timed(times, "dec conv_post + tanh", lambda: torch.tanh(model.conv("dec.conv_post", F.leaky_relu(x, 0.01), padding=3)))
    return times


def cprofile_top(fn: Callable, lines: int = 8) -> list[str]:
    """The functions with the most own time in one call of fn."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(lines)
    text = stream.getvalue().splitlines()
    start = next((i for i, line in enumerate(text) if line.strip().startswith("ncalls")), 0)
    return [line.rstrip() for line in text[start:] if line.strip()]
