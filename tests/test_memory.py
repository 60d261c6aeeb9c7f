"""Large models stay out of resident memory: tensors are file mappings, and a pass that reads each
tensor once (conversion, structure checks, layer-wise proof) lets its pages go after it."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from golden import golden_path

from rvc_convert.reader import iter_tensors, read_model_file, release_pages


def resident_file_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssFile:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RssFile from /proc/self/status")
def test_release_pages_drops_a_mapped_tensor_and_keeps_its_values():
    loaded = read_model_file(golden_path("synth/models/v2-48k-f0-tiny.pth"))
    tensors = [t.array for _, t in iter_tensors(loaded.root)]
    before = [float(np.asarray(a, np.float64).sum()) for a in tensors]  # touches every page
    touched = resident_file_kib()
    for array in tensors:
        release_pages(array)
    released = resident_file_kib()
    total_kib = sum(a.nbytes for a in tensors) // 1024
    assert touched - released >= total_kib // 2, f"released {touched - released} KiB of {total_kib} KiB mapped"
    assert [float(np.asarray(a, np.float64).sum()) for a in tensors] == before  # read back from the file


def test_release_pages_ignores_arrays_that_are_not_mapped():
    array = np.arange(1000, dtype=np.float32)
    release_pages(array)
    release_pages(array[::3])
    release_pages(np.frombuffer(bytes(64), dtype=np.uint8))
    assert float(array.sum()) == 499500.0
