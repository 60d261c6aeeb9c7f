"""RMVPE, the pitch estimator pitch-guided voices need (an `E2E` state dict, rmvpe.pt). Config and
tensor list from the shapes: config.py; runtime smoke, parity and f0: checks.py.
Facts: docs/hubert_rmvpe_format.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...reader import LoadedFile
from ..base import BundleRole, ModelInfo, Recognised, register_family
from ..json_config import bare_state_dict
from ..pitch_common import PitchFamily, mel_front_end
from . import checks
from .config import RMVPE_RULE_PACK, RmvpeConfig, check_rmvpe_config, is_rmvpe, rmvpe_config_from_tensors, rmvpe_expected_tensors

FAMILY = "rmvpe"
CENTS_PER_BIN = 20  # RVC's decoding: cents = 20 * bin + 1997.38 (docs/hubert_rmvpe_format.md)


@register_family
class RmvpeFamily(PitchFamily):
    name = FAMILY
    title = "RMVPE"
    rule_packs = {RMVPE_RULE_PACK: None}
    bundle_role = BundleRole(name=FAMILY, spec_key=FAMILY, shared=True, noun="an RMVPE model", title="RMVPE pitch model", example="rmvpe.pt", help="the shared RMVPE (.pt)")
    f0_methods = ("rmvpe",)
    f0_preference = 0  # RVC WebUI's and Applio's default f0 method

    def recognise(self, loaded: LoadedFile) -> Recognised | None:
        tensors = bare_state_dict(loaded)
        return Recognised("state-dict", tensors) if tensors is not None and is_rmvpe(tensors) else None

    def read(self, loaded: LoadedFile, found: Recognised) -> ModelInfo:
        config = rmvpe_config_from_tensors(found.tensors)
        evidence = [
            "unet.* / cnn.* / fc.* tensors -> RMVPE E2E pitch estimator",
            f"{config['en_de_layers']} encoder levels x {config['n_blocks']} blocks, {config['inter_layers']} intermediate, BiGRU hidden {config['gru_hidden']}, {config['n_mels']} mel bins",
        ]
        return ModelInfo(FAMILY, found.kind, RMVPE_RULE_PACK, found.tensors, config, evidence)

    def check_config(self, config: Any, where: str, what: str) -> None:
        check_rmvpe_config(config, where, what)

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        return rmvpe_expected_tensors(info.config)

    def runtime_checks(self, converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: Any) -> None:
        checks.runtime_checks(converted, dtype, reference, report)

    def load_runtime(self, converted: Path) -> Any:
        """The pipeline's pitch extractor: RMVPE with the voicing threshold upstream passes (0.03)."""
        from rvc_runtime.pipeline import RMVPEPitch
        from rvc_runtime.rmvpe import RMVPE

        return RMVPEPitch(RMVPE.from_file(converted))

    def contract_fields(self, config: RmvpeConfig) -> dict[str, Any]:
        return mel_front_end(config) | {"pitch_bins": config["n_classes"], "cents_per_bin": CENTS_PER_BIN, "threshold": config["threshold"]}
