"""HuBERT/ContentVec: which tensors a file must hold and the configuration the MLX runtime needs.

Tensor lists use PyTorch shapes keyed by the *fused* source spelling (`….weight`, never
`weight_g`/`weight_v`). The config is a plain JSON-able dict; the converter stores it verbatim as
the `config` metadata entry of the converted file, and `rvc_runtime.hubert` reads it back from there.
Training-only tensors (`mask_emb`, `label_embs_concat`, `masked_spec_embed`) are not listed: the
rule packs drop them and files may lack them. Facts: docs/hubert_rmvpe_format.md.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable, Mapping

from ...errors import UnsupportedModelError
from ...reader import LoadedFile, iter_tensors
from ...safe_pickle import quote
from ..limits import MAX_CHANNELS, MAX_KERNEL, MAX_LAYERS, MAX_RATE, MAX_STAGES, SAMPLE_RATES, Spec, check_config, flag, listed, one_of, optional, real, text, whole
from ..weights import indices, require, shape

# The family's config type: a JSON-able dict (keys of HUBERT_DEFAULTS plus the sizes read from the
# file, `source_layout` and `config_source`), stored verbatim as the converted file's `config`
# metadata and read back by rvc_runtime.hubert.
HubertConfig = dict[str, Any]

HUBERT_LAYOUTS = ("fairseq", "hf")
MAX_CONV_LAYERS = 64  # HuBERT has 7; a config asking for more is hostile or broken
MAX_CONFIG_TEXT = 4096
HUBERT_RULE_PACKS = {"fairseq": "hubert_fairseq", "hf": "hubert_hf"}

# Strides of the HuBERT/wav2vec2 conv feature extractor by kernel width (10/5, 3/2, 2/2). Shapes
# cannot show a stride; this table is only used when a file carries no config at all.
_HUBERT_STRIDE_BY_KERNEL = {10: 5, 3: 2, 2: 2}
_HUBERT_HEAD_DIM = 64  # HuBERT base/large: heads = hidden / 64; only used without a config


HUBERT_DEFAULTS: dict[str, Any] = {
    "architecture": "hubert",
    "feature_norm": "group",  # GroupNorm(C, C) after conv 0 only (fairseq extractor_mode "default")
    "conv_bias": False,
    "activation": "gelu",  # exact erf GELU everywhere (fairseq "gelu", transformers "gelu")
    "layer_norm_first": False,  # post-LN layers, encoder LayerNorm once before layer 0
    "layer_norm_eps": 1e-5,
    "group_norm_eps": 1e-5,
    "normalize_waveform": False,
    "v1_output_layer": 9,  # RVC v1 = final_proj(output of layer 9); v2 = output of the last layer
    "sample_rate": 16000,
}


def _conv_layer(value: Any, name: str) -> list[int]:
    """One [channels, kernel, stride] entry of conv_layers."""
    if type(value) not in (list, tuple) or len(value) != 3:
        raise ValueError("an entry that is not [channels, kernel, stride]")
    return [whole(1, MAX_CHANNELS)(value[0], name), whole(1, MAX_KERNEL)(value[1], name), whole(1, MAX_RATE)(value[2], name)]


# What a HuBERT config (read from a file, or a converted file's metadata) may hold.
CONFIG_SPECS: dict[str, Spec] = {
    "architecture": Spec(one_of("hubert")),
    "feature_norm": Spec(one_of("group")),
    "conv_bias": Spec(flag),
    "activation": Spec(one_of("gelu")),
    "layer_norm_first": Spec(one_of(False)),
    "layer_norm_eps": Spec(real(1e-12, 0.1)),
    "group_norm_eps": Spec(real(1e-12, 0.1)),
    "normalize_waveform": Spec(flag),
    "v1_output_layer": Spec(whole(0, MAX_LAYERS)),
    "sample_rate": Spec(whole(*SAMPLE_RATES)),
    "conv_layers": Spec(listed(_conv_layer, 1, MAX_STAGES)),
    "hidden_size": Spec(whole(1, MAX_CHANNELS)),
    "num_layers": Spec(whole(1, MAX_LAYERS)),
    "num_heads": Spec(whole(1, MAX_LAYERS)),
    "ffn_dim": Spec(whole(1, MAX_CHANNELS)),
    "pos_conv_kernel": Spec(whole(1, MAX_KERNEL)),
    "pos_conv_groups": Spec(whole(1, MAX_CHANNELS)),
    "final_proj_dim": Spec(optional(whole(1, MAX_CHANNELS)), required=False),
    "source_layout": Spec(one_of(*HUBERT_LAYOUTS)),
    "config_source": Spec(text(40)),
}
# The config fields tensor shapes show: a stored config must agree with the weights on each.
WEIGHT_FACTS = ("hidden_size", "num_layers", "ffn_dim", "pos_conv_kernel", "pos_conv_groups", "final_proj_dim", "conv_bias")


def check_hubert_config(config: Any, where: str, what: str = "config") -> None:
    """Refuse a HuBERT config no real model has (types, bounds, the divisibility the attention and
    the grouped positional conv need) before it sizes a tensor table or the runtime."""
    check_config(config, CONFIG_SPECS, where, what, _relation_problem)


def _relation_problem(config: dict[str, Any]) -> str | None:
    if config["hidden_size"] % config["num_heads"]:
        return f"hidden_size {config['hidden_size']} is not divisible by num_heads {config['num_heads']}"
    if config["hidden_size"] % config["pos_conv_groups"]:
        return f"hidden_size {config['hidden_size']} is not divisible by pos_conv_groups {config['pos_conv_groups']}"
    if config["v1_output_layer"] > config["num_layers"]:
        return f"v1_output_layer {config['v1_output_layer']} is beyond num_layers {config['num_layers']}"
    return None


def hubert_layout(names: Iterable[str]) -> str | None:
    """'fairseq' (hubert_base.pt `model` dict), 'hf' (transformers names) or None."""
    names = set(names)
    if any(n.startswith(("post_extract_proj.", "encoder.pos_conv.0.")) for n in names):
        return "fairseq"
    if any(n.startswith(("feature_projection.", "encoder.pos_conv_embed.")) for n in names):
        return "hf"
    return None


def hubert_source_tensors(loaded: LoadedFile) -> dict[str, Any]:
    """The tensors of a HuBERT file by source key: fairseq keeps them under `model`, HF at top level."""
    root = loaded.root
    if isinstance(root, dict) and "cfg" in root and isinstance(root.get("model"), dict):
        return dict(iter_tensors(root["model"]))
    return dict(iter_tensors(root))


def parse_conv_feature_layers(text: str) -> list[list[int]]:
    """fairseq's `conv_feature_layers` string, e.g. "[(512,10,5)] + [(512,3,2)] * 4", without eval().

    Only list/tuple literals of ints, `+` and `*` are accepted.
    """

    if len(text) > MAX_CONFIG_TEXT:
        raise UnsupportedModelError(f"cfg.model.conv_feature_layers is {len(text)} characters long: not a HuBERT feature extractor")

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            result = left + right if isinstance(node.op, ast.Add) else None
            if isinstance(node.op, ast.Mult):
                # Bound the repeat before multiplying: "[(8,10,5)] * 30000000" must not allocate.
                count, items = (right, left) if isinstance(right, int) else (left, right)
                if not isinstance(count, int) or not isinstance(items, (list, tuple)) or not 0 <= count * len(items) <= MAX_CONV_LAYERS:
                    raise ValueError(f"a repeat beyond {MAX_CONV_LAYERS} layers")
                result = items * count
            if len(result) > MAX_CONV_LAYERS:
                raise ValueError(f"more than {MAX_CONV_LAYERS} layers")
            return result
        raise ValueError(ast.dump(node))

    try:
        layers = value(ast.parse(text, mode="eval"))
        result = [[int(c), int(k), int(s)] for c, k, s in layers]
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError) as exc:
        raise UnsupportedModelError(f"cfg.model.conv_feature_layers is {text[:80]!r}: not a list of (channels, kernel, stride) tuples ({exc})") from None
    if not result:
        raise UnsupportedModelError("cfg.model.conv_feature_layers is empty: a HuBERT needs at least one conv layer")
    return result


def _hubert_from_fairseq_cfg(cfg: Mapping[str, Any]) -> dict[str, Any]:
    model, task = cfg.get("model") or {}, cfg.get("task") or {}
    out: dict[str, Any] = {}
    mode = model.get("extractor_mode", "default")
    require(mode == "default", f"cfg.model.extractor_mode is '{mode}': only 'default' (GroupNorm on conv 0) is supported (HuBERT base / ContentVec)")
    require(not model.get("layer_norm_first", False), "cfg.model.layer_norm_first is true (pre-LN, HuBERT large style): only the post-LN base model is supported")
    for key in ("activation_fn",):
        require(model.get(key, "gelu") == "gelu", f"cfg.model.{key} is '{model.get(key)}': only 'gelu' is supported")
    require(model.get("pos_enc_type", "abs") == "abs", f"cfg.model.pos_enc_type is '{model.get('pos_enc_type')}': only 'abs' is supported")
    require(model.get("layer_type", "transformer") == "transformer", f"cfg.model.layer_type is '{model.get('layer_type')}': only 'transformer' is supported")
    if "conv_feature_layers" in model:
        out["conv_layers"] = parse_conv_feature_layers(model["conv_feature_layers"])
    renames = {
        "conv_bias": "conv_bias",
        "encoder_layers": "num_layers",
        "encoder_embed_dim": "hidden_size",
        "encoder_ffn_embed_dim": "ffn_dim",
        "encoder_attention_heads": "num_heads",
        "conv_pos": "pos_conv_kernel",
        "conv_pos_groups": "pos_conv_groups",
    }
    for source, target in renames.items():
        if source in model:
            out[target] = model[source]
    if "final_dim" in model:
        labels = len(task.get("labels") or ["km"])
        out["final_proj_dim"] = int(model["final_dim"]) * (labels if model.get("untie_final_proj") else 1)
    if "normalize" in task:
        out["normalize_waveform"] = bool(task["normalize"])
    if "sample_rate" in task:
        out["sample_rate"] = int(task["sample_rate"])
    return out


def _hubert_from_hf_config(config: Mapping[str, Any], preprocessor: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    norm = config.get("feat_extract_norm", "group")
    require(norm == "group", f"config.json feat_extract_norm is '{norm}': only 'group' (GroupNorm on conv 0) is supported")
    require(not config.get("do_stable_layer_norm", False), "config.json do_stable_layer_norm is true (pre-LN): only the post-LN base model is supported")
    require(config.get("feat_proj_layer_norm", True), "config.json feat_proj_layer_norm is false: HuBERT/ContentVec has the feature LayerNorm")
    for key in ("hidden_act", "feat_extract_activation"):
        require(config.get(key, "gelu") == "gelu", f"config.json {key} is '{config.get(key)}': only 'gelu' is supported")
    if all(k in config for k in ("conv_dim", "conv_kernel", "conv_stride")):
        dims, kernels, strides = config["conv_dim"], config["conv_kernel"], config["conv_stride"]
        require(len(dims) == len(kernels) == len(strides), "config.json conv_dim, conv_kernel and conv_stride differ in length")
        out["conv_layers"] = [[int(c), int(k), int(s)] for c, k, s in zip(dims, kernels, strides)]
    renames = {
        "conv_bias": "conv_bias",
        "num_hidden_layers": "num_layers",
        "hidden_size": "hidden_size",
        "intermediate_size": "ffn_dim",
        "num_attention_heads": "num_heads",
        "num_conv_pos_embeddings": "pos_conv_kernel",
        "num_conv_pos_embedding_groups": "pos_conv_groups",
        "layer_norm_eps": "layer_norm_eps",
        "classifier_proj_size": "final_proj_dim",
    }
    for source, target in renames.items():
        if source in config:
            out[target] = config[source]
    if preprocessor is not None:
        if "do_normalize" in preprocessor:
            out["normalize_waveform"] = bool(preprocessor["do_normalize"])
        if "sampling_rate" in preprocessor:
            out["sample_rate"] = int(preprocessor["sampling_rate"])
    return out


def _hubert_from_shapes(shapes: Mapping[str, tuple[int, ...]], layout: str) -> dict[str, Any]:
    """Everything the weights show. Strides and head count are not visible; see the tables above."""
    names = _hubert_names(layout)
    out: dict[str, Any] = {}
    conv_indices = indices(shapes, re.escape(names["conv"]).replace(r"\{i\}", r"(\d+)") + r"\.weight")
    if conv_indices:
        layers = []
        for i in conv_indices:
            channels, _, kernel = shapes[names["conv"].format(i=i) + ".weight"]
            require(kernel in _HUBERT_STRIDE_BY_KERNEL, f"conv layer {i} has kernel {kernel}: no config in the file and no known stride for it; supply config.json / cfg")
            layers.append([channels, kernel, _HUBERT_STRIDE_BY_KERNEL[kernel]])
        out["conv_layers"] = layers
        out["conv_bias"] = (names["conv"].format(i=0) + ".bias") in shapes
    proj = shapes.get(names["projection"] + ".weight")
    if proj:
        out["hidden_size"] = proj[0]
        out["num_heads"] = max(1, proj[0] // _HUBERT_HEAD_DIM)
    layer_indices = indices(shapes, re.escape(names["layer"]).replace(r"\{i\}", r"(\d+)") + r"\..+")
    if layer_indices:
        out["num_layers"] = layer_indices[-1] + 1
    fc1 = shapes.get(names["layer"].format(i=0) + "." + names["fc1"] + ".weight")
    if fc1:
        out["ffn_dim"] = fc1[0]
    pos = shapes.get(names["pos_conv"] + ".weight") or shapes.get(names["pos_conv"] + ".weight_v") or shapes.get(names["pos_conv"] + ".parametrizations.weight.original1")
    if pos:
        out["pos_conv_kernel"] = pos[2]
        out["pos_conv_groups"] = pos[0] // pos[1]
    final = shapes.get("final_proj.weight")
    if final:
        out["final_proj_dim"] = final[0]
    return out


def _hubert_names(layout: str) -> dict[str, str]:
    if layout == "fairseq":
        return {
            "conv": "feature_extractor.conv_layers.{i}.0",
            "group_norm": "feature_extractor.conv_layers.0.2",
            "feature_norm": "layer_norm",
            "projection": "post_extract_proj",
            "pos_conv": "encoder.pos_conv.0",
            "encoder_norm": "encoder.layer_norm",
            "layer": "encoder.layers.{i}",
            "attention": "self_attn",
            "attention_norm": "self_attn_layer_norm",
            "fc1": "fc1",
            "fc2": "fc2",
            "final_norm": "final_layer_norm",
        }
    if layout == "hf":
        return {
            "conv": "feature_extractor.conv_layers.{i}.conv",
            "group_norm": "feature_extractor.conv_layers.0.layer_norm",
            "feature_norm": "feature_projection.layer_norm",
            "projection": "feature_projection.projection",
            "pos_conv": "encoder.pos_conv_embed.conv",
            "encoder_norm": "encoder.layer_norm",
            "layer": "encoder.layers.{i}",
            "attention": "attention",
            "attention_norm": "layer_norm",
            "fc1": "feed_forward.intermediate_dense",
            "fc2": "feed_forward.output_dense",
            "final_norm": "final_layer_norm",
        }
    raise ValueError(f"unknown HuBERT layout {layout!r}; expected one of {HUBERT_LAYOUTS}")


def hubert_config_from_file(loaded: LoadedFile) -> HubertConfig:
    """The runtime config of a HuBERT/ContentVec file: its stored config first, the weights for the rest.

    fairseq: `cfg["model"]` (+ `cfg["task"]["normalize"]`); HF: config.json (+ preprocessor_config.json
    `do_normalize`). Fields neither carries come from the tensor shapes; `config_source` says which.
    """
    tensors = hubert_source_tensors(loaded)
    shapes = {k: shape(v) for k, v in tensors.items()}
    layout = hubert_layout(shapes)
    require(layout is not None, f"{loaded.path}: no HuBERT tensors (post_extract_proj / feature_projection) in this file")
    config = dict(HUBERT_DEFAULTS)
    derived = _hubert_from_shapes(shapes, layout)
    config.update(derived)
    source, stated = "shapes", {}
    root = loaded.root
    if layout == "fairseq" and isinstance(root, dict) and isinstance(root.get("cfg"), dict):
        stated, source = _hubert_from_fairseq_cfg(root["cfg"]), "cfg"
    elif layout == "hf" and isinstance(loaded.extra_files.get("config.json"), dict):
        stated = _hubert_from_hf_config(loaded.extra_files["config.json"], loaded.extra_files.get("preprocessor_config.json"))
        source = "config.json"
    config.update(stated)
    if "final_proj.weight" not in shapes:
        # Plain HubertModel saves have no final_proj although config.json names classifier_proj_size:
        # such a file serves RVC v2 only.
        config["final_proj_dim"] = None
        stated.pop("final_proj_dim", None)
    missing = [k for k in ("conv_layers", "hidden_size", "num_layers", "num_heads", "ffn_dim", "pos_conv_kernel", "pos_conv_groups") if k not in config]
    require(not missing, f"{loaded.path}: cannot tell the HuBERT {', '.join(missing)} from the config or the weights")
    config["source_layout"] = layout
    config["config_source"] = source
    check_hubert_config(config, str(loaded.path), f"{source} (with what the weights show)")
    _check_against_weights(stated, derived, str(loaded.path), source)
    return config


def _check_against_weights(stated: dict[str, Any], derived: dict[str, Any], where: str, source: str) -> None:
    """A stored config describes these weights: every count the shapes show must be the stored one."""
    for key in WEIGHT_FACTS:
        if key in stated and key in derived and stated[key] != derived[key]:
            raise UnsupportedModelError(f"{where}: {source} says {key} {quote(stated[key], 60)}, the weights hold {quote(derived[key], 60)}: the config does not describe these weights")
    if "conv_layers" in stated and "conv_layers" in derived:
        said = [(c, k) for c, k, _ in stated["conv_layers"]]
        held = [(c, k) for c, k, _ in derived["conv_layers"]]
        if said != held:
            raise UnsupportedModelError(f"{where}: {source} says conv layers (channels, kernel) {quote(said, 80)}, the weights hold {quote(held, 80)}: the config does not describe these weights")


def hubert_expected_tensors(config: Mapping[str, Any], layout: str | None = None) -> dict[str, tuple[int, ...]]:
    """Every tensor a HuBERT/ContentVec file in `layout` ('fairseq' or 'hf'; default: the config's
    `source_layout`) must hold, with its PyTorch shape.

    Keys use the fused spelling: the positional conv is `….weight` (its weight_g/weight_v, or
    parametrizations original0/1, are the converter's business).
    """
    names = _hubert_names(layout or config.get("source_layout", "fairseq"))
    expected: dict[str, tuple[int, ...]] = {}
    in_channels = 1
    for i, (channels, kernel, _stride) in enumerate(config["conv_layers"]):
        conv = names["conv"].format(i=i)
        expected[f"{conv}.weight"] = (channels, in_channels, kernel)
        if config.get("conv_bias"):
            expected[f"{conv}.bias"] = (channels,)
        in_channels = channels
    conv_dim = in_channels
    first_channels = config["conv_layers"][0][0]
    expected[f"{names['group_norm']}.weight"] = (first_channels,)
    expected[f"{names['group_norm']}.bias"] = (first_channels,)
    hidden, ffn = config["hidden_size"], config["ffn_dim"]
    expected[f"{names['feature_norm']}.weight"] = (conv_dim,)
    expected[f"{names['feature_norm']}.bias"] = (conv_dim,)
    expected[f"{names['projection']}.weight"] = (hidden, conv_dim)
    expected[f"{names['projection']}.bias"] = (hidden,)
    expected[f"{names['pos_conv']}.weight"] = (hidden, hidden // config["pos_conv_groups"], config["pos_conv_kernel"])
    expected[f"{names['pos_conv']}.bias"] = (hidden,)
    expected[f"{names['encoder_norm']}.weight"] = (hidden,)
    expected[f"{names['encoder_norm']}.bias"] = (hidden,)
    for i in range(config["num_layers"]):
        layer = names["layer"].format(i=i)
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            expected[f"{layer}.{names['attention']}.{proj}.weight"] = (hidden, hidden)
            expected[f"{layer}.{names['attention']}.{proj}.bias"] = (hidden,)
        for norm in (names["attention_norm"], names["final_norm"]):
            expected[f"{layer}.{norm}.weight"] = (hidden,)
            expected[f"{layer}.{norm}.bias"] = (hidden,)
        expected[f"{layer}.{names['fc1']}.weight"] = (ffn, hidden)
        expected[f"{layer}.{names['fc1']}.bias"] = (ffn,)
        expected[f"{layer}.{names['fc2']}.weight"] = (hidden, ffn)
        expected[f"{layer}.{names['fc2']}.bias"] = (hidden,)
    if config.get("final_proj_dim"):
        expected["final_proj.weight"] = (config["final_proj_dim"], hidden)
        expected["final_proj.bias"] = (config["final_proj_dim"],)
    return expected
