"""`rvc-convert MODEL ...` runs without typer and, once its rule pack is known valid, without
jsonschema: the fast path parses exactly what the typer command parses, and falls back to typer
for everything else (help, usage errors, other commands)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from enum import Enum
from pathlib import Path

import pytest
import typer
from golden import golden_path

from rvc_convert.commands import fastpath, load_commands
from rvc_convert.errors import RulePackError
from rvc_convert.resources import known_valid
from rvc_convert.rules import RULE_PACK_SCHEMA, load_rule_pack

REPO = Path(__file__).resolve().parent.parent


def typer_params(args: list[str]) -> dict:
    """What the typer `convert` command would be called with for `args` (enums as their values)."""
    command = typer.main.get_command(load_commands()).commands["convert"]
    context = command.make_context("convert", list(args))
    return {k: v.value if isinstance(v, Enum) else v for k, v in context.params.items()}


ARGUMENT_LISTS = [
    ["m.pth"],
    ["m.pth", "--target", "mlx"],
    ["m.pth", "-t", "ios", "-o", "out"],
    ["m.pth", "--target=mlx", "--output=out/x", "--dtype", "fp32", "--name", "voice"],
    ["--no-validate", "m.pth", "--json"],
    ["m.pth", "--dry-run", "--validate"],
    ["m.pth", "--no-validate", "--validate"],
    ["m.pth", "--validate", "--no-validate", "--dtype=fp16"],
    ["m.pth", "-o", "a", "-o", "b"],
    ["dir with space/m.pth", "--name", "x y"],
]


@pytest.mark.parametrize("args", ARGUMENT_LISTS, ids=[" ".join(a) for a in ARGUMENT_LISTS])
def test_fast_parser_reads_what_typer_reads(args):
    fast = fastpath.parse(["convert", *args])
    assert fast is not None, "the fast path should take this command line"
    assert fast == typer_params(args)


def test_fast_parser_has_the_typer_commands_options():
    command = typer.main.get_command(load_commands()).commands["convert"]
    typer_options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts) if opt.startswith("-")} - {"--help"}
    fast_options = {opt for action in fastpath._parser()._actions for opt in action.option_strings}
    assert typer_options == fast_options


@pytest.mark.parametrize(
    "argv",
    [
        ["convert", "m.pth", "--help"],
        ["convert", "-h"],
        ["convert"],  # no model: typer says so
        ["convert", "m.pth", "--no-such-flag"],
        ["convert", "m.pth", "--target", "android"],
        ["convert", "m.pth", "--dtype"],
        ["convert", "m.pth", "extra.pth"],
        ["convert", "--", "-m.pth"],
        ["convert", "m.pth", "--tar", "ios"],  # click has no abbreviations
        ["inspect", "m.pth"],
        [],
    ],
)
def test_anything_else_goes_to_typer(argv):
    assert fastpath.parse(argv) is None


def run_cli(code: str, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, RVC_CONVERT_CACHE=str(cache))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env, cwd=REPO)


PROBE = """
import json, sys
from rvc_convert.cli import main
code = main({argv!r})
print(json.dumps({{"code": code, "typer": "typer" in sys.modules, "jsonschema": "jsonschema" in sys.modules}}))
"""


def test_plain_convert_imports_neither_typer_nor_jsonschema_once_the_pack_is_known(tmp_path):
    model = golden_path("synth/models/v2-32k-nof0-tiny.pth")
    argv = [str(model), "--no-validate", "-o", str(tmp_path / "out")]
    first = run_cli(PROBE.format(argv=argv), tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    first = json.loads(first.stdout.splitlines()[-1])
    assert first == {"code": 0, "typer": False, "jsonschema": True}  # the pack is checked once...
    second = json.loads(run_cli(PROBE.format(argv=argv), tmp_path / "cache").stdout.splitlines()[-1])
    assert second == {"code": 0, "typer": False, "jsonschema": False}  # ...and known valid after
    off = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=300, env=dict(os.environ, RVC_CONVERT_CACHE="off"), cwd=REPO)
    assert json.loads(off.stdout.splitlines()[-1])["jsonschema"] is True
    helped = run_cli(PROBE.format(argv=["--help"]), tmp_path / "cache")
    assert json.loads(helped.stdout.splitlines()[-1])["typer"] is True


def test_an_invalid_rule_pack_is_never_recorded_valid(tmp_path, monkeypatch):
    monkeypatch.setenv("RVC_CONVERT_CACHE", str(tmp_path / "cache"))
    good = load_rule_pack("synthesizer")
    assert known_valid(RULE_PACK_SCHEMA, good.path.read_bytes())
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.path.read_text().replace("rules:", "rulez:", 1))
    for _ in range(2):
        with pytest.raises(RulePackError, match="invalid rule pack"):
            load_rule_pack(bad, good.path.parent)
    assert not known_valid(RULE_PACK_SCHEMA, bad.read_bytes())
    assert not (tmp_path / "cache" / "schema-valid").exists() or len(list((tmp_path / "cache" / "schema-valid").iterdir())) == 1


def test_unwritable_cache_still_validates(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RVC_CONVERT_CACHE", str(blocker / "cache"))
    pack = load_rule_pack("synthesizer")
    assert pack.name == "synthesizer" and not known_valid(RULE_PACK_SCHEMA, pack.path.read_bytes())
