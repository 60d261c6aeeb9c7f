"""The package's shape holds: no import cycles, the boundaries between the converter, the runtime and
torch/mlx, and the engine, validation, bundles and the CLI naming no model family."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from golden import golden_path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("rvc_convert", "rvc_runtime")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> dict[str, Path]:
    return {module_name(path): path for path in sorted((REPO / package).rglob("*.py"))}


def imports_of(name: str, path: Path) -> set[str]:
    """Every module an import statement in the file names (anywhere in it, function bodies included),
    relative imports resolved; `from a import b` names a.b when that is a module."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def import_graph(package: str) -> dict[str, set[str]]:
    known = modules(package)
    return {name: {target for target in imports_of(name, path) if target in known and target != name} for name, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_another_in_a_cycle(package):
    """Every import statement, function-level ones included, forms an acyclic graph."""
    graph = import_graph(package)
    assert len(graph) > 5
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_cycles():
    """The check above can fail: a two-module loop is found."""
    assert find_cycle({"a": {"b"}, "b": {"a"}, "c": set()}) == ["a", "b", "a"]


def test_the_runtime_never_imports_the_converter():
    """rvc_runtime stands alone: a Python app can use it with mlx alone."""
    for name, path in modules("rvc_runtime").items():
        assert not any(target.split(".")[0] == "rvc_convert" for target in imports_of(name, path)), name


def test_converting_and_inspecting_import_neither_torch_nor_mlx(tmp_path):
    """read -> detect -> plan -> transform -> write (and inspect's plan) run without torch or mlx."""
    models = [golden_path("synth/models/v2-48k-f0-tiny.pth"), golden_path("hubert/hubert_tiny.pt"), golden_path("rmvpe/rmvpe_small.pt")]
    script = f"""
import json, sys
from rvc_convert.convert import convert_model, describe_plan
for index, model in enumerate({[str(m) for m in models]!r}):
    describe_plan(convert_model(model, "ios", {str(tmp_path)!r}, name=str(index)))
    describe_plan(convert_model(model, dry_run=True))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "mlx", "rvc_runtime"))))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    assert len(list(tmp_path.glob("*.safetensors"))) == 3


# The engine, validation, bundles and the CLI reach families through the registry only.
FAMILY_BLIND = [
    "rvc_convert/convert.py",
    "rvc_convert/detect.py",
    "rvc_convert/rules.py",
    "rvc_convert/transform.py",
    "rvc_convert/writer.py",
    "rvc_convert/reader.py",
    "rvc_convert/validate.py",
    "rvc_convert/layerwise.py",
    "rvc_convert/parity.py",
    "rvc_convert/staging.py",
    "rvc_convert/reports.py",
    "rvc_convert/cli.py",
    *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "rvc_convert" / "bundle").glob("*.py")),
    *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "rvc_convert" / "commands").glob("*.py")),
]


def family_words() -> list[str]:
    from rvc_convert.families import registered_families

    names = {family.name for family in registered_families()}
    assert {"synthesizer", "hubert", "rmvpe"} <= names
    return sorted(names | {"contentvec"})


@pytest.mark.parametrize("relpath", FAMILY_BLIND)
def test_engine_validation_bundle_and_cli_name_no_family(relpath):
    """No family name appears in the module (code, strings or comments): it asks the registry."""
    text = (REPO / relpath).read_text(encoding="utf-8").lower()
    found = [word for word in family_words() if re.search(rf"(?<![a-z]){word}", text)]
    assert not found, f"{relpath} names {found}"
