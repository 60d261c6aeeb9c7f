"""FCPE, a pitch estimator RVC and Applio offer beside RMVPE ("fcpe"): torchfcpe's bundled
checkpoint (assets/fcpe_c_v001.pt: {model, config_dict, global_step}) or a bare CFNaiveMelPE state
dict. Config and tensor list: config.py; runtime smoke, parity and f0: checks.py.
Facts: docs/pitch_models.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...reader import LoadedFile
from ...safe_pickle import TensorRef
from ..base import BundleRole, Family, ModelInfo, Recognised, frame_rate_hz, register_family
from . import checks
from .config import FCPE_RULE_PACK, FcpeConfig, check_fcpe_config, fcpe_config_from_file, fcpe_expected_tensors, fcpe_source_tensors, is_fcpe

FAMILY = "fcpe"
RVC_METHOD = {"decoder": "local_argmax", "threshold": 0.006}


@register_family
class FcpeFamily(Family):
    name = FAMILY
    title = "FCPE (torchfcpe)"
    rule_packs = {FCPE_RULE_PACK: None}
    kind_labels = {"torchfcpe-checkpoint": "torchfcpe checkpoint"}
    bundle_role = BundleRole(
        name=FAMILY, spec_key=FAMILY, shared=True, noun="an fcpe", title="FCPE pitch model", example="fcpe_c_v001.pt", help="a shared FCPE pitch model (torchfcpe's fcpe_c_v001.pt)"
    )
    pipeline_slot = "pitch"

    def recognise(self, loaded: LoadedFile) -> Recognised | None:
        root = loaded.root
        if isinstance(root, dict) and isinstance(root.get("model"), dict) and isinstance(root.get("config_dict"), dict):
            tensors = fcpe_source_tensors(loaded)
            return Recognised("torchfcpe-checkpoint", tensors) if is_fcpe(tensors) else None
        if isinstance(root, dict) and root and all(isinstance(v, TensorRef) for v in root.values()) and is_fcpe(root):
            return Recognised("state-dict", fcpe_source_tensors(loaded))
        return None

    def read(self, loaded: LoadedFile, found: Recognised) -> ModelInfo:
        config = fcpe_config_from_file(loaded)
        evidence = [
            "input_stack / net.encoder_layers / output_proj tensors -> FCPE (CFNaiveMelPE)",
            f"{config['n_layers']} conv-only conformer layers x {config['hidden']} wide, depthwise kernel {config['conv_kernel']}, "
            f"{config['n_bins']} bins over {config['f0_min']:g}-{config['f0_max']:g} Hz (from {config['config_source']})",
        ]
        notes = [] if config["config_source"] == "config_dict" else ["no config_dict in the file: the mel settings and f0 range are torchfcpe's defaults"]
        return ModelInfo(FAMILY, found.kind, FCPE_RULE_PACK, found.tensors, config, evidence, notes=notes)

    def config_from_metadata(self, metadata: dict[str, str], stored: Any, path: Path) -> FcpeConfig:
        check_fcpe_config(stored, str(path), "metadata config")
        return stored

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        return fcpe_expected_tensors(info.config)

    def facts(self, config: FcpeConfig) -> dict[str, str]:
        return {"config": json.dumps(config, sort_keys=True, separators=(",", ":"))} if isinstance(config, dict) else {}

    def runtime_checks(self, converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: Any) -> None:
        checks.runtime_checks(converted, dtype, reference, report)

    def load_runtime(self, converted: Path) -> Any:
        """The pipeline's pitch extractor, under RVC's method name, with RVC's post-processing."""
        from rvc_runtime.pipeline import PitchMethod
        from rvc_runtime.pitch import f0_method_of, load_f0_method

        method = f0_method_of(converted)
        return PitchMethod(method, load_f0_method(method, converted))

    def describe_variant(self, info: ModelInfo) -> dict[str, Any]:
        return {"name": info.variant, "layers": info.config["n_layers"], "hidden": info.config["hidden"]}

    def asset_contract(self, info: ModelInfo) -> dict[str, Any]:
        cfg = info.config
        return {
            "sample_rate": cfg["sample_rate"],
            "hop": cfg["hop_length"],
            "frame_rate_hz": frame_rate_hz(cfg["sample_rate"], cfg["hop_length"]),
            "n_fft": cfg["n_fft"],
            "mel_bins": cfg["n_mels"],
            "fmin": cfg["fmin"],
            "fmax": cfg["fmax"],
            "pitch_bins": cfg["n_bins"],
            "rvc_method": dict(RVC_METHOD),
        }
