"""The house's size limits: no class over 250 lines and no function over 80 in hpsearch/.

``python tests/test_code_shape.py`` lists the longest classes and functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "hpsearch"
MAX_CLASS, MAX_FUNCTION = 250, 80


def definitions(root: Path = ROOT) -> list[tuple[int, str, str]]:
    """(lines, "class" or "def", "path:line name") of every class and function under ``root``."""
    rows = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                kind = "class" if isinstance(node, ast.ClassDef) else "def"
                where = f"{path.relative_to(root.parent)}:{node.lineno} {node.name}"
                rows.append((node.end_lineno - node.lineno + 1, kind, where))
    return sorted(rows, reverse=True)


def test_no_class_or_function_over_the_limits():
    over = [f"{where}: {n} lines" for n, kind, where in definitions()
            if n > (MAX_CLASS if kind == "class" else MAX_FUNCTION)]
    assert not over, "over the limits (class 250, function 80):\n" + "\n".join(over)


def test_the_lister_sees_this_package():
    names = [where for _, _, where in definitions()]
    assert any(w.endswith(" Engine") and w.startswith("hpsearch/search/") for w in names)


if __name__ == "__main__":
    for n, kind, where in definitions()[:15]:
        print(f"{n:5d} {kind:5s} {where}")
