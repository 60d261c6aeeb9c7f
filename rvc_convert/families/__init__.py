"""Model families: one sub-package per kind of model file, each registered with the registry in base.py.

The engine, validation, bundles and the CLI reach families only through the functions exported
here; none of them names a family. docs/architecture.md: "How to add a family".
"""

from .base import (
    BundleRole,
    Family,
    ModelInfo,
    Recognised,
    container_readers,
    f0_method_names,
    family_named,
    frame_rate_hz,
    load_family_rule_pack,
    pitch_families,
    register_family,
    registered_families,
    unregister_family,
)

__all__ = [
    "BundleRole",
    "Family",
    "ModelInfo",
    "Recognised",
    "container_readers",
    "f0_method_names",
    "family_named",
    "frame_rate_hz",
    "load_family_rule_pack",
    "pitch_families",
    "register_family",
    "registered_families",
    "unregister_family",
]
