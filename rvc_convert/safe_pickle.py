"""A restricted unpickler for PyTorch checkpoints: an explicit allowlist, nothing else is ever called.

`pickle.Unpickler.find_class` is the only way a pickle can name a callable (GLOBAL, STACK_GLOBAL,
INST and OBJ all go through it), so refusing every name that is not in ALLOWED_GLOBALS means
no payload can reach os.system, eval, subprocess, importlib, ... The allowlisted names map to
functions of *this* module that build inert values and check their arguments; torch is never
imported.
"""

from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass, field
from typing import IO, Any, Callable

import numpy as np

from .errors import CorruptFileError, UnsafeInputError

# torch storage class name -> (numpy dtype of one element, name reported to users).
# bfloat16 has no numpy dtype: it is read as uint16 and widened to float32 by the reader.
STORAGE_DTYPES: dict[str, tuple[str, str]] = {
    "HalfStorage": ("<f2", "float16"),
    "FloatStorage": ("<f4", "float32"),
    "DoubleStorage": ("<f8", "float64"),
    "BFloat16Storage": ("<u2", "bfloat16"),
    "LongStorage": ("<i8", "int64"),
    "IntStorage": ("<i4", "int32"),
    "ShortStorage": ("<i2", "int16"),
    "CharStorage": ("i1", "int8"),
    "ByteStorage": ("u1", "uint8"),
    "BoolStorage": ("?", "bool"),
}

# Largest tensor rank and element count we accept: far beyond any RVC model, small enough that a
# hostile header cannot make us allocate absurd amounts before the size checks.
MAX_NDIM = 8
MAX_ELEMENTS = 1 << 34
MAX_PICKLE_OPERATIONS = 1_000_000


@dataclass(frozen=True)
class StorageType:
    """Stands in for torch.<X>Storage: only carries the element dtype."""

    name: str

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(STORAGE_DTYPES[self.name][0])

    @property
    def dtype_name(self) -> str:
        return STORAGE_DTYPES[self.name][1]


@dataclass
class StorageRef:
    """A storage named by a persistent id; the reader resolves it to a flat numpy array."""

    key: str
    storage_type: StorageType
    numel: int
    array: np.ndarray | None = None


@dataclass
class TensorRef:
    """What `_rebuild_tensor_v2` produced: the array view plus the source dtype name."""

    array: np.ndarray
    source_dtype: str


class InertObject:
    """Stand-in for known-harmless foreign objects (e.g. fairseq's Dictionary): keeps its state, runs nothing."""

    qualified_name = "?"

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<inert {self.qualified_name}>"


def _inert_class(qualified_name: str) -> type:
    return type(qualified_name.rsplit(".", 1)[-1], (InertObject,), {"qualified_name": qualified_name})


def _check_int(value: Any, what: str) -> int:
    if type(value) is not int:
        raise CorruptFileError(f"tensor {what} is {type(value).__name__}, expected int: the pickle is malformed")
    return value


@dataclass
class DeferredTensor:
    """A tensor whose storage bytes come after the pickle (legacy format): rebuilt once they are read."""

    storage: StorageRef
    storage_offset: Any
    size: Any
    stride: Any


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, *_rest: Any) -> TensorRef | DeferredTensor:
    """Rebuild a tensor as a (read-only) numpy view of its storage, honouring offset and strides."""
    if not isinstance(storage, StorageRef):
        raise CorruptFileError("tensor rebuilt from something that is not a storage record: the pickle is malformed")
    if storage.array is None:
        return DeferredTensor(storage, storage_offset, size, stride)
    return build_tensor(storage, storage_offset, size, stride)


def build_tensor(storage: StorageRef, storage_offset: Any, size: Any, stride: Any) -> TensorRef:
    if storage.array is None:
        raise CorruptFileError(f"storage {storage.key} has no data record: the file is truncated or malformed")
    if not isinstance(size, tuple) or not isinstance(stride, tuple) or len(size) != len(stride):
        raise CorruptFileError(f"tensor size {size!r} / stride {stride!r} are not matching tuples: the pickle is malformed")
    if len(size) > MAX_NDIM:
        raise UnsafeInputError(f"tensor has {len(size)} dimensions (limit {MAX_NDIM}): refusing a hostile shape")
    offset = _check_int(storage_offset, "storage offset")
    dims = [_check_int(s, "size") for s in size]
    steps = [_check_int(s, "stride") for s in stride]
    if offset < 0 or any(d < 0 for d in dims) or any(s < 0 for s in steps):
        raise UnsafeInputError(f"tensor has a negative offset/size/stride (offset {offset}, size {dims}, stride {steps}): refusing")
    numel = 1
    for d in dims:
        numel *= d
    if numel > MAX_ELEMENTS:
        raise UnsafeInputError(f"tensor declares {numel} elements (limit {MAX_ELEMENTS}): refusing an allocation bomb")
    flat = storage.array
    if numel > flat.size:
        # Only overlapping (e.g. stride-0) views can exceed their storage; materialising one is an allocation bomb.
        raise UnsafeInputError(
            f"tensor of size {dims} needs {numel} elements but its storage holds {flat.size} (strides {steps}): "
            f"refusing an overlapping view that would expand on conversion"
        )
    if numel:
        last = offset + sum((d - 1) * s for d, s in zip(dims, steps))
        if last >= flat.size:
            raise UnsafeInputError(
                f"tensor of size {dims}, stride {steps}, offset {offset} reaches element {last} of a "
                f"storage holding {flat.size}: refusing an out-of-bounds view"
            )
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[offset:] if numel else flat[:0],
        shape=tuple(dims),
        strides=tuple(s * itemsize for s in steps),
        writeable=False,
    )
    return TensorRef(view, storage.storage_type.dtype_name)


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None, *_rest: Any) -> Any:
    if not isinstance(data, (TensorRef, DeferredTensor)):
        raise CorruptFileError("parameter rebuilt from something that is not a tensor: the pickle is malformed")
    return data


def _ordered_dict(*args: Any) -> collections.OrderedDict:
    # OrderedDict() with an iterable of pairs is what pickles of state dicts call; nothing else runs.
    if args and not isinstance(args[0], (list, tuple)):
        raise CorruptFileError("OrderedDict rebuilt from a non-list argument: the pickle is malformed")
    return collections.OrderedDict(*args)


# The complete allowlist: (module, name) -> what it becomes here. Anything else is refused.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): StorageType(name) for name in STORAGE_DTYPES},
}

# Known-harmless classes found in real RVC-adjacent files, replaced by inert stand-ins.
# fairseq's label Dictionary sits in hubert_base.pt's task_state (docs/hubert_rmvpe_format.md, "HuBERT / ContentVec files").
INERT_GLOBALS: dict[tuple[str, str], type] = {
    ("fairseq.data.dictionary", "Dictionary"): _inert_class("fairseq.data.dictionary.Dictionary"),
    ("argparse", "Namespace"): _inert_class("argparse.Namespace"),
}


@dataclass
class PickleLoad:
    """Result of a restricted load: the object tree and every global the pickle named."""

    obj: Any
    globals_seen: list[str] = field(default_factory=list)
    storages: dict[str, StorageRef] = field(default_factory=dict)


class _RestrictedUnpickler(pickle._Unpickler):  # the Python implementation, so BUILD can be restricted
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, stream: IO[bytes], resolve_storage: Callable[[StorageRef], None], source: str):
        super().__init__(stream)
        # Count opcodes as they run: a one-byte opcode can allocate a Python object, so a small
        # (or well-compressed) pickle could otherwise build gigabytes before any later check.
        self._operations = 0
        self.dispatch = {code: self._counted(handler) for code, handler in type(self).dispatch.items()}
        self._resolve_storage = resolve_storage
        self._source = source
        self.globals_seen: list[str] = []
        self.storages: dict[str, StorageRef] = {}

    def find_class(self, module: str, name: str) -> Any:
        qualified = f"{module}.{name}"
        if qualified not in self.globals_seen:
            self.globals_seen.append(qualified)
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[(module, name)]
        if (module, name) in INERT_GLOBALS:
            return INERT_GLOBALS[(module, name)]
        raise UnsafeInputError(
            f"{self._source}: the pickle asks for the global '{qualified}', which is not on the allowlist "
            f"(tensors, storages, OrderedDict); refusing to load it. Nothing was executed. "
            f"Only open this file with full unpickling if you trust its author."
        )

    def _counted(self, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        def run(unpickler: Any) -> None:
            unpickler._operations += 1
            if unpickler._operations > MAX_PICKLE_OPERATIONS:
                raise UnsafeInputError(
                    f"{unpickler._source}: the pickle runs more than {MAX_PICKLE_OPERATIONS} operations "
                    f"(real checkpoints need a few hundred thousand): refusing an expansion bomb"
                )
            handler(unpickler)

        return run

    def load_build(self) -> None:
        # BUILD sets attributes on the object below it. Allow it only where that is inert: an
        # OrderedDict (state_dict `_metadata`) or a stand-in; never on our own functions or types.
        target = self.stack[-2] if len(self.stack) >= 2 else None
        if not isinstance(target, (collections.OrderedDict, InertObject)):
            raise UnsafeInputError(
                f"{self._source}: the pickle sets attributes (BUILD) on a {type(target).__name__}: refusing a hostile structure"
            )
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build

    def persistent_load(self, pid: Any) -> StorageRef:
        # ('storage', StorageType, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CorruptFileError(f"{self._source}: unknown persistent id {str(pid)[:80]!r}: not a torch storage reference")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(storage_type, StorageType):
            raise CorruptFileError(f"{self._source}: storage reference without a storage type: the pickle is malformed")
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise CorruptFileError(f"{self._source}: storage reference {key!r} has an invalid element count {numel!r}")
        if numel > MAX_ELEMENTS:
            raise UnsafeInputError(f"{self._source}: storage {key} declares {numel} elements (limit {MAX_ELEMENTS}): refusing an allocation bomb")
        ref = self.storages.get(key)
        if ref is None:
            ref = StorageRef(key, storage_type, numel)
            self._resolve_storage(ref)
            self.storages[key] = ref
        elif ref.storage_type != storage_type:
            raise CorruptFileError(f"{self._source}: storage {key} is referenced with two dtypes")
        return ref


def restricted_load(
    data: bytes | IO[bytes], resolve_storage: Callable[[StorageRef], None] | None, source: str
) -> PickleLoad:
    """Unpickle one pickle from `data` through the allowlist.

    `resolve_storage` fills StorageRef.array from the container; when it is None (legacy files,
    whose storages follow the pickle) tensors come back as DeferredTensor and are resolved later.
    """
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    unpickler = _RestrictedUnpickler(stream, resolve_storage or (lambda ref: None), source)
    try:
        obj = unpickler.load()
    except (UnsafeInputError, CorruptFileError):
        raise
    except RecursionError:
        raise UnsafeInputError(f"{source}: the pickle nests too deeply: refusing a hostile structure") from None
    except MemoryError:
        raise UnsafeInputError(f"{source}: the pickle tries to allocate more memory than available: refusing") from None
    except Exception as exc:  # pickle raises many types on malformed streams; all mean "corrupt"
        raise CorruptFileError(f"{source}: the pickle stream is corrupt or truncated ({type(exc).__name__}: {str(exc)[:120]})") from None
    return PickleLoad(obj, unpickler.globals_seen, unpickler.storages)
