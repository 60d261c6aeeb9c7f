"""The RVC voice synthesizer (net_g): v1/v2, 24k-48k, with or without pitch guidance, and its decoders.

Recognition and config reading: detect.py; tensor list: tensors.py (+ the decoder's); runtime
smoke and parity: checks.py; decoders: decoders/. Facts: docs/synthesizer_format.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import UnsupportedModelError
from ...reader import LoadedFile
from ..base import BundleRole, Family, ModelInfo, Recognised, frame_rate_hz, register_family
from . import checks, detect
from .config import CONFIG_FIELDS, SynthesizerConfig
from .decoders import DEFAULT_DECODER, decoder_named
from .tensors import expected_tensors


@register_family
class SynthesizerFamily(Family):
    name = detect.FAMILY
    title = "RVC synthesizer exports and G_*.pth checkpoints"
    rule_packs = {"synthesizer": None}
    kind_labels = {
        "webui-export": "RVC WebUI export",
        "applio-export": "Applio export",
        "training-checkpoint": "training checkpoint (G_*.pth)",
    }
    bundle_role = BundleRole(name="voice", spec_key="voices", shared=False, noun="an RVC voice")

    def recognise(self, loaded: LoadedFile) -> Recognised | None:
        return detect.recognise(loaded)

    def read(self, loaded: LoadedFile, found: Recognised) -> ModelInfo:
        return detect.read(loaded, found)

    def config_from_metadata(self, metadata: dict[str, str], stored: Any, path: Path) -> SynthesizerConfig:
        if not isinstance(stored, list) or len(stored) != CONFIG_FIELDS:
            raise UnsupportedModelError(f"{path}: converted synthesizer without its 18-field config in the metadata")
        vocoder = metadata.get("vocoder", DEFAULT_DECODER)
        decoder = decoder_named(vocoder)
        if decoder is None or not decoder.supported:
            raise UnsupportedModelError(f"{path}: its metadata names the vocoder {vocoder!r}, which rvc-convert cannot run", finding="unsupported_vocoder")
        return SynthesizerConfig.from_list(stored, version=metadata.get("version", "v2"), f0=metadata.get("f0") == "1", vocoder=vocoder)

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        return expected_tensors(info.config)

    def variant(self, config: SynthesizerConfig) -> str:
        return config.variant

    def facts(self, config: SynthesizerConfig) -> dict[str, str]:
        return {
            "version": config.version,
            "sample_rate": str(config.sr),
            "f0": "1" if config.f0 else "0",
            "speakers": str(config.spk_embed_dim),
            "vocoder": config.vocoder,
            "hop": str(config.hop),
            "config": json.dumps(config.to_list(), separators=(",", ":")),
        }

    def sidecar(self, config: SynthesizerConfig) -> list:
        """The 18-field config list apps already read."""
        return config.to_list()

    def model_line(self, facts: dict[str, str], kind: str) -> list[str]:
        return super().model_line(facts, kind) + [
            facts["version"],
            f"{facts['sample_rate']} Hz",
            "pitch-guided (f0)" if facts["f0"] == "1" else "no pitch (nof0)",
            facts["vocoder"],
            f"{facts['speakers']} speaker(s)",
        ]

    def runtime_checks(self, converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: Any) -> None:
        checks.runtime_checks(converted, info, dtype, reference, report)

    def describe_variant(self, info: ModelInfo) -> dict[str, Any]:
        cfg = info.config
        return {"name": cfg.variant, "version": cfg.version, "sample_rate": cfg.sr, "f0": bool(cfg.f0), "vocoder": cfg.vocoder, "speakers": cfg.spk_embed_dim}

    def asset_contract(self, info: ModelInfo) -> dict[str, Any]:
        cfg = info.config
        return {
            "sample_rate": cfg.sr,
            "hop": cfg.hop,
            "frame_rate_hz": frame_rate_hz(cfg.sr, cfg.hop),
            "phone_width": cfg.phone_dim,
            "hubert_output": "layer9_final_proj" if cfg.version == "v1" else "last_layer",
            "f0": bool(cfg.f0),
            "speakers": cfg.spk_embed_dim,
        }

    def bundle_warnings(self, own: list[dict[str, Any]], entries: list[dict[str, Any]], roles: set[str]) -> list[str]:
        """Voices need HuBERT features of their width, and pitch-guided voices a pitch estimator."""
        warnings = []
        features = next((e for e in entries if e["role"] == "hubert"), None)
        if own and "hubert" not in roles:
            warnings.append("the bundle has no hubert: every voice needs HuBERT/ContentVec features")
        if any(v["contract"]["f0"] for v in own) and "rmvpe" not in roles:
            warnings.append("pitch-guided (f0) voices and no rmvpe in the bundle: the app needs another pitch estimator")
        if features:
            outputs = features["contract"]["outputs"]
            for voice in own:
                wanted, width = voice["contract"]["hubert_output"], voice["contract"]["phone_width"]
                if outputs.get(wanted) != width:
                    have = f"{outputs[wanted]}-d" if wanted in outputs else "nothing"
                    warnings.append(f"voice {voice['name']} ({voice['variant']['version']}) needs {width}-d {wanted} features; hubert {features['name']} gives {have}")
        return warnings
