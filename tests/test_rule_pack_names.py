"""Rule packs are chosen by name from the shipped set only, never by path.

The name also arrives inside files (a converted file's metadata `rvc_convert.rule_pack`, an .npz
comment, a bundle manifest's `rule_pack`): a path there once made the tool load a local file as a
rule pack, obey it, and quote its content in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

import hostile
from rvc_convert.errors import RulePackError
from rvc_convert.rules import MAPPINGS_DIR, load_rule_pack, shipped_rule_packs


def test_every_shipped_pack_loads_by_name():
    names = shipped_rule_packs()
    assert {"synthesizer", "hubert_fairseq", "hubert_hf", "rmvpe"} <= set(names)
    assert "layouts" not in names
    for name in names:
        assert load_rule_pack(name).name == name


def _planted(tmp_path: Path) -> list[str]:
    """A valid-looking YAML rule pack and a secret, both outside the shipped set."""
    secret = tmp_path / "token.yaml"
    secret.write_text(f"{hostile.SECRET}\n")
    copy = tmp_path / "synthesizer.yaml"
    copy.write_text((MAPPINGS_DIR / "synthesizer.yaml").read_text().replace("dec.ups.", "../../../evil."))
    return [str(secret), str(copy), str(tmp_path / "synthesizer"), f"{tmp_path}/../{tmp_path.name}/synthesizer.yaml"]


@pytest.mark.parametrize("kind", ["secret-path", "planted-pack-path", "path-without-suffix", "dotdot-path"])
def test_a_path_is_never_loaded_nor_quoted(kind, tmp_path):
    name = _planted(tmp_path)[["secret-path", "planted-pack-path", "path-without-suffix", "dotdot-path"].index(kind)]
    with pytest.raises(RulePackError) as error:
        load_rule_pack(name)
    message = str(error.value)
    assert "no shipped rule pack named" in message and "synthesizer" in message  # lists the shipped names
    assert hostile.SECRET[:12] not in message


@pytest.mark.parametrize("name", ["layouts", "synthesizer.yaml", "../mappings/synthesizer", "SYNTHESIZER", "", "synthesizer\x1b[2J"])
def test_names_outside_the_shipped_set_are_refused(name):
    with pytest.raises(RulePackError, match="no shipped rule pack named") as error:
        load_rule_pack(name)
    assert "\x1b" not in str(error.value)  # a name from a file is printed escaped
