"""No class over 200 lines and no function over 60 in `src/` (house style: small units that
one can read whole), counted with `ast` from the first decorator to the last line."""

from __future__ import annotations

import ast

from support.paths import ROOT

SRC = ROOT / "src"
MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 60

def _length(node: ast.AST) -> int:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return node.end_lineno - first + 1


def too_long() -> dict[str, int]:
    """`path:name` -> lines of every class and function of `src/` past its limit."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                limit = MAX_CLASS_LINES
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                limit = MAX_FUNCTION_LINES
            else:
                continue
            if _length(node) > limit:
                found[f"{path.relative_to(SRC).as_posix()}:{node.name}"] = _length(node)
    return found


def test_no_class_over_200_lines_and_no_function_over_60():
    found = too_long()
    assert not found, f"too long (class > {MAX_CLASS_LINES}, function > " \
                    f"{MAX_FUNCTION_LINES} lines): {found}"


def test_the_count_sees_a_long_function_and_a_long_class():
    """The counter itself: a 61-line function and a 201-line class are found, decorators
    counted."""
    body = "\n".join("    x = 1" for _ in range(59))
    tree = ast.parse(f"@decorated\ndef f():\n{body}\n")
    assert _length(tree.body[0]) == 61
    methods = "\n".join(f"    def m{i}(self):\n        pass" for i in range(100))
    tree = ast.parse(f"class C:\n{methods}\n")
    assert _length(tree.body[0]) == 201
