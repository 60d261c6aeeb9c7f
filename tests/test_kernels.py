"""One switch (rvc_runtime/kernels.py) decides whether the runtime's hot layers use MLX's stock ops or
the Linux CPU formulations, and it really switches them: each layer takes the path it is told to.
(Both paths are compared with the golden references in the runtime tests, through the
`kernel_path` fixture.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import rvc_runtime  # noqa: F401  (first: gives MLX its BLAS before mlx.core loads)
import mlx.core as mx
import numpy as np
import pytest

from rvc_runtime import cpu_ops, crepe, fcpe, hubert, kernels, rmvpe, synthesizer

REPO = Path(__file__).resolve().parent.parent


def test_automatic_choice_is_linux_cpu_only_on_linux_with_the_cpu_device(monkeypatch):
    expected = kernels.LINUX_CPU if sys.platform.startswith("linux") and mx.default_device() == mx.cpu else kernels.STOCK
    assert kernels.automatic() == expected
    monkeypatch.setattr(kernels.sys, "platform", "darwin")
    assert kernels.automatic() == kernels.STOCK


def test_forced_restores_the_previous_choice():
    before = kernels.active()
    with kernels.forced(kernels.STOCK):
        assert kernels.active() == kernels.STOCK and not kernels.cpu_kernels()
        assert kernels.describe() == "stock (forced)"
        with kernels.forced(kernels.LINUX_CPU):
            assert kernels.cpu_kernels()
        assert kernels.active() == kernels.STOCK
    assert kernels.active() == before
    with pytest.raises(ValueError, match="stock, linux-cpu"):
        kernels.force("metal")


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != kernels.ENV_VAR} | env
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=environ, cwd=REPO)


def test_environment_variable_selects_the_path():
    probe = run("from rvc_runtime import kernels; print(kernels.describe())", RVC_RUNTIME_KERNELS="stock")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "stock (RVC_RUNTIME_KERNELS)"
    bad = run("import rvc_runtime", RVC_RUNTIME_KERNELS="fast")
    assert bad.returncode != 0 and "RVC_RUNTIME_KERNELS='fast': use auto, stock or linux-cpu" in bad.stderr


class Spy:
    """Counts calls of a module function while delegating to it."""

    def __init__(self, monkeypatch, module, name: str):
        self.calls = 0
        original = getattr(module, name)

        def spy(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)


def layers() -> dict[str, tuple]:
    """(layer call, module, CPU function it must use on the linux-cpu path), with small random inputs."""
    mx.random.seed(0)
    conv1d = synthesizer.Conv1d(8, 8, 3, padding=2, dilation=2)
    up = synthesizer.ConvTranspose1d(8, 4, 4, stride=2, padding=1)
    conv2d = rmvpe.Conv2d(16, 16, 3, padding=1, bias=False)
    up2d = rmvpe.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1, bias=False)
    strided = hubert.StridedConv1d(8, 6, 3, stride=2, bias=False)
    feature = hubert.FeatureConvLayer(1, 8, 10, 5, False, 1e-5)
    feature.group_norm.update({"weight": mx.random.normal((8,)), "bias": mx.random.normal((8,))})
    gru = rmvpe.BiGRU(8, 4, 1)
    gru.update({d: [{k: mx.random.normal(v.shape) * 0.3 for k, v in layer.items()} for layer in gru.parameters()[d]] for d in ("forward", "backward")})
    x1, x2 = mx.random.normal((1, 20, 8)), mx.random.normal((1, 4, 16, 16))
    audio = mx.random.normal((1, 400, 1))
    scores = mx.random.normal((1, 2, 7, 7)) * 3
    depthwise = fcpe.DepthwiseConv1d(8, 5)
    wide, narrow = mx.random.normal((2, 30, 512)), mx.random.normal((2, 30, 128))
    taps_weight, shift_weight = mx.random.normal((8, 5, 512)) * 0.05, mx.random.normal((16, 5, 128)) * 0.1
    return {
        "HuBERT strided conv1d": (lambda: strided(x1), hubert, "blocked_strided_conv1d"),
        "HuBERT conv 0 + GroupNorm + GELU": (lambda: feature(audio), hubert, "group_norm_gelu_numpy"),
        "RMVPE BiGRU": (lambda: gru(x1), rmvpe, "gru_scan_numpy"),
        "attention softmax": (lambda: cpu_ops.softmax(scores), cpu_ops, "softmax_numpy"),
        "generator conv1d": (lambda: conv1d(x1), synthesizer, "tap_sum_conv1d"),
        "generator conv_transpose1d": (lambda: up(x1), synthesizer, "overlap_add_conv_transpose1d"),
        "RMVPE conv2d 3x3": (lambda: conv2d(x2), rmvpe, "conv2d_3x3_taps"),
        "RMVPE conv_transpose2d": (lambda: up2d(x2), rmvpe, "conv_transpose2d_s2"),
        "HuBERT GELU": (lambda: hubert.gelu(x1), hubert, "gelu_numpy"),
        "FCPE depthwise conv1d": (lambda: depthwise(x1), fcpe, "depthwise_same"),
        "CREPE conv, wide input": (lambda: crepe.conv_time(wide, taps_weight, 1), crepe, "flat_tap_sum_conv"),
        "CREPE conv, narrow output": (lambda: crepe.conv_time(narrow, shift_weight, 1), crepe, "flat_shift_conv"),
    }


@pytest.mark.parametrize("name", list(layers()))
def test_each_layer_takes_the_path_it_is_told_and_both_agree(name, monkeypatch):
    call, module, function = layers()[name]
    spy = Spy(monkeypatch, module, function)
    with kernels.forced(kernels.STOCK):
        stock = np.array(call())
    assert spy.calls == 0, f"{name}: the stock path called {function}"
    with kernels.forced(kernels.LINUX_CPU):
        cpu = np.array(call())
    assert spy.calls == 1, f"{name}: the linux-cpu path did not call {function}"
    scale = max(float(np.max(np.abs(stock))), 1e-6)
    assert stock.shape == cpu.shape and float(np.max(np.abs(stock - cpu))) / scale < 1e-5
