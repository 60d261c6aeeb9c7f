"""Planning stays linear in the number of tensors, whatever names a file holds.

A file of 40,000 junk names once took 35 s to plan and 200,000 more than 40 s: each name was
checked against every earlier one (`new in normalised.values()`) and given difflib suggestions.
Time is not asserted (machines are shared); the work is counted instead: name comparisons, and
calls of difflib.
"""

from __future__ import annotations

import difflib

import pytest

from rvc_convert import rules
from rvc_convert.errors import MappingError
from rvc_convert.rules import load_rule_pack, plan_conversion


class CountingName(str):
    """A tensor name that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountingName.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def _comparisons(count: int) -> int:
    pack = load_rule_pack("synthesizer")
    # names that each match a rule, so planning runs through all its steps
    tensors = {CountingName(f"dec.ups.{i}.weight"): ((4,), "float16") for i in range(count)}
    CountingName.comparisons = 0
    with pytest.raises(MappingError):  # 1-D upsample weights: refused at the end, after every step ran
        plan_conversion(pack, tensors, None)
    return CountingName.comparisons


def test_name_comparisons_grow_linearly():
    """Twice the names cost at most about twice the comparisons, and a few per name at most
    (a scan of the earlier names made it n**2 / 2: 2 million for 2,000 names)."""
    small, large = _comparisons(1000), _comparisons(2000)
    assert large <= 4 * 2000, f"{large} name comparisons for 2000 tensors"
    assert large <= 2 * small + 100, (small, large)


def test_nearest_rule_suggestions_only_for_the_names_shown(monkeypatch):
    """5,000 unmapped names: difflib runs only for the few the message shows, and the message still counts them all."""
    calls = []
    real = difflib.get_close_matches

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(rules.difflib, "get_close_matches", counting)
    tensors = {f"junk.{i}.weight": ((4,), "float16") for i in range(5000)}
    with pytest.raises(MappingError) as error:
        plan_conversion(load_rule_pack("synthesizer"), tensors, None)
    assert len(calls) == rules.SHOWN_PROBLEMS
    message = str(error.value)
    assert message.startswith("5000 source tensor(s) match no rule")
    assert "junk.0.weight (nearest rules: " in message and "and 4996 more" in message
