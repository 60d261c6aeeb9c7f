"""Convert a CREPE / FCPE checkpoint with the engine's own pieces, as convert_model will once the
family registry knows these families: read -> detect -> plan (rule pack + tensor list) -> materialise
-> write, with the runtime config in the file's metadata.

    from pitch_convert import convert_pitch_file
    weights_path, plan, model = convert_pitch_file(source, tmp_path, target="ios")
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rvc_convert import __version__
from rvc_convert.pitch_models import PitchModel, detect_pitch_model
from rvc_convert.reader import read_model_file
from rvc_convert.rules import ConversionPlan, load_rule_pack, plan_conversion
from rvc_convert.transform import materialise
from rvc_convert.writer import TensorSpec, write_npz, write_safetensors

SUFFIXES = {"ios": ".safetensors", "mlx": ".npz"}


def plan_pitch_model(model: PitchModel) -> ConversionPlan:
    tensors = {k: (tuple(t.array.shape), t.source_dtype) for k, t in model.tensors.items()}
    return plan_conversion(load_rule_pack(model.rule_pack), tensors, model.expected_tensors(), model.variant)


def convert_pitch_file(source: Path, out_dir: Path, target: str = "ios", dtype: str = "float32") -> tuple[Path, ConversionPlan, PitchModel]:
    loaded = read_model_file(source)
    model = detect_pitch_model(loaded)
    assert model is not None, f"{source} is not a CREPE or FCPE checkpoint"
    plan = plan_pitch_model(model)
    entries = {e.target: e for e in plan.entries}
    arrays = {k: t.array for k, t in model.tensors.items()}
    specs = [TensorSpec(e.target, np.dtype(e.pinned_dtype or dtype), e.target_shape) for e in plan.entries]
    metadata = {
        "family": model.family,
        "variant": model.variant,
        "format": "mlx",
        "layout": "mlx",
        "dtype": dtype,
        "config": json.dumps(model.config, sort_keys=True),
        "rvc_convert.version": __version__,
        "rvc_convert.rule_pack": plan.pack.name,
        "rvc_convert.rules_sha256": plan.pack.sha256,
        "source_sha256": loaded.sha256,
    }
    path = Path(out_dir) / f"{Path(source).stem}{SUFFIXES[target]}"
    writer = write_safetensors if target == "ios" else write_npz
    writer(path, specs, lambda spec: materialise(entries[spec.name], arrays).astype(spec.dtype), metadata)
    return path, plan, model
