"""RMVPE: which tensors an `E2E` state dict must hold and the configuration the MLX runtime needs.

PyTorch shapes; BatchNorm `num_batches_tracked` is not listed (the rule pack drops it). The config
is a plain JSON-able dict stored as the converted file's `config` metadata entry, which
`rvc_runtime.rmvpe` reads back. Facts: docs/hubert_rmvpe_format.md.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..limits import MAX_CHANNELS, MAX_LAYERS, Spec, check_config, listed, one_of, real, whole
from ..pitch_common import MEL_FRONT_END_SPECS, mel_front_end_problem
from ..weights import batch_norm, indices, require, shape

RMVPE_RULE_PACK = "rmvpe"

# The family's config type: a JSON-able dict (the keys of RMVPE_DEFAULTS, sizes read from the
# shapes), stored verbatim as the converted file's `config` metadata and read back by rvc_runtime.rmvpe.
RmvpeConfig = dict[str, Any]

RMVPE_DEFAULTS: dict[str, Any] = {
    "architecture": "rmvpe",
    # E2E(n_blocks=4, n_gru=1, kernel_size=(2, 2)), en_de_layers=5, inter_layers=4, in_channels=1,
    # en_out_channels=16: what RVC and Applio build.
    "n_blocks": 4,
    "n_gru": 1,
    "kernel_size": [2, 2],
    "en_de_layers": 5,
    "inter_layers": 4,
    "in_channels": 1,
    "en_out_channels": 16,
    "gru_hidden": 256,
    "n_classes": 360,
    "bn_eps": 1e-5,
    # log-mel front end (RVC MelSpectrogram(…, 128, 16000, 1024, 160, None, 30, 8000))
    "sample_rate": 16000,
    "n_mels": 128,
    "n_fft": 1024,
    "win_length": 1024,
    "hop_length": 160,
    "fmin": 30.0,
    "fmax": 8000.0,
    "mel_clamp": 1e-5,
    "mel_pad_multiple": 32,  # 2 ** en_de_layers: the U-Net pools 5 times by 2 in time
    "mel_pad_mode": "constant",  # RVC zero-pads the log-mel; Applio reflects ("reflect")
    "threshold": 0.03,  # RVC's infer_from_audio(x, thred=0.03)
}


MAX_LEVELS = 10  # U-Net levels: the width doubles at each (RVC: 5)

# What an RMVPE config (read from the shapes, or a converted file's metadata) may hold.
CONFIG_SPECS: dict[str, Spec] = {
    "architecture": Spec(one_of("rmvpe")),
    "n_blocks": Spec(whole(1, MAX_LAYERS)),
    "n_gru": Spec(whole(1, 8)),
    "kernel_size": Spec(listed(whole(1, 8), 2, 2)),
    "en_de_layers": Spec(whole(1, MAX_LEVELS)),
    "inter_layers": Spec(whole(1, MAX_LAYERS)),
    "in_channels": Spec(whole(1, 16)),
    "en_out_channels": Spec(whole(1, MAX_CHANNELS)),
    "gru_hidden": Spec(whole(1, MAX_CHANNELS)),
    "n_classes": Spec(whole(1, MAX_CHANNELS)),
    "bn_eps": Spec(real(1e-12, 0.1)),
    "mel_pad_multiple": Spec(whole(1, 1 << MAX_LEVELS)),
    "mel_pad_mode": Spec(one_of("constant", "reflect")),
    "threshold": Spec(real(0.0, 1.0)),
    **MEL_FRONT_END_SPECS,
}


def check_rmvpe_config(config: Any, where: str, what: str = "config") -> None:
    """Refuse an RMVPE config no real model has (types, bounds, and the relations the U-Net and the
    mel front end need) before it sizes a tensor table or the runtime."""
    check_config(config, CONFIG_SPECS, where, what, _relation_problem)


def _relation_problem(config: dict[str, Any]) -> str | None:
    widest = config["en_out_channels"] << (config["en_de_layers"])
    if widest > MAX_CHANNELS:
        return f"en_out_channels {config['en_out_channels']} doubled over {config['en_de_layers']} levels is {widest} channels (limit {MAX_CHANNELS})"
    if config["mel_pad_multiple"] != 2 ** config["en_de_layers"]:
        return f"mel_pad_multiple {config['mel_pad_multiple']} is not 2 ** en_de_layers ({2 ** config['en_de_layers']})"
    return mel_front_end_problem(config)


def is_rmvpe(names: Iterable[str]) -> bool:
    names = set(names)
    return any(n.startswith("unet.encoder.") for n in names) and any(n.startswith("fc.") for n in names)


def rmvpe_channels(config: Mapping[str, Any]) -> dict[str, list[tuple[int, int]]]:
    """(C_in, C_out) per U-Net level: encoder doubles from en_out_channels, the intermediate doubles
    once, the decoder halves back down (DeepUnet's construction)."""
    en_out, levels = config["en_out_channels"], config["en_de_layers"]
    encoder = [(config["in_channels"] if i == 0 else en_out * 2 ** (i - 1), en_out * 2**i) for i in range(levels)]
    bottom = encoder[-1][1]
    intermediate = [(bottom if i == 0 else bottom * 2, bottom * 2) for i in range(config["inter_layers"])]
    top = bottom * 2
    decoder = [(top // 2**i, top // 2 ** (i + 1)) for i in range(levels)]
    return {"encoder": encoder, "intermediate": intermediate, "decoder": decoder}


def _conv_block_res(prefix: str, c_in: int, c_out: int) -> dict[str, tuple[int, ...]]:
    tensors = {f"{prefix}.conv.0.weight": (c_out, c_in, 3, 3)}
    tensors |= batch_norm(f"{prefix}.conv.1", c_out)
    tensors[f"{prefix}.conv.3.weight"] = (c_out, c_out, 3, 3)
    tensors |= batch_norm(f"{prefix}.conv.4", c_out)
    if c_in != c_out:
        tensors[f"{prefix}.shortcut.weight"] = (c_out, c_in, 1, 1)
        tensors[f"{prefix}.shortcut.bias"] = (c_out,)
    return tensors


def rmvpe_expected_tensors(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Every tensor an RMVPE `E2E` state dict must hold (PyTorch shapes; num_batches_tracked excluded)."""
    channels = rmvpe_channels(config)
    blocks = config["n_blocks"]
    expected = batch_norm("unet.encoder.bn", config["in_channels"])
    for stage in ("encoder", "intermediate"):
        for i, (c_in, c_out) in enumerate(channels[stage]):
            for j in range(blocks):
                expected |= _conv_block_res(f"unet.{stage}.layers.{i}.conv.{j}", c_in if j == 0 else c_out, c_out)
    for i, (c_in, c_out) in enumerate(channels["decoder"]):
        layer = f"unet.decoder.layers.{i}"
        expected[f"{layer}.conv1.0.weight"] = (c_in, c_out, 3, 3)  # ConvTranspose2d: (I, O, kH, kW)
        expected |= batch_norm(f"{layer}.conv1.1", c_out)
        for j in range(blocks):
            expected |= _conv_block_res(f"{layer}.conv2.{j}", 2 * c_out if j == 0 else c_out, c_out)
    expected["cnn.weight"] = (3, config["en_out_channels"], 3, 3)
    expected["cnn.bias"] = (3,)
    hidden = config["gru_hidden"]
    for layer in range(config["n_gru"]):
        width = 3 * config["n_mels"] if layer == 0 else 2 * hidden
        for suffix in ("", "_reverse"):
            expected[f"fc.0.gru.weight_ih_l{layer}{suffix}"] = (3 * hidden, width)
            expected[f"fc.0.gru.weight_hh_l{layer}{suffix}"] = (3 * hidden, hidden)
            expected[f"fc.0.gru.bias_ih_l{layer}{suffix}"] = (3 * hidden,)
            expected[f"fc.0.gru.bias_hh_l{layer}{suffix}"] = (3 * hidden,)
    expected["fc.1.weight"] = (config["n_classes"], 2 * hidden)
    expected["fc.1.bias"] = (config["n_classes"],)
    return expected


def rmvpe_config_from_tensors(tensors: Mapping[str, Any]) -> RmvpeConfig:
    """The runtime config of an RMVPE state dict, from its shapes (the file carries no config).

    `tensors` maps source keys to arrays, TensorRefs or shapes. The pooling kernel (2, 2) and the
    mel front end are not visible in the weights and stay at RVC's values.
    """
    shapes = {k: shape(v) for k, v in tensors.items()}
    require(is_rmvpe(shapes), "no RMVPE tensors (unet.encoder.*, fc.*) in this file")
    config = dict(RMVPE_DEFAULTS)

    def need(key: str) -> tuple[int, ...]:
        require(key in shapes, f"RMVPE tensor {key} is missing: cannot tell the network's size")
        return shapes[key]

    config["in_channels"] = need("unet.encoder.bn.weight")[0]
    config["en_out_channels"] = need("unet.encoder.layers.0.conv.0.conv.0.weight")[0]
    config["en_de_layers"] = len(indices(shapes, r"unet\.encoder\.layers\.(\d+)\..+"))
    config["inter_layers"] = len(indices(shapes, r"unet\.intermediate\.layers\.(\d+)\..+"))
    config["n_blocks"] = len(indices(shapes, r"unet\.encoder\.layers\.0\.conv\.(\d+)\..+"))
    gru_layers = indices(shapes, r"fc\.0\.gru\.weight_ih_l(\d+)")
    require(bool(gru_layers), "RMVPE without a BiGRU (fc.0.gru.*): only E2E with n_gru >= 1 is supported")
    config["n_gru"] = len(gru_layers)
    config["gru_hidden"] = need("fc.0.gru.weight_hh_l0")[1]
    gru_in = need("fc.0.gru.weight_ih_l0")[1]
    require(gru_in % 3 == 0, f"fc.0.gru.weight_ih_l0 has {gru_in} inputs: expected 3 x mel bins (the cnn's 3 channels)")
    config["n_mels"] = gru_in // 3
    config["n_classes"] = need("fc.1.weight")[0]
    config["mel_pad_multiple"] = 2 ** config["en_de_layers"]
    require(config["n_mels"] % config["mel_pad_multiple"] == 0, f"{config['n_mels']} mel bins cannot be pooled {config['en_de_layers']} times by 2")
    check_rmvpe_config(config, "this RMVPE", "configuration read from the weights")
    return config
