"""Deterministic, atomic writers: .safetensors (MLX Swift), .npz (Python MLX), and JSON sidecars.

Same tensors + metadata -> the same bytes: keys in a fixed order, no timestamps, metadata sorted.
Files appear under their final name only when complete (temp file + rename).
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Union

import numpy as np

from .errors import InputIOError, RvcConvertError

SAFETENSORS_CODES = {
    np.dtype("float16"): "F16",
    np.dtype("float32"): "F32",
    np.dtype("float64"): "F64",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
TEMP_NAME_PREFIX = 64


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


# A tensor's data: the whole array, or an iterable of row blocks (along axis 0, in order) for
# tensors too large to hold in memory at once. Each block is written before the next is asked
# for, so a producer may refill one buffer.
Produced = Union[np.ndarray, Iterable[np.ndarray]]
Produce = Callable[[TensorSpec], Produced]
FinalMetadata = Callable[[], dict[str, str]]


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temp name starts with (at most 64 characters of) the final one: a 247-character output
    # name is legal, `.<name>.<random>.partial` beside it would not be.
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name[:TEMP_NAME_PREFIX]}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        yield temp
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _checked(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    """The array as little-endian, C-contiguous data (no copy when it already is: large arrays
    are written straight from their buffer)."""
    if array.dtype != spec.dtype or tuple(array.shape) != tuple(spec.shape):
        raise RvcConvertError(f"internal: {spec.name} produced {array.dtype}{list(array.shape)}, planned {spec.dtype}{list(spec.shape)}")
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False)


def _pieces(spec: TensorSpec, produced: Produced) -> Iterator[np.ndarray]:
    """The tensor's data as little-endian, C-contiguous blocks; checks dtype and shape."""
    if isinstance(produced, np.ndarray):
        yield _checked(spec, produced)
        return
    rows = 0
    for block in produced:
        if block.dtype != spec.dtype or tuple(block.shape[1:]) != tuple(spec.shape[1:]):
            raise RvcConvertError(f"internal: {spec.name} produced a {block.dtype}{list(block.shape)} block, planned {spec.dtype}{list(spec.shape)}")
        rows += block.shape[0]
        yield np.ascontiguousarray(block).astype(block.dtype.newbyteorder("<"), copy=False)
    if rows != (spec.shape[0] if spec.shape else 1):
        raise RvcConvertError(f"internal: {spec.name} produced {rows} rows, planned {spec.shape[0] if spec.shape else 1}")


def safetensors_order(specs: list[TensorSpec]) -> list[TensorSpec]:
    """Wider dtypes first, then by name: every tensor stays aligned to its element size."""
    return sorted(specs, key=lambda s: (-s.dtype.itemsize, s.name))


def _safetensors_header(ordered: list[TensorSpec], metadata: dict[str, str]) -> bytes:
    header: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for spec in ordered:
        if spec.dtype not in SAFETENSORS_CODES:
            raise RvcConvertError(f"{spec.name}: dtype {spec.dtype} cannot be stored in safetensors")
        header[spec.name] = {"dtype": SAFETENSORS_CODES[spec.dtype], "shape": list(spec.shape), "data_offsets": [offset, offset + spec.nbytes]}
        offset += spec.nbytes
    encoded = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return encoded + b" " * (-len(encoded) % 8)


def write_safetensors(path: Path, specs: list[TensorSpec], produce: Produce, metadata: dict[str, str], final_metadata: FinalMetadata | None = None) -> None:
    """`final_metadata`, when given, is called once the data is written and its result replaces
    `metadata` in the header, which must keep its length (a value still being computed, such as the
    source's sha256, stands in `metadata` as a placeholder of the same length)."""
    ordered = safetensors_order(specs)
    encoded = _safetensors_header(ordered, metadata)
    with atomic_output(path) as temp, open(temp, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for spec in ordered:
            for piece in _pieces(spec, produce(spec)):
                out.write(memoryview(piece.reshape(-1)).cast("B"))
        if final_metadata is not None:
            final = _safetensors_header(ordered, final_metadata())
            if len(final) != len(encoded):
                raise RvcConvertError(f"internal: the final metadata changed the header's length ({len(encoded)} -> {len(final)} bytes)")
            out.seek(8)
            out.write(final)


def write_npz(path: Path, specs: list[TensorSpec], produce: Produce, metadata: dict[str, str], final_metadata: FinalMetadata | None = None) -> None:
    """An uncompressed .npz that np.load and mx.load read; metadata (`final_metadata()` when given,
    called once the data is written) as JSON in the archive comment."""
    with atomic_output(path) as temp, zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_STORED) as archive:
        for spec in sorted(specs, key=lambda s: s.name):
            produced = produce(spec)
            info = zipfile.ZipInfo(f"{spec.name}.npy", date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                if isinstance(produced, np.ndarray):
                    np.lib.format.write_array(member, _checked(spec, produced), allow_pickle=False)
                    continue
                # the header write_array writes for a C-ordered array, then the blocks: same bytes
                header = {"descr": np.lib.format.dtype_to_descr(spec.dtype.newbyteorder("<")), "fortran_order": False, "shape": tuple(spec.shape)}
                np.lib.format.write_array_header_1_0(member, header)
                for piece in _pieces(spec, produced):
                    member.write(memoryview(piece.reshape(-1)).cast("B"))
        metadata = final_metadata() if final_metadata is not None else metadata
        archive.comment = json.dumps(dict(sorted(metadata.items())), separators=(",", ":")).encode("utf-8")


def write_json(path: Path, value: Any) -> None:
    with atomic_output(path) as temp:
        # Config lists stay on one line, as the apps' existing <model>.json files are.
        # Standard JSON only: a NaN here is a bug upstream (configs are checked finite), never a file.
        text = json.dumps(value, indent=2, sort_keys=True, allow_nan=False) if isinstance(value, dict) else json.dumps(value, allow_nan=False)
        temp.write_text(text + "\n", encoding="utf-8")


def ensure_writable_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputIOError(f"cannot create output folder {directory} ({exc.strerror})") from None
    if not os.access(directory, os.W_OK):
        raise InputIOError(f"output folder {directory} is not writable")
