"""One standard JSON document per command run with --json, however many runs one process makes.

A command that already printed its report must not add an error document after it (two documents
on stdout are not JSON); a later run in the same process (cli.main called again) still prints its own.
"""

from __future__ import annotations

import json

from golden import golden_path
from rvc_convert import cli

VOICE = "synth/models/v2-48k-f0-tiny.pth"


def test_every_run_prints_exactly_one_document(tmp_path, capsys):
    assert cli.main(["inspect", str(golden_path(VOICE)), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert cli.main(["inspect", str(tmp_path / "missing.pth"), "--json"]) == 5
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "rvc-convert/error/1" and document["error"]["exit_code"] == 5


def test_a_failure_after_the_report_adds_no_second_document(tmp_path, capsys, monkeypatch):
    """convert --json prints its report, then fails validation (exit 1): stdout stays one document."""
    from rvc_convert import convert as engine

    real = engine.produce_target

    def damaged(entry, arrays, dtype=None):
        array, peak = real(entry, arrays, dtype)
        return (array * 2 if entry.target == "dec.cond.weight" else array), peak

    monkeypatch.setattr(engine, "produce_target", damaged)
    assert cli.main(["convert", str(golden_path(VOICE)), "-o", str(tmp_path / "out"), "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "rvc-convert/convert/1" and document["ok"] is False
