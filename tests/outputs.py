"""Test helpers shared by the conversion tests: read what the converter wrote, run torch quietly,
run the tool in a child process."""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import safetensors
import safetensors.numpy


def load_output(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a written .safetensors / .npz, read with the reference libraries (not our reader)."""
    if path.suffix == ".safetensors":
        return safetensors.numpy.load_file(str(path))
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def output_metadata(path: Path) -> dict[str, str]:
    """safetensors __metadata__, or the JSON in an .npz's zip comment."""
    if path.suffix == ".safetensors":
        with safetensors.safe_open(str(path), framework="np") as handle:
            return dict(handle.metadata() or {})
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.comment.decode("utf-8"))


@contextlib.contextmanager
def torch_single_thread() -> Iterator[None]:
    """Small torch ops are ~100x faster single-threaded on a busy 2-core box; restore afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def subprocess_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child Python that imports the same rvc_convert as the tests,
    whatever its working directory (the package root first on PYTHONPATH), plus `extra`."""
    import rvc_convert

    package_root = str(Path(rvc_convert.__file__).resolve().parent.parent)
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p), **extra)
