"""Recognising a synthesizer file and reading its configuration from the weights.

Exports (`{"weight": …, "config": […], …}`), training checkpoints (`{"model": …}`, G_*.pth) and
bare state dicts. The text encoder and flow are read here; the decoder reads its own part
(decoders/). Every conclusion carries its evidence; where the stored config or the top-level
fields disagree with the weights, that is reported and the weights win.
"""

from __future__ import annotations

from typing import Any

from ...errors import UnsupportedModelError
from ...reader import LoadedFile, iter_tensors
from ...safe_pickle import TensorRef, quote
from ..base import ModelInfo, Recognised
from ..weights import indices
from ..weights import weight_shape as shape_of
from .config import PHONE_DIMS, SynthesizerConfig, check_config_list
from .decoders import resolve_decoder, vocoder_field_contradictions

FAMILY = "synthesizer"
APPLIO_FIELDS = ("vocoder", "model_hash", "embedder_model")  # top-level fields only Applio writes
REPORTED_FIELDS = ("info", "sr", "f0", "version", "epoch", "step", "model_name", "author", "embedder_model", "vocoder", "iteration")
SAMPLE_RATE_NAMES = {"32k": 32000, "40k": 40000, "48k": 48000, "24k": 24000}
SYNTHESIZER_PREFIXES = ("enc_p.", "dec.", "flow.")
DISCRIMINATOR_PREFIX = "discriminators."


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, TensorRef) for v in obj.values())


def recognise(loaded: LoadedFile) -> Recognised | None:
    root = loaded.root
    if isinstance(root, dict) and "weight" in root and isinstance(root.get("weight"), dict):
        kind = "applio-export" if any(k in root for k in APPLIO_FIELDS) else "webui-export"
        return Recognised(kind, dict(iter_tensors(root["weight"])), root)
    if isinstance(root, dict) and "model" in root and isinstance(root["model"], dict) and "cfg" not in root and _names_synthesizer_tensors(root["model"]):
        return Recognised("training-checkpoint", dict(iter_tensors(root["model"])), root)
    if _is_tensor_dict(root) and (_is_discriminator(root) or any(k.startswith(SYNTHESIZER_PREFIXES) for k in root)):
        return Recognised("state-dict", dict(root), {})
    return None


def _names_synthesizer_tensors(model: dict) -> bool:
    """A G_*.pth / D_*.pth `model` dict: synthesizer or discriminator keys (other tools, e.g. torchfcpe, also save {model: …})."""
    return _is_discriminator(model) or any(str(k).startswith(SYNTHESIZER_PREFIXES) for k in model)


def _is_discriminator(state: dict) -> bool:
    return bool(state) and all(k.startswith(DISCRIMINATOR_PREFIX) for k in state)


def read(loaded: LoadedFile, found: Recognised) -> ModelInfo:
    tensors, fields = found.tensors, found.fields
    if found.kind in ("training-checkpoint", "state-dict") and _is_discriminator(tensors):
        raise UnsupportedModelError(
            f"{loaded.path}: a discriminator checkpoint (D_*.pth; keys like {next(iter(tensors))}): it is only used in training. "
            f"Convert the generator G_*.pth or the exported voice .pth instead",
            finding="discriminator",
        )
    decoder = resolve_decoder(tensors, fields)
    evidence: list[str] = []
    contradictions: list[str] = []
    notes: list[str] = []

    phone = shape_of(tensors, "enc_p.emb_phone.weight")
    if phone is None or len(phone) != 2:
        raise UnsupportedModelError("no enc_p.emb_phone.weight [hidden, 256|768]: not an RVC synthesizer (or a damaged one)")
    version = next((v for v, dim in PHONE_DIMS.items() if dim == phone[1]), None)
    if version is None:
        raise UnsupportedModelError(f"enc_p.emb_phone.weight is {list(phone)}: phone features of width {phone[1]} match neither v1 (256) nor v2 (768)")
    evidence.append(f"enc_p.emb_phone.weight is {list(phone)} -> {version} ({phone[1]}-d phone features)")

    has_pitch = "enc_p.emb_pitch.weight" in tensors or any(k.startswith("dec.m_source.") for k in tensors)
    evidence.append(
        "enc_p.emb_pitch / dec.m_source present -> pitch-guided (f0)" if has_pitch else "no enc_p.emb_pitch or dec.m_source -> no pitch guidance (nof0)"
    )

    reading = decoder.read(tensors, fields, has_pitch)
    evidence += reading.evidence
    notes += reading.notes
    stored = reading.stored
    cfg = _config_from_weights(tensors, decoder, version, has_pitch, reading.sample_rate, reading.upsample_rates, reading.upsample_kernel_sizes, stored)
    # Most values come from tensor shapes, the rest from the stored list: all of them size the
    # expected-tensor table and the runtime, so the result is held to the same bounds.
    check_config_list(cfg.to_list(), str(loaded.path), "configuration read from the file")
    evidence.append(f"emb_g.weight has {cfg.spk_embed_dim} rows -> {cfg.spk_embed_dim} speaker(s)")
    if stored is not None:
        contradictions += _compare_config(stored, cfg)
    contradictions += _compare_fields(fields, cfg) + vocoder_field_contradictions(decoder, fields)
    if stored is None:
        notes.append("the file has no config list: every value was derived from the weights and RVC's defaults")
    facts = {k: fields[k] for k in REPORTED_FIELDS if k in fields and not isinstance(fields[k], (dict, list))}
    return ModelInfo(FAMILY, found.kind, decoder.rule_pack, tensors, cfg, evidence, contradictions, notes, facts)


def _config_from_weights(tensors, decoder, version, f0, sr, rates, kernels, stored: SynthesizerConfig | None) -> SynthesizerConfig:
    """Every config value the weights determine comes from the weights; the rest from the stored list or RVC defaults."""
    required = {
        "enc_p.proj": "enc_p.proj.weight",
        "ffn_layers.0.conv_1": "enc_p.encoder.ffn_layers.0.conv_1.weight",
        "attn_layers.0.emb_rel_k": "enc_p.encoder.attn_layers.0.emb_rel_k",
        "emb_g": "emb_g.weight",
    } | decoder.required_tensors()
    missing = [label for label, key in required.items() if not shape_of(tensors, key)]
    if missing:
        raise UnsupportedModelError(f"core synthesizer tensors are missing ({', '.join(missing)}): the checkpoint is incomplete")
    proj = shape_of(tensors, "enc_p.proj.weight")
    ffn = shape_of(tensors, "enc_p.encoder.ffn_layers.0.conv_1.weight")
    rel = shape_of(tensors, "enc_p.encoder.attn_layers.0.emb_rel_k")
    emb_g = shape_of(tensors, "emb_g.weight")
    base = stored or SynthesizerConfig.from_list(
        [1025 if sr != 32000 else 513, 32, 0, 0, 0, 0, 0, 0, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [], 0, [], 0, 0, 0]
    )
    enc_q = shape_of(tensors, "enc_q.pre.weight")
    values = {
        "spec_channels": enc_q[1] if enc_q else base.spec_channels,
        "segment_size": base.segment_size,
        "inter_channels": proj[0] // 2,
        "hidden_channels": proj[1],
        "filter_channels": ffn[0],
        "n_heads": proj[1] // rel[2],
        "n_layers": len(indices(tensors, r"enc_p\.encoder\.attn_layers\.(\d+)\..*")),
        "kernel_size": ffn[2],
        "p_dropout": base.p_dropout,
        "resblock": base.resblock,
        "resblock_kernel_sizes": base.resblock_kernel_sizes,
        "resblock_dilation_sizes": base.resblock_dilation_sizes,
        "upsample_rates": rates,
        "upsample_initial_channel": base.upsample_initial_channel,
        "upsample_kernel_sizes": kernels,
        "spk_embed_dim": emb_g[0],
        "gin_channels": emb_g[1],
        "sr": sr,
    }
    values |= decoder.config_fields(tensors, base)
    return SynthesizerConfig(**values, version=version, f0=f0, vocoder=decoder.name)


def _compare_config(stored: SynthesizerConfig, derived: SynthesizerConfig) -> list[str]:
    out = []
    for name in SynthesizerConfig.FIELDS:
        a, b = getattr(stored, name), getattr(derived, name)
        if name == "spk_embed_dim" or _same(a, b):
            continue  # the WebUI itself replaces spk_embed_dim with emb_g's row count
        out.append(f"config {name} is {a}, the weights say {b}; the weights win")
    if stored.spk_embed_dim != derived.spk_embed_dim:
        out.append(f"config spk_embed_dim is {stored.spk_embed_dim}, emb_g has {derived.spk_embed_dim} rows; using {derived.spk_embed_dim} as the WebUI does")
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return a == b or float(a) == float(b)
    except (TypeError, ValueError):
        return False


def _compare_fields(fields: dict, cfg: SynthesizerConfig) -> list[str]:
    out = []
    sr_field = fields.get("sr")
    if sr_field is not None:
        as_hz = sr_field if type(sr_field) is int else SAMPLE_RATE_NAMES.get(sr_field) if isinstance(sr_field, str) else None
        if as_hz != cfg.sr:
            out.append(f"field sr is {quote(sr_field, 40)}, the decoder says {cfg.sr} Hz; the weights win")
    if "f0" in fields and (type(fields["f0"]) not in (int, bool) or bool(fields["f0"]) != cfg.f0):
        out.append(f"field f0 is {quote(fields['f0'], 40)}, the weights say {'pitch-guided' if cfg.f0 else 'no pitch'}; the weights win")
    if "version" in fields and fields["version"] != cfg.version:
        out.append(f"field version is {quote(fields['version'], 40)}, enc_p.emb_phone says {cfg.version}; the weights win")
    return out
