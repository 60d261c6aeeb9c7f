"""Convert a FAISS retrieval index (.index) into the converted index layout an app searches.

The output (.safetensors for the ios target, .npz for mlx) holds four arrays and string metadata;
docs/retrieval_index.md defines them and the search and blend they serve:

  centroids     float32 [nlist, d]   coarse centroids (one zero row for an IndexFlat)
  vectors       float32|float16 [ntotal, d]   the vectors grouped by inverted list
  list_offsets  int64 [nlist + 1]    list j is vectors[list_offsets[j]:list_offsets[j+1]]
  ids           int64 [ntotal]       the original faiss id of each row (0..ntotal-1)

Same source, target and dtype give the same bytes: no timestamps, metadata sorted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import UnsupportedModelError, UsageError
from .faiss_index import FaissIndex, read_faiss_index
from .writer import TensorSpec, ensure_writable_dir, write_npz, write_safetensors

INDEX_FORMAT = "1"  # revision of the converted index layout (metadata "index_format")
TARGET_SUFFIX = {"ios": ".safetensors", "mlx": ".npz"}
VECTOR_DTYPES = {"fp32": np.dtype("float32"), "fp16": np.dtype("float16")}
FP16_MAX = float(np.finfo(np.float16).max)


@dataclass
class IndexConversion:
    source: Path
    target: str
    output: Path | None
    index: FaissIndex
    metadata: dict[str, str]
    specs: list[TensorSpec] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "output": str(self.output) if self.output else None,
            "target": self.target,
            "output_bytes": sum(s.nbytes for s in self.specs),
            "metadata": dict(self.metadata),
            "tensors": [{"name": s.name, "dtype": str(s.dtype), "shape": list(s.shape)} for s in self.specs],
        }


def index_specs(index: FaissIndex, vector_dtype: np.dtype) -> list[TensorSpec]:
    """The four arrays of a converted index, shapes from d, nlist and ntotal."""
    return [
        TensorSpec("centroids", np.dtype("float32"), (index.nlist, index.d)),
        TensorSpec("ids", np.dtype("int64"), (index.ntotal,)),
        TensorSpec("list_offsets", np.dtype("int64"), (index.nlist + 1,)),
        TensorSpec("vectors", vector_dtype, (index.ntotal, index.d)),
    ]


def index_metadata(index: FaissIndex, vector_dtype: np.dtype) -> dict[str, str]:
    return {
        "family": "index",
        "index_format": INDEX_FORMAT,
        "source_index_type": index.index_type,
        "source_list_encoding": index.encoding or "none",
        "metric": index.metric,
        "nprobe": str(index.nprobe),
        "source_nprobe": str(index.layout.nprobe_file),
        "d": str(index.d),
        "nlist": str(index.nlist),
        "ntotal": str(index.ntotal),
        "dtype": str(vector_dtype),
        "source_sha256": index.sha256 or "",
        "rvc_convert.version": __version__,
    }


def index_arrays(index: FaissIndex, vector_dtype: np.dtype) -> dict[str, np.ndarray]:
    """The arrays to write; refuses fp16 when a vector component exceeds its range."""
    vectors = index.vectors
    if vector_dtype == np.float16:
        peak = max((float(np.abs(vectors[s : s + 65536]).max()) for s in range(0, vectors.shape[0], 65536)), default=0.0)
        if peak > FP16_MAX:
            raise UnsupportedModelError(f"{index.layout.path}: a vector component reaches {peak:.4g}, beyond float16's ±{FP16_MAX:g}; convert with --dtype fp32", finding="fp16_overflow")
        vectors = vectors.astype(np.float16)
    return {"centroids": index.centroids, "ids": index.ids, "list_offsets": index.list_offsets, "vectors": vectors}


def convert_index(source: str | Path, target: str = "ios", out_dir: str | Path | None = None, dtype: str | None = None, name: str | None = None) -> IndexConversion:
    """Read `source` (a FAISS .index), write `<name><suffix>` into `out_dir` (default: beside the
    source). Raises RvcConvertError subclasses only; writes nothing on failure."""
    if target not in TARGET_SUFFIX:
        raise UsageError(f"unknown target '{target}': use one of {', '.join(TARGET_SUFFIX)}")
    dtype = dtype or "fp32"
    if dtype not in VECTOR_DTYPES:
        raise UsageError(f"unknown dtype '{dtype}': use fp16 or fp32")
    source = Path(source)
    stem = name or source.stem
    if not stem or stem.startswith(".") or any(c in stem for c in "/\\\0"):
        raise UsageError(f"output name {stem!r} is not a plain file name: it must not contain path separators or start with '.'")
    out_dir = Path(out_dir) if out_dir is not None else source.parent
    output = out_dir / f"{stem}{TARGET_SUFFIX[target]}"
    if output.exists() and source.exists() and output.resolve() == source.resolve():
        raise UsageError(f"the output {output} would overwrite the input; pass another output folder")

    index = read_faiss_index(source)
    vector_dtype = VECTOR_DTYPES[dtype]
    arrays = index_arrays(index, vector_dtype)
    specs = index_specs(index, vector_dtype)
    metadata = index_metadata(index, vector_dtype)
    ensure_writable_dir(out_dir)
    writer = write_safetensors if target == "ios" else write_npz
    writer(output, specs, lambda spec: arrays[spec.name], metadata)
    return IndexConversion(source, target, output, index, metadata, specs)
