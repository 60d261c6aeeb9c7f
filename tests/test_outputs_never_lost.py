"""Nothing is lost: no output ever replaces an input, an asset's files are published as one unit,
and a run that is killed (SIGTERM, SIGKILL, a failed write) leaves the previous outputs intact and
no staging folder behind (the next run recovers or removes what a killed one left).

The faults are injected through the test hooks of rvc_convert/faults.py (environment variables):
RVC_CONVERT_TEST_FAIL_AT=<point> raises "No space left on device" there,
RVC_CONVERT_TEST_CRASH_AT=<point> dies like kill -9 there, and
RVC_CONVERT_TEST_PAUSE_AT=<point>:<file> waits there until <file> exists.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from golden import golden_path
from outputs import subprocess_env

SYNTH = "synth/models/v2-48k-f0-tiny.pth"
OTHER = "synth/models/v1-40k-f0-tiny.pth"
HF = "hubert/contentvec_tiny_hf"
TIMEOUT_S = 120


def _env(**hooks: str) -> dict[str, str]:
    env = {k: v for k, v in subprocess_env(OMP_NUM_THREADS="1").items() if not k.startswith("RVC_CONVERT_TEST_")}
    return env | hooks


def cli(args: list[str], cwd: Path, **hooks: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rvc_convert", *args], capture_output=True, text=True, cwd=cwd, env=_env(**hooks), timeout=TIMEOUT_S)


def start(args: list[str], cwd: Path, **hooks: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rvc_convert", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=_env(**hooks))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def staging_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".rvc-convert-"))


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def pair_matches(folder: Path, stem: str) -> bool:
    """The sidecar is the config the weights file carries in its metadata: one asset, not two halves."""
    from rvc_convert.reader import read_model_file

    meta = read_model_file(folder / f"{stem}.safetensors").metadata
    return json.loads(meta["config"]) == json.loads((folder / f"{stem}.json").read_text())


# --- never write over an input ---------------------------------------------------------------------


@pytest.mark.parametrize("validate", ["--validate", "--no-validate"])
def test_sidecar_never_overwrites_an_input_named_like_it(validate, tmp_path):
    """An input named voice.json converts to voice.safetensors + voice.json beside it: refused, the input untouched."""
    models = tmp_path / "models"
    models.mkdir()
    source = models / "voice.json"
    shutil.copyfile(golden_path(SYNTH), source)
    before = snapshot(models)
    proc = cli(["convert", str(source), validate], tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert "overwrite the input" in proc.stderr
    assert snapshot(models) == before


@pytest.mark.parametrize("name, target", [("config", "ios"), ("preprocessor_config", "mlx"), ("model", "ios")])
def test_outputs_never_overwrite_a_member_of_an_input_folder(name, target, tmp_path):
    """A Hugging Face folder converted into itself under a member's name: refused, every member untouched."""
    folder = tmp_path / "contentvec"
    shutil.copytree(golden_path(HF), folder)
    before = snapshot(folder)
    proc = cli(["convert", str(folder), "-o", str(folder), "--name", name, "--target", target, "--no-validate"], tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert "overwrite the input" in proc.stderr
    assert snapshot(folder) == before


def test_output_folder_reached_through_a_link_to_the_input(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    source = models / "voice.json"
    shutil.copyfile(golden_path(SYNTH), source)
    (tmp_path / "out").symlink_to(models, target_is_directory=True)
    before = snapshot(models)
    proc = cli(["convert", str(source), "-o", str(tmp_path / "out"), "--no-validate"], tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert snapshot(models) == before


# --- an asset is published as one unit ------------------------------------------------------------


def _previous_pair(out: Path) -> dict[str, str]:
    proc = cli(["convert", str(golden_path(SYNTH)), "-o", str(out), "--name", "voice"], out.parent)
    assert proc.returncode == 0, proc.stderr
    return snapshot(out)


@pytest.mark.parametrize("validate", ["--validate", "--no-validate"])
@pytest.mark.parametrize("point", ["write-config", "published-one"])
def test_a_failed_write_keeps_the_previous_pair(point, validate, tmp_path):
    """A disk that fills while the new config is written (or while the pair is published): exit 5
    naming the folder, the previous weights and config both untouched, no staging left."""
    out = tmp_path / "out"
    before = _previous_pair(out)
    proc = cli(["convert", str(golden_path(OTHER)), "-o", str(out), "--name", "voice", validate], tmp_path, RVC_CONVERT_TEST_FAIL_AT=point)
    assert proc.returncode == 5, proc.stderr
    assert str(out) in proc.stderr and "No space left" in proc.stderr
    assert snapshot(out) == before
    assert staging_folders(out) == []


@pytest.mark.parametrize("point", ["staged", "published-one"])
def test_a_crash_mid_publish_never_leaves_a_mismatched_pair(point, tmp_path):
    """Killed (like kill -9) after staging or between the two renames: the next run into the folder
    finishes or undoes the publish, so weights and config always belong together; no staging remains."""
    out = tmp_path / "out"
    _previous_pair(out)
    proc = cli(["convert", str(golden_path(OTHER)), "-o", str(out), "--name", "voice"], tmp_path, RVC_CONVERT_TEST_CRASH_AT=point)
    assert proc.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), proc.stderr
    nxt = cli(["convert", str(golden_path(SYNTH)), "-o", str(out), "--name", "other", "--no-validate"], tmp_path)
    assert nxt.returncode == 0, nxt.stderr
    assert pair_matches(out, "voice")
    assert staging_folders(out) == []


def test_sigterm_cleans_up_its_staging_folder(tmp_path):
    """SIGTERM while the conversion is staged: the staging folder goes, the previous pair stays, exit 143."""
    out = tmp_path / "out"
    before = _previous_pair(out)
    go = tmp_path / "go"
    run = start(["convert", str(golden_path(OTHER)), "-o", str(out), "--name", "voice"], tmp_path, RVC_CONVERT_TEST_PAUSE_AT=f"staged:{go}")
    try:
        wait_for(lambda: staging_folders(out), "the staging folder")
        run.send_signal(signal.SIGTERM)
        run.wait(TIMEOUT_S)
    finally:
        go.touch()
        if run.poll() is None:
            run.kill()
    assert run.returncode == 128 + signal.SIGTERM, run.stderr.read()
    assert staging_folders(out) == []
    assert snapshot(out) == before


def test_a_leftover_staging_folder_is_removed_but_a_live_one_is_not(tmp_path):
    """A staging folder whose run died is removed by the next run into the folder; one whose run is
    still working (another process) is left alone, and that run still completes."""
    out = tmp_path / "out"
    _previous_pair(out)
    go = tmp_path / "go"
    live = start(["convert", str(golden_path(OTHER)), "-o", str(out), "--name", "live"], tmp_path, RVC_CONVERT_TEST_PAUSE_AT=f"staged:{go}")
    try:
        wait_for(lambda: len(staging_folders(out)) == 1, "the live run's staging folder")
        (live_staging,) = staging_folders(out)
        dead = cli(["convert", str(golden_path(OTHER)), "-o", str(out), "--name", "dead"], tmp_path, RVC_CONVERT_TEST_CRASH_AT="staged")
        assert dead.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL)
        assert len(staging_folders(out)) == 2 and live_staging in staging_folders(out)
        third = cli(["convert", str(golden_path(SYNTH)), "-o", str(out), "--name", "third", "--no-validate"], tmp_path)
        assert third.returncode == 0, third.stderr
        assert staging_folders(out) == [live_staging]
    finally:
        go.touch()
    assert live.wait(TIMEOUT_S) == 0, live.stderr.read()
    assert staging_folders(out) == []
    assert pair_matches(out, "live") and not (out / "dead.safetensors").exists()


def test_a_247_character_input_name_converts(tmp_path):
    """A legal input name of 247 characters (its output name just fits): the temp files beside the
    outputs must not be named after them in full."""
    source = tmp_path / ("v" * 243 + ".pth")
    shutil.copyfile(golden_path(SYNTH), source)
    proc = cli(["convert", str(source), "-o", str(tmp_path / "out")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / ("v" * 243 + ".safetensors")).is_file()


def test_an_output_name_too_long_for_the_file_system_is_a_usage_error(tmp_path):
    source = tmp_path / ("w" * 250 + ".pth")
    shutil.copyfile(golden_path(SYNTH), source)
    proc = cli(["convert", str(source), "-o", str(tmp_path / "out")], tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert "--name" in proc.stderr


@pytest.mark.parametrize("taken", ["safetensors", "json"])
def test_a_folder_in_the_way_is_an_io_error(taken, tmp_path):
    """A directory already named <stem>.safetensors (or .json) in the output folder: exit 5 naming it, nothing written."""
    out = tmp_path / "out"
    (out / f"voice.{taken}").mkdir(parents=True)
    (out / f"voice.{taken}" / "keep").write_text("x")
    proc = cli(["convert", str(golden_path(SYNTH)), "-o", str(out), "--name", "voice"], tmp_path)
    assert proc.returncode == 5, proc.stderr
    assert f"voice.{taken}" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"voice.{taken}"]


def test_a_full_disk_is_an_io_error_naming_the_folder(tmp_path):
    """Writing fails half-way (the file-size limit stands in for a full disk): exit 5 naming the folder, nothing left."""
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (200000, 200000)); "
        "from rvc_convert.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run([sys.executable, "-c", code, "convert", str(golden_path(SYNTH)), "-o", str(out), "--no-validate"],
                          capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=TIMEOUT_S)
    assert proc.returncode == 5, proc.stderr
    assert str(out) in proc.stderr
    assert list(out.iterdir()) == []
