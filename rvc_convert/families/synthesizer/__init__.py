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
from ..base import BundleRole, Family, ModelInfo, Recognised, frame_rate_hz, pitch_families, register_family
from . import checks, detect
from ...safe_pickle import quote
from .config import PHONE_DIMS, SynthesizerConfig, check_config_list
from .decoders import DEFAULT_DECODER, decoder_named
from .tensors import expected_tensors

INDEX_FAMILY = "retrieval"  # the family a voice's `index:` converts through
PHONE_WIDTHS = {width: version for version, width in PHONE_DIMS.items()}


def _rvc_version(width: int) -> str:
    return f" (RVC {PHONE_WIDTHS[width]})" if width in PHONE_WIDTHS else ""


@register_family
class SynthesizerFamily(Family):
    name = detect.FAMILY
    title = "RVC synthesizer exports and G_*.pth checkpoints"
    # the synthesizer's own pack, and one per decoder that extends it (mappings/synthesizer_<decoder>.yaml)
    rule_packs = {"synthesizer": None, "synthesizer_mrf_hifigan": None, "synthesizer_refinegan": None}
    kind_labels = {
        "webui-export": "RVC WebUI export",
        "applio-export": "Applio export",
        "training-checkpoint": "training checkpoint (G_*.pth)",
    }
    bundle_role = BundleRole(name="voice", spec_key="voices", shared=False, noun="an RVC voice")
    pipeline_slot = "synthesizer"

    def recognise(self, loaded: LoadedFile) -> Recognised | None:
        return detect.recognise(loaded)

    def read(self, loaded: LoadedFile, found: Recognised) -> ModelInfo:
        return detect.read(loaded, found)

    def config_from_metadata(self, metadata: dict[str, str], stored: Any, path: Path) -> SynthesizerConfig:
        check_config_list(stored, str(path), "metadata config")
        vocoder = metadata.get("vocoder", DEFAULT_DECODER)
        decoder = decoder_named(vocoder)
        if decoder is None or not decoder.supported:
            raise UnsupportedModelError(f"{path}: its metadata names the vocoder {quote(vocoder, 60)}, which rvc-convert cannot run", finding="unsupported_vocoder")
        version, f0 = metadata.get("version", "v2"), metadata.get("f0", "1")
        if version not in PHONE_DIMS or f0 not in ("0", "1"):
            raise UnsupportedModelError(f"{path}: its metadata says version {quote(version, 40)}, f0 {quote(f0, 40)}: expected v1 or v2, and 0 or 1 (a damaged or forged file)")
        return SynthesizerConfig.from_list(stored, version=version, f0=f0 == "1", vocoder=vocoder)

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        return expected_tensors(info.config)

    def variant(self, config: SynthesizerConfig) -> str:
        decoder = decoder_named(config.vocoder)
        return config.variant + (decoder.variant_suffix if decoder is not None else "")

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

    def load_runtime(self, converted: Path) -> Any:
        from rvc_runtime import Synthesizer

        return Synthesizer.from_file(converted)

    def describe_variant(self, info: ModelInfo) -> dict[str, Any]:
        cfg = info.config
        return {"name": self.variant(cfg), "version": cfg.version, "sample_rate": cfg.sr, "f0": bool(cfg.f0), "vocoder": cfg.vocoder, "speakers": cfg.spk_embed_dim}

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

    def companion_problem(self, key: str, own: dict[str, Any], companion: dict[str, Any]) -> str | None:
        """A voice's `index:` must be a retrieval index (L2, as RVC's blend weighs squared distances)
        over features as wide as the voice's phones: 256 for v1 voices, 768 for v2."""
        if key != "index":
            return super().companion_problem(key, own, companion)
        if companion["family"] != INDEX_FAMILY:
            return f"the index is a {companion['family']} model, not a retrieval index (.index)"
        width, dimension = own["contract"]["phone_width"], companion["contract"]["dimension"]
        if dimension != width:
            return (
                f"the index holds {dimension}-dimensional features{_rvc_version(dimension)} but the voice "
                f"({own['variant']['name']}) takes {width}-dimensional phone features{_rvc_version(width)}: pair the voice with the index trained with it"
            )
        if companion["contract"]["metric"] != "l2":
            return f"the index ranks by {companion['contract']['metric']}; RVC's blend weighs squared L2 distances"
        return None

    def bundle_warnings(self, own: list[dict[str, Any]], entries: list[dict[str, Any]], roles: set[str]) -> list[str]:
        """Voices need HuBERT features of their width, and pitch-guided voices a pitch estimator."""
        warnings = []
        features = next((e for e in entries if e["role"] == "hubert"), None)
        if own and "hubert" not in roles:
            warnings.append("the bundle has no hubert: every voice needs HuBERT/ContentVec features")
        pitch_roles = [f.bundle_role.name for f in pitch_families() if f.bundle_role is not None]  # the f0 pitch-guided voices need
        if any(v["contract"]["f0"] for v in own) and not roles & set(pitch_roles):
            warnings.append(f"pitch-guided (f0) voices and no pitch estimator ({', '.join(pitch_roles)}) in the bundle: the app needs one")
        if features:
            outputs = features["contract"]["outputs"]
            for voice in own:
                wanted, width = voice["contract"]["hubert_output"], voice["contract"]["phone_width"]
                if outputs.get(wanted) != width:
                    have = f"{outputs[wanted]}-d" if wanted in outputs else "nothing"
                    warnings.append(f"voice {voice['name']} ({voice['variant']['version']}) needs {width}-d {wanted} features; hubert {features['name']} gives {have}")
        return warnings
