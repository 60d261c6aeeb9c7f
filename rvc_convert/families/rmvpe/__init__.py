"""RMVPE, the pitch estimator pitch-guided voices need (an `E2E` state dict, rmvpe.pt). Config and
tensor list from the shapes: config.py; runtime smoke, parity and f0: checks.py.
Facts: docs/hubert_rmvpe_format.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...reader import LoadedFile, iter_tensors
from ...safe_pickle import TensorRef
from ..base import BundleRole, Family, ModelInfo, Recognised, frame_rate_hz, register_family
from . import checks
from .config import RMVPE_RULE_PACK, RmvpeConfig, check_rmvpe_config, is_rmvpe, rmvpe_config_from_tensors, rmvpe_expected_tensors

FAMILY = "rmvpe"
CENTS_PER_BIN = 20  # RVC's decoding: cents = 20 * bin + 1997.38 (docs/hubert_rmvpe_format.md)


@register_family
class RmvpeFamily(Family):
    name = FAMILY
    title = "RMVPE"
    rule_packs = {RMVPE_RULE_PACK: None}
    bundle_role = BundleRole(name=FAMILY, spec_key=FAMILY, shared=True, noun="a rmvpe", title="RMVPE", example="rmvpe.pt", help="the shared RMVPE (.pt)")
    pipeline_slot = "pitch"

    def recognise(self, loaded: LoadedFile) -> Recognised | None:
        root = loaded.root
        if isinstance(root, dict) and root and all(isinstance(v, TensorRef) for v in root.values()) and is_rmvpe(root):
            return Recognised("state-dict", dict(iter_tensors(root)))
        return None

    def read(self, loaded: LoadedFile, found: Recognised) -> ModelInfo:
        config = rmvpe_config_from_tensors(found.tensors)
        evidence = [
            "unet.* / cnn.* / fc.* tensors -> RMVPE E2E pitch estimator",
            f"{config['en_de_layers']} encoder levels x {config['n_blocks']} blocks, {config['inter_layers']} intermediate, BiGRU hidden {config['gru_hidden']}, {config['n_mels']} mel bins",
        ]
        return ModelInfo(FAMILY, found.kind, RMVPE_RULE_PACK, found.tensors, config, evidence)

    def config_from_metadata(self, metadata: dict[str, str], stored: Any, path: Path) -> RmvpeConfig:
        check_rmvpe_config(stored, str(path), "metadata config")
        return stored

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        return rmvpe_expected_tensors(info.config)

    def facts(self, config: RmvpeConfig) -> dict[str, str]:
        return {"config": json.dumps(config, sort_keys=True, separators=(",", ":"))} if isinstance(config, dict) else {}

    def runtime_checks(self, converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: Any) -> None:
        checks.runtime_checks(converted, dtype, reference, report)

    def load_runtime(self, converted: Path) -> Any:
        """The pipeline's pitch extractor: RMVPE with the voicing threshold upstream passes (0.03)."""
        from rvc_runtime.pipeline import RMVPEPitch
        from rvc_runtime.rmvpe import RMVPE

        return RMVPEPitch(RMVPE.from_file(converted))

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
            "pitch_bins": cfg["n_classes"],
            "cents_per_bin": CENTS_PER_BIN,
            "threshold": cfg["threshold"],
        }
