"""read_model_file reads what torch reads, without torch and without running pickled code.

Reference: torch.load(weights_only=True). Equality is structural (same keys in the same order,
same container and scalar types) and bitwise for tensors (same dtype where numpy has it; bfloat16
comes back widened to float32, exactly).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from golden import FULL_SYNTH_MODEL, SYNTH_EXTRA, TINY_SYNTH_MODELS, golden_path
from rvc_convert.errors import RvcConvertError
from rvc_convert.reader import iter_tensors, read_model_file
from rvc_convert.safe_pickle import InertObject, TensorRef

TORCH_LOADABLE = (
    *TINY_SYNTH_MODELS,
    *SYNTH_EXTRA,
    FULL_SYNTH_MODEL,
    "rmvpe/rmvpe_small.pt",
    "hubert/contentvec_tiny_hf/pytorch_model.bin",
)


def _bits(array: np.ndarray) -> np.ndarray:
    """The raw bits of an array (so NaNs and signed zeros compare exactly)."""
    array = np.ascontiguousarray(array)
    return array.view(f"u{array.dtype.itemsize}") if array.dtype.kind in "fc" else array


def assert_same(ours, theirs, where: str = "root") -> None:
    """Recursively: our object tree equals torch's, tensors bitwise."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, TensorRef), f"{where}: expected a tensor, got {type(ours).__name__}"
        assert ours.array.shape == tuple(theirs.shape), where
        expected_name = str(theirs.dtype).removeprefix("torch.")
        assert ours.source_dtype == expected_name, f"{where}: source dtype {ours.source_dtype} != {expected_name}"
        if theirs.dtype == torch.bfloat16:
            assert ours.array.dtype == np.float32, where
            reference = theirs.detach().float().numpy()
        else:
            reference = theirs.detach().numpy()
            assert ours.array.dtype == reference.dtype, f"{where}: {ours.array.dtype} != {reference.dtype}"
        assert np.array_equal(_bits(ours.array), _bits(reference)), f"{where}: values differ"
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict), f"{where}: expected a dict, got {type(ours).__name__}"
        assert isinstance(ours, OrderedDict) == isinstance(theirs, OrderedDict), f"{where}: OrderedDict vs dict"
        assert list(ours) == list(theirs), f"{where}: keys differ"
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs), f"{where}: {type(ours).__name__} != {type(theirs).__name__}"
        assert len(ours) == len(theirs), where
        for index, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{where}[{index}]")
    elif isinstance(ours, InertObject):
        assert ours.state.keys() == vars(theirs).keys(), where
        for key in ours.state:
            assert_same(ours.state[key], vars(theirs)[key], f"{where}.{key}")
    else:
        assert type(ours) is type(theirs) and (ours == theirs or (ours != ours and theirs != theirs)), f"{where}: {ours!r} != {theirs!r}"


def _read_both(path: Path):
    return read_model_file(path), torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("relpath", TORCH_LOADABLE)
def test_golden_file_equals_torch_load(relpath):
    """Every golden file torch can load (weights_only) reads to the same tree with bitwise-equal tensors."""
    path = golden_path(relpath)
    ours, theirs = _read_both(path)
    assert ours.container == "torch-zip"
    assert_same(ours.root, theirs)
    assert ours.size_bytes == path.stat().st_size
    assert ours.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_globals_are_the_documented_three():
    """A WebUI export names only OrderedDict, _rebuild_tensor_v2 and HalfStorage (docs/synthesizer_format.md, "File kinds")."""
    ours = read_model_file(golden_path("synth/models/v2-48k-f0-tiny.pth"))
    assert sorted(ours.globals_seen) == ["collections.OrderedDict", "torch.HalfStorage", "torch._utils._rebuild_tensor_v2"]


def test_tensors_are_read_only_views():
    """Tensors come back read-only (memory-mapped), so no caller can write into the source file."""
    ours = read_model_file(golden_path("synth/models/v1-40k-f0-tiny.pth"))
    tensors = list(iter_tensors(ours.root))
    assert len(tensors) == 385
    assert all(not t.array.flags.writeable for _, t in tensors)
    with pytest.raises(ValueError):
        tensors[0][1].array[...] = 0


class _FairseqDictionary:
    """Test-side stand-in registered with torch for fairseq.data.dictionary.Dictionary."""


def test_fairseq_hubert_reads_through_inert_dictionary():
    """hubert_tiny.pt (which torch's weights_only refuses because of fairseq's Dictionary) reads:
    the Dictionary becomes an inert stand-in holding its pickled state, and every tensor and value
    equals what torch loads with a stand-in class registered for that global."""
    path = golden_path("hubert/hubert_tiny.pt")
    with pytest.raises(Exception, match="fairseq.data.dictionary.Dictionary"):
        torch.load(path, map_location="cpu", weights_only=True)
    ours = read_model_file(path)
    with torch.serialization.safe_globals([(_FairseqDictionary, "fairseq.data.dictionary.Dictionary")]):
        theirs = torch.load(path, map_location="cpu", weights_only=True)
    assert_same(ours.root, theirs)
    dictionary = ours.root["task_state"]["dictionaries"][0]
    assert isinstance(dictionary, InertObject) and dictionary.qualified_name == "fairseq.data.dictionary.Dictionary"
    assert dictionary.state["symbols"][:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert "fairseq.data.dictionary.Dictionary" in ours.globals_seen
    assert len(ours.root["model"]) == 214 and all(t.source_dtype == "float16" for t in ours.root["model"].values())


def test_hf_folder_reads_weights_and_config():
    """A Hugging Face folder reads its model.safetensors (preferred) plus config.json, equal to safetensors' own reader."""
    from safetensors.numpy import load_file

    folder = golden_path("hubert/contentvec_tiny_hf")
    ours = read_model_file(folder)
    assert ours.container == "hf-folder"
    assert ours.extra_files["config.json"]["architectures"] == ["HubertModelWithFinalProj"]
    reference = load_file(folder / "model.safetensors")
    assert list(ours.root) == sorted(reference, key=list(ours.root).index) and set(ours.root) == set(reference)
    for key, value in reference.items():
        assert np.array_equal(_bits(ours.root[key].array), _bits(value)), key


# --- synthetic files: layouts torch can produce ------------------------------------------------


def _save(obj, path: Path, **kwargs) -> Path:
    torch.save(obj, path, **kwargs)
    return path


def _all_dtypes() -> dict:
    gen = torch.Generator().manual_seed(0)
    return {
        "f16": torch.randn(3, 4, generator=gen).half(),
        "f32": torch.randn(5, generator=gen),
        "f64": torch.randn(2, 3, generator=gen, dtype=torch.float64),
        "bf16": torch.randn(4, 4, generator=gen).bfloat16(),
        "i64": torch.arange(-5, 5, dtype=torch.int64),
        "i32": torch.arange(7, dtype=torch.int32) * -3,
        "i16": torch.arange(6, dtype=torch.int16),
        "i8": torch.arange(-4, 4, dtype=torch.int8),
        "u8": torch.arange(250, 256, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 7),
        "nan_inf": torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0]),
        "step": torch.tensor(20.0),  # 0-d like AdamW's step
    }


def test_every_dtype_round_trips(tmp_path):
    """fp16/fp32/fp64/bf16/int64/int32/int16/int8/uint8/bool, 0-d, empty and NaN/inf tensors equal torch bitwise."""
    path = _save(_all_dtypes(), tmp_path / "dtypes.pth")
    ours, theirs = _read_both(path)
    assert_same(ours.root, theirs)
    assert ours.root["bf16"].source_dtype == "bfloat16" and ours.root["bf16"].array.dtype == np.float32


def test_non_contiguous_views_and_storage_offsets(tmp_path):
    """A transposed view (strides (1, n)), slices sharing one storage at offsets, and a strided
    slice read as views with torch's values; views of one storage share memory, as in torch."""
    base = torch.arange(120, dtype=torch.float32).reshape(10, 12)
    obj = {
        "transposed": base.t(),
        "slice": base.view(-1)[13:29],
        "tail": base.view(-1)[100:],
        "every_third_column": base[:, ::3],
        "block": base[2:5, 4:9],
        "base": base,
    }
    assert not obj["transposed"].is_contiguous() and obj["tail"].storage_offset() == 100
    path = _save(obj, tmp_path / "views.pth")
    ours, theirs = _read_both(path)
    assert_same(ours.root, theirs)
    assert np.shares_memory(ours.root["tail"].array, ours.root["base"].array)
    assert ours.root["transposed"].array.strides == (4, 48)
    with zipfile.ZipFile(path) as zf:
        assert len([n for n in zf.namelist() if "/data/" in n]) == 1  # one shared storage record


def test_parameters_and_nested_containers(tmp_path):
    """nn.Parameter (_rebuild_parameter), nested dict/list/tuple/OrderedDict and plain scalars read like torch."""
    layer = torch.nn.Linear(3, 2)
    obj = OrderedDict(
        [
            ("param", torch.nn.Parameter(torch.ones(2, 2))),
            ("state", layer.state_dict()),
            ("config", [1025, 32, 0.0, "1", [3, 7, 11], [[1, 3, 5], [1, 3, 5]], None, True]),
            ("betas", (0.8, 0.99)),
            ("f0", 1),
            ("big", 2**70),
        ]
    )
    path = _save(obj, tmp_path / "nested.pth")
    ours, theirs = _read_both(path)
    assert_same(ours.root, theirs)
    assert "torch._utils._rebuild_parameter" in ours.globals_seen


def test_legacy_format_equals_torch(tmp_path):
    """The pre-1.6 format (_use_new_zipfile_serialization=False) reads equal to torch, views and all dtypes included."""
    base = torch.arange(60, dtype=torch.float16).reshape(6, 10)
    obj = {"dtypes": _all_dtypes(), "transposed": base.t(), "slice": base.view(-1)[7:19], "base": base, "meta": ["v2", 40000]}
    path = _save(obj, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(path)
    ours, theirs = _read_both(path)
    assert ours.container == "torch-legacy"
    assert_same(ours.root, theirs)


def test_legacy_copy_of_golden_export(tmp_path):
    """A real export re-saved in the legacy format reads to the same tree as the zip original."""
    source = golden_path("synth/models/v2-32k-nof0-tiny.pth")
    obj = torch.load(source, map_location="cpu", weights_only=True)
    path = _save(obj, tmp_path / "legacy-export.pth", _use_new_zipfile_serialization=False)
    ours, theirs = _read_both(path)
    assert_same(ours.root, theirs)
    assert_same(read_model_file(source).root, theirs)


def test_buffer_saved_zip_has_archive_prefix(tmp_path):
    """torch.save to a buffer writes records under 'archive/'; the reader finds */data.pkl under any prefix."""
    buffer = io.BytesIO()
    obj = {"weight": {"a": torch.randn(3, 3).half()}, "sr": "40k"}
    torch.save(obj, buffer)
    path = tmp_path / "from-buffer.pth"
    path.write_bytes(buffer.getvalue())
    with zipfile.ZipFile(path) as zf:
        assert "archive/data.pkl" in zf.namelist()
    ours, theirs = _read_both(path)
    assert_same(ours.root, theirs)
    named = _save(obj, tmp_path / "some.model.name.pth")
    with zipfile.ZipFile(named) as zf:
        assert not any(n.startswith("archive/") for n in zf.namelist())
    assert_same(read_model_file(named).root, theirs)


def test_safetensors_round_trip(tmp_path):
    """safetensors written by the safetensors library read back bitwise equal, with __metadata__; bf16 widens to fp32."""
    from safetensors.numpy import save_file
    from safetensors.torch import save_file as save_torch

    arrays = {
        "dec.conv_post.weight": np.random.default_rng(0).standard_normal((1, 32, 7)).astype(np.float16),
        "emb_g.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
        "ids": np.arange(5, dtype=np.int64),
        "mask": np.array([True, False]),
        "scalar": np.array(2.5, dtype=np.float64),
    }
    path = tmp_path / "model.safetensors"
    save_file(arrays, path, metadata={"format": "mlx", "converter": "test"})
    ours = read_model_file(path)
    assert ours.container == "safetensors" and ours.metadata == {"format": "mlx", "converter": "test"}
    assert set(ours.root) == set(arrays)
    for key, value in arrays.items():
        assert ours.root[key].array.dtype == value.dtype and np.array_equal(_bits(ours.root[key].array), _bits(value)), key
    bf16 = torch.randn(4, 3).bfloat16()
    save_torch({"w": bf16}, tmp_path / "bf16.safetensors")
    widened = read_model_file(tmp_path / "bf16.safetensors").root["w"]
    assert widened.source_dtype == "bfloat16" and np.array_equal(widened.array, bf16.float().numpy())


@pytest.mark.parametrize("compressed", [False, True], ids=["savez", "savez_compressed"])
def test_npz_round_trip(tmp_path, compressed):
    """.npz written by numpy (stored or deflated, C- or Fortran-ordered) reads back bitwise equal."""
    arrays = {
        "dec.up_0.weight": np.random.default_rng(1).standard_normal((16, 24, 32)).astype(np.float16),
        "fortran": np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
        "ints": np.arange(-3, 3, dtype=np.int64),
        "flags": np.array([True, False, True]),
    }
    path = tmp_path / "model.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    try:
        ours = read_model_file(path)
    except RvcConvertError as exc:
        pytest.fail(f"a plain numpy .npz is refused: {type(exc).__name__}: {exc}")
    assert ours.container == "npz" and list(ours.root) == list(arrays)
    for key, value in arrays.items():
        assert ours.root[key].array.dtype == value.dtype and np.array_equal(ours.root[key].array, value), key


def test_golden_reference_npz_reads():
    """The golden reference .npz files (float32/int64/str arrays) read with numpy's values."""
    path = golden_path("synth/refs/v2-48k-f0-tiny.noise.npz")
    try:
        ours = read_model_file(path)
    except RvcConvertError as exc:
        pytest.fail(f"golden npz refused: {type(exc).__name__}: {exc}")
    with np.load(path) as reference:
        assert set(ours.root) == set(reference.files)
        for key in reference.files:
            assert np.array_equal(ours.root[key].array, reference[key]), key
