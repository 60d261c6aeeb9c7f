"""The project documents itself: every citation in the repository resolves inside it.

Code, YAML, tests and docs cite `docs/<name>.md` (optionally with a quoted section heading) and
prior-converter bug ids (B1-B25, docs/regressions.md); nothing cites design notes, reference notes
or folders outside the repository. The tests docs/regressions.md and SECURITY.md name exist.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".md", ".toml", ".sh", ".txt"}
# The golden-file helpers find the shared golden set beside the repository on purpose.
GOLDEN_HELPERS = {"tests/golden.py", "fixtures/copy_golden.py"}
SELF = "tests/test_citations.py"
# Citations of material outside the repository (assembled so that this file does not match itself).
OUTSIDE = [re.escape("DESIGN" + ".md"), r"(?<![\w/])reference/\w+\.md", "\u00a7", re.escape("../" + "shared"), re.escape("/work/" + "shared"), "golden " + "README", "format " + "note"]
DOC_CITATION = re.compile(r"docs/([\w-]+\.md)(?:, \"([^\"]+)\")?")
BUG_ID = re.compile(r"\bB(\d{1,2})\b")


def repository_files() -> list[str]:
    """Tracked and new files, as git sees them (ignored build output and golden data excluded)."""
    listing = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    names = sorted(set(listing.split()))
    return [n for n in names if (Path(n).suffix in TEXT_SUFFIXES or n == ".ci/run") and not n.startswith("fixtures/golden/") and (REPO / n).is_file()]


def headings(doc: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in doc.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {name: (REPO / name).read_text(encoding="utf-8") for name in repository_files()}


def test_nothing_cites_material_outside_the_repository(texts):
    found = []
    for name, text in texts.items():
        if name in GOLDEN_HELPERS | {SELF}:
            continue
        for pattern in OUTSIDE:
            for match in re.finditer(pattern, text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{name}:{line}: {match.group(0)!r}")
    assert not found, "\n".join(found)


def test_every_cited_doc_and_section_exists(texts):
    broken = []
    for name, text in texts.items():
        for match in DOC_CITATION.finditer(text):
            doc = REPO / "docs" / match.group(1)
            if not doc.is_file():
                broken.append(f"{name}: docs/{match.group(1)} does not exist")
            elif match.group(2) and match.group(2) not in headings(doc):
                broken.append(f"{name}: docs/{match.group(1)} has no section {match.group(2)!r}")
    assert not broken, "\n".join(broken)
    assert sum(len(DOC_CITATION.findall(text)) for text in texts.values()) > 20  # the scan sees the citations


def test_every_cited_bug_id_is_in_the_regression_list(texts):
    listed = {int(m) for m in re.findall(r"^\| B(\d+) \|", (REPO / "docs" / "regressions.md").read_text(encoding="utf-8"), re.M)}
    assert listed == set(range(1, 26))
    cited = {(name, int(m.group(1))) for name, text in texts.items() for m in BUG_ID.finditer(text)}
    assert {bug for _, bug in cited} <= listed, sorted(c for c in cited if c[1] not in listed)
    assert len(cited) > 20


def test_the_tests_the_regression_list_names_exist():
    """Every `tests/<file>.py::test_name` (and the bare test names after it in the same row) is defined."""
    missing = []
    for row in (REPO / "docs" / "regressions.md").read_text(encoding="utf-8").splitlines():
        if not row.startswith("| B"):
            continue
        current = None
        for token in re.findall(r"`([^`]+)`", row.split("|")[3]):
            if "::" in token:
                current, token = token.split("::")
            if current is None or not token.startswith("test_"):
                continue
            if not re.search(rf"^def {re.escape(token)}\(", (REPO / current).read_text(encoding="utf-8"), re.M):
                missing.append(f"{current}::{token}")
    assert not missing, missing


def test_the_scan_finds_an_outside_citation():
    """The first check can fail: a design-note citation is caught."""
    assert any(re.search(pattern, "see " + "DESIGN" + ".md for the naming") for pattern in OUTSIDE)


def _security_rows() -> list[tuple[str, str]]:
    """(promise or class, its tests cell) for every row of SECURITY.md's guarantee and hostile-class tables."""
    rows, table = [], None
    for line in (REPO / "SECURITY.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            table = line[3:] if line[3:].startswith(("Guarantees", "Hostile-input classes")) else None
        elif table and line.startswith("| ") and not line.startswith(("| promise", "| class")):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows.append((cells[0], cells[-1]))
    return rows


def test_every_security_promise_names_tests_that_exist():
    """SECURITY.md: each guarantee and each hostile-input class lists at least one test, and every
    test file, test function and hostile-case family it names exists."""
    import hostile
    import hostile_models

    families = {case.category for case in hostile.cases()} | {case.category for case in hostile_models.model_cases()}
    rows = _security_rows()
    assert len(rows) >= 20, "the scan sees both tables"
    problems = []
    for what, cell in rows:
        cited = re.findall(r"`(?:tests/)?(test_\w+\.py)(?:::(\w+))?`(?: \(`(\w+)`\))?", cell)
        cited += [(name, "", family) for family, name in re.findall(r"the `(\w+)` cases of `tests/(test_\w+\.py)`", cell)]
        if not cited:
            problems.append(f"{what}: names no test")
        for name, function, family in cited:
            path = REPO / "tests" / name
            if not path.is_file():
                problems.append(f"{what}: tests/{name} does not exist")
            elif function and not re.search(rf"^def {function}\(", path.read_text(encoding="utf-8"), re.M):
                problems.append(f"{what}: tests/{name} has no {function}")
            if family and family not in families:
                problems.append(f"{what}: no hostile case family {family!r} in fixtures/hostile*.py")
    assert not problems, "\n".join(problems)
