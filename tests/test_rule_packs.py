"""Rule packs are checked when loaded: every rule names a declared layer kind, and weight norm is
allowed only on kinds that declare the axis it keeps (mappings/layouts.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rvc_convert.errors import RulePackError
from rvc_convert.rules import load_layer_kinds, load_rule_pack

TOY_PACK = Path(__file__).resolve().parent / "toy_family" / "toy.yaml"


def _pack_with(tmp_path, old: str, new: str) -> Path:
    text = TOY_PACK.read_text()
    assert old in text
    path = tmp_path / "pack.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_a_rule_naming_an_undeclared_layer_kind_is_refused(tmp_path):
    with pytest.raises(RulePackError, match="layer kind 'conv3d'.*does not declare"):
        load_rule_pack(_pack_with(tmp_path, "kind: conv1d", "kind: conv3d"))


def test_weight_norm_on_a_kind_without_a_declared_axis_is_refused(tmp_path):
    with pytest.raises(RulePackError, match="declares no weight_norm_axis"):
        load_rule_pack(_pack_with(tmp_path, "kind: conv1d, weight_norm: true", "kind: embedding, weight_norm: true"))


def test_every_weight_normed_kind_declares_an_axis_within_its_rank():
    """The declared axis exists in every rank the kind allows."""
    kinds, _ = load_layer_kinds()
    normed = {name: kind for name, kind in kinds.items() if kind.weight_norm_axis is not None}
    assert {"conv1d", "conv_transpose1d", "positional_conv1d"} <= set(normed)
    for kind in normed.values():
        assert all(0 <= kind.weight_norm_axis < ndim for ndim in kind.ndim), kind.name
