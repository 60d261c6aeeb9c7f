"""FCPE: which tensors torchfcpe's CFNaiveMelPE state dict holds and the configuration the MLX runtime
needs (shapes first, the checkpoint's `config_dict` for what shapes cannot show).

PyTorch shapes, fused spelling (`output_proj.weight`, not weight_g/weight_v). The config is a plain
JSON-able dict stored as the converted file's `config` metadata entry, which `rvc_runtime.fcpe`
reads back. Facts: docs/pitch_models.md.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ...errors import UnsupportedModelError
from ...reader import LoadedFile, iter_tensors
from ...safe_pickle import TensorRef
from ..limits import MAX_CHANNELS, MAX_KERNEL, MAX_LAYERS, SAMPLE_RATES, Spec, check_config, one_of, real, text, whole
from ..pitch_common import MEL_FRONT_END_SPECS, mel_front_end_problem
from ..weights import indices, require, shape

FCPE_RULE_PACK = "fcpe"

# The family's config type: a JSON-able dict (the keys of FCPE_DEFAULTS).
FcpeConfig = dict[str, Any]

FCPE_DEFAULTS: dict[str, Any] = {
    "architecture": "fcpe",
    # CFNaiveMelPE as torchfcpe builds it for its bundled model (conv_only: no attention)
    "n_mels": 128,
    "hidden": 512,
    "n_layers": 6,
    "n_bins": 360,
    "expansion": 2,  # conformer conv module: pointwise to 2 x 2 x hidden, GLU halves it
    "conv_kernel": 31,  # depthwise conv, "same" padding
    "input_kernel": 3,
    "group_norm_groups": 4,
    "group_norm_eps": 1e-5,
    "layer_norm_eps": 1e-5,
    "leaky_relu_slope": 0.01,
    "f0_min": 32.7,
    "f0_max": 1975.5,
    # mel front end (torchfcpe's Wav2Mel): Slaney mel scale, no centring, log(max(mel, 1e-5))
    "sample_rate": 16000,
    "n_fft": 1024,
    "win_length": 1024,
    "hop_length": 160,
    "fmin": 0.0,
    "fmax": 8000.0,
    "mel_clamp": 1e-5,
    "magnitude_eps": 1e-9,
}
_FCPE_MEL_KEYS = {"sr": "sample_rate", "num_mels": "n_mels", "n_fft": "n_fft", "win_size": "win_length", "hop_size": "hop_length", "fmin": "fmin", "fmax": "fmax"}


def is_fcpe(names: Any) -> bool:
    names = set(names)
    return "input_stack.0.weight" in names and "output_proj.bias" in names and any(n.startswith("net.encoder_layers.") for n in names)


def fcpe_source_tensors(loaded: LoadedFile) -> dict[str, TensorRef]:
    """FCPE tensors by source key: torchfcpe's checkpoint keeps them under `model`; a bare state dict at top level."""
    root = loaded.root
    if isinstance(root, dict) and isinstance(root.get("model"), dict):
        return dict(iter_tensors(root["model"]))
    return dict(iter_tensors(root))


def fcpe_stored_config(loaded: LoadedFile) -> dict[str, Any] | None:
    root = loaded.root
    stored = root.get("config_dict") if isinstance(root, dict) else None
    return stored if isinstance(stored, dict) else None


def _number(value: Any, what: str) -> float:
    require(type(value) in (int, float) and math.isfinite(value), f"config_dict {what} is {value!r}: expected a finite number")
    return float(value)


def fcpe_config_from_file(loaded: LoadedFile) -> FcpeConfig:
    """The runtime config of an FCPE file: shapes first, the stored `config_dict` for what shapes cannot show."""
    tensors = fcpe_source_tensors(loaded)
    shapes = {k: shape(v) for k, v in tensors.items()}
    require(is_fcpe(shapes), f"{loaded.path}: no FCPE tensors (input_stack.*, net.encoder_layers.*, output_proj.*) in this file")
    attention = sorted(k for k in shapes if ".attn." in k)
    if attention:
        raise UnsupportedModelError(f"FCPE with attention layers ({attention[0]}, …): only conv-only models (torchfcpe's bundled fcpe_c_v001) are supported")
    require("harmonic_emb.weight" not in shapes, "FCPE with a harmonic embedding: only models without one (torchfcpe's bundled fcpe_c_v001) are supported")
    config = dict(FCPE_DEFAULTS)
    source = "shapes"
    stored = fcpe_stored_config(loaded)
    if stored is not None:
        model, mel = stored.get("model") or {}, stored.get("mel") or {}
        require(isinstance(model, dict) and isinstance(mel, dict), "config_dict.model / config_dict.mel are not mappings: a damaged FCPE checkpoint")
        require(model.get("type", "CFNaiveMelPE") == "CFNaiveMelPE", f"config_dict.model.type is {model.get('type')!r}: only CFNaiveMelPE is supported")
        require(model.get("conv_only", True) is True, "config_dict.model.conv_only is false: only conv-only FCPE models are supported")
        for key in ("f0_min", "f0_max"):
            if key in model:
                config[key] = _number(model[key], f"model.{key}")
        for stored_key, key in _FCPE_MEL_KEYS.items():
            if mel.get(stored_key) is not None:
                value = _number(mel[stored_key], f"mel.{stored_key}")
                config[key] = value if key in ("fmin", "fmax") else int(value)
        source = "config_dict"

    def need(key: str, ndim: int) -> tuple[int, ...]:
        require(key in shapes and len(shapes[key]) == ndim, f"FCPE tensor {key} is missing or not {ndim}-D: cannot tell the network's size")
        return shapes[key]

    hidden, n_mels, input_kernel = need("input_stack.0.weight", 3)
    config["hidden"], config["n_mels"], config["input_kernel"] = hidden, n_mels, input_kernel
    config["n_layers"] = len(indices(shapes, r"net\.encoder_layers\.(\d+)\..+"))
    depthwise = need("net.encoder_layers.0.conformer.net.4.conv.weight", 3)
    config["conv_kernel"] = depthwise[2]
    require(depthwise[0] % hidden == 0, f"depthwise conv width {depthwise[0]} is not a multiple of the hidden width {hidden}")
    config["expansion"] = depthwise[0] // hidden
    config["n_bins"] = need("output_proj.bias", 1)[0]
    require(config["conv_kernel"] % 2 == 1, f"depthwise kernel {config['conv_kernel']} is even: FCPE's 'same' padding needs an odd kernel")
    require(hidden % config["group_norm_groups"] == 0, f"hidden width {hidden} is not divisible by {config['group_norm_groups']} GroupNorm groups")
    config["config_source"] = source
    check_fcpe_config(config, str(loaded.path), f"{source} (with what the weights show)")
    return config


# What an FCPE config (read from the file, or a converted file's metadata) may hold.
CONFIG_SPECS: dict[str, Spec] = {
    "architecture": Spec(one_of("fcpe")),
    "hidden": Spec(whole(1, MAX_CHANNELS)),
    "n_layers": Spec(whole(1, MAX_LAYERS)),
    "n_bins": Spec(whole(1, MAX_CHANNELS)),
    "expansion": Spec(whole(1, 16)),
    "conv_kernel": Spec(whole(1, MAX_KERNEL)),
    "input_kernel": Spec(whole(1, MAX_KERNEL)),
    "group_norm_groups": Spec(whole(1, MAX_CHANNELS)),
    "group_norm_eps": Spec(real(1e-12, 0.1)),
    "layer_norm_eps": Spec(real(1e-12, 0.1)),
    "leaky_relu_slope": Spec(real(0.0, 1.0)),
    "f0_min": Spec(real(1.0, SAMPLE_RATES[1] / 2)),
    "f0_max": Spec(real(1.0, SAMPLE_RATES[1] / 2)),
    "magnitude_eps": Spec(real(1e-15, 1.0)),
    "config_source": Spec(text(40)),
    **MEL_FRONT_END_SPECS,
}


def check_fcpe_config(config: Any, where: str, what: str = "config") -> None:
    """Refuse an FCPE config no real model has before it sizes a tensor table or the runtime."""
    check_config(config, CONFIG_SPECS, where, what, _relation_problem)


def _relation_problem(config: dict[str, Any]) -> str | None:
    problem = mel_front_end_problem(config)
    if problem is None and not config["f0_min"] < config["f0_max"]:
        problem = f"f0_min {config['f0_min']:g} Hz is not below f0_max {config['f0_max']:g} Hz"
    return problem


def fcpe_expected_tensors(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Every tensor a conv-only CFNaiveMelPE state dict must hold (PyTorch shapes, fused output_proj).

    Not listed: the per-layer `norm` (used only before attention, which conv-only models lack) and
    the training-only `gaussian_blurred_cent_mask`; the rule pack drops them.
    """
    hidden, inner = config["hidden"], config["hidden"] * config["expansion"]
    expected = {
        "input_stack.0.weight": (hidden, config["n_mels"], config["input_kernel"]),
        "input_stack.0.bias": (hidden,),
        "input_stack.1.weight": (hidden,),
        "input_stack.1.bias": (hidden,),
        "input_stack.3.weight": (hidden, hidden, config["input_kernel"]),
        "input_stack.3.bias": (hidden,),
    }
    for i in range(config["n_layers"]):
        net = f"net.encoder_layers.{i}.conformer.net"
        expected |= {
            f"{net}.0.weight": (hidden,),
            f"{net}.0.bias": (hidden,),
            f"{net}.2.weight": (2 * inner, hidden, 1),
            f"{net}.2.bias": (2 * inner,),
            f"{net}.4.conv.weight": (inner, 1, config["conv_kernel"]),
            f"{net}.4.conv.bias": (inner,),
            f"{net}.6.weight": (hidden, inner, 1),
            f"{net}.6.bias": (hidden,),
        }
    expected |= {
        "norm.weight": (hidden,),
        "norm.bias": (hidden,),
        "output_proj.weight": (config["n_bins"], hidden),
        "output_proj.bias": (config["n_bins"],),
        "cent_table": (config["n_bins"],),
    }
    return expected
