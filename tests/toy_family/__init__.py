"""A toy model family: tests/test_toy_family.py registers ToyFamily (register_family) for its tests only.

A toy file is a state dict of `toy.*` tensors: `toy.proj` (Linear in -> width) and `toy.conv`
(weight-normed Conv1d width -> width, kernel K), saved by torch, or the same tensors in the toy's
own container (`TOY_MAGIC`, a JSON header, raw float32 data), which the family reads itself. Its
runtime is `forward` below, in numpy.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from rvc_convert.errors import CorruptFileError
from rvc_convert.families import Family, ModelInfo, Recognised
from rvc_convert.reader import ContainerReader, LoadedFile, read_model_file
from rvc_convert.reports import Check
from rvc_convert.safe_pickle import TensorRef

PACK = Path(__file__).resolve().parent / "toy.yaml"
TOY_MAGIC = b"TOYBIN01"
MAX_HEADER = 1 << 16


def write_toy_container(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """TOY_MAGIC, a little-endian u32 header length, a JSON header {name: shape}, then float32 data in header order."""
    header = json.dumps({name: list(a.shape) for name, a in arrays.items()}).encode()
    data = b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for a in arrays.values())
    path.write_bytes(TOY_MAGIC + struct.pack("<I", len(header)) + header + data)


def _read_toy_container(path: Path, size: int) -> LoadedFile:
    raw = path.read_bytes()
    (length,) = struct.unpack("<I", raw[8:12])
    if length > MAX_HEADER or 12 + length > size:
        raise CorruptFileError(f"{path}: toy header of {length} bytes does not fit the file")
    offset, tensors = 12 + length, {}
    for name, shape in json.loads(raw[12 : 12 + length]).items():
        count = int(np.prod(shape))
        if offset + 4 * count > size:
            raise CorruptFileError(f"{path}: {name} runs past the end of the file")
        tensors[name] = TensorRef(np.frombuffer(raw, "<f4", count, offset).reshape(shape), "float32")
        offset += 4 * count
    return LoadedFile(path, "toy-binary", tensors, path, size)


TOY_READER = ContainerReader("toy-binary", lambda path, head: head.startswith(TOY_MAGIC), _read_toy_container)


def expected_tensors(config: dict[str, int]) -> dict[str, tuple[int, ...]]:
    """The toy's tensor list: PyTorch layout, weight norm fused to `.weight`."""
    width, inputs, kernel = config["width"], config["inputs"], config["kernel"]
    return {
        "toy.proj.weight": (width, inputs),
        "toy.proj.bias": (width,),
        "toy.conv.weight": (width, width, kernel),
        "toy.conv.bias": (width,),
    }


def forward(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The toy's runtime on converted (MLX-layout) weights: x [T, inputs] -> [T - K + 1, width]."""
    h = x @ weights["proj.weight"].T + weights["proj.bias"]
    w = weights["conv.weight"]  # (O, K, I)
    windows = np.lib.stride_tricks.sliding_window_view(h, w.shape[1], axis=0)  # [T', I, K]
    return np.einsum("tik,oki->to", windows, w) + weights["conv.bias"]


class ToyFamily(Family):
    name = "toy"
    title = "toy models (tests only)"
    rule_packs = {"toy": PACK}
    readers = (TOY_READER,)

    def recognise(self, loaded) -> Recognised | None:
        root = loaded.root
        if isinstance(root, dict) and root and all(isinstance(v, TensorRef) for v in root.values()) and all(k.startswith("toy.") for k in root):
            return Recognised("state-dict", dict(root))
        return None

    def read(self, loaded, found: Recognised) -> ModelInfo:
        spelled = next(k for k in ("toy.conv.weight_v", "toy.conv.parametrizations.weight.original1") if k in found.tensors)
        v = found.tensors[spelled].array.shape
        config = {"width": v[0], "inputs": found.tensors["toy.proj.weight"].array.shape[1], "kernel": v[2]}
        evidence = [f"{spelled} is {list(v)} -> width {v[0]}, kernel {v[2]}"]
        return ModelInfo(self.name, found.kind, "toy", found.tensors, config, evidence)

    def expected_tensors(self, info: ModelInfo) -> dict[str, tuple[int, ...]]:
        return expected_tensors(info.config)

    def variant(self, config: Any) -> str:
        return f"toy-{config['width']}x{config['kernel']}"

    def facts(self, config: Any) -> dict[str, str]:
        return {"width": str(config["width"]), "kernel": str(config["kernel"]), "config": json.dumps(config, sort_keys=True, separators=(",", ":"))}

    def model_line(self, facts: dict[str, str], kind: str) -> list[str]:
        return super().model_line(facts, kind) + [f"{facts['width']} wide", f"kernel {facts['kernel']}"]

    def runtime_checks(self, converted: Path, info: ModelInfo, dtype: str, reference: Path | None, report: Any) -> None:
        weights = {k: np.asarray(t.array, dtype=np.float64) for k, t in read_model_file(converted).root.items()}
        x = np.random.default_rng(0).standard_normal((16, info.config["inputs"]))
        first, second = forward(weights, x), forward(weights, x)
        ok = first.shape == (16 - info.config["kernel"] + 1, info.config["width"]) and np.all(np.isfinite(first)) and np.array_equal(first, second)
        report.checks.append(Check("runtime.smoke", "pass" if ok else "fail", f"{first.shape[0]} frames x {first.shape[1]}"))

    def asset_contract(self, info: ModelInfo) -> dict[str, Any]:
        return dict(info.config)
