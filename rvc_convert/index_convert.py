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

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import __version__
from .errors import UnsupportedModelError, UsageError
from .faiss_index import IndexFile, IndexLayout
from .writer import LateMetadata, TensorSpec, ensure_writable_dir, write_npz, write_safetensors

INDEX_FORMAT = "1"  # revision of the converted index layout (metadata "index_format")
TARGET_SUFFIX = {"ios": ".safetensors", "mlx": ".npz"}
VECTOR_DTYPES = {"fp32": np.dtype("float32"), "fp16": np.dtype("float16")}
FP16_MAX = float(np.finfo(np.float16).max)


@dataclass
class IndexConversion:
    source: Path
    target: str
    output: Path | None
    layout: IndexLayout
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


def index_specs(layout: IndexLayout, vector_dtype: np.dtype) -> list[TensorSpec]:
    """The four arrays of a converted index, shapes from d, nlist and ntotal."""
    return [
        TensorSpec("centroids", np.dtype("float32"), (layout.nlist, layout.d)),
        TensorSpec("ids", np.dtype("int64"), (layout.ntotal,)),
        TensorSpec("list_offsets", np.dtype("int64"), (layout.nlist + 1,)),
        TensorSpec("vectors", vector_dtype, (layout.ntotal, layout.d)),
    ]


def index_metadata(layout: IndexLayout, vector_dtype: np.dtype, source_sha256: str) -> dict[str, str]:
    return {
        "family": "index",
        "index_format": INDEX_FORMAT,
        "source_index_type": layout.index_type,
        "source_list_encoding": layout.encoding or "none",
        "metric": layout.metric,
        "nprobe": str(layout.nprobe),
        "source_nprobe": str(layout.nprobe_file),
        "d": str(layout.d),
        "nlist": str(layout.nlist),
        "ntotal": str(layout.ntotal),
        "dtype": str(vector_dtype),
        "source_sha256": source_sha256,
        "rvc_convert.version": __version__,
    }


def _vectors_as(blocks: Iterator[tuple[int, np.ndarray]], dtype: np.dtype, source: Path) -> Iterator[np.ndarray]:
    """The streamed vector blocks in the output dtype; refuses fp16 when a component exceeds its range."""
    for _, block in blocks:
        if dtype == np.float16:
            peak = float(np.abs(block).max()) if block.size else 0.0
            if peak > FP16_MAX:
                raise UnsupportedModelError(f"{source}: a vector component reaches {peak:.4g}, beyond float16's ±{FP16_MAX:g}; convert with --dtype fp32", finding="fp16_overflow")
            yield block.astype(np.float16)
        else:
            yield block


def convert_index(source: str | Path, target: str = "ios", out_dir: str | Path | None = None, dtype: str | None = None, name: str | None = None) -> IndexConversion:
    """Read `source` (a FAISS .index), write `<name><suffix>` into `out_dir` (default: beside the
    source). Raises RvcConvertError subclasses only; writes nothing on failure.

    Everything is checked before anything is written: structure, centroids, ids, then every
    vector. The vectors then stream from the source to the output in blocks, so memory stays a
    few MiB whatever the index size. The source's sha256 (for the metadata) is computed on a
    second thread meanwhile and written into the header last."""
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
    vector_dtype = VECTOR_DTYPES[dtype]

    with IndexFile(source) as index_file:
        layout = index_file.layout
        hasher = index_file.sha256()
        try:
            arrays = {"centroids": index_file.centroids(), "ids": index_file.ids(), "list_offsets": layout.list_offsets}
            for _ in index_file.vector_blocks():  # every vector checked before anything is written
                pass
            specs = index_specs(layout, vector_dtype)
            # the hash finishes while the vectors stream: the header gets it last (same bytes)
            metadata = LateMetadata(index_metadata(layout, vector_dtype, "0" * 64), lambda: {"source_sha256": hasher.result()})
            created = _missing_folders(out_dir)
            ensure_writable_dir(out_dir)

            def produce(spec: TensorSpec):
                if spec.name == "vectors":
                    return _vectors_as(index_file.vector_blocks(), vector_dtype, source)
                return arrays[spec.name]

            writer = write_safetensors if target == "ios" else write_npz
            try:
                writer(output, specs, produce, metadata)
            except BaseException:
                for folder in created:  # a refused index leaves nothing behind, not even the folder
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                raise
        finally:
            hasher.abandon()
        metadata = metadata.final()
    return IndexConversion(source, target, output, layout, metadata, specs)


def _missing_folders(folder: Path) -> list[Path]:
    """The folders ensure_writable_dir would create for `folder`, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing
