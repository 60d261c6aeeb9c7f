"""What is this file? Family, kind, variant and configuration, from the weights first and metadata second.

Every conclusion carries its evidence; where the stored config disagrees with the weights, the
disagreement is reported and the weights win.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .architectures import PHONE_DIMS, SHIPPED_DECODERS, SynthesizerConfig
from .architectures_aux import (
    HUBERT_RULE_PACKS,
    RMVPE_RULE_PACK,
    hubert_config_from_file,
    hubert_layout,
    hubert_source_tensors,
    is_rmvpe,
    rmvpe_config_from_tensors,
)
from .errors import RvcConvertError, UnsupportedModelError
from .reader import LoadedFile, iter_tensors
from .safe_pickle import TensorRef

CONVERTED_LAYOUT = "mlx"


@dataclass
class ModelInfo:
    """The detection result that planning and writing consume."""

    family: str  # synthesizer | hubert | rmvpe
    kind: str  # webui-export | applio-export | training-checkpoint | state-dict | converted
    rule_pack: str  # mappings/<name>.yaml
    tensors: dict[str, TensorRef]  # source tensors by key, as stored
    config: Any  # family-specific configuration (SynthesizerConfig for synthesizers)
    evidence: list[str] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source_fields: dict[str, Any] = field(default_factory=dict)  # non-tensor top-level fields worth reporting

    @property
    def variant(self) -> str:
        if isinstance(self.config, SynthesizerConfig):
            return self.config.variant
        if self.family == "hubert" and isinstance(self.config, dict):
            return f"hubert-{self.config.get('num_layers')}x{self.config.get('hidden_size')}"
        return self.family

    def summary(self) -> dict[str, str]:
        """Flat string facts for file metadata and reports."""
        facts = {"family": self.family, "source_kind": self.kind}
        if isinstance(self.config, SynthesizerConfig):
            cfg = self.config
            facts |= {
                "version": cfg.version,
                "sample_rate": str(cfg.sr),
                "f0": "1" if cfg.f0 else "0",
                "speakers": str(cfg.spk_embed_dim),
                "vocoder": cfg.vocoder,
                "hop": str(cfg.hop),
                "config": json.dumps(cfg.to_list(), separators=(",", ":")),
            }
        elif isinstance(self.config, dict):
            facts["config"] = json.dumps(self.config, sort_keys=True, separators=(",", ":"))
        return facts


def flat_tensors(obj: Any) -> dict[str, TensorRef]:
    return dict(iter_tensors(obj))


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, TensorRef) for v in obj.values())


def detect(loaded: LoadedFile) -> ModelInfo:
    """Identify the file. Raises UnsupportedModelError for anything we cannot convert, saying why."""
    try:
        return _detect(loaded)
    except RvcConvertError:
        raise
    except Exception as exc:  # shapes or config fields of a type no real model has
        raise UnsupportedModelError(f"{loaded.path}: malformed model ({type(exc).__name__}: {str(exc)[:120]}); it does not look like any model rvc-convert knows") from None


def _detect(loaded: LoadedFile) -> ModelInfo:
    root = loaded.root
    if loaded.metadata.get("layout") == CONVERTED_LAYOUT and "family" in loaded.metadata:
        return _detect_converted(loaded)
    if isinstance(root, dict) and "weight" in root and isinstance(root.get("weight"), dict):
        kind = "applio-export" if any(k in root for k in ("vocoder", "model_hash", "embedder_model")) else "webui-export"
        return _detect_synthesizer(flat_tensors(root["weight"]), root, kind)
    if isinstance(root, dict) and "model" in root and isinstance(root["model"], dict) and "cfg" not in root:
        state = flat_tensors(root["model"])
        _refuse_discriminator(state, loaded)
        return _detect_synthesizer(state, root, "training-checkpoint")
    if isinstance(root, dict) and "cfg" in root and isinstance(root.get("model"), dict):
        return _detect_hubert(loaded, "fairseq-checkpoint")
    if _is_tensor_dict(root):
        _refuse_discriminator(root, loaded)
        if any(k.startswith(("enc_p.", "dec.", "flow.")) for k in root):
            return _detect_synthesizer(dict(root), {}, "state-dict")
        if hubert_layout(root) is not None:
            return _detect_hubert(loaded, "hf-folder" if loaded.container == "hf-folder" else "state-dict")
        if is_rmvpe(root):
            return _detect_rmvpe(loaded)
    tensors = flat_tensors(root) if isinstance(root, (dict, list, tuple)) else {}
    if not tensors:
        raise UnsupportedModelError(f"{loaded.path}: holds no tensors (top level: {_describe(root)}): not a model checkpoint")
    sample = ", ".join(list(tensors)[:3])
    raise UnsupportedModelError(
        f"{loaded.path}: not a model family rvc-convert knows (top level: {_describe(root)}; tensors like {sample}); "
        f"supported: RVC synthesizer exports and G_*.pth checkpoints, HuBERT/ContentVec (fairseq or Hugging Face), RMVPE"
    )


def _describe(root: Any) -> str:
    if isinstance(root, dict):
        keys = list(root)[:6]
        return "{" + ", ".join(map(str, keys)) + (", …}" if len(root) > 6 else "}")
    return type(root).__name__


def _refuse_discriminator(state: dict, loaded: LoadedFile) -> None:
    if state and all(k.startswith("discriminators.") for k in state):
        raise UnsupportedModelError(
            f"{loaded.path}: a discriminator checkpoint (D_*.pth; keys like {next(iter(state))}): it is only used in training. "
            f"Convert the generator G_*.pth or the exported voice .pth instead",
            finding="discriminator",
        )


# --- synthesizers ---------------------------------------------------------------------------


def _shape(tensors: dict[str, TensorRef], key: str) -> tuple[int, ...] | None:
    for spelling in (key, f"{key}_v", key.replace(".weight", ".parametrizations.weight.original1")):
        if spelling in tensors:
            return tuple(tensors[spelling].array.shape)
    return None


def _indices(tensors: dict[str, TensorRef], pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted({int(m.group(1)) for k in tensors if (m := regex.match(k))})


def _refuse_other_vocoders(tensors: dict[str, TensorRef], fields: dict) -> None:
    vocoder = fields.get("vocoder", "HiFi-GAN")
    signatures = {"dec.mrfs.": "MRF HiFi-GAN", "dec.upsamples.": "MRF HiFi-GAN", "dec.downsample_blocks.": "RefineGAN"}
    for prefix, name in signatures.items():
        if any(k.startswith(prefix) for k in tensors):
            vocoder = name
    if vocoder != "HiFi-GAN":
        raise UnsupportedModelError(
            f"this synthesizer uses Applio's '{vocoder}' vocoder (decoder keys and math differ from HiFi-GAN); "
            f"rvc-convert supports the HiFi-GAN decoder only: retrain or export with the HiFi-GAN vocoder",
            finding="unsupported_vocoder",
        )


def _detect_synthesizer(tensors: dict[str, TensorRef], fields: dict, kind: str) -> ModelInfo:
    _refuse_other_vocoders(tensors, fields)
    evidence: list[str] = []
    contradictions: list[str] = []
    notes: list[str] = []

    phone = _shape(tensors, "enc_p.emb_phone.weight")
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

    stages = _indices(tensors, r"dec\.ups\.(\d+)\.")
    kernels = tuple(_shape(tensors, f"dec.ups.{i}.weight")[2] for i in stages) if stages else ()
    if not stages or stages != list(range(len(stages))):
        raise UnsupportedModelError(f"decoder upsample layers dec.ups.* are missing or not numbered 0..N (found {stages}): not a HiFi-GAN synthesizer")
    candidates = [d for d in SHIPPED_DECODERS if d[2] == kernels]
    if has_pitch and len(candidates) > 1:
        # Noise-conv kernels are 2 x (product of the later upsample rates): they pin the rates.
        noise = tuple(_shape(tensors, f"dec.noise_convs.{i}.weight")[2] for i in stages if _shape(tensors, f"dec.noise_convs.{i}.weight"))
        candidates = [d for d in candidates if noise == tuple(2 * _prod(d[1][i + 1 :]) if i + 1 < len(d[1]) else 1 for i in range(len(d[1])))]
    enc_q = _shape(tensors, "enc_q.pre.weight")
    if enc_q and len(candidates) > 1:
        # Training checkpoints keep the posterior encoder, whose input width is the spectrogram's:
        # 513 bins (n_fft 1024) at 32k, 1025 (n_fft 2048) at 40k/48k.
        by_spectrum = [d for d in candidates if (d[0] == 32000) == (enc_q[1] == 513)]
        if len(by_spectrum) == 1:
            evidence.append(f"enc_q.pre.weight takes {enc_q[1]} spectrogram bins -> {by_spectrum[0][0]} Hz among {[d[0] for d in candidates]}")
        candidates = by_spectrum or candidates
    stored_list = fields.get("config") if isinstance(fields.get("config"), list) else None
    stored = None
    if stored_list is not None:
        if len(stored_list) != 18:
            raise UnsupportedModelError(f"the config list has {len(stored_list)} entries, RVC synthesizers have 18: a damaged or foreign export")
        stored = SynthesizerConfig.from_list(list(stored_list))
    if len(candidates) == 1:
        sr, rates, _, table = candidates[0]
        evidence.append(f"decoder kernels {list(kernels)} ({len(stages)} stages) -> {sr} Hz, upsample rates {list(rates)} (configs/{table}.json)")
    elif len(candidates) > 1 and stored is not None and (stored.sr, tuple(stored.upsample_rates)) in {(d[0], d[1]) for d in candidates}:
        sr, rates = stored.sr, tuple(stored.upsample_rates)
        notes.append(f"decoder kernels {list(kernels)} fit {' and '.join(str(d[0]) for d in candidates)} Hz alike (no pitch branch to tell them apart); the config's {sr} Hz decides")
        evidence.append(f"config sr {sr} Hz (weights ambiguous between {[d[0] for d in candidates]})")
    elif stored is not None and tuple(stored.upsample_kernel_sizes) == kernels:
        sr, rates = stored.sr, tuple(stored.upsample_rates)
        notes.append(f"decoder kernels {list(kernels)} are not a shipped RVC configuration; using the config's rates {list(rates)} and {sr} Hz")
    else:
        known = f"fit {' and '.join(str(d[0]) for d in candidates)} Hz alike" if candidates else "match no known RVC configuration"
        raise UnsupportedModelError(
            f"cannot tell the sample rate: decoder kernels {list(kernels)} {known}"
            + (" and the config disagrees with all of them" if stored is not None else " and the file carries no config list")
            + "; re-export the model with its config (the WebUI's ckpt processing tab does this)"
        )

    cfg = _config_from_weights(tensors, version, has_pitch, sr, list(rates), list(kernels), stored)
    evidence.append(f"emb_g.weight has {cfg.spk_embed_dim} rows -> {cfg.spk_embed_dim} speaker(s)")
    if stored is not None:
        contradictions += _compare_config(stored, cfg)
    contradictions += _compare_fields(fields, cfg)
    if stored is None:
        notes.append("the file has no config list: every value was derived from the weights and RVC's defaults")
    facts = {k: fields[k] for k in ("info", "sr", "f0", "version", "epoch", "step", "model_name", "author", "embedder_model", "vocoder", "iteration") if k in fields and not isinstance(fields[k], (dict, list))}
    return ModelInfo("synthesizer", kind, "synthesizer", tensors, cfg, evidence, contradictions, notes, facts)


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _config_from_weights(tensors, version, f0, sr, rates, kernels, stored: SynthesizerConfig | None) -> SynthesizerConfig:
    """Every config value the weights determine comes from the weights; the rest from the stored list or RVC defaults."""
    proj = _shape(tensors, "enc_p.proj.weight")
    ffn = _shape(tensors, "enc_p.encoder.ffn_layers.0.conv_1.weight")
    rel = _shape(tensors, "enc_p.encoder.attn_layers.0.emb_rel_k")
    pre = _shape(tensors, "dec.conv_pre.weight")
    emb_g = _shape(tensors, "emb_g.weight")
    if not all((proj, ffn, rel, pre, emb_g)):
        missing = [n for n, s in (("enc_p.proj", proj), ("ffn_layers.0.conv_1", ffn), ("attn_layers.0.emb_rel_k", rel), ("dec.conv_pre", pre), ("emb_g", emb_g)) if not s]
        raise UnsupportedModelError(f"core synthesizer tensors are missing ({', '.join(missing)}): the checkpoint is incomplete")
    res_kernels = [_shape(tensors, f"dec.resblocks.{j}.convs1.0.weight") for j in range(3)]
    base = stored or SynthesizerConfig.from_list(
        [1025 if sr != 32000 else 513, 32, 0, 0, 0, 0, 0, 0, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3, [], 0, [], 0, 0, 0]
    )
    enc_q = _shape(tensors, "enc_q.pre.weight")
    return SynthesizerConfig(
        spec_channels=enc_q[1] if enc_q else base.spec_channels,
        segment_size=base.segment_size,
        inter_channels=proj[0] // 2,
        hidden_channels=proj[1],
        filter_channels=ffn[0],
        n_heads=proj[1] // rel[2],
        n_layers=len(_indices(tensors, r"enc_p\.encoder\.attn_layers\.(\d+)\.")),
        kernel_size=ffn[2],
        p_dropout=base.p_dropout,
        resblock=base.resblock,
        resblock_kernel_sizes=[s[2] for s in res_kernels] if all(res_kernels) else base.resblock_kernel_sizes,
        resblock_dilation_sizes=base.resblock_dilation_sizes,
        upsample_rates=rates,
        upsample_initial_channel=pre[0],
        upsample_kernel_sizes=kernels,
        spk_embed_dim=emb_g[0],
        gin_channels=emb_g[1],
        sr=sr,
        version=version,
        f0=f0,
    )


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
        as_hz = sr_field if isinstance(sr_field, int) else {"32k": 32000, "40k": 40000, "48k": 48000, "24k": 24000}.get(str(sr_field))
        if as_hz != cfg.sr:
            out.append(f"field sr is {sr_field!r}, the decoder says {cfg.sr} Hz; the weights win")
    if "f0" in fields and bool(fields["f0"]) != cfg.f0:
        out.append(f"field f0 is {fields['f0']!r}, the weights say {'pitch-guided' if cfg.f0 else 'no pitch'}; the weights win")
    if "version" in fields and fields["version"] != cfg.version:
        out.append(f"field version is {fields['version']!r}, enc_p.emb_phone says {cfg.version}; the weights win")
    return out


# --- HuBERT / ContentVec and RMVPE -------------------------------------------------------------


def _detect_hubert(loaded: LoadedFile, kind: str) -> ModelInfo:
    tensors = hubert_source_tensors(loaded)
    config = hubert_config_from_file(loaded)
    layout = config["source_layout"]
    evidence = [
        f"{'post_extract_proj / encoder.pos_conv.0' if layout == 'fairseq' else 'feature_projection / encoder.pos_conv_embed'} tensors -> HuBERT in the {layout} layout",
        f"{config['num_layers']} layers x {config['hidden_size']} wide, {config['num_heads']} heads, positional conv k={config['pos_conv_kernel']} groups={config['pos_conv_groups']} (from {config['config_source']})",
        "final_proj present -> serves RVC v1 (256-d) and v2 (768-d)" if config.get("final_proj_dim") else "no final_proj -> serves RVC v2 (768-d) only",
    ]
    return ModelInfo("hubert", kind, HUBERT_RULE_PACKS[layout], tensors, config, evidence)


def _detect_rmvpe(loaded: LoadedFile) -> ModelInfo:
    tensors = flat_tensors(loaded.root)
    config = rmvpe_config_from_tensors(tensors)
    evidence = [
        "unet.* / cnn.* / fc.* tensors -> RMVPE E2E pitch estimator",
        f"{config['en_de_layers']} encoder levels x {config['n_blocks']} blocks, {config['inter_layers']} intermediate, BiGRU hidden {config['gru_hidden']}, {config['n_mels']} mel bins",
    ]
    return ModelInfo("rmvpe", "state-dict", RMVPE_RULE_PACK, tensors, config, evidence)


# --- files rvc-convert wrote ---------------------------------------------------------------------


def _detect_converted(loaded: LoadedFile) -> ModelInfo:
    meta = loaded.metadata
    family = meta["family"]
    try:
        raw_config = json.loads(meta.get("config", "null"))
    except json.JSONDecodeError:
        raise UnsupportedModelError(f"{loaded.path}: its rvc-convert metadata has an unreadable config") from None
    if family == "synthesizer":
        if not isinstance(raw_config, list) or len(raw_config) != 18:
            raise UnsupportedModelError(f"{loaded.path}: converted synthesizer without its 18-field config in the metadata")
        config: Any = SynthesizerConfig.from_list(raw_config, version=meta.get("version", "v2"), f0=meta.get("f0") == "1", vocoder=meta.get("vocoder", "HiFi-GAN"))
    else:
        config = raw_config
    evidence = [f"rvc-convert metadata: family {family}, layout {meta.get('layout')}, converter {meta.get('rvc_convert.version', '?')}"]
    pack = meta.get("rvc_convert.rule_pack", family)
    return ModelInfo(family, "converted", pack, flat_tensors(loaded.root), config, evidence, source_fields={"source_sha256": meta.get("source_sha256", ""), "source_kind": meta.get("source_kind", "")})
