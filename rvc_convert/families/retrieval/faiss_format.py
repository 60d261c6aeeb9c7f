"""Read FAISS index files (IndexIVFFlat and IndexFlat) with numpy, without faiss.

RVC voices ship their retrieval index as a file written by ``faiss.write_index``. This module
parses that format field by field (layout: docs/retrieval_index.md) and treats the file as
hostile: every count, size and offset is checked against the file before anything is allocated,
and every inconsistency ends in a one-line RvcConvertError:

* CorruptFileError (exit 5): truncated, trailing bytes, impossible or contradictory fields,
  non-finite vectors, negative or duplicate ids;
* UnsafeInputError (exit 3): a count that declares more than MAX_DECLARED_BYTES (no real index
  comes near it; a forged header meant to make a reader allocate);
* UnsupportedModelError (exit 2): another FAISS index type (named), another metric, custom ids,
  or not a FAISS file at all.

`describe_index` reads only the header and the list sizes (never the vectors); `read_faiss_index`
returns the whole index as plain arrays, the vectors grouped by inverted list.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ...errors import CorruptFileError, InputIOError, RvcConvertError, UnsafeInputError, UnsupportedModelError
from ...reader import StreamedArray

IVF_FLAT = b"IwFl"
# Flat index codes: the metric is in the code for IxF2 / IxFI; IxFl carries it in the header only.
FLAT_CODES = {b"IxF2": 1, b"IxFI": 0, b"IxFl": None}
METRICS = {0: "inner_product", 1: "l2"}
OTHER_METRICS = {2: "L1", 3: "Linf", 4: "Lp", 20: "Canberra", 21: "BrayCurtis", 22: "JensenShannon"}
# Index types faiss writes that this reader does not convert, by their four-byte code.
OTHER_TYPES = {
    b"IvFl": "IndexIVFFlat (pre-2018 layout)",
    b"IwFd": "IndexIVFFlatDedup",
    b"IwPQ": "IndexIVFPQ",
    b"IvPQ": "IndexIVFPQ (old layout)",
    b"IwQR": "IndexIVFPQR",
    b"IwPf": "IndexIVFPQFastScan",
    b"IwSq": "IndexIVFScalarQuantizer",
    b"IwSQ": "IndexIVFScalarQuantizer",
    b"IvSQ": "IndexIVFScalarQuantizer (old layout)",
    b"IwRQ": "IndexIVFResidualQuantizer",
    b"IwLS": "IndexIVFLocalSearchQuantizer",
    b"IwSh": "IndexIVFSpectralHash",
    b"IwXF": "IndexIVFIndependentQuantizer",
    b"IxPq": "IndexPQ",
    b"IxPQ": "IndexPQ (old layout)",
    b"IxPo": "IndexPQ (old layout)",
    b"IPfs": "IndexPQFastScan",
    b"IxSQ": "IndexScalarQuantizer",
    b"IxSq": "IndexScalarQuantizer",
    b"IxRQ": "IndexResidualQuantizer",
    b"IxLS": "IndexLocalSearchQuantizer",
    b"IHNf": "IndexHNSWFlat",
    b"IHNp": "IndexHNSWPQ",
    b"IHNs": "IndexHNSWSQ",
    b"IHN2": "IndexHNSW2Level",
    b"IHNc": "IndexHNSWCagra",
    b"INSf": "IndexNSGFlat",
    b"INSp": "IndexNSGPQ",
    b"INSs": "IndexNSGSQ",
    b"INSc": "IndexNSG",
    b"INNf": "IndexNNDescentFlat",
    b"IxMp": "IndexIDMap",
    b"IxM2": "IndexIDMap2",
    b"IxRF": "IndexRefineFlat",
    b"IxRf": "IndexRefine",
    b"IxPT": "IndexPreTransform (PCA/OPQ + index)",
    b"IxHe": "IndexLSH",
    b"IxLa": "IndexLattice",
    b"IxSh": "IndexShards",
    b"IxSH": "IndexShards",
    b"IxL2": "IndexFlatL2 (1-D layout)",
    b"Ix2L": "Index2Layer",
    b"IxFL": "IndexFlat1D",
    b"IBxF": "IndexBinaryFlat",
    b"IBwF": "IndexBinaryIVF",
    b"IBHf": "IndexBinaryHNSW",
    b"IBMp": "IndexBinaryIDMap",
    b"IBHh": "IndexBinaryHash",
}
OTHER_INVLISTS = {b"il00": "no inverted lists (a stub index)", b"ilod": "OnDiskInvertedLists (vectors in a separate .ivfdata file)"}
DIRECT_MAPS = {0: "none", 1: "array", 2: "hashtable"}

# One declared array larger than this cannot be a real index (RVC's largest is ~0.6 GB); a count
# this big is a forged header meant to make a reader allocate. Smaller overruns are truncation.
MAX_DECLARED_BYTES = 1 << 40
MAX_DIM = 1 << 16
FLOAT = np.dtype("<f4")
INT64 = np.dtype("<i8")
UINT64 = np.dtype("<u8")
FINITE_CHECK_ROWS = 1 << 14  # rows per isfinite() block: bounds the temporary to a few MiB


@dataclass
class IndexLayout:
    """Everything in a FAISS index file except the vectors and ids: where they are and how many."""

    path: Path
    file_size: int
    index_type: str  # IndexIVFFlat | IndexFlat
    d: int
    metric: str  # l2 | inner_product
    ntotal: int
    nlist: int  # 1 for IndexFlat: its vectors form one list
    nprobe: int  # lists searched per query, as faiss uses it: min(file value, nlist)
    nprobe_file: int
    encoding: str | None  # list-size encoding of an IVF file: full | sprs; None for IndexFlat
    direct_map: str
    list_sizes: np.ndarray  # int64 [nlist]
    list_starts: np.ndarray  # int64 [nlist]: file offset of each list's vectors (its ids follow)
    centroids_at: int | None  # file offset of the float32 [nlist, d] centroids (None for IndexFlat)

    @property
    def list_offsets(self) -> np.ndarray:
        """Row ranges of each list in the grouped vector table: list j is rows [o[j], o[j+1])."""
        return np.concatenate([[0], np.cumsum(self.list_sizes)]).astype(np.int64)


@dataclass
class FaissIndex:
    """A FAISS index as plain arrays. `vectors[list_offsets[j]:list_offsets[j+1]]` are list j's
    vectors in stored order and `ids` the original id of each row, so `vectors[np.argsort(ids)]`
    equals faiss's ``reconstruct_n(0, ntotal)``. An IndexFlat is one list with a zero centroid."""

    layout: IndexLayout
    centroids: np.ndarray  # float32 [nlist, d]
    vectors: np.ndarray  # float32 [ntotal, d], grouped by list
    ids: np.ndarray  # int64 [ntotal], a permutation of 0..ntotal-1
    sha256: str | None  # of the whole source file, computed while reading (None if not asked)

    @property
    def index_type(self) -> str:
        return self.layout.index_type

    @property
    def d(self) -> int:
        return self.layout.d

    @property
    def metric(self) -> str:
        return self.layout.metric

    @property
    def nprobe(self) -> int:
        return self.layout.nprobe

    @property
    def ntotal(self) -> int:
        return self.layout.ntotal

    @property
    def nlist(self) -> int:
        return self.layout.nlist

    @property
    def encoding(self) -> str | None:
        return self.layout.encoding

    @property
    def list_offsets(self) -> np.ndarray:
        return self.layout.list_offsets

    def in_id_order(self) -> np.ndarray:
        """The vectors ordered by id: what faiss's reconstruct_n(0, ntotal) returns."""
        out = np.empty_like(self.vectors)
        out[self.ids] = self.vectors
        return out


# --- the file cursor --------------------------------------------------------------------------


class _Cursor:
    """Sequential little-endian reads from a memory map; every read is bounds-checked first."""

    def __init__(self, data: mmap.mmap | bytes, size: int, source: str):
        self.data, self.size, self.source, self.pos = data, size, source, 0

    def fail(self, message: str) -> CorruptFileError:
        return CorruptFileError(f"{self.source}: {message}")

    def take(self, nbytes: int, what: str) -> int:
        """Reserve `nbytes` at the cursor; return where they start."""
        if nbytes > self.size - self.pos:
            raise self.fail(
                f"{what} needs {nbytes} bytes at offset {self.pos} but the file ends at {self.size}: "
                "the file is truncated (re-download or re-export it)"
            )
        start = self.pos
        self.pos += nbytes
        return start

    def unpack(self, fmt: str, what: str) -> Any:
        size = struct.calcsize(fmt)
        start = self.take(size, what)
        return struct.unpack_from(fmt, self.data, start)[0]

    def fourcc(self, what: str) -> bytes:
        start = self.take(4, what)
        return bytes(self.data[start : start + 4])

    def refuse_forged(self, what: str, n: int, declared: int) -> None:
        """A count whose bytes exceed MAX_DECLARED_BYTES is a forged header, not a truncated file."""
        if declared > MAX_DECLARED_BYTES:
            raise UnsafeInputError(
                f"{self.source}: {what} declares {n} elements ({declared} bytes), more than any real index holds "
                f"(limit {MAX_DECLARED_BYTES} bytes; the file has {self.size}): refusing a forged count"
            )

    def count(self, what: str, itemsize: int) -> int:
        """A u64 element count followed by that many items: checked before anyone allocates."""
        n = self.unpack("<Q", f"the element count of {what}")
        declared = n * itemsize
        self.refuse_forged(what, n, declared)
        if declared > self.size - self.pos:
            raise self.fail(
                f"{what} declares {n} elements ({declared} bytes) at offset {self.pos} but only {self.size - self.pos} "
                "bytes follow: the file is truncated or the count is corrupt"
            )
        return n

    def array(self, dtype: np.dtype, count: int, what: str) -> np.ndarray:
        start = self.take(count * dtype.itemsize, what)
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=start)


# --- header parsing ----------------------------------------------------------------------------


def _code_text(code: bytes) -> str:
    return code.decode("latin-1").encode("unicode_escape").decode()


def _refuse_type(code: bytes, source: str, where: str, nested: bool = False) -> RvcConvertError:
    """Another FAISS type is unsupported (named); inside an IVF file an unknown code is corruption."""
    if code in OTHER_TYPES:
        return UnsupportedModelError(
            f"{source}: {where} is a FAISS {OTHER_TYPES[code]} ('{code.decode()}'); rvc-convert reads IndexIVFFlat and "
            "IndexFlat (what RVC trains); rebuild the index with RVC's train-index step"
        )
    if nested:
        return CorruptFileError(f"{source}: {where}'s type code '{_code_text(code)}' is not one faiss writes: the file is corrupt")
    if code.isascii() and code.decode().isalnum():
        return UnsupportedModelError(f"{source}: {where} has the unknown FAISS type code '{code.decode()}'; rvc-convert reads IndexIVFFlat and IndexFlat")
    return UnsupportedModelError(
        f"{source}: not a FAISS index file (starts with '{_code_text(code)}'); expected a .index file written by faiss (RVC's added_IVF..._Flat_....index)"
    )


def _index_header(cur: _Cursor, what: str) -> tuple[int, int, bool, int]:
    """faiss's common header: d i32, ntotal i64, two ignored i64, is_trained u8, metric i32 [+ f32 arg]."""
    d = cur.unpack("<i", f"{what} dimension")
    ntotal = cur.unpack("<q", f"{what} vector count")
    cur.take(16, f"{what} header")  # two placeholder fields faiss writes and ignores
    is_trained = cur.unpack("<B", f"{what} is_trained flag")
    metric = cur.unpack("<i", f"{what} metric")
    if not 0 < d <= MAX_DIM:
        raise cur.fail(f"{what} dimension d={d} is impossible (a feature dimension is 1..{MAX_DIM}; RVC uses 256 or 768): the header is corrupt")
    if ntotal < 0:
        raise cur.fail(f"{what} vector count ntotal={ntotal} is negative: the header is corrupt")
    cur.refuse_forged(f"{what} vector count", ntotal, ntotal * d * FLOAT.itemsize)
    if is_trained not in (0, 1):
        raise cur.fail(f"{what} is_trained flag is {is_trained}, not 0 or 1: the header is corrupt")
    if metric > 1:
        cur.unpack("<f", f"{what} metric argument")
        name = OTHER_METRICS.get(metric, f"code {metric}")
        raise UnsupportedModelError(f"{cur.source}: {what} uses the {name} metric; rvc-convert supports L2 (what RVC uses) and inner product")
    if metric < 0:
        raise cur.fail(f"{what} metric code {metric} is negative: the header is corrupt")
    return d, ntotal, bool(is_trained), metric


def _flat_body(cur: _Cursor, code: bytes, what: str) -> tuple[int, int, int, int]:
    """An IndexFlat after its code: header, then u64 float count and the floats. Returns
    (d, ntotal, metric, offset of the floats)."""
    d, ntotal, _, metric = _index_header(cur, what)
    if FLAT_CODES[code] is not None and FLAT_CODES[code] != metric:
        raise cur.fail(f"{what} is stored as '{code.decode()}' but its header says metric {METRICS[metric]}: the header is corrupt")
    floats = cur.count(f"{what} vectors", FLOAT.itemsize)
    if floats != ntotal * d:
        raise cur.fail(f"{what} holds {floats} floats but d={d} x ntotal={ntotal} needs {ntotal * d}: the file is corrupt")
    start = cur.take(floats * FLOAT.itemsize, f"{what} vectors")
    return d, ntotal, metric, start


def _direct_map(cur: _Cursor, ntotal: int) -> str:
    kind = cur.unpack("<B", "direct-map type")
    if kind not in DIRECT_MAPS:
        raise cur.fail(f"direct-map type {kind} is not one faiss writes (0, 1 or 2): the file is corrupt")
    n = cur.count("direct map", INT64.itemsize)
    if n not in (0, ntotal) or (kind != 1 and n != 0):
        raise cur.fail(f"the {DIRECT_MAPS[kind]} direct map holds {n} entries for ntotal={ntotal}: the file is corrupt")
    cur.take(n * INT64.itemsize, "direct map")
    if kind == 2:
        pairs = cur.count("direct-map hashtable", 2 * INT64.itemsize)
        if pairs != ntotal:
            raise cur.fail(f"the hashtable direct map holds {pairs} entries for ntotal={ntotal}: the file is corrupt")
        cur.take(pairs * 2 * INT64.itemsize, "direct-map hashtable")
    return DIRECT_MAPS[kind]


def _list_sizes(cur: _Cursor, nlist: int, ntotal: int) -> tuple[np.ndarray, str]:
    code = cur.fourcc("inverted-list size encoding")
    n = cur.count("inverted-list sizes", UINT64.itemsize)
    raw = cur.array(UINT64, n, "inverted-list sizes")
    if np.any(raw > np.uint64(ntotal)):
        raise cur.fail(f"an inverted-list entry ({int(raw.max())}) exceeds ntotal={ntotal}: the list sizes are corrupt")
    raw = raw.astype(np.int64)
    sizes = np.zeros(nlist, np.int64)
    if code == b"full":
        if n != nlist:
            raise cur.fail(f"the 'full' list-size table has {n} entries for nlist={nlist}: the file is corrupt")
        sizes[:] = raw
    elif code == b"sprs":
        if n % 2:
            raise cur.fail(f"the 'sprs' list-size table has an odd number of entries ({n}); it holds (list, size) pairs: the file is corrupt")
        lists, counts = raw[0::2], raw[1::2]
        if np.any(lists >= nlist):
            raise cur.fail(f"the 'sprs' list-size table names list {int(lists.max())} of nlist={nlist}: the file is corrupt")
        if np.any(np.diff(lists) <= 0):
            raise cur.fail("the 'sprs' list-size table names lists out of order or twice: the file is corrupt")
        sizes[lists] = counts
    else:
        raise cur.fail(f"inverted-list size encoding '{_code_text(code)}' is neither 'full' nor 'sprs': the file is corrupt")
    total = int(sizes.sum())  # each entry <= ntotal, so this cannot overflow
    if total != ntotal:
        raise cur.fail(f"the inverted lists hold {total} vectors but the header says ntotal={ntotal}: the file is corrupt")
    return sizes, code.decode()


def _payload(cur: _Cursor, sizes: np.ndarray, row_bytes: int) -> np.ndarray:
    """The lists' data fills the rest of the file exactly: per non-empty list, vectors then ids."""
    need = int(sizes.sum()) * row_bytes
    left = cur.size - cur.pos
    if need > left:
        raise cur.fail(f"the inverted lists need {need} bytes after offset {cur.pos} but only {left} follow: the file is truncated (re-download or re-export it)")
    if need < left:
        raise cur.fail(f"{left - need} bytes of trailing data after the last inverted list (offset {cur.pos + need}): the file is corrupt or not one faiss wrote")
    starts = cur.pos + np.concatenate([[0], np.cumsum(sizes[:-1])]).astype(np.int64) * row_bytes
    cur.pos = cur.size
    return starts


def _parse_ivf_flat(cur: _Cursor, path: Path) -> IndexLayout:
    d, ntotal, is_trained, metric = _index_header(cur, "the IVF index")
    nlist = cur.unpack("<Q", "nlist")
    nprobe = cur.unpack("<Q", "nprobe")
    if nlist == 0:
        raise cur.fail("nlist=0: an IVF index has at least one list; the header is corrupt")
    cur.refuse_forged("nlist (centroids)", nlist, nlist * d * FLOAT.itemsize)
    if nprobe == 0:
        raise cur.fail("nprobe=0: faiss searches at least one list; the header is corrupt")
    if not is_trained:
        raise UnsupportedModelError(f"{cur.source}: the IVF index is not trained (no centroids yet); use the trained_/added_ file RVC writes")
    code = cur.fourcc("quantizer type")
    if code not in FLAT_CODES:
        raise _refuse_type(code, cur.source, "the IVF index's coarse quantizer", nested=True)
    qd, qn, qmetric, centroids_at = _flat_body(cur, code, "the coarse quantizer")
    if qd != d:
        raise cur.fail(f"the coarse quantizer has d={qd} but the index d={d}: the file is corrupt")
    if qn != nlist:
        raise cur.fail(f"the coarse quantizer holds {qn} centroids but nlist={nlist}: the file is corrupt")
    if qmetric != metric:
        raise UnsupportedModelError(
            f"{cur.source}: the coarse quantizer uses {METRICS[qmetric]} but the index {METRICS[metric]}; rvc-convert supports one metric for both (as RVC builds them)"
        )
    direct_map = _direct_map(cur, ntotal)
    code = cur.fourcc("inverted-list type")
    if code != b"ilar":
        if code in OTHER_INVLISTS:
            raise UnsupportedModelError(f"{cur.source}: the index keeps {OTHER_INVLISTS[code]}; rvc-convert reads lists stored in the .index file")
        raise cur.fail(f"inverted-list type '{_code_text(code)}' is not one faiss writes: the file is corrupt")
    il_nlist = cur.unpack("<Q", "inverted-list count")
    code_size = cur.unpack("<Q", "inverted-list code size")
    if il_nlist != nlist:
        raise cur.fail(f"the inverted lists number {il_nlist} but nlist={nlist}: the file is corrupt")
    if code_size != d * FLOAT.itemsize:
        raise cur.fail(f"code size {code_size} is not 4*d={4 * d} (raw float32 vectors of an IndexIVFFlat): the file is corrupt")
    sizes, encoding = _list_sizes(cur, nlist, ntotal)
    starts = _payload(cur, sizes, d * FLOAT.itemsize + INT64.itemsize)
    return IndexLayout(
        path, cur.size, "IndexIVFFlat", d, METRICS[metric], ntotal, nlist, min(nprobe, nlist), nprobe, encoding, direct_map, sizes, starts, centroids_at
    )


def _parse_flat(cur: _Cursor, code: bytes, path: Path) -> IndexLayout:
    d, ntotal, metric, vectors_at = _flat_body(cur, code, "the flat index")
    if cur.pos != cur.size:
        raise cur.fail(f"{cur.size - cur.pos} bytes of trailing data after the vectors (offset {cur.pos}): the file is corrupt or not one faiss wrote")
    return IndexLayout(path, cur.size, "IndexFlat", d, METRICS[metric], ntotal, 1, 1, 1, None, "none", np.array([ntotal], np.int64), np.array([vectors_at], np.int64), None)


def _parse(data: mmap.mmap | bytes, size: int, path: Path) -> IndexLayout:
    cur = _Cursor(data, size, str(path))
    if size < 4:
        raise cur.fail(f"the file is {size} bytes, too short for a FAISS index: re-download or re-export it")
    code = cur.fourcc("index type")
    if code == IVF_FLAT:
        return _parse_ivf_flat(cur, path)
    if code in FLAT_CODES:
        return _parse_flat(cur, code, path)
    raise _refuse_type(code, str(path), "the file")


# --- public entry points -----------------------------------------------------------------------


@contextlib.contextmanager
def _as_reader_errors(path: Path) -> Iterator[None]:
    """Anything unexpected while reading the index becomes a one-line RvcConvertError."""
    try:
        yield
    except RvcConvertError:
        raise
    except MemoryError:
        raise UnsafeInputError(f"{path}: reading the index would exhaust memory: refusing") from None
    except OSError as exc:
        raise InputIOError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # malformed data reaching a path that did not expect it
        raise CorruptFileError(f"{path}: malformed FAISS index ({type(exc).__name__}: {str(exc)[:120]})") from None


class IndexFile:
    """An open FAISS index file whose structure has been parsed and checked (`layout`), with
    readers for its parts. Use as a context manager; every read raises RvcConvertError only."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.source = str(self.path)
        with _as_reader_errors(self.path):
            if not self.path.exists():
                raise InputIOError(f"{self.path}: no such file")
            if self.path.is_dir():
                raise UnsupportedModelError(f"{self.path}: is a folder, not a FAISS .index file")
            size = self.path.stat().st_size
            if size == 0:
                raise CorruptFileError(f"{self.path}: the file is empty (0 bytes): re-download or re-export it")
            self._handle = open(self.path, "rb")
            try:
                self.mapped = mmap.mmap(self._handle.fileno(), 0, access=mmap.ACCESS_READ)
                self.layout = _parse(self.mapped, size, self.path)
            except BaseException:
                self.close()
                raise

    def __enter__(self) -> "IndexFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        mapped = getattr(self, "mapped", None)
        if mapped is not None:
            try:
                mapped.close()
            except BufferError:
                pass  # an IndexFlat's vectors are views of the map: it lives as long as they do
        self._handle.close()

    @property
    def fd(self) -> int:
        return self._handle.fileno()

    def sha256(self) -> "FileHasher":
        """Start hashing the whole file on a second thread."""
        return FileHasher(self.path)

    def centroids(self) -> np.ndarray:
        """float32 [nlist, d], checked finite. An IndexFlat is one list: its centroid is the mean of
        its vectors (zeros when it holds none); with one list the centroid never changes a result."""
        layout = self.layout
        if layout.centroids_at is None:
            total = np.zeros(layout.d, np.float64)
            for _, block in self.vector_blocks():
                total += block.sum(axis=0, dtype=np.float64)
            return (total / max(layout.ntotal, 1)).astype(np.float32)[None, :]
        with _as_reader_errors(self.path):
            centroids = _touched((layout.nlist, layout.d), np.float32)
            _read_into(self.fd, centroids, layout.centroids_at, self.source)
            _check_finite(centroids, 0, "centroid", self.source)
            return centroids

    def ids(self) -> np.ndarray:
        """int64 [ntotal] in list order, checked to be 0..ntotal-1 once each."""
        layout = self.layout
        if layout.index_type == "IndexFlat":
            return np.arange(layout.ntotal, dtype=np.int64)
        with _as_reader_errors(self.path):
            ids = _touched((layout.ntotal,), np.int64)
            offsets = layout.list_offsets
            for j in np.flatnonzero(layout.list_sizes):
                lo, hi = int(offsets[j]), int(offsets[j + 1])
                _read_into(self.fd, ids[lo:hi], int(layout.list_starts[j]) + (hi - lo) * layout.d * FLOAT.itemsize, self.source)
            _check_ids(ids, self.source)
            return ids

    def vector_blocks(self, into: np.ndarray | None = None, block_bytes: int = 1 << 22) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, float32 [rows, d]) blocks of the vectors in grouped order, each checked finite.

        With `into` ([ntotal, d]) each list is read straight into it and the blocks are views of
        it; without, blocks of at most `block_bytes` share one buffer, refilled for the next
        block (the whole table never sits in memory: what a streaming conversion needs)."""
        layout, d = self.layout, self.layout.d
        rows_per_block = max(1, block_bytes // (d * FLOAT.itemsize))
        what = "list {} vector" if layout.index_type == "IndexIVFFlat" else "vector"
        with _as_reader_errors(self.path):
            buffer = None if into is not None else _touched((min(rows_per_block, max(layout.ntotal, 1)), d), np.float32)
            offsets = layout.list_offsets
            for j in np.flatnonzero(layout.list_sizes):
                lo, hi, at = int(offsets[j]), int(offsets[j + 1]), int(layout.list_starts[j])
                step = hi - lo if into is not None else rows_per_block
                for first in range(lo, hi, step):
                    rows = min(step, hi - first)
                    block = into[first : first + rows] if into is not None else buffer[:rows]
                    _read_into(self.fd, block, at + (first - lo) * d * FLOAT.itemsize, self.source)
                    _check_finite(block, first, what.format(j), self.source)
                    yield first, block

    def mapped_flat_vectors(self) -> np.ndarray:
        """An IndexFlat's vectors as a read-only view of the memory map (checked finite)."""
        layout = self.layout
        if not layout.ntotal:
            return np.zeros((0, layout.d), np.float32)
        with _as_reader_errors(self.path):
            vectors = np.frombuffer(self.mapped, FLOAT, layout.ntotal * layout.d, int(layout.list_starts[0])).reshape(layout.ntotal, layout.d)
            _check_finite(vectors, 0, "vector", self.source)
            return vectors


def read_index_layout(path: str | os.PathLike) -> IndexLayout:
    """Parse and check a FAISS index file's structure without reading its vectors or ids."""
    with IndexFile(path) as index_file:
        return index_file.layout


def describe_index(path: str | os.PathLike) -> dict[str, Any]:
    """What `inspect` shows: type, metric, sizes and the list-size histogram. Reads no vectors."""
    return describe_layout(read_index_layout(path))


def describe_layout(layout: IndexLayout) -> dict[str, Any]:
    sizes = layout.list_sizes
    nonempty = sizes[sizes > 0]
    return {
        "path": str(layout.path),
        "file_bytes": layout.file_size,
        "index_type": layout.index_type,
        "d": layout.d,
        "metric": layout.metric,
        "ntotal": layout.ntotal,
        "nlist": layout.nlist,
        "nprobe": layout.nprobe,
        "nprobe_file": layout.nprobe_file,
        "list_size_encoding": layout.encoding,
        "direct_map": layout.direct_map,
        "vector_bytes": layout.ntotal * layout.d * FLOAT.itemsize,
        "lists": {
            "empty": int((sizes == 0).sum()),
            "shorter_than_8": int(((sizes > 0) & (sizes < 8)).sum()),
            "min": int(sizes.min()),
            "max": int(sizes.max()),
            "mean_nonempty": float(nonempty.mean()) if nonempty.size else 0.0,
            "histogram": list_size_histogram(sizes),
        },
    }


def list_size_histogram(sizes: np.ndarray) -> list[dict[str, int]]:
    """Lists per size bin: 0, 1, 2-3, 4-7, 8-15, ... (powers of two), only bins that occur."""
    bins = Counter(0 if s == 0 else int(s).bit_length() for s in sizes.tolist())
    rows = []
    for b in sorted(bins):
        low, high = (0, 0) if b == 0 else (1 << (b - 1), (1 << b) - 1)
        rows.append({"from": low, "to": high, "lists": bins[b]})
    return rows


def _check_finite(block: np.ndarray, first_row: int, what: str, source: str) -> None:
    for start in range(0, block.shape[0], FINITE_CHECK_ROWS):
        part = block[start : start + FINITE_CHECK_ROWS]
        finite = np.isfinite(part)
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            raise CorruptFileError(
                f"{source}: {what} row {first_row + start + row} holds {part[row, col]} at column {col}: a retrieval index must hold finite vectors; the file is corrupt"
            )


def _check_ids(ids: np.ndarray, source: str) -> None:
    """RVC looks vectors up by id in a table of ntotal rows: the ids must be 0..ntotal-1, each once."""
    n = ids.size
    if n == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0:
        raise CorruptFileError(f"{source}: the inverted lists hold the negative id {low}: the file is corrupt")
    if high >= n:
        raise UnsupportedModelError(
            f"{source}: ids run up to {high} for {n} vectors (added with custom ids); RVC's blend looks vectors up by id 0..ntotal-1, so this index cannot serve a voice"
        )
    seen = np.zeros(n, np.bool_)
    seen[ids] = True
    if not seen.all():
        missing = int(np.argmin(seen))
        raise CorruptFileError(f"{source}: some id appears twice in the inverted lists (id {missing} never appears): the file is corrupt")


def _read_into(fd: int, target: np.ndarray, offset: int, source: str) -> None:
    """Fill `target` (contiguous) with the file's bytes at `offset`."""
    view = memoryview(target.reshape(-1).view(np.uint8))
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got <= 0:
            raise CorruptFileError(f"{source}: the file ended while reading at offset {offset + done} (did it change while being read?)")
        done += got


def _touched(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A new array whose pages are already mapped: preadv into untouched memory faults page by
    page inside the kernel, measured ~10x slower than touching the pages first."""
    array = np.empty(shape, dtype)
    array.fill(0)
    return array


class FileHasher:
    """The sha256 of a file, computed on a background thread while the reader parses and copies
    (file reads and hashlib release the GIL: the work overlaps on a second core)."""

    CHUNK = 1 << 22

    def __init__(self, path: Path):
        self.path = path
        self._stop = threading.Event()
        self._digest: str | None = None
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), name="sha256", daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        digest = hashlib.sha256()
        buffer = bytearray(self.CHUNK)
        view = memoryview(buffer)
        try:
            with open(path, "rb", buffering=0) as handle:
                while not self._stop.is_set():
                    got = handle.readinto(buffer)
                    if not got:
                        self._digest = digest.hexdigest()  # only a hash of the whole file counts
                        break
                    digest.update(view[:got])
        except OSError as exc:
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None or self._digest is None:
            raise InputIOError(f"{self.path}: cannot read for its sha256 ({getattr(self._error, 'strerror', None) or self._error})")
        return self._digest

    def abandon(self) -> None:
        """Stop early (a no-op once the hash is done)."""
        self._stop.set()
        self._thread.join()


def read_faiss_index(path: str | os.PathLike, compute_sha256: bool = True) -> FaissIndex:
    """Read a whole IndexIVFFlat / IndexFlat file into plain arrays (vectors grouped by list).

    The structure is checked before anything is allocated (allocations are then bounded by the
    file size); vectors and ids are read list by list with preadv straight into the output arrays
    (copying from the memory map would add the file's pages to the resident set); the file's
    sha256 is computed alongside on a second thread. An IndexFlat's vectors are one contiguous
    block: they stay a read-only memory map of the file.
    """
    with IndexFile(path) as index_file:
        layout = index_file.layout
        hasher = index_file.sha256() if compute_sha256 else None
        try:
            centroids, ids = index_file.centroids(), index_file.ids()
            if layout.index_type == "IndexFlat":
                vectors = index_file.mapped_flat_vectors()
            else:
                vectors = _touched((layout.ntotal, layout.d), np.float32)
                for _ in index_file.vector_blocks(into=vectors):
                    pass
        except BaseException:
            if hasher is not None:
                hasher.abandon()
            raise
        digest = hasher.result() if hasher is not None else None
    return FaissIndex(layout, centroids, vectors, ids, digest)


# --- the container reader the index family registers ------------------------------------------


def _same_file(path: Path, layout: IndexLayout) -> IndexFile:
    """Reopen the index for a later read; refuse it if its structure changed since it was parsed."""
    index_file = IndexFile(path)
    now = index_file.layout
    if (now.file_size, now.d, now.ntotal, now.nlist) != (layout.file_size, layout.d, layout.ntotal, layout.nlist) or not np.array_equal(now.list_sizes, layout.list_sizes):
        index_file.close()
        raise CorruptFileError(f"{path}: the index changed since it was read; run again")
    return index_file


def streamed_tensors(path: Path, layout: IndexLayout) -> dict[str, tuple[StreamedArray | np.ndarray, str]]:
    """The index as source tensors, read only when a conversion asks (inspect reads none of them):
    name -> (array, source dtype). The vectors stream block by block; each block is checked."""

    def vectors():
        with _same_file(path, layout) as index_file:
            for _, block in index_file.vector_blocks():
                yield block

    def whole(read):
        def blocks():
            with _same_file(path, layout) as index_file:
                yield read(index_file)
        return blocks

    d, nlist, ntotal = layout.d, layout.nlist, layout.ntotal
    return {
        "quantizer.centroids": (StreamedArray((nlist, d), np.float32, whole(IndexFile.centroids)), "float32"),
        "invlists.vectors": (StreamedArray((ntotal, d), np.float32, vectors), "float32"),
        "invlists.list_offsets": (layout.list_offsets, "int64"),
        "invlists.ids": (StreamedArray((ntotal,), np.int64, whole(IndexFile.ids)), "int64"),
    }
