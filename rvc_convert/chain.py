"""The models of a voice-conversion chain, from the files a user names: a bundle's manifest entries,
converted files, or source files converted on the fly into a private folder removed afterwards.

Which model fills which part of the chain (rvc_runtime.pipeline.Pipeline's keywords) comes from
the family registry (`Family.pipeline_slot`, `Family.load_runtime`); nothing here names a family.
A voice's index has no bundle role of its own (it travels with its voice): it is whatever family
fills the "index" slot.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bundle.manifest import read_manifest
from .bundle.roles import bundle_families, listed_role, role_named, shared_roles
from .convert import convert_model, read_source
from .detect import detect
from .errors import EXIT_VALIDATION_FAILED, CorruptFileError, InputIOError, ModelMismatchError, RvcConvertError, UnsupportedModelError, UsageError
from .families import BundleRole, Family, f0_method_names, family_named, pitch_families
from .reader import file_sha256

PITCH_SLOT = "pitch"
INDEX_SLOT = "index"


@dataclass
class ChainPart:
    """One model of the chain: where it came from and what it is."""

    slot: str  # the Pipeline keyword it fills
    role: str  # the bundle role (or "index")
    family: str | None
    path: Path
    converted_here: bool  # a source file converted on the fly
    runtime: Any = field(repr=False, default=None)

    def describe(self) -> dict[str, Any]:
        return {"role": self.role, "family": self.family, "path": str(self.path), "converted_on_the_fly": self.converted_here}


@dataclass
class Chain:
    pipeline: Any  # rvc_runtime.pipeline.Pipeline
    parts: list[ChainPart]

    def part(self, slot: str) -> ChainPart | None:
        return next((p for p in self.parts if p.slot == slot), None)


def family_of_role(role: BundleRole) -> Family:
    return next(f for f in bundle_families() if f.bundle_role.name == role.name)


def pitch_flags() -> str:
    """"--a, --b or --c": the flags that name a pitch model, the preferred first."""
    flags = [f"--{f.bundle_role.name}" for f in pitch_families() if f.bundle_role is not None]
    return ", ".join(flags[:-1]) + f" or {flags[-1]}" if len(flags) > 1 else "".join(flags)


def bundle_files(folder: Path, voice: str) -> tuple[Path, dict[str, Path], Path | None]:
    """(voice weights, shared role -> weights, the voice's index or None) of one voice of a bundle,
    every file checked against the sha256 the manifest records."""
    manifest = read_manifest(folder)
    voices = manifest.get(listed_role().spec_key, [])
    entry = next((v for v in voices if v["name"] == voice), None)
    if entry is None:
        names = ", ".join(v["name"] for v in voices) or "none"
        raise UsageError(f"{folder}: the bundle has no voice {voice!r} (its voices: {names})")

    def checked(record: dict[str, Any]) -> Path:
        path = folder / record["path"]
        if not path.is_file():
            raise InputIOError(f"{path}: listed in {folder}/manifest.json but missing; rebuild the bundle")
        if file_sha256(path) != record["sha256"]:
            raise CorruptFileError(f"{path}: its sha256 differs from the manifest's: the file changed after the bundle was built (`rvc-convert verify {folder}`)")
        return path

    shared = {role.name: checked(manifest[role.spec_key]["files"]["weights"]) for role in shared_roles() if manifest.get(role.spec_key)}
    index = entry["files"].get(INDEX_SLOT)
    return checked(entry["files"]["weights"]), shared, checked(index) if index else None


def _load_model(path: Path, role: BundleRole | None, scratch: Path, cache: dict | None = None) -> ChainPart:
    """The runtime model of a converted file, or of a source file converted into `scratch`; `role`
    None: the voice's index. `cache` (path, role) -> ChainPart shares loaded models between chains."""
    key = (path, role.name if role else INDEX_SLOT)
    if cache is not None and key in cache:
        return cache[key]
    part = _read_model(path, role, scratch)
    if cache is not None:
        cache[key] = part
    return part


def _read_model(path: Path, role: BundleRole | None, scratch: Path) -> ChainPart:
    if not path.exists():
        raise InputIOError(f"{path}: no such file or folder")
    info = detect(read_source(path))
    family = family_named(info.family)
    if role is None:
        if family.pipeline_slot != INDEX_SLOT:
            raise UsageError(f"{path}: is {family.bundle_role.noun if family.bundle_role else f'a {family.name} model'}, not a voice's index (a FAISS .index)")
    elif family.bundle_role is None or family.bundle_role.name != role.name or family.pipeline_slot is None:
        what = family.bundle_role.noun if family.bundle_role else f"a {family.name} file"
        hint = f"; pass it as --{family.bundle_role.name}" if family.bundle_role and family.bundle_role.shared else "; pass it as --index" if family.pipeline_slot == INDEX_SLOT else ""
        raise UsageError(f"{path}: is {what}, not {role.noun}{hint}")
    converted = path
    if info.kind != "converted":
        # float32 whatever the source: an fp16 file would round the fused weight-norm weights (~4 dB of chain SNR)
        label = role.name if role else INDEX_SLOT
        converted = convert_model(path, "mlx", scratch, dtype="fp32", name=f"{label}-{len(list(scratch.iterdir()))}").weights_path
    try:
        runtime = family.load_runtime(converted)
    except ValueError as exc:
        raise UnsupportedModelError(f"{path}: does not load into the runtime: {exc}") from None
    return ChainPart(family.pipeline_slot, role.name if role else INDEX_SLOT, family.name, path, info.kind != "converted", runtime)


def load_chain(
    voice: Path, shared: dict[str, Path], index: Path | None, pitch_method: str | None = None, key: float = 0, cache: dict | None = None, prefix: str | None = None
) -> Chain:
    """Load (converting sources on the fly) and join the models of one chain. `shared`: bundle role
    name -> file, for the roles given. One pitch model is loaded: the one serving `pitch_method`
    (RVC's f0 method name: rmvpe, crepe, crepe-tiny, fcpe), else the first given in upstream's
    order of preference; a voice without pitch guidance takes none, and neither a pitch method
    nor a key. Mismatched models raise ModelMismatchError naming the mismatch. Errors about the
    voice start with `prefix` (default: its path and a colon; a caller that names the voice itself
    passes "")."""
    from rvc_runtime.pipeline import ModelMismatchError as RuntimeMismatch

    prefix = f"{voice}: " if prefix is None else prefix
    if pitch_method is not None and pitch_method not in f0_method_names():
        raise UsageError(f"--f0-method {pitch_method!r}: not an f0 method rvc-convert runs; use one of {', '.join(f0_method_names())}")
    named = {f"--{name}": path for name, path in shared.items()} | ({"--index": index} if index is not None else {})
    for flag, path in named.items():  # a file named but not loaded (a pitch model not chosen) is still never a typo passed over
        if not path.exists():
            raise InputIOError(f"{flag} {path}: no such file or folder")
    needed = [role for role in shared_roles() if family_of_role(role).pipeline_slot not in (PITCH_SLOT, None)]
    missing = [role for role in needed if role.name not in shared]
    if missing:
        raise UsageError(f"{prefix}every voice needs {' and '.join('a ' + r.title for r in missing)}: pass {' '.join('--' + r.name for r in missing)} (or a bundle folder and --voice)")
    with tempfile.TemporaryDirectory(prefix="rvc-chain-") as folder:
        scratch = Path(folder)
        parts = [_load_model(voice, listed_role(), scratch)]
        pitch = _pitch_role(prefix, bool(parts[0].runtime.config.f0), shared, pitch_method, key)
        roles = [name for name in shared if name in {r.name for r in needed} or (pitch is not None and name == pitch.name)]
        parts += [_load_model(shared[name], role_named(name), scratch, cache) for name in roles]
        if index is not None:
            parts.append(_load_model(index, None, scratch))
    chosen = next((p for p in parts if p.slot == PITCH_SLOT), None)
    if chosen is not None and pitch_method is not None and chosen.runtime.name != pitch_method:
        raise UsageError(
            f"--f0-method {pitch_method}: --{chosen.role} {chosen.path} holds the model of the f0 method {chosen.runtime.name}, "
            f"not {pitch_method}; use --f0-method {chosen.runtime.name} or pass {pitch_method}'s model"
        )
    try:
        from rvc_runtime.pipeline import Pipeline

        pipeline = Pipeline(**{p.slot: p.runtime for p in parts})
    except RuntimeMismatch as exc:
        raise ModelMismatchError(f"{prefix}{exc}") from None
    return Chain(pipeline, parts)


def _pitch_role(prefix: str, has_pitch: bool, shared: dict[str, Path], pitch_method: str | None, key: float) -> BundleRole | None:
    """The role of the one pitch model the chain loads (None for a voice without pitch guidance):
    the family serving `pitch_method`, else the preferred family among those given."""
    if not has_pitch:
        if pitch_method is not None or key != 0:
            given = f"--f0-method {pitch_method}" if pitch_method is not None else f"--key {key:+g}"
            raise UsageError(f"{prefix}the voice has no pitch guidance (f0 = 0), so {given} does not apply to it; drop it")
        return None
    given = [f.bundle_role for f in pitch_families() if f.bundle_role is not None and f.bundle_role.name in shared]
    if pitch_method is None:
        if not given:
            raise UsageError(f"{prefix}the voice is pitch-guided (f0 = 1) and needs a pitch estimator: pass {pitch_flags()}")
        return given[0]
    family = next(f for f in pitch_families() if pitch_method in f.f0_methods)
    if family.bundle_role is None or family.bundle_role not in given:
        have = ", ".join(f"--{role.name} {shared[role.name]}" for role in given) or "none"
        flag = f"--{family.bundle_role.name} {family.bundle_role.example}" if family.bundle_role else f"a {family.title} model"
        raise UsageError(f"--f0-method {pitch_method} runs {family.title}, and no such model was given (pitch models at hand: {have}); pass {flag}")
    return family.bundle_role


# --- a short deterministic chain, for `verify --revalidate` and `bundle` --------------------------

CHECK_SECONDS = 1.0
CHECK_F0_HZ = 140.0  # the test vowel's mean pitch
MIN_VOICED_FRACTION = 0.5  # of the test vowel's frames, for "f0 tracked"
SILENT_RMS = 1e-4


def test_vowel(seconds: float = CHECK_SECONDS, sample_rate: int = 16000) -> Any:
    """A deterministic sung vowel: a glottal pulse train at 140 Hz ± 30 Hz (1.5 Hz vibrato) through
    three formant resonators (700, 1220, 2600 Hz), peak 0.5. Voiced throughout, so a pitch
    estimator that works tracks it."""
    import numpy as np
    from scipy import signal

    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase = np.cumsum(CHECK_F0_HZ + 30 * np.sin(2 * np.pi * 1.5 * t)) / sample_rate
    audio = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
    for centre, bandwidth in ((700, 110), (1220, 120), (2600, 160)):
        radius, angle = np.exp(-np.pi * bandwidth / sample_rate), 2 * np.pi * centre / sample_rate
        audio = signal.lfilter([1 - radius], [1, -2 * radius * np.cos(angle), radius * radius], audio)
    return (0.5 * audio / np.abs(audio).max()).astype(np.float32)


def chain_check(voice: Path, shared: dict[str, Path], index: Path | None, cache: dict | None = None) -> dict[str, Any]:
    """Run a 1 s test vowel through one voice's chain (deterministic noise) and check what an app
    would hit: the models fit together (feature sizes, index width, a pitch model for a
    pitch-guided voice), the output has upstream's length, is finite and not silent, f0 is
    tracked, the index is searched. A chain that lacks a model the voice needs (no content model,
    no pitch model for a pitch-guided voice: an app may bring its own) is skipped, not failed.
    Returns {"ok", "exit_code", "checks": [{name, status, detail}], "figures"}."""
    import numpy as np

    checks: list[dict[str, str]] = []

    def record(name: str, problem: str | None, detail: str) -> None:
        checks.append({"name": name, "status": "fail" if problem else "pass", "detail": problem or detail})

    try:
        chain = load_chain(voice, shared, index, cache=cache, prefix="")
    except UsageError as exc:
        checks.append({"name": "chain.models", "status": "skip", "detail": f"not run: {exc}"})
        return {"ok": True, "exit_code": 0, "checks": checks, "figures": {}}
    except RvcConvertError as exc:
        record("chain.models", str(exc), "")
        return {"ok": False, "exit_code": exc.exit_code, "checks": checks, "figures": {}}
    pipe = chain.pipeline
    record("chain.models", None, f"{pipe.version} voice at {pipe.sample_rate} Hz with " + ", ".join(f"{p.slot} {p.path.name}" for p in chain.parts[1:]))
    audio = test_vowel()
    result = pipe.convert(audio, noise="zero", index_rate=0.75, protect=0.33, rms_mix_rate=0.25, compat="classic", trace=True)
    expected = pipe.output_samples(len(audio))
    rms = float(np.sqrt(np.mean(np.square(result.audio, dtype=np.float64))))
    problems = []
    if len(result.audio) != expected:
        problems.append(f"{len(result.audio)} samples, expected {expected}")
    if not np.all(np.isfinite(result.audio)):
        problems.append("non-finite samples")
    elif rms < SILENT_RMS:
        problems.append(f"silent (RMS {rms:.2g})")
    record("chain.output", "; ".join(problems) or None, f"{len(result.audio)} samples at {result.sample_rate} Hz, RMS {rms:.3g}")
    figures: dict[str, Any] = {"rms": rms, "samples": len(result.audio)}
    if pipe.f0:
        voiced = float(np.mean(result.f0_raw > 0))
        median = float(np.median(result.f0_raw[result.f0_raw > 0])) if voiced else None
        figures |= {"voiced_fraction": voiced, "median_f0_hz": median}
        problem = None if voiced >= MIN_VOICED_FRACTION else f"{100 * voiced:.0f} % of the test vowel's frames voiced (expected >= {100 * MIN_VOICED_FRACTION:.0f} %)"
        record("chain.f0", problem, f"{100 * voiced:.0f} % voiced, median {median:.0f} Hz (the vowel: {CHECK_F0_HZ:.0f} Hz ± 30)" if median else "")
    if chain.part(INDEX_SLOT) is not None:
        searched = "chunk0.index_D" in result.trace
        finite = searched and bool(np.all(np.isfinite(result.trace["chunk0.feats_index"])))
        problem = None if finite else "the index was not searched or gave non-finite features"
        detail = f"{pipe.index.dim}-d index searched, nearest distance median {float(np.median(result.trace['chunk0.index_D'][:, 0])):.3g}" if searched else ""
        record("chain.index", problem, detail)
    ok = all(c["status"] == "pass" for c in checks)
    return {"ok": ok, "exit_code": 0 if ok else EXIT_VALIDATION_FAILED, "checks": checks, "figures": figures}


def check_voices(voices: list[tuple[str, Path, Path | None]], shared: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """chain_check for every (name, voice file, index file or None) with the same shared models
    (role name -> file), each loaded once."""
    cache: dict = {}
    return {name: chain_check(weights, shared, index, cache) for name, weights, index in voices}
