"""Convert Applio MRF HiFi-GAN / RefineGAN exports with the engine's pieces directly.

Until these decoders are part of the converter's family registry (`rvc-convert` refuses them
today), the tests build converted files the way `convert_model` would: read the file, identify the
decoder from the weights, plan with the decoder's rule pack against its tensor list, materialise
every tensor and write it with the converter's metadata (which the runtime reads).

    from vocoder_files import convert_vocoder
    weights = convert_vocoder(golden_path("vocoders/models/v2-40k-mrf-tiny.pth"), "ios", tmp_path)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rvc_convert.convert import default_output_dtype, output_specs, provenance
from rvc_convert.detect import ModelInfo, flat_tensors
from rvc_convert.reader import read_model_file
from rvc_convert.rules import ConversionPlan, load_rule_pack, plan_conversion
from rvc_convert.transform import OUTPUT_DTYPES, materialise
from rvc_convert.vocoders_applio import RULE_PACKS, applio_config, applio_synthesizer_tensors, identify_decoder, variant_name
from rvc_convert.writer import TensorSpec, write_json, write_npz, write_safetensors

SUFFIX = {"ios": ".safetensors", "mlx": ".npz"}


@dataclass
class VocoderConversion:
    info: ModelInfo
    plan: ConversionPlan
    variant: str
    source_sha256: str


def plan_vocoder(source: Path) -> VocoderConversion:
    """Detect and plan one Applio export (the steps of convert_model before writing)."""
    loaded = read_model_file(source)
    root = loaded.root
    tensors = flat_tensors(root["weight"] if isinstance(root, dict) and "weight" in root else root)
    shapes = {key: tuple(ref.array.shape) for key, ref in tensors.items()}
    fields = root if isinstance(root, dict) and "weight" in root else {}
    finding = identify_decoder(shapes, fields.get("vocoder"))
    cfg, evidence, contradictions = applio_config(shapes, fields, finding.vocoder)
    pack = load_rule_pack(RULE_PACKS[finding.vocoder])
    variant = variant_name(cfg)
    plan = plan_conversion(pack, {k: (shapes[k], ref.source_dtype) for k, ref in tensors.items()}, applio_synthesizer_tensors(cfg), variant)
    info = ModelInfo("synthesizer", "applio-export", pack.name, tensors, cfg, finding.evidence + evidence, finding.contradictions + contradictions)
    return VocoderConversion(info, plan, variant, loaded.sha256)


def convert_vocoder(source: Path, target: str, out_dir: Path, dtype: str | None = "fp32", name: str | None = None) -> Path:
    """Write `<name>.safetensors` (ios) or `<name>.npz` (mlx) and `<name>.json`; returns the weights path."""
    conversion = plan_vocoder(source)
    info, plan = conversion.info, conversion.plan
    output_dtype = np.dtype(OUTPUT_DTYPES[dtype]) if dtype else default_output_dtype(plan)
    metadata = provenance(info, plan, conversion.source_sha256, output_dtype)
    specs = output_specs(plan, output_dtype)
    entries = {e.target: e for e in plan.entries}
    arrays = {k: ref.array for k, ref in info.tensors.items()}

    def produce(spec: TensorSpec) -> np.ndarray:
        return materialise(entries[spec.name], arrays).astype(spec.dtype, copy=False)

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = name or source.stem
    weights = out_dir / f"{stem}{SUFFIX[target]}"
    (write_safetensors if target == "ios" else write_npz)(weights, specs, produce, metadata)
    write_json(out_dir / f"{stem}.json", info.config.to_list())
    return weights
