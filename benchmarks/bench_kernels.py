"""The kernels where the MLX runtime loses time on Linux CPU, next to PyTorch and a faster MLX formulation.

Found with bench_runtime.py --profile and per-stage timing of bench_aux.py's models:

Each runtime layer runs on both kernel paths (rvc_runtime/kernels.py): "stock" (MLX's own ops,
what macOS/Metal apps run) and "linux-cpu" (the formulations the runtime selects on Linux CPU):

1. Generator ResBlocks (synthesizer): three ResBlock1 (kernels 3/7/11, dilations 1/3/5) per
   stage, at the v2-40k stage shapes for --frames frames: nn.Conv1d vs tap-sum (one matmul per
   tap, accumulated with mx.addmm, no unfolded [L, K*C] buffer); vs torch F.conv1d.
   Generator upsampling ConvTranspose1d (v2-40k ups): nn.ConvTranspose1d vs matmul + overlap-add.
2. RMVPE decoder ConvTranspose2d (3x3, stride 2, padding 1, output_padding 1) at the five
   decoder shapes for 10 s of audio: nn.ConvTranspose2d vs one matmul + a 4-phase overlap-add;
   vs torch F.conv_transpose2d.
3. exact (erf) GELU on the HuBERT conv-0 output (10 s: 32000 x 512): MLX vs the runtime's numpy
   GELU vs torch.
4. The pitch models' convolutions: FCPE's depthwise conv (1024 channels, kernel 31, 10 s) and
   CREPE's stride-1 layers (a batch of 64 frames, full and tiny), each on both paths.

Random weights (only shapes matter); the linux-cpu result is checked against the stock one.

    python benchmarks/bench_kernels.py [--frames 1000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import rvc_runtime  # noqa: F401  (first: MLX gets its fast BLAS)
import mlx.core as mx
import mlx.nn as nn
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import print_header, print_table  # noqa: E402

from rvc_runtime import kernels  # noqa: E402
from rvc_runtime.hubert import gelu  # noqa: E402
from rvc_runtime.rmvpe import conv_transpose2d_s2  # noqa: E402  (the formulation the runtime adopted)
from rvc_runtime.synthesizer import ConvTranspose1d, ResBlock1  # noqa: E402

KERNELS, DILATIONS = (3, 7, 11), (1, 3, 5)
V2_40K_RATES, V2_40K_CHANNELS, V2_40K_UP_KERNELS = (10, 10, 2, 2), 512, (16, 16, 4, 4)


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        if isinstance(result, mx.array):
            mx.eval(result)
        best = min(best, time.perf_counter() - start)
    return best, result


# ---- 1. ResBlock1 convolutions


def on_path(path: str, fn):
    """fn evaluated with the runtime's layers on kernel path `path`."""

    def run():
        with kernels.forced(path):
            return fn()

    return run


def resblock_torch(weights: list[list[tuple[torch.Tensor, torch.Tensor]]], x: torch.Tensor) -> torch.Tensor:
    """The same three blocks in torch, [B, C, T]; weights[block][2j / 2j+1] = (conv1, conv2) of pair j."""
    total = 0
    for kernel, pairs in zip(KERNELS, weights):
        y = x
        for j, d in enumerate(DILATIONS):
            (w1, b1), (w2, b2) = pairs[2 * j], pairs[2 * j + 1]
            t = F.conv1d(F.leaky_relu(y, 0.1), w1, b1, dilation=d, padding=d * (kernel - 1) // 2)
            y = y + F.conv1d(F.leaky_relu(t, 0.1), w2, b2, padding=(kernel - 1) // 2)
        total = total + y
    return total / len(KERNELS)


def bench_resblocks(frames: int, repeat: int) -> None:
    rows = []
    length, channels = frames, V2_40K_CHANNELS
    for stage, rate in enumerate(V2_40K_RATES):
        length, channels = length * rate, channels // 2
        blocks = [ResBlock1(channels, k, DILATIONS) for k in KERNELS]
        for block in blocks:  # realistic scale: keeps activations O(1) through the residual sums
            block.update({name: {"weight": layer.weight * 0.3, "bias": layer.bias} for name, layer in block.children().items()})
        mx.eval([b.parameters() for b in blocks])
        x = mx.random.normal((1, length, channels))
        mx.eval(x)
        t_runtime, y_runtime = best_of(repeat, on_path(kernels.STOCK, lambda: sum(b(x) for b in blocks) / len(blocks)))
        t_tap, y_tap = best_of(repeat, on_path(kernels.LINUX_CPU, lambda: sum(b(x) for b in blocks) / len(blocks)))
        torch_weights = [
            [
                (torch.from_numpy(np.array(getattr(b, f"c{c}_{j}").weight)).permute(0, 2, 1).contiguous(), torch.from_numpy(np.array(getattr(b, f"c{c}_{j}").bias)))
                for j in range(len(DILATIONS))
                for c in (1, 2)
            ]
            for b in blocks
        ]
        xt = torch.from_numpy(np.array(x)).transpose(1, 2).contiguous()
        with torch.inference_mode():
            t_torch, y_torch = best_of(repeat, lambda: resblock_torch(torch_weights, xt))
        diff_tap = float(mx.max(mx.abs(y_tap - y_runtime)))
        diff_torch = float(np.max(np.abs(y_torch.transpose(1, 2).numpy() - np.array(y_runtime))))
        rows.append([
            f"stage {stage}: {channels} ch x {length}", f"{t_runtime:.2f}", f"{t_tap:.2f}", f"{t_torch:.2f}",
            f"{t_runtime / t_torch:.2f}x", f"{t_tap / t_torch:.2f}x", f"{diff_tap:.1e} / {diff_torch:.1e}",
        ])  # fmt: skip
    totals = [sum(float(r[i]) for r in rows) for i in (1, 2, 3)]
    rows.append(["total", f"{totals[0]:.2f}", f"{totals[1]:.2f}", f"{totals[2]:.2f}", f"{totals[0] / totals[2]:.2f}x", f"{totals[1] / totals[2]:.2f}x", ""])
    print_table(
        ["3 x ResBlock1 (v2-40k)", "MLX stock s", "MLX linux-cpu (tap-sum) s", "PyTorch s", "stock / torch", "tap-sum / torch", "max |diff| tap-sum / torch vs stock"],
        rows,
        title=f"1. generator ResBlocks, {frames} frames (best of {repeat})",
    )


def bench_conv_transpose1d(frames: int, repeat: int) -> None:
    rows = []
    length, channels = frames, V2_40K_CHANNELS
    for stage, (rate, kernel) in enumerate(zip(V2_40K_RATES, V2_40K_UP_KERNELS)):
        layer = ConvTranspose1d(channels, channels // 2, kernel, stride=rate, padding=(kernel - rate) // 2)
        x = mx.random.normal((1, length, channels))
        mx.eval(x, layer.parameters())
        t_stock, y_stock = best_of(repeat, on_path(kernels.STOCK, lambda: layer(x)))
        t_cpu, y_cpu = best_of(repeat, on_path(kernels.LINUX_CPU, lambda: layer(x)))
        scale = float(mx.max(mx.abs(y_stock)))
        rows.append([f"ups.{stage}: {channels}->{channels // 2}, k {kernel}, x{rate}, {length} in", f"{1e3 * t_stock:.1f}", f"{1e3 * t_cpu:.1f}", f"{t_stock / t_cpu:.1f}x", f"{float(mx.max(mx.abs(y_cpu - y_stock))) / scale:.1e}"])
        length, channels = length * rate, channels // 2
    print_table(
        ["ConvTranspose1d (v2-40k generator)", "MLX stock ms", "MLX linux-cpu (matmul + overlap-add) ms", "speed-up", "max |diff| / max |y|"],
        rows,
        title=f"1b. generator upsampling, {frames} frames (best of {repeat})",
    )


# ---- 2. RMVPE ConvTranspose2d


def bench_conv_transpose2d(repeat: int) -> None:
    rows = []
    frames, bins, channels = 1024, 128, 512  # 10 s of 16 kHz audio -> 1001 mel frames, padded to 1024
    for level in range(5):
        h, w = frames // 2 ** (5 - level), bins // 2 ** (5 - level)
        c_in, c_out = channels // 2**level, channels // 2 ** (level + 1)
        layer = nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1, bias=False)
        x = mx.random.normal((1, h, w, c_in))
        mx.eval(x, layer.parameters())
        t_native, y_native = best_of(repeat, lambda: layer(x))
        t_mm, y_mm = best_of(repeat, lambda: conv_transpose2d_s2(x, layer.weight))
        xt = torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).contiguous()
        wt = torch.from_numpy(np.array(layer.weight)).permute(3, 0, 1, 2).contiguous()  # (O,kh,kw,I) -> (I,O,kh,kw)
        with torch.inference_mode():
            t_torch, _ = best_of(repeat, lambda: F.conv_transpose2d(xt, wt, stride=2, padding=1, output_padding=1))
        scale = float(mx.max(mx.abs(y_native)))
        rows.append([
            f"decoder {level}: {c_in}->{c_out}, {h}x{w}", f"{1e3 * t_native:.1f}", f"{1e3 * t_mm:.1f}", f"{1e3 * t_torch:.1f}",
            f"{t_native / t_mm:.0f}x", f"{float(mx.max(mx.abs(y_mm - y_native))) / scale:.1e}",
        ])  # fmt: skip
    print_table(
        ["ConvTranspose2d (RMVPE)", "MLX nn.ConvTranspose2d ms", "MLX matmul + overlap-add ms", "PyTorch ms", "speed-up", "max |diff| / max |y|"],
        rows,
        title=f"2. RMVPE decoder upsampling, 10 s of audio (best of {repeat})",
    )


# ---- 3. GELU


def bench_gelu(repeat: int) -> None:
    x = mx.random.normal((1, 32000, 512))
    mx.eval(x)
    xt = torch.from_numpy(np.array(x))
    rows = []
    paths = (("runtime gelu, stock (nn.gelu, erf)", on_path(kernels.STOCK, lambda: gelu(x))), ("runtime gelu, linux-cpu (numpy)", on_path(kernels.LINUX_CPU, lambda: gelu(x))))
    for name, fn in (*paths, ("mx.erf", lambda: mx.erf(x)), ("mx.exp", lambda: mx.exp(x)), ("x * 2", lambda: x * 2)):
        t, _ = best_of(repeat, fn)
        rows.append([f"MLX {name}", f"{1e3 * t:.1f}", f"{1e9 * t / x.size:.1f}"])
    with torch.inference_mode():
        for name, fn in (("F.gelu (erf)", lambda: F.gelu(xt)), ("torch.exp", lambda: torch.exp(xt)), ("x * 2", lambda: xt * 2)):
            t, _ = best_of(repeat, fn)
            rows.append([f"PyTorch {name}", f"{1e3 * t:.1f}", f"{1e9 * t / x.size:.1f}"])
    print_table(["op on 32000 x 512 float32 (HuBERT conv 0, 10 s)", "ms", "ns / element"], rows, title=f"3. element-wise transcendental ops (best of {repeat})")


# ---- 4. pitch models


def bench_pitch_convs(repeat: int) -> None:
    from rvc_runtime import crepe, fcpe

    rows = []
    depthwise = fcpe.DepthwiseConv1d(1024, 31)
    x = mx.random.normal((1, 1001, 1024))
    mx.eval(x, depthwise.parameters())
    layers = [("FCPE depthwise: 1024 ch, k 31, 1001 frames", lambda: depthwise(x))]
    for capacity, scale in (("full", 32), ("tiny", 4)):
        for c_in, c_out, length in ((1024, 128, 128), (128, 128, 64)):
            c_in, c_out = c_in * scale // 32, c_out * scale // 32
            xc = mx.random.normal((64, length + 63, c_in))
            wc = mx.random.normal((c_out, 64, c_in)) * 0.05
            mx.eval(xc, wc)
            strategy = crepe.conv_strategy(c_in, c_out, 1) if kernels.automatic() == kernels.LINUX_CPU else "conv1d"
            layers.append((f"CREPE {capacity}: {c_in}->{c_out}, k 64, 64 x {length} ({strategy})", lambda xc=xc, wc=wc: crepe.conv_time(xc, wc, 1)))
    for name, fn in layers:
        t_stock, y_stock = best_of(repeat, on_path(kernels.STOCK, fn))
        t_cpu, y_cpu = best_of(repeat, on_path(kernels.LINUX_CPU, fn))
        scale = float(mx.max(mx.abs(y_stock)))
        rows.append([name, f"{1e3 * t_stock:.1f}", f"{1e3 * t_cpu:.1f}", f"{t_stock / t_cpu:.1f}x", f"{float(mx.max(mx.abs(y_cpu - y_stock))) / scale:.1e}"])
    print_table(["pitch-model conv", "MLX stock ms", "MLX linux-cpu ms", "speed-up", "max |diff| / max |y|"], rows, title=f"4. FCPE and CREPE convolutions (best of {repeat})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="synthesizer frames for the ResBlock shapes (100 per second)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(2)
    mx.random.seed(0)
    print_header(f"bench_kernels: MLX (BLAS: {rvc_runtime.blas.describe()}) vs PyTorch ({torch.get_num_threads()} threads) on the runtime's slow spots")
    bench_resblocks(args.frames, args.repeat)
    bench_conv_transpose1d(args.frames, args.repeat)
    bench_conv_transpose2d(args.repeat)
    bench_gelu(args.repeat)
    bench_pitch_convs(args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
