"""Bundles: many voices plus the shared models they need, converted, validated, hashed and listed in
`manifest.json`, rebuilt incrementally and updated atomically; and `verify` of a bundle.

Spec (`bundle.yaml`, schema `schemas/bundle.schema.json`; paths relative to the spec file)::

    target: ios                      # ios: .safetensors (default) | mlx: .npz
    dtype: fp16                      # optional; default: each source's own
    <shared role>: models/x.pt       # or {source: …, name: …}; one key per shared role (families' BundleRole)
    voices:
      - source: models/alice.pth
        name: alice                  # default: the file stem
        display_name: Alice
        author: …                    # also license, description, language, url, tags, extra
        index: models/alice.index    # optional FAISS index: converted, validated, matched to the voice
      - models/choir/*.pth           # a glob: one voice per file, named by its stem

One module per job: spec.py (reading the spec), reuse.py (source hashes, the reuse decision),
workers.py (the process pool running conversion jobs), manifest.py, transaction.py (lock,
journal, publish, commit, recovery), build.py (the run), verify.py; records.py holds the typed
records they pass. Roles come from the family registry (roles.py): nothing here names a family.

The manifest is deterministic (no timestamps, sorted keys, voices sorted by name, source paths as
written, validation figures rounded to 4 significant digits), so two builds of one spec give
byte-identical folders.
"""

from .build import build_bundle
from .manifest import MANIFEST_NAME, check_manifest, read_manifest
from .records import AssetSpec, BundleSpec
from .spec import BundleSpecError, load_spec, spec_from_paths
from .verify import verify_bundle

__all__ = [
    "MANIFEST_NAME",
    "AssetSpec",
    "BundleSpec",
    "BundleSpecError",
    "build_bundle",
    "check_manifest",
    "load_spec",
    "read_manifest",
    "spec_from_paths",
    "verify_bundle",
]
