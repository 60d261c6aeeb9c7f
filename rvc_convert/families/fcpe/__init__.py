"""FCPE, a pitch estimator RVC and Applio offer beside RMVPE ("fcpe"): torchfcpe's bundled
checkpoint (assets/fcpe_c_v001.pt: {model, config_dict, global_step}) or a bare CFNaiveMelPE state
dict. Config and tensor list: config.py; runtime smoke, parity and f0: checks.py.
Facts: docs/pitch_models.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...reader import LoadedFile
from ..base import BundleRole, ModelInfo, Recognised, register_family
from ..json_config import bare_state_dict
from ..pitch_common import PitchFamily, mel_front_end
from . import checks
from .config import FCPE_RULE_PACK, FcpeConfig, check_fcpe_config, fcpe_config_from_file, fcpe_expected_tensors, fcpe_source_tensors, is_fcpe

FAMILY = "fcpe"
RVC_METHOD = {"decoder": "local_argmax", "threshold": 0.006}


@register_family
class FcpeFamily(PitchFamily):
    name = FAMILY
    title = "FCPE (torchfcpe)"
    rule_packs = {FCPE_RULE_PACK: None}
    kind_labels = {"torchfcpe-checkpoint": "torchfcpe checkpoint"}
    bundle_role = BundleRole(
        name=FAMILY, spec_key=FAMILY, shared=True, noun="an FCPE model", title="FCPE pitch model", example="fcpe_c_v001.pt", help="a shared FCPE pitch model (torchfcpe's fcpe_c_v001.pt)"
    )
    f0_methods = ("fcpe",)
    f0_preference = 2

    def recognise(self, loaded: LoadedFile) -> Recognised | None:
        root = loaded.root
        if isinstance(root, dict) and isinstance(root.get("model"), dict) and isinstance(root.get("config_dict"), dict):
            tensors = fcpe_source_tensors(loaded)
            return Recognised("torchfcpe-checkpoint", tensors) if is_fcpe(tensors) else None
        tensors = bare_state_dict(loaded)
        return Recognised("state-dict", tensors) if tensors is not None and is_fcpe(tensors) else None

    def read(self, loaded: LoadedFile, found: Recognised) -> ModelInfo:
        config = fcpe_config_from_file(loaded)
        evidence = [
            "input_stack / net.encoder_layers / output_proj tensors -> FCPE (CFNaiveMelPE)",
            f"{config['n_layers']} conv-only conformer layers x {config['hidden']} wide, depthwise kernel {config['conv_kernel']}, "
            f"{config['n_bins']} bins over {config['f0_min']:g}-{config['f0_max']:g} Hz (from {config['config_source']})",
        ]
        notes = [] if config["config_source"] == "config_dict" else ["no config_dict in the file: the mel settings and f0 range are torchfcpe's defaults"]
        return ModelInfo(FAMILY, found.kind, FCPE_RULE_PACK, found.tensors, config, evidence, notes=notes)

    def check_config(self, config: Any, where: str, what: str) -> None:
        check_fcpe_config(config, where, what)

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        return fcpe_expected_tensors(info.config)

    def runtime_checks(self, converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: Any) -> None:
        checks.runtime_checks(converted, dtype, reference, report)

    def describe_variant(self, info: ModelInfo) -> dict[str, Any]:
        return {"name": info.variant, "layers": info.config["n_layers"], "hidden": info.config["hidden"]}

    def contract_fields(self, config: FcpeConfig) -> dict[str, Any]:
        return mel_front_end(config) | {"pitch_bins": config["n_bins"], "rvc_method": dict(RVC_METHOD)}
