"""The tests' own layout (issue #22): every test module in one of the four kind folders,
helpers in tests/support, and no test module importing another test module or a conftest
(a fixture comes from a conftest by name, a helper from support)."""

from __future__ import annotations

import ast

from support.paths import ROOT

TESTS = ROOT / "tests"
KINDS = ("unit", "engine", "app", "e2e")


def _imported_modules(path) -> list[str]:
    """Every module `path` imports, at any depth in the file, relative ones with their dots."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def test_every_test_module_lives_in_a_kind_folder():
    misplaced = [str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py")
                 if p.parent.parent != TESTS or p.parent.name not in KINDS]
    assert not misplaced, f"test modules go in tests/{{{','.join(KINDS)}}}/: {misplaced}"


def test_no_module_of_the_tests_imports_a_test_module_or_a_conftest():
    offending = []
    for path in sorted(TESTS.rglob("*.py")):
        for name in _imported_modules(path):
            last = name.lstrip(".").split(".")[-1]
            if last.startswith("test_") or last == "conftest" or name.startswith("."):
                offending.append(f"{path.relative_to(TESTS)} imports {name}")
    assert not offending, "a helper shared by tests goes in tests/support: " + "; ".join(
        offending)


def test_the_kind_folders_and_support_hold_only_what_they_should():
    """Kind folders hold test modules, their conftest and their snapshots; support holds no
    test module (pytest would not collect it, its tests would never run)."""
    for kind in KINDS:
        extra = [p.name for p in (TESTS / kind).glob("*.py")
                 if not p.name.startswith("test_") and p.name != "conftest.py"]
        assert not extra, f"helpers in tests/{kind}/ belong in tests/support: {extra}"
    assert not list((TESTS / "support").rglob("test_*.py"))


def test_the_readme_draws_the_folders_there_are():
    """The Development section's tree of tests/ names every folder in it, and no other."""
    text = (ROOT / "README.md").read_text().split("## Development", 1)[1]
    block = text.split("```\ntests/\n", 1)[1].split("```", 1)[0]
    drawn = {line.split()[0].rstrip("/") for line in block.splitlines()
             if line.split() and line.split()[0].endswith("/")}
    there = {p.name for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert drawn == there
