"""Read model files without torch and without executing anything.

Containers: the PyTorch zip format (`<prefix>/data.pkl` + `<prefix>/data/<key>`), the legacy
non-zip torch format, `.safetensors`, `.npz`, and Hugging Face model folders. Tensors come back
as read-only numpy arrays, memory-mapped from the file where its records are stored uncompressed.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
import struct
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .errors import CorruptFileError, InputIOError, RvcConvertError, UnsafeInputError, UnsupportedModelError
from .safe_pickle import MAX_ELEMENTS, DeferredTensor, StorageRef, TensorRef, build_tensor, restricted_load

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MAX_PICKLE_BYTES = 64 << 20  # the pickle of a state dict is kilobytes; 64 MiB means hostile
MAX_SAFETENSORS_HEADER = 100 << 20
# Real checkpoints nest < 10 deep and hold < 100k objects; a pickle can build cycles and
# exponentially shared structures ("billion laughs") that would hang every later walk.
MAX_NESTING = 64
MAX_DEFLATE_RATIO = 100  # real tensors compress far less than 100:1; more is a decompression bomb
ZIP_READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error)
MAX_OBJECT_VISITS = 1_000_000
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

SAFETENSORS_DTYPES = {
    "F16": ("<f2", "float16"),
    "F32": ("<f4", "float32"),
    "F64": ("<f8", "float64"),
    "BF16": ("<u2", "bfloat16"),
    "I64": ("<i8", "int64"),
    "I32": ("<i4", "int32"),
    "I16": ("<i2", "int16"),
    "I8": ("i1", "int8"),
    "U8": ("u1", "uint8"),
    "BOOL": ("?", "bool"),
}


@dataclass
class LoadedFile:
    """A model file as read: its object tree (tensors are TensorRef), and what the reader saw."""

    path: Path
    container: str  # torch-zip | torch-legacy | safetensors | npz | hf-folder
    root: Any
    hashed_path: Path  # the file whose sha256 identifies the model (the weights file of a folder)
    size_bytes: int
    globals_seen: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)  # safetensors __metadata__ / HF config
    extra_files: dict[str, Any] = field(default_factory=dict)  # e.g. HF config.json contents
    _sha256: str | None = field(default=None, repr=False)
    _pending: "BackgroundDigest | None" = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        """Computed on first use: reading every byte is the one cost `inspect` does not need to pay."""
        if self._sha256 is None:
            self._sha256 = self._pending.result() if self._pending is not None else file_sha256(self.hashed_path)
        return self._sha256

    def adopt_digest(self, pending: "BackgroundDigest") -> None:
        """Use a digest already being computed for this file (see BackgroundDigest) if it is of `hashed_path`."""
        if pending.path == self.hashed_path:
            self._pending = pending


class StreamedArray:
    """A source tensor read on demand, in row blocks: what a family's container reader returns for a
    table too large to hold in memory at once (millions of feature vectors). `shape` and `dtype`
    answer planning and `inspect` without reading anything; iterating yields C-contiguous row
    blocks, which the reader checks as it reads them; a plain-copy plan entry streams those
    blocks into the writer (memory stays one block), and `np.asarray` reads the whole table."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype | str, blocks: Callable[[], Iterator[np.ndarray]]):
        self.shape, self.dtype, self._blocks = tuple(shape), np.dtype(dtype), blocks

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self._blocks())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = np.empty(self.shape, self.dtype)
        row = 0
        for block in self:
            whole[row : row + block.shape[0]] = block
            row += block.shape[0]
        if row != (self.shape[0] if self.shape else 1):
            raise CorruptFileError(f"a streamed tensor gave {row} rows, expected {self.shape[0] if self.shape else 1}: the file changed while being read")
        return whole if dtype is None else whole.astype(dtype)

    def map(self, change: Callable[[np.ndarray], np.ndarray], dtype: np.dtype | str | None = None) -> "StreamedArray":
        """The same rows with `change` applied to every block (a cast, a check)."""
        return StreamedArray(self.shape, self.dtype if dtype is None else dtype, lambda: (change(block) for block in self._blocks()))

    def astype(self, dtype: Any, copy: bool = True) -> "StreamedArray":
        dtype = np.dtype(dtype)
        return self if dtype == self.dtype else self.map(lambda block: block.astype(dtype), dtype)


@dataclass(frozen=True)
class ContainerReader:
    """A reader a model family contributes for a container of its own (e.g. a FAISS `.index`).

    `claims` sees the path and the file's first 16 bytes and must claim only its own magic; it is
    asked before the built-in formats. `read` gets the path and its size and returns a LoadedFile
    (tensors as TensorRef), raising only RvcConvertError subclasses for bad input.
    """

    container: str
    claims: Callable[[Path, bytes], bool]
    read: Callable[[Path, int], "LoadedFile"]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    block = bytearray(1 << 20)
    view = memoryview(block)
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(block):
            digest.update(view[:count])
    return digest.hexdigest()


class BackgroundDigest:
    """A file's sha256 computed on a thread while the caller reads and plans (hashlib releases the
    GIL on large blocks, so on two cores the hash costs no wall time). `result()` waits for it and
    raises what hashing raised."""

    def __init__(self, path: Path):
        self.path = path
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._digest = file_sha256(self.path)
        except BaseException as error:  # handed to the caller by result()
            self._error = error

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest


def release_pages(array: Any) -> None:
    """Drop a memory-mapped tensor's pages from this process's resident memory (they stay in the
    page cache: touching the tensor again reads them back). A model's tensors are mapped, not
    copied, so a pass over a large file would otherwise keep every page it touched in RSS until the
    file is closed. Does nothing for arrays that are not views of a file mapping."""
    owner = array
    while owner is not None and not isinstance(owner, mmap.mmap):
        owner = owner.obj if isinstance(owner, memoryview) else getattr(owner, "base", None)
    if owner is None or not isinstance(array, np.ndarray) or not hasattr(mmap, "MADV_DONTNEED") or owner.closed:
        return
    start = array.__array_interface__["data"][0] - np.frombuffer(owner, dtype=np.uint8).__array_interface__["data"][0]
    end = start + array.nbytes
    start -= start % mmap.PAGESIZE
    end = min(len(owner), -(-end // mmap.PAGESIZE) * mmap.PAGESIZE)
    if 0 <= start < end:
        owner.madvise(mmap.MADV_DONTNEED, start, end - start)


def widen_bfloat16(raw: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) -> float32, exactly: bf16 is the top half of an fp32."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


def check_structure(root: Any, source: str) -> None:
    """Refuse cyclic, absurdly deep or exponentially shared object trees before anything walks them."""
    stack: list[tuple[Any, int]] = [(root, 0)]
    visits = 0
    while stack:
        obj, depth = stack.pop()
        visits += 1
        if visits > MAX_OBJECT_VISITS:
            raise UnsafeInputError(f"{source}: the pickle's object tree has more than {MAX_OBJECT_VISITS} nodes (shared or cyclic references): refusing a hostile structure")
        if depth > MAX_NESTING:
            raise UnsafeInputError(f"{source}: the pickle nests deeper than {MAX_NESTING} levels: refusing a hostile structure")
        if isinstance(obj, dict):
            stack.extend((value, depth + 1) for value in obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend((value, depth + 1) for value in obj)


def iter_tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, TensorRef]]:
    """Yield (dotted path, tensor) for every tensor in a nested dict/list tree, in stored order."""
    if isinstance(obj, TensorRef):
        yield prefix, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from iter_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            yield from iter_tensors(value, f"{prefix}.{index}" if prefix else str(index))


def read_model_file(path: str | os.PathLike, readers: Sequence[ContainerReader] = ()) -> LoadedFile:
    """Open any supported model file or folder. Raises only RvcConvertError subclasses.

    `readers`: containers that model families add (rvc_convert.families.container_readers())."""
    try:
        return _read_model_file(Path(path), readers)
    except RvcConvertError:
        raise
    except RecursionError:
        raise UnsafeInputError(f"{path}: the file nests structures too deeply: refusing a hostile structure") from None
    except MemoryError:
        raise UnsafeInputError(f"{path}: reading the file would exhaust memory: refusing") from None
    except Exception as exc:  # malformed data reaching a code path that did not expect it
        raise CorruptFileError(f"{path}: malformed file ({type(exc).__name__}: {str(exc)[:120]})") from None


def _read_model_file(path: Path, readers: Sequence[ContainerReader] = ()) -> LoadedFile:
    if not path.exists():
        raise InputIOError(f"{path}: no such file or folder")
    if path.is_dir():
        return _read_hf_folder(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise InputIOError(f"{path}: cannot read ({exc.strerror})") from None
    if size == 0:
        raise CorruptFileError(f"{path}: the file is empty (0 bytes): re-download or re-export it")
    for reader in readers:
        if reader.claims(path, head):
            return reader.read(path, size)
    if head.startswith(b"PK"):
        return _read_zip(path, size)
    if head.startswith(b"\x80") and b"\x8a\x0a" in head[:4]:
        return _read_torch_legacy(path, size)
    if len(head) >= 9 and head[8:9] == b"{":
        return _read_safetensors(path, size)
    if head.startswith(b"\x80"):
        raise UnsupportedModelError(f"{path}: a bare pickle, not a PyTorch checkpoint (no torch zip or legacy magic); refusing to unpickle it")
    preview = head[:12].decode("latin-1").encode("unicode_escape").decode()
    raise UnsupportedModelError(
        f"{path}: not a model file (starts with '{preview}'); expected a PyTorch .pth/.pt zip, .safetensors, .npz or a Hugging Face folder"
    )


# --- zip containers: torch zip and npz -------------------------------------------------------


class _MappedFile:
    """Read-only memory map of a whole file; numpy views keep it alive through their base."""

    def __init__(self, path: Path, size: int):
        self.size = size
        with open(path, "rb") as handle:
            self.map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

    def array(self, offset: int, dtype: np.dtype, count: int, what: str) -> np.ndarray:
        end = offset + count * dtype.itemsize
        if offset < 0 or end > self.size:
            raise CorruptFileError(f"{what} runs past the end of the file (bytes {offset}..{end} of {self.size}): the file is truncated")
        return np.frombuffer(self.map, dtype=dtype, count=count, offset=offset)


def _zip_member_data_offset(mapped: _MappedFile, info: zipfile.ZipInfo) -> int:
    local = info.header_offset
    header = mapped.map[local : local + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise CorruptFileError(f"zip member {info.filename} has no local header: the file is truncated or corrupt")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return local + 30 + name_len + extra_len


def _check_compressed_span(mapped: _MappedFile, info: zipfile.ZipInfo, what: str) -> None:
    """A record's declared compressed size must fit in the file, or the inflate-ratio check means nothing."""
    start = _zip_member_data_offset(mapped, info)
    if info.compress_size > mapped.size - start:
        raise UnsafeInputError(f"{what}: declares {info.compress_size} compressed bytes but only {mapped.size - start} follow in the file: refusing a forged record")


def _read_zip_member(mapped: _MappedFile, zf: zipfile.ZipFile, info: zipfile.ZipInfo, dtype: np.dtype, count: int, what: str) -> np.ndarray:
    expected = count * dtype.itemsize
    if info.compress_type == zipfile.ZIP_STORED and expected > mapped.size:
        raise UnsafeInputError(f"{what}: declares {expected} bytes, more than the whole file ({mapped.size}): refusing an allocation bomb")
    if info.compress_type != zipfile.ZIP_STORED:
        _check_compressed_span(mapped, info, what)
    if info.compress_type != zipfile.ZIP_STORED and expected > max(MAX_DEFLATE_RATIO * info.compress_size, 1 << 20):
        raise UnsafeInputError(f"{what}: {info.compress_size} compressed bytes declare {expected} inflated bytes: refusing a decompression bomb")
    if info.file_size != expected:
        raise CorruptFileError(f"{what}: the record holds {info.file_size} bytes but the header declares {expected}: the file is corrupt or truncated")
    if info.compress_type == zipfile.ZIP_STORED:
        return mapped.array(_zip_member_data_offset(mapped, info), dtype, count, what)
    # Compressed records are rare (torch never writes them); read at most the declared size.
    try:
        with zf.open(info) as member:
            data = member.read(expected + 1)
    except ZIP_READ_ERRORS as exc:
        raise CorruptFileError(f"{what}: cannot decompress ({exc})") from None
    if len(data) != expected:
        raise CorruptFileError(f"{what}: decompressed to {len(data)} bytes, header declares {expected}")
    return np.frombuffer(data, dtype=dtype, count=count)


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CorruptFileError(f"{path}: not a readable zip archive ({exc}); the file is truncated or corrupt: re-download it") from None
    for info in zf.infolist():
        parts = info.filename.replace("\\", "/").split("/")
        if info.filename.startswith("/") or ".." in parts:
            raise UnsafeInputError(f"{path}: zip entry '{info.filename[:80]}' escapes its folder: refusing a hostile archive")
    return zf


def _read_zip(path: Path, size: int) -> LoadedFile:
    zf = _open_zip(path)
    names = zf.namelist()
    pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if not pickles:
        if names and all(n.endswith(".npy") for n in names):
            return _read_npz(path, size, zf)
        raise UnsupportedModelError(f"{path}: a zip archive with neither data.pkl (PyTorch) nor .npy members (npz): not a model file")
    if len(pickles) > 1:
        raise UnsupportedModelError(f"{path}: {len(pickles)} data.pkl records ({', '.join(pickles[:3])}): a nested or concatenated archive; unpack it first")
    prefix = pickles[0][: -len("data.pkl")]
    mapped = _MappedFile(path, size)
    byteorder = "little"
    if prefix + "byteorder" in names:
        try:
            with zf.open(prefix + "byteorder") as record:
                byteorder = record.read(16).decode("ascii", "replace").strip()
        except ZIP_READ_ERRORS as exc:
            raise CorruptFileError(f"{path}: cannot read the byteorder record ({exc}); the file is corrupt") from None
        if byteorder not in ("little", "big"):
            raise CorruptFileError(f"{path}: unknown byteorder record {byteorder!r}")
    pkl_info = zf.getinfo(pickles[0])
    if pkl_info.compress_type != zipfile.ZIP_STORED:
        _check_compressed_span(mapped, pkl_info, f"{path}: data.pkl")
        if pkl_info.file_size > max(MAX_DEFLATE_RATIO * pkl_info.compress_size, 1 << 20):
            raise UnsafeInputError(f"{path}: data.pkl inflates {pkl_info.compress_size} bytes to {pkl_info.file_size}: refusing a decompression bomb")
    if pkl_info.file_size > MAX_PICKLE_BYTES:
        raise UnsafeInputError(f"{path}: data.pkl declares {pkl_info.file_size} bytes (limit {MAX_PICKLE_BYTES}): refusing")
    try:
        pickle_bytes = zf.read(pkl_info)
    except ZIP_READ_ERRORS as exc:
        raise CorruptFileError(f"{path}: cannot read data.pkl ({exc}); the file is truncated or corrupt") from None

    def resolve(ref: StorageRef) -> None:
        record = f"{prefix}data/{ref.key}"
        try:
            info = zf.getinfo(record)
        except KeyError:
            raise CorruptFileError(f"{path}: the pickle references storage '{ref.key}' but {record} is missing: the file is truncated or corrupt") from None
        dtype = ref.storage_type.numpy_dtype
        array = _read_zip_member(mapped, zf, info, dtype, ref.numel, f"{path}: storage {ref.key}")
        if byteorder == "big" and dtype.itemsize > 1:
            array = array.byteswap().view(dtype.newbyteorder("<"))
        if ref.storage_type.dtype_name == "bfloat16":
            array = widen_bfloat16(array)
        ref.array = array

    loaded = restricted_load(pickle_bytes, resolve, str(path))
    check_structure(loaded.obj, str(path))
    return LoadedFile(path, "torch-zip", loaded.obj, path, size, loaded.globals_seen)


def _read_npz(path: Path, size: int, zf: zipfile.ZipFile) -> LoadedFile:
    mapped = _MappedFile(path, size)
    tensors: dict[str, TensorRef] = OrderedDict()
    for info in zf.infolist():
        what = f"{path}: array {info.filename}"
        try:
            with zf.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(member)
                header_len = member.tell()
        except UnsafeInputError:
            raise
        except Exception as exc:
            raise CorruptFileError(f"{what}: not a valid .npy record ({exc})") from None
        if dtype.hasobject:
            raise UnsafeInputError(f"{what}: holds Python objects (dtype {dtype}), which would need unpickling: refusing")
        count = math.prod(int(d) for d in shape)
        if count > MAX_ELEMENTS:
            raise UnsafeInputError(f"{what}: declares {count} elements: refusing an allocation bomb")
        if info.file_size != header_len + count * dtype.itemsize:
            raise CorruptFileError(f"{what}: {info.file_size} bytes on disk, the header declares {header_len + count * dtype.itemsize}: truncated or corrupt")
        if info.compress_type == zipfile.ZIP_STORED:
            flat = mapped.array(_zip_member_data_offset(mapped, info) + header_len, dtype, count, what)
        else:
            _check_compressed_span(mapped, info, what)
            if count * dtype.itemsize > max(MAX_DEFLATE_RATIO * info.compress_size, 1 << 20):
                raise UnsafeInputError(f"{what}: {info.compress_size} compressed bytes declare {count * dtype.itemsize} bytes: refusing a decompression bomb")
            try:
                with zf.open(info) as member:
                    flat = np.frombuffer(member.read(header_len + count * dtype.itemsize)[header_len:], dtype=dtype, count=count)
            except ZIP_READ_ERRORS as exc:
                raise CorruptFileError(f"{what}: cannot decompress ({exc}); the file is corrupt") from None
        array = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
        name = info.filename[: -len(".npy")]
        tensors[name] = TensorRef(array, str(array.dtype))
    return LoadedFile(path, "npz", tensors, path, size, metadata=_npz_metadata(zf))


def _npz_metadata(zf: zipfile.ZipFile) -> dict[str, str]:
    """rvc-convert stores provenance as a JSON object in the archive comment (numpy and MLX ignore it)."""
    try:
        meta = json.loads(zf.comment.decode("utf-8")) if zf.comment else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(meta, dict):
        return {}
    return {str(k): str(v) for k, v in meta.items()}


# --- legacy torch format ----------------------------------------------------------------------


def _resolve_deferred(obj: Any) -> Any:
    if isinstance(obj, DeferredTensor):
        return build_tensor(obj.storage, obj.storage_offset, obj.size, obj.stride)
    if isinstance(obj, OrderedDict):
        return OrderedDict((k, _resolve_deferred(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _resolve_deferred(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve_deferred(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve_deferred(v) for v in obj)
    return obj


def _read_torch_legacy(path: Path, size: int) -> LoadedFile:
    """torch.save(..., _use_new_zipfile_serialization=False): magic, protocol, sys_info, the object, storage keys, raw storages."""
    mapped = _MappedFile(path, size)
    with open(path, "rb") as handle:
        source = str(path)
        magic = restricted_load(handle, None, source).obj
        if magic != LEGACY_MAGIC:
            raise UnsupportedModelError(f"{path}: a pickle that is not a PyTorch legacy checkpoint (it starts with a {type(magic).__name__})")
        restricted_load(handle, None, source)  # protocol version
        sys_info = restricted_load(handle, None, source).obj
        if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
            raise UnsupportedModelError(f"{path}: a big-endian legacy checkpoint: re-save it on a little-endian machine")
        loaded = restricted_load(handle, None, source)
        keys = restricted_load(handle, None, source).obj
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise CorruptFileError(f"{path}: the storage key list is malformed")
        offset = handle.tell()
    for key in keys:
        ref = loaded.storages.get(key)
        if ref is None:
            raise CorruptFileError(f"{path}: storage '{key}' is listed but never referenced")
        header = mapped.array(offset, np.dtype("<i8"), 1, f"{path}: storage {key} header")
        numel = int(header[0])
        if numel != ref.numel:
            raise CorruptFileError(f"{path}: storage {key} holds {numel} elements, the pickle declares {ref.numel}")
        dtype = ref.storage_type.numpy_dtype
        array = mapped.array(offset + 8, dtype, numel, f"{path}: storage {key}")
        ref.array = widen_bfloat16(array) if ref.storage_type.dtype_name == "bfloat16" else array
        offset += 8 + numel * dtype.itemsize
    check_structure(loaded.obj, str(path))
    missing = [k for k in loaded.storages if k not in keys]
    if missing:
        raise CorruptFileError(f"{path}: storages {missing[:3]} are referenced but have no data")
    root = _resolve_deferred(loaded.obj)
    return LoadedFile(path, "torch-legacy", root, path, size, loaded.globals_seen)


# --- safetensors ----------------------------------------------------------------------------


def _read_safetensors(path: Path, size: int) -> LoadedFile:
    mapped = _MappedFile(path, size)
    (header_len,) = struct.unpack("<Q", mapped.map[:8])
    if header_len > MAX_SAFETENSORS_HEADER or 8 + header_len > size:
        raise CorruptFileError(f"{path}: safetensors header claims {header_len} bytes in a {size}-byte file: truncated or corrupt")
    try:
        header = json.loads(bytes(mapped.map[8 : 8 + header_len]))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CorruptFileError(f"{path}: the safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise CorruptFileError(f"{path}: the safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CorruptFileError(f"{path}: safetensors __metadata__ must map strings to strings")
    base = 8 + header_len
    tensors: dict[str, TensorRef] = OrderedDict()
    entries = []
    for name, entry in header.items():
        what = f"{path}: tensor {name}"
        try:
            dtype_code, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise CorruptFileError(f"{what}: malformed header entry") from None
        if not isinstance(dtype_code, str) or type(start) is not int or type(end) is not int:
            raise CorruptFileError(f"{what}: malformed header entry (dtype {dtype_code!r}, offsets {start!r}..{end!r})")
        entries.append((start, name, dtype_code, shape, end))
    for start, name, dtype_code, shape, end in sorted(entries):
        what = f"{path}: tensor {name}"
        if dtype_code not in SAFETENSORS_DTYPES:
            raise UnsupportedModelError(f"{what}: unsupported dtype {dtype_code}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise CorruptFileError(f"{what}: invalid shape {shape!r}")
        np_dtype, dtype_name = SAFETENSORS_DTYPES[dtype_code]
        dtype = np.dtype(np_dtype)
        count = math.prod(shape)
        if count > MAX_ELEMENTS:
            raise UnsafeInputError(f"{what}: declares {count} elements: refusing an allocation bomb")
        if end - start != count * dtype.itemsize or start < 0:
            raise CorruptFileError(f"{what}: data offsets {start}..{end} do not match shape {shape} of {dtype_code}")
        flat = mapped.array(base + start, dtype, count, what)
        if dtype_name == "bfloat16":
            flat = widen_bfloat16(flat)
        tensors[name] = TensorRef(flat.reshape(shape), dtype_name)
    return LoadedFile(path, "safetensors", tensors, path, size, metadata=dict(metadata))


# --- Hugging Face folders -------------------------------------------------------------------


def _read_hf_folder(path: Path) -> LoadedFile:
    """A transformers model folder: config.json plus model.safetensors or pytorch_model.bin."""
    config_path = path / "config.json"
    weights = next((path / name for name in HF_WEIGHT_FILES if (path / name).is_file()), None)
    if weights is None:
        raise UnsupportedModelError(f"{path}: a folder without {' or '.join(HF_WEIGHT_FILES)}; point at a model file or a Hugging Face model folder")
    inner = read_model_file(weights)
    extra: dict[str, Any] = {}
    for name in ("config.json", "preprocessor_config.json"):
        file = path / name
        if file.is_file():
            try:
                extra[name] = json.loads(file.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CorruptFileError(f"{file}: not valid JSON ({exc})") from None
    if not config_path.is_file():
        raise UnsupportedModelError(f"{path}: a Hugging Face folder needs config.json beside {weights.name}")
    return LoadedFile(path, "hf-folder", inner.root, inner.hashed_path, inner.size_bytes, inner.globals_seen, inner.metadata, extra)
