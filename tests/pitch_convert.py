"""Convert a CREPE / FCPE checkpoint through the engine (convert_model: read -> detect -> plan -> write).

    from pitch_convert import convert_pitch_file
    weights_path, plan, info = convert_pitch_file(source, tmp_path, target="ios")
"""

from __future__ import annotations

from pathlib import Path

from rvc_convert.convert import convert_model
from rvc_convert.families import ModelInfo
from rvc_convert.rules import ConversionPlan

SUFFIXES = {"ios": ".safetensors", "mlx": ".npz"}
DTYPES = {"float32": "fp32", "float16": "fp16"}


def convert_pitch_file(source: Path, out_dir: Path, target: str = "ios", dtype: str = "float32") -> tuple[Path, ConversionPlan, ModelInfo]:
    result = convert_model(source, target, out_dir, DTYPES[dtype])
    assert result.info.family in ("crepe", "fcpe"), f"{source} is a {result.info.family}, not a CREPE or FCPE checkpoint"
    return result.weights_path, result.plan, result.info
