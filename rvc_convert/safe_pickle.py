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
import reprlib
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
    # Complex storages read as what they are; planning refuses them where a float parameter belongs.
    "ComplexFloatStorage": ("<c8", "complex64"),
    "ComplexDoubleStorage": ("<c16", "complex128"),
}

# Largest tensor rank and element count we accept: far beyond any RVC model, small enough that a
# hostile header cannot make us allocate absurd amounts before the size checks.
MAX_NDIM = 8
MAX_ELEMENTS = 1 << 34
MAX_PICKLE_OPERATIONS = 1_000_000
MAX_STORAGE_KEY = 64  # torch names storage records "0", "1", ...; the key becomes a zip member name
# The only attribute torch's pickles set (BUILD) on an OrderedDict: a state_dict's version table.
# Any other name could shadow a method (`values`, `items`, `get`, `extend`, ...) that later code
# or the unpickler itself calls, so it is refused.
ORDERED_DICT_ATTRIBUTES = frozenset({"_metadata"})

_QUOTE = reprlib.Repr()
_QUOTE.maxlevel, _QUOTE.maxstring, _QUOTE.maxother, _QUOTE.maxlong = 2, 60, 60, 60
_QUOTE.maxtuple = _QUOTE.maxlist = _QUOTE.maxdict = _QUOTE.maxset = _QUOTE.maxfrozenset = 4


def is_plain_key(value: Any) -> bool:
    """What a dict key or set member of a checkpoint may be: a name or a number. Hashing, comparing
    or printing one costs at most its length; a tuple key could be a 2**40-path tree that no hash
    or str() ever finishes (and an int of thousands of digits has no str())."""
    kind = type(value)
    return kind in (str, float, bool) or value is None or (kind is int and value.bit_length() <= 64)


def quote(value: Any, limit: int = 120) -> str:
    """A short, one-line repr of a value taken from a file: bounded in depth, width and length,
    so quoting a hostile object (a 2**40-path tree, a 60 MB string) in a message costs nothing."""
    try:
        text = _QUOTE.repr(value)
    except Exception:  # an int too long for str(), ...
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        raise CorruptFileError(f"tensor size {quote(size)} / stride {quote(stride)} are not matching tuples: the pickle is malformed")
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
    if len(args) > 1 or args and not isinstance(args[0], (list, tuple)):
        raise CorruptFileError("OrderedDict rebuilt from a non-list argument: the pickle is malformed")
    pairs = args[0] if args else ()
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise CorruptFileError("OrderedDict rebuilt from something that is not a list of pairs: the pickle is malformed")
        _check_key(pair[0], "dict key")
    return collections.OrderedDict(pairs)


def _check_key(value: Any, what: str) -> None:
    if not is_plain_key(value):
        raise UnsafeInputError(f"a {what} of type {type(value).__name__} ({quote(value, 60)}): checkpoints key their dicts by name or number; refusing a hostile structure")


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
        # BUILD sets attributes on the object below it. Allow it only where that is inert: a
        # stand-in (whose __setstate__ keeps the state aside), or an OrderedDict given exactly
        # torch's `_metadata`; never on our own functions or types, never an attribute that could
        # shadow a method of the dict.
        target = self.stack[-2] if len(self.stack) >= 2 else None
        state = self.stack[-1] if self.stack else None
        if isinstance(target, InertObject):
            super().load_build()
            return
        if not isinstance(target, collections.OrderedDict):
            raise UnsafeInputError(
                f"{self._source}: the pickle sets attributes (BUILD) on a {type(target).__name__}: refusing a hostile structure"
            )
        if not isinstance(state, dict) or not all(type(k) is str and k in ORDERED_DICT_ATTRIBUTES for k in dict.keys(state)):
            names = ", ".join(quote(k, 40) for k in list(dict.keys(state))[:4]) if isinstance(state, dict) else f"a {type(state).__name__}"
            raise UnsafeInputError(
                f"{self._source}: the pickle sets attributes ({names}) on an OrderedDict, where torch only ever sets "
                f"{', '.join(sorted(ORDERED_DICT_ATTRIBUTES))}: an attribute could shadow a dict method; refusing a hostile structure"
            )
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build

    # Every opcode that hashes a value (dict keys, set members) checks it first: hashing a tuple
    # tree runs in C, out of reach of the operation count. After a MARK, self.stack holds just the
    # marked items (key, value, key, value, ... or the set members).
    def load_setitem(self) -> None:
        if len(self.stack) >= 2:
            _check_key(self.stack[-2], "dict key")
        super().load_setitem()

    def load_setitems(self) -> None:
        for key in self.stack[0::2]:
            _check_key(key, "dict key")
        super().load_setitems()

    def load_dict(self) -> None:
        for key in self.stack[0::2]:
            _check_key(key, "dict key")
        super().load_dict()

    def load_additems(self) -> None:
        for item in self.stack:
            _check_key(item, "set member")
        super().load_additems()

    def load_frozenset(self) -> None:
        for item in self.stack:
            _check_key(item, "set member")
        super().load_frozenset()

    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.DICT[0]] = load_dict
    dispatch[pickle.ADDITEMS[0]] = load_additems
    dispatch[pickle.FROZENSET[0]] = load_frozenset

    def persistent_load(self, pid: Any) -> StorageRef:
        # ('storage', StorageType, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CorruptFileError(f"{self._source}: unknown persistent id {quote(pid)}: not a torch storage reference")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(storage_type, StorageType):
            raise CorruptFileError(f"{self._source}: storage reference without a storage type: the pickle is malformed")
        if not isinstance(key, str) or not 0 < len(key) <= MAX_STORAGE_KEY or type(numel) is not int or numel < 0:
            raise CorruptFileError(f"{self._source}: storage reference {quote(key)} has an invalid key or element count {quote(numel)}")
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
