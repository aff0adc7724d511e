"""The README's Development section lists every module of `src/ppltop`, one line each, and
no module that is gone: the tree a newcomer reads stays the tree that is there."""

from __future__ import annotations

from support.paths import ROOT


def readme_modules() -> set[str]:
    """Module paths of the fenced tree under '### Layout' (two spaces per level)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("### Layout", 1)[1].split("```", 2)[1]
    paths, stack = set(), []
    for line in block.splitlines()[1:]:
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        stack = stack[:depth]
        if name.endswith("/"):
            stack.append(name.rstrip("/"))
        elif name.endswith(".py"):
            paths.add("/".join([*stack, name]))
    return {p.removeprefix("src/ppltop/") for p in paths}


def source_modules() -> set[str]:
    package = ROOT / "src" / "ppltop"
    return {str(p.relative_to(package)) for p in package.rglob("*.py")
            if p.name != "__init__.py"}


def test_the_readme_tree_lists_every_module_and_no_other():
    listed, there = readme_modules(), source_modules()
    assert len(there) > 40
    assert not there - listed, f"modules missing from README's Layout: {sorted(there - listed)}"
    gone = sorted(listed - there)
    assert not gone, f"README's Layout lists modules that are gone: {gone}"
