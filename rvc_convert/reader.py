"""Read model files without torch and without executing anything.

Containers: the PyTorch zip format (`<prefix>/data.pkl` + `<prefix>/data/<key>`), the legacy
non-zip torch format, `.safetensors`, `.npz`, and Hugging Face model folders. Tensors come back
as read-only numpy arrays, memory-mapped from the file where its records are stored uncompressed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import mmap
import os
import stat
import struct
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Sequence

import numpy as np

from .errors import CorruptFileError, InputIOError, RvcConvertError, UnsafeInputError, UnsupportedModelError
from .safe_pickle import MAX_ELEMENTS, DeferredTensor, StorageRef, TensorRef, build_tensor, is_plain_key, quote, restricted_load

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MAX_PICKLE_BYTES = 64 << 20  # the pickle of a state dict is kilobytes; 64 MiB means hostile
MAX_SAFETENSORS_HEADER = 16 << 20  # ~150 bytes a tensor: room for MAX_TENSORS and metadata
MAX_CONFIG_JSON_BYTES = 1 << 20  # a Hugging Face config.json is a few KB
# Real checkpoints nest < 10 deep and hold < 100k objects; a pickle can build cycles and
# exponentially shared structures ("billion laughs") that would hang every later walk.
MAX_NESTING = 64
MAX_DEFLATE_RATIO = 100  # real tensors compress far less than 100:1; more is a decompression bomb
MAX_OBJECT_VISITS = 1_000_000
# Real models hold hundreds to a few thousand tensors (a training checkpoint with its optimizer
# state ~3x its parameters) named in < 100 characters. Every later step is linear in these two.
MAX_TENSORS = 100_000
MAX_NAME_LENGTH = 256
# torch writes zip records stored (method 0); numpy's savez_compressed deflates (8). Python's
# zipfile cannot bound a bzip2 or LZMA decompression by the size a record declares, so every
# other method is refused unread.
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
ZIP_METHOD_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}
NPY_HEADER_READ = 1 << 16  # magic + length + numpy's own 10,000-byte header limit, with room
# bool, int, uint, float, complex, and text (reference files carry a JSON string); never records
# (structured dtypes), raw void, datetimes or objects.
NPY_KINDS = "biufcSU"
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
HF_CONFIG_FILES = ("config.json", "preprocessor_config.json")

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
    with open_regular(path) as handle:
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


def read_text_file(path: Path, limit: int, what: str = "file") -> str:
    """A small text file from a user or a folder (a bundle spec, a manifest, a journal): a regular
    file only (never waits on a FIFO), at most `limit` bytes, UTF-8."""
    with open_regular(Path(path)) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafeInputError(f"{path}: a {what} of more than {limit} bytes: refusing")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{path}: the {what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


_FILE_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def _not_regular(path: Path, mode: int) -> InputIOError:
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    return InputIOError(f"{path}: is {kind}, not a regular file: rvc-convert reads model files and folders only, and never waits on a pipe or device")


def require_regular(path: Path) -> None:
    """InputIOError unless `path` is a regular file (by its stat: nothing is opened)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise InputIOError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)


def open_regular(path: Path) -> IO[bytes]:
    """Open a regular file for reading, never blocking: a FIFO, device or socket is refused by its
    stat before any open, and the open itself is non-blocking and re-checked on the descriptor
    (the path could be swapped in between)."""
    require_regular(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputIOError(f"{path}: cannot read ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_regular(path, mode)
    return os.fdopen(fd, "rb")


def widen_bfloat16(raw: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) -> float32, exactly: bf16 is the top half of an fp32."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


def _key_text(key: Any) -> str:
    """A dict key as one dotted-name segment. Real checkpoints use str keys (int for optimizer
    state); anything else (a tuple could be a 2**40-path tree) is never turned into text. The
    unpickler already refuses such keys; dicts built by other readers are checked here too."""
    if type(key) is str:
        return key
    if is_plain_key(key):
        return str(key)
    raise UnsafeInputError(f"a dict key of type {type(key).__name__} ({quote(key, 60)}): checkpoints key their dicts by name or number; refusing a hostile structure")


def _entries(obj: Any) -> Iterator[tuple[str, Any]] | None:
    """The children of a container as (name segment, value); None for a leaf. The base-class
    methods are called, so an instance attribute can never change how a container is walked."""
    if isinstance(obj, dict):
        return ((_key_text(k), v) for k, v in dict.items(obj))
    if isinstance(obj, (list, tuple)):
        return ((str(i), v) for i, v in enumerate(obj))
    if isinstance(obj, (set, frozenset)):
        return (("", v) for v in obj)
    return None


def walk_tree(root: Any) -> Iterator[tuple[str, Any]]:
    """Yield (dotted name, leaf) for every non-container value of a pickled object tree, depth
    first in stored order. The one walk every step uses: bounded in nodes, depth, name length and
    tensor count, refusing cycles, with memory linear in the depth (one iterator a level).
    Stand-ins (InertObject) are leaves: nothing reads inside them."""
    children = _entries(root)
    if children is None:
        yield "", root
        return
    stack: list[tuple[Iterator[tuple[str, Any]], str, int]] = [(children, "", id(root))]
    on_path = {id(root)}
    visits = tensors = 0
    while stack:
        children, prefix, owner = stack[-1]
        item = next(children, None)
        if item is None:
            stack.pop()
            on_path.discard(owner)
            continue
        key, value = item
        visits += 1
        if visits > MAX_OBJECT_VISITS:
            raise UnsafeInputError(f"the object tree has more than {MAX_OBJECT_VISITS} nodes (shared or cyclic references): refusing a hostile structure")
        if len(prefix) + 1 + len(key) > MAX_NAME_LENGTH:
            raise UnsafeInputError(f"a name longer than {MAX_NAME_LENGTH} characters ({quote(prefix + '.' + key[:80], 100)}): refusing a hostile structure")
        name = f"{prefix}.{key}" if prefix else key
        grandchildren = _entries(value)
        if grandchildren is None:
            if isinstance(value, (TensorRef, DeferredTensor)):
                tensors += 1
                if tensors > MAX_TENSORS:
                    raise UnsafeInputError(f"the file holds more than {MAX_TENSORS} tensors: refusing a hostile structure")
            yield name, value
            continue
        if id(value) in on_path:
            raise UnsafeInputError(f"{quote(name, 100)} contains itself (a cyclic structure): refusing a hostile structure")
        if len(stack) >= MAX_NESTING:
            raise UnsafeInputError(f"the object tree nests deeper than {MAX_NESTING} levels: refusing a hostile structure")
        on_path.add(id(value))
        stack.append((grandchildren, name, id(value)))


def check_structure(root: Any, source: str) -> None:
    """Walk the whole tree once, as every later step will, and refuse what would hang or bloat
    them: cycles, absurd depth or size, long names, two tensors under one dotted name."""
    seen: dict[str, str] = {}
    try:
        for name, leaf in walk_tree(root):
            if isinstance(leaf, (TensorRef, DeferredTensor)):
                if name in seen:
                    raise UnsupportedModelError(
                        f"two tensors are both named {quote(name, 100)} (a key containing '.' and a nested dict spell the same name): "
                        f"the file is ambiguous; rvc-convert will not pick one"
                    )
                seen[name] = name
    except RvcConvertError as exc:
        raise type(exc)(f"{source}: {exc}", exc.finding) from None


def iter_tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, TensorRef]]:
    """Yield (dotted path, tensor) for every tensor in a nested dict/list tree, in stored order."""
    for name, leaf in walk_tree(obj):
        if isinstance(leaf, TensorRef):
            yield (f"{prefix}.{name}" if prefix and name else prefix or name), leaf


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
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputIOError(f"{path}: no such file or folder") from None
    except OSError as exc:
        raise InputIOError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        return _read_hf_folder(path)
    return _read_file(path, readers)


def _read_file(path: Path, readers: Sequence[ContainerReader] = ()) -> LoadedFile:
    """One regular file, opened once (non-blocking): its container is told by its first bytes."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise CorruptFileError(f"{path}: the file is empty (0 bytes): re-download or re-export it")
        head = handle.read(16)
        handle.seek(0)
        for reader in readers:  # a family's own container: checked regular above, read by the family
            if reader.claims(path, head):
                return reader.read(path, size)
        if head.startswith(b"PK"):
            return _read_zip(path, handle, size)
        if head.startswith(b"\x80") and b"\x8a\x0a" in head[:4]:
            return _read_torch_legacy(path, handle, size)
        if len(head) >= 9 and head[8:9] == b"{":
            return _read_safetensors(path, handle, size)
    if head.startswith(b"\x80"):
        raise UnsupportedModelError(f"{path}: a bare pickle, not a PyTorch checkpoint (no torch zip or legacy magic); refusing to unpickle it")
    # Quoting the first bytes tells an HTML error page or a text file at a glance; they are bytes of
    # the input itself (a Hugging Face folder's members are checked to lie inside the folder).
    preview = head[:12].decode("latin-1").encode("unicode_escape").decode()
    raise UnsupportedModelError(
        f"{path}: not a model file (starts with '{preview}'); expected a PyTorch .pth/.pt zip, .safetensors, .npz or a Hugging Face folder"
    )


# --- zip containers: torch zip and npz -------------------------------------------------------


class _MappedFile:
    """Read-only memory map of a whole file; numpy views keep it alive through their base."""

    def __init__(self, handle: IO[bytes], size: int):
        self.size = size
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
        raise CorruptFileError(f"zip member {quote(info.filename)} has no local header: the file is truncated or corrupt")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return local + 30 + name_len + extra_len


def _compressed_span(mapped: _MappedFile, info: zipfile.ZipInfo, what: str) -> memoryview:
    """A record's stored bytes; its declared compressed size must fit in the file, or the inflate-ratio check means nothing."""
    start = _zip_member_data_offset(mapped, info)
    if info.compress_size > mapped.size - start:
        raise UnsafeInputError(f"{what}: declares {info.compress_size} compressed bytes but only {mapped.size - start} follow in the file: refusing a forged record")
    return memoryview(mapped.map)[start : start + info.compress_size]


def _check_inflate_ratio(info: zipfile.ZipInfo, declared: int, what: str) -> None:
    if info.compress_type != zipfile.ZIP_STORED and declared > max(MAX_DEFLATE_RATIO * info.compress_size, 1 << 20):
        raise UnsafeInputError(f"{what}: {info.compress_size} compressed bytes declare {declared} inflated bytes: refusing a decompression bomb")


def _member_bytes(mapped: _MappedFile, info: zipfile.ZipInfo, what: str, limit: int | None = None) -> bytes:
    """A member's bytes, never more than it declares: all of them (length and CRC checked), or
    with `limit` only its first `limit` bytes. Inflation is bounded by zlib's max_length, never by
    zipfile, whose read() inflates a whole deflate stream whatever size the header declares."""
    span = _compressed_span(mapped, info, what)
    want = info.file_size if limit is None else min(limit, info.file_size)
    if info.compress_type == zipfile.ZIP_STORED:
        data = bytes(span[:want])
        if len(data) != want or (limit is None and info.compress_size != info.file_size):
            raise CorruptFileError(f"{what}: a stored record of {info.compress_size} bytes declares {info.file_size}: the file is corrupt or truncated")
    else:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            data = inflater.decompress(span, want + 1)
        except zlib.error as exc:
            raise CorruptFileError(f"{what}: cannot decompress ({exc}); the file is corrupt") from None
        if limit is None and len(data) > want:
            raise UnsafeInputError(f"{what}: decompresses to more than the {want} bytes its header declares: refusing a decompression bomb")
        data = data[:want]
        if len(data) != want:
            raise CorruptFileError(f"{what}: decompressed to {len(data)} bytes, the header declares {want}: the file is corrupt or truncated")
    if limit is None and zlib.crc32(data) != info.CRC:
        raise CorruptFileError(f"{what}: CRC-32 mismatch: the file is corrupt")
    return data


def _read_zip_member(mapped: _MappedFile, info: zipfile.ZipInfo, dtype: np.dtype, count: int, what: str) -> np.ndarray:
    expected = count * dtype.itemsize
    if info.compress_type == zipfile.ZIP_STORED and expected > mapped.size:
        raise UnsafeInputError(f"{what}: declares {expected} bytes, more than the whole file ({mapped.size}): refusing an allocation bomb")
    _check_inflate_ratio(info, expected, what)
    if info.file_size != expected:
        raise CorruptFileError(f"{what}: the record holds {info.file_size} bytes but the header declares {expected}: the file is corrupt or truncated")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != expected:
            raise CorruptFileError(f"{what}: a stored record of {info.compress_size} bytes declares {expected}: the file is corrupt or truncated")
        return mapped.array(_zip_member_data_offset(mapped, info), dtype, count, what)
    # Compressed records are rare (torch never writes them); inflated to exactly the declared size.
    return np.frombuffer(_member_bytes(mapped, info, what), dtype=dtype, count=count)


def _method_name(method: int) -> str:
    return ZIP_METHOD_NAMES.get(method, f"method {method}")


def _open_zip(path: Path, handle: IO[bytes]) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CorruptFileError(f"{path}: not a readable zip archive ({exc}); the file is truncated or corrupt: re-download it") from None
    names: set[str] = set()
    for info in zf.infolist():
        label = quote(info.filename, 100)
        parts = info.filename.replace("\\", "/").split("/")
        if info.filename.startswith("/") or ".." in parts:
            raise UnsafeInputError(f"{path}: zip entry {label} escapes its folder: refusing a hostile archive")
        if info.filename in names:
            raise CorruptFileError(f"{path}: zip entry {label} appears twice: the archive is ambiguous; re-save it")
        names.add(info.filename)
        if info.compress_type not in ZIP_METHODS:
            raise UnsupportedModelError(
                f"{path}: zip entry {label} is compressed with {_method_name(info.compress_type)}, which torch and numpy never write "
                f"and which cannot be decompressed within a bound; rvc-convert reads stored or deflated records only: re-save the file with torch.save or numpy"
            )
        if info.flag_bits & 0x1:
            raise UnsupportedModelError(f"{path}: zip entry {label} is encrypted: rvc-convert reads unencrypted archives only")
    return zf


def _read_zip(path: Path, handle: IO[bytes], size: int) -> LoadedFile:
    zf = _open_zip(path, handle)
    mapped = _MappedFile(handle, size)
    names = zf.namelist()
    pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if not pickles:
        if names and all(n.endswith(".npy") for n in names):
            return _read_npz(path, size, zf, mapped)
        raise UnsupportedModelError(f"{path}: a zip archive with neither data.pkl (PyTorch) nor .npy members (npz): not a model file")
    if len(pickles) > 1:
        raise UnsupportedModelError(f"{path}: {len(pickles)} data.pkl records ({quote(pickles[:3])}): a nested or concatenated archive; unpack it first")
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
        # "little" or "big": only the first 16 bytes are ever inflated, whatever the record declares.
        raw = _member_bytes(mapped, zf.getinfo(prefix + "byteorder"), f"{path}: the byteorder record", limit=16)
        byteorder = raw.decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise CorruptFileError(f"{path}: unknown byteorder record {quote(byteorder)}")
    pkl_info = zf.getinfo(pickles[0])
    _check_inflate_ratio(pkl_info, pkl_info.file_size, f"{path}: data.pkl")
    if pkl_info.file_size > MAX_PICKLE_BYTES:
        raise UnsafeInputError(f"{path}: data.pkl declares {pkl_info.file_size} bytes (limit {MAX_PICKLE_BYTES}): refusing")
    pickle_bytes = _member_bytes(mapped, pkl_info, f"{path}: data.pkl")

    def resolve(ref: StorageRef) -> None:
        record = f"{prefix}data/{ref.key}"
        try:
            info = zf.getinfo(record)
        except KeyError:
            raise CorruptFileError(f"{path}: the pickle references storage '{ref.key}' but {record} is missing: the file is truncated or corrupt") from None
        dtype = ref.storage_type.numpy_dtype
        array = _read_zip_member(mapped, info, dtype, ref.numel, f"{path}: storage {ref.key}")
        if byteorder == "big" and dtype.itemsize > 1:
            array = array.byteswap().view(dtype.newbyteorder("<"))
        if ref.storage_type.dtype_name == "bfloat16":
            array = widen_bfloat16(array)
        ref.array = array

    loaded = restricted_load(pickle_bytes, resolve, str(path))
    check_structure(loaded.obj, str(path))
    return LoadedFile(path, "torch-zip", loaded.obj, path, size, loaded.globals_seen)


def _check_tensor_name(path: Path, name: str, count: int) -> None:
    if len(name) > MAX_NAME_LENGTH:
        raise UnsafeInputError(f"{path}: a tensor name of {len(name)} characters ({quote(name, 80)}; limit {MAX_NAME_LENGTH}): refusing a hostile file")
    if count > MAX_TENSORS:
        raise UnsafeInputError(f"{path}: holds more than {MAX_TENSORS} tensors: refusing a hostile file")


def _npy_header(data: bytes, what: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, Fortran order, dtype and header length of a .npy record, parsed from its first bytes."""
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(stream)
    except Exception as exc:
        raise CorruptFileError(f"{what}: not a valid .npy record ({quote(str(exc))})") from None
    return shape, fortran, dtype, stream.tell()


def _read_npz(path: Path, size: int, zf: zipfile.ZipFile, mapped: _MappedFile) -> LoadedFile:
    tensors: dict[str, TensorRef] = OrderedDict()
    for info in zf.infolist():
        name = info.filename[: -len(".npy")]
        _check_tensor_name(path, name, len(tensors) + 1)
        what = f"{path}: array {quote(info.filename, 100)}"
        _check_inflate_ratio(info, info.file_size, what)
        shape, fortran, dtype, header_len = _npy_header(_member_bytes(mapped, info, what, limit=NPY_HEADER_READ), what)
        if dtype.hasobject:
            raise UnsafeInputError(f"{what}: holds Python objects (dtype {quote(dtype)}), which would need unpickling: refusing")
        if dtype.kind not in NPY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise UnsupportedModelError(f"{what}: dtype {quote(str(dtype), 80)} is a structured or non-numeric type: an array of a model file holds plain numbers")
        count = math.prod(int(d) for d in shape)
        if count > MAX_ELEMENTS:
            raise UnsafeInputError(f"{what}: declares {count} elements: refusing an allocation bomb")
        if info.file_size != header_len + count * dtype.itemsize:
            raise CorruptFileError(f"{what}: {info.file_size} bytes on disk, the header declares {header_len + count * dtype.itemsize}: truncated or corrupt")
        if info.compress_type == zipfile.ZIP_STORED:
            flat = mapped.array(_zip_member_data_offset(mapped, info) + header_len, dtype, count, what)
        else:
            flat = np.frombuffer(_member_bytes(mapped, info, what), dtype=dtype, count=count, offset=header_len)
        array = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
        tensors[name] = TensorRef(array, str(array.dtype))
    return LoadedFile(path, "npz", tensors, path, size, metadata=_npz_metadata(zf))


def _npz_metadata(zf: zipfile.ZipFile) -> dict[str, str]:
    """rvc-convert stores provenance as a JSON object in the archive comment (numpy and MLX ignore it)."""
    try:
        meta = _strict_json(zf.comment) if zf.comment else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    if not isinstance(meta, dict):
        return {}
    return {str(k): str(v) for k, v in meta.items() if isinstance(v, (str, int, float, bool))}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {quote(key, 80)} appears twice")
        out[key] = value
    return out


def _strict_json(data: bytes) -> Any:
    """JSON as the standard defines it: no NaN/Infinity, no key given twice (a second tensor entry
    of one name would otherwise silently replace the first)."""
    return json.loads(data, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)


# --- legacy torch format ----------------------------------------------------------------------


def _resolve_deferred(obj: Any) -> Any:
    """The tree with every DeferredTensor rebuilt (after check_structure, so it is bounded)."""
    if isinstance(obj, DeferredTensor):
        return build_tensor(obj.storage, obj.storage_offset, obj.size, obj.stride)
    if isinstance(obj, OrderedDict):
        return OrderedDict((k, _resolve_deferred(v)) for k, v in dict.items(obj))
    if isinstance(obj, dict):
        return {k: _resolve_deferred(v) for k, v in dict.items(obj)}
    if isinstance(obj, list):
        return [_resolve_deferred(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve_deferred(v) for v in obj)
    return obj


def _read_torch_legacy(path: Path, handle: IO[bytes], size: int) -> LoadedFile:
    """torch.save(..., _use_new_zipfile_serialization=False): magic, protocol, sys_info, the object, storage keys, raw storages."""
    mapped = _MappedFile(handle, size)
    source = str(path)
    magic = restricted_load(handle, None, source).obj
    if type(magic) is not int or magic != LEGACY_MAGIC:
        raise UnsupportedModelError(f"{path}: a pickle that is not a PyTorch legacy checkpoint (it starts with a {type(magic).__name__})")
    restricted_load(handle, None, source)  # protocol version
    sys_info = restricted_load(handle, None, source).obj
    if isinstance(sys_info, dict) and dict.get(sys_info, "little_endian") is False:
        raise UnsupportedModelError(f"{path}: a big-endian legacy checkpoint: re-save it on a little-endian machine")
    loaded = restricted_load(handle, None, source)
    keys = restricted_load(handle, None, source).obj
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CorruptFileError(f"{path}: the storage key list is malformed")
    offset = handle.tell()
    for key in keys:
        ref = loaded.storages.get(key)
        if ref is None:
            raise CorruptFileError(f"{path}: storage {quote(key)} is listed but never referenced")
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
        raise CorruptFileError(f"{path}: storages {quote(missing[:3])} are referenced but have no data")
    root = _resolve_deferred(loaded.obj)
    return LoadedFile(path, "torch-legacy", root, path, size, loaded.globals_seen)


# --- safetensors ----------------------------------------------------------------------------


def _read_safetensors(path: Path, handle: IO[bytes], size: int) -> LoadedFile:
    mapped = _MappedFile(handle, size)
    (header_len,) = struct.unpack("<Q", mapped.map[:8])
    if 8 + header_len > size:
        raise CorruptFileError(f"{path}: safetensors header claims {header_len} bytes in a {size}-byte file: truncated or corrupt")
    if header_len > MAX_SAFETENSORS_HEADER:
        raise UnsafeInputError(f"{path}: safetensors header of {header_len} bytes (limit {MAX_SAFETENSORS_HEADER}): refusing a hostile file")
    try:
        header = _strict_json(mapped.map[8 : 8 + header_len])
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CorruptFileError(f"{path}: the safetensors header is not valid JSON ({quote(str(exc))})") from None
    if not isinstance(header, dict):
        raise CorruptFileError(f"{path}: the safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CorruptFileError(f"{path}: safetensors __metadata__ must map strings to strings")
    base = 8 + header_len
    tensors: dict[str, TensorRef] = OrderedDict()
    entries = []
    for name, entry in header.items():
        _check_tensor_name(path, name, len(entries) + 1)
        what = f"{path}: tensor {name}"
        try:
            dtype_code, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise CorruptFileError(f"{what}: malformed header entry") from None
        if not isinstance(dtype_code, str) or type(start) is not int or type(end) is not int:
            raise CorruptFileError(f"{what}: malformed header entry (dtype {quote(dtype_code)}, offsets {quote(start)}..{quote(end)})")
        entries.append((start, name, dtype_code, shape, end))
    for start, name, dtype_code, shape, end in sorted(entries):
        what = f"{path}: tensor {name}"
        if dtype_code not in SAFETENSORS_DTYPES:
            raise UnsupportedModelError(f"{what}: unsupported dtype {quote(dtype_code)}")
        if not isinstance(shape, list) or len(shape) > 8 or not all(type(d) is int and d >= 0 for d in shape):
            raise CorruptFileError(f"{what}: invalid shape {quote(shape)}")
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


def _folder_member(folder: Path, name: str) -> Path | None:
    """`folder/name` if it exists, checked: a link must stay inside the folder (never follow one out
    of the input, never quote a byte of what it points at), and the file must be a regular file."""
    member = folder / name
    if not os.path.lexists(member):
        return None
    if member.is_symlink():
        try:
            target = member.resolve(strict=True)
            inside = target.is_relative_to(folder.resolve(strict=True))
        except (OSError, RuntimeError):  # a broken or looping link
            raise InputIOError(f"{member}: a symbolic link that leads nowhere (broken or looping): fix or replace it") from None
        if not inside:
            raise UnsafeInputError(
                f"{member}: a symbolic link to a file outside {folder}: rvc-convert never follows links out of its input; "
                f"copy the file into the folder (for a Hugging Face cache snapshot, download with --local-dir) or pass the file itself"
            )
    require_regular(member)
    return member


def _read_config_json(file: Path) -> Any:
    with open_regular(file) as handle:
        data = handle.read(MAX_CONFIG_JSON_BYTES + 1)
    if len(data) > MAX_CONFIG_JSON_BYTES:
        raise UnsafeInputError(f"{file}: more than {MAX_CONFIG_JSON_BYTES} bytes, where a config is a few KB: refusing a hostile file")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CorruptFileError(f"{file}: not valid JSON ({quote(str(exc))})") from None


def hf_folder_members(path: Path) -> dict[str, Path | None]:
    """The files of a model folder rvc-convert reads (weights and configs), checked (no link out of
    the folder, regular files only); None for those absent. Nothing else in the folder is touched."""
    return {name: _folder_member(path, name) for name in HF_WEIGHT_FILES + HF_CONFIG_FILES}


def _read_hf_folder(path: Path) -> LoadedFile:
    """A transformers model folder: config.json plus model.safetensors or pytorch_model.bin."""
    members = hf_folder_members(path)
    weights = next((members[name] for name in HF_WEIGHT_FILES if members[name] is not None), None)
    if weights is None:
        raise UnsupportedModelError(f"{path}: a folder without {' or '.join(HF_WEIGHT_FILES)}; point at a model file or a Hugging Face model folder")
    inner = _read_file(weights)
    extra = {name: _read_config_json(members[name]) for name in HF_CONFIG_FILES if members[name] is not None}
    if members["config.json"] is None:
        raise UnsupportedModelError(f"{path}: a Hugging Face folder needs config.json beside {weights.name}")
    return LoadedFile(path, "hf-folder", inner.root, inner.hashed_path, inner.size_bytes, inner.globals_seen, inner.metadata, extra)
