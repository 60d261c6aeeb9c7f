"""HuBERT/ContentVec, the content-feature model every voice needs: fairseq checkpoints
(hubert_base.pt) and Hugging Face folders. Config reading and tensor lists: config.py; runtime
smoke and parity: checks.py. Facts: docs/hubert_rmvpe_format.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...reader import LoadedFile
from ..base import BundleRole, ModelInfo, Recognised, frame_rate_hz, register_family
from ..json_config import JsonConfigFamily, bare_state_dict
from . import checks
from .config import HUBERT_RULE_PACKS, HubertConfig, check_hubert_config, hubert_config_from_file, hubert_expected_tensors, hubert_layout, hubert_source_tensors

FAMILY = "hubert"


@register_family
class HubertFamily(JsonConfigFamily):
    name = FAMILY
    title = "HuBERT/ContentVec (fairseq or Hugging Face)"
    rule_packs = {pack: None for pack in HUBERT_RULE_PACKS.values()}
    bundle_role = BundleRole(
        name=FAMILY, spec_key=FAMILY, shared=True, noun="a HuBERT/ContentVec model", title="HuBERT/ContentVec content model", example="hubert_base.pt", help="the shared HuBERT/ContentVec (.pt or HF folder)"
    )
    pipeline_slot = FAMILY

    def recognise(self, loaded: LoadedFile) -> Recognised | None:
        root = loaded.root
        if isinstance(root, dict) and "cfg" in root and isinstance(root.get("model"), dict):
            return Recognised("fairseq-checkpoint", {})
        if bare_state_dict(loaded) is not None and hubert_layout(root) is not None:
            return Recognised("hf-folder" if loaded.container == "hf-folder" else "state-dict", {})
        return None

    def read(self, loaded: LoadedFile, found: Recognised) -> ModelInfo:
        tensors = hubert_source_tensors(loaded)
        config = hubert_config_from_file(loaded)
        layout = config["source_layout"]
        evidence = [
            f"{'post_extract_proj / encoder.pos_conv.0' if layout == 'fairseq' else 'feature_projection / encoder.pos_conv_embed'} tensors -> HuBERT in the {layout} layout",
            f"{config['num_layers']} layers x {config['hidden_size']} wide, {config['num_heads']} heads, positional conv k={config['pos_conv_kernel']} groups={config['pos_conv_groups']} (from {config['config_source']})",
            "final_proj present -> serves RVC v1 (256-d) and v2 (768-d)" if config.get("final_proj_dim") else "no final_proj -> serves RVC v2 (768-d) only",
        ]
        return ModelInfo(FAMILY, found.kind, HUBERT_RULE_PACKS[layout], tensors, config, evidence)

    def check_config(self, config: Any, where: str, what: str) -> None:
        check_hubert_config(config, where, what)

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        return hubert_expected_tensors(info.config)

    def variant(self, config: HubertConfig) -> str:
        if isinstance(config, dict):
            return f"hubert-{config.get('num_layers')}x{config.get('hidden_size')}"
        return self.name

    def runtime_checks(self, converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: Any) -> None:
        checks.runtime_checks(converted, dtype, reference, report)

    def load_runtime(self, converted: Path) -> Any:
        from rvc_runtime.hubert import HuBERT

        return HuBERT.from_file(converted)

    def describe_variant(self, info: ModelInfo) -> dict[str, Any]:
        cfg = info.config
        return {
            "name": info.variant,
            "layers": cfg["num_layers"],
            "hidden_size": cfg["hidden_size"],
            "final_proj_dim": cfg.get("final_proj_dim"),
            "layout": cfg.get("source_layout"),
        }

    def asset_contract(self, info: ModelInfo) -> dict[str, Any]:
        cfg = info.config
        hop, receptive_field = 1, 1
        for _channels, kernel, stride in cfg["conv_layers"]:
            receptive_field += (kernel - 1) * hop
            hop *= stride
        outputs = {"last_layer": cfg["hidden_size"]}
        if cfg.get("final_proj_dim"):
            outputs["layer9_final_proj"] = cfg["final_proj_dim"]
        return {
            "sample_rate": cfg["sample_rate"],
            "hop": hop,
            "frame_rate_hz": frame_rate_hz(cfg["sample_rate"], hop),
            "receptive_field": receptive_field,
            "normalize_waveform": bool(cfg.get("normalize_waveform", False)),
            "outputs": outputs,
            "v1_output_layer": cfg["v1_output_layer"],
        }
