"""Rule packs named by a file are chosen by name from the registered set only, never by path.

The name arrives inside files (a converted file's metadata `rvc_convert.rule_pack`, an .npz
comment, a bundle manifest's `rule_pack`): a path there once made the tool load a local file as a
rule pack, obey it, and quote its content in the error. `families.load_family_rule_pack` is the one
gate for such names; `rules.load_rule_pack` takes paths from trusted code only."""

from __future__ import annotations

from pathlib import Path

import pytest

import hostile
from rvc_convert.errors import RulePackError
from rvc_convert.families import load_family_rule_pack, registered_families
from rvc_convert.resources import MAPPINGS_DIR


def test_every_registered_pack_loads_by_name():
    names = {name for family in registered_families() for name in family.rule_packs}
    assert {"synthesizer", "hubert_fairseq", "hubert_hf", "rmvpe"} <= names
    for name in names:
        assert load_family_rule_pack(name).name == name


def _planted(tmp_path: Path) -> list[str]:
    """A valid-looking YAML rule pack and a secret, both outside the shipped set."""
    secret = tmp_path / "token.yaml"
    secret.write_text(f"{hostile.SECRET}\n")
    copy = tmp_path / "synthesizer.yaml"
    copy.write_text((MAPPINGS_DIR / "synthesizer.yaml").read_text().replace("to: dec.", "to: ../dec."))
    return [str(secret), str(copy), str(tmp_path / "synthesizer"), f"{tmp_path}/../{tmp_path.name}/synthesizer.yaml"]


@pytest.mark.parametrize("kind", ["secret-path", "planted-pack-path", "path-without-suffix", "dotdot-path"])
def test_a_path_is_never_loaded_nor_quoted(kind, tmp_path):
    name = _planted(tmp_path)[["secret-path", "planted-pack-path", "path-without-suffix", "dotdot-path"].index(kind)]
    with pytest.raises(RulePackError) as error:
        load_family_rule_pack(name)
    message = str(error.value)
    assert "no rule pack named" in message and "synthesizer" in message  # lists the registered names
    assert hostile.SECRET[:12] not in message


@pytest.mark.parametrize("name", ["layouts", "synthesizer.yaml", "../mappings/synthesizer", "SYNTHESIZER", "", "synthesizer\x1b[2J", "x" * 100_000, 7])
def test_names_outside_the_registered_set_are_refused(name):
    with pytest.raises(RulePackError, match="no rule pack named") as error:
        load_family_rule_pack(name)
    assert "\x1b" not in str(error.value) and len(str(error.value)) < 1000  # a name from a file is printed escaped and short
