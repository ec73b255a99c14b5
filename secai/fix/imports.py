"""The import a rewritten Python line needs.

The model rewrites only the named lines, but a fix often reaches for a standard-library module
the file does not import yet (`tempfile.gettempdir()` for a hard-coded `/tmp` path,
`ast.literal_eval` for `eval`, `subprocess.run` for `os.popen`); the team's own fixes add the
import in a second hunk. So when the new lines use `name.attr` for a standard-library module
that nothing in the patched file binds, `import name` is added after the file's top-level
imports. Only standard-library modules: a fix never gains a dependency this way. The verifier
judges the result like any other edit (both hunks count as changed lines).
"""

from __future__ import annotations

import ast
import builtins
import sys

from secai.fix.edit import EditError, LineEdit, apply_edits
from secai.fix.syntax import kind_of


def _needed(tree: ast.Module, first: int, last: int) -> list[str]:
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return []  # a star import may bind anything
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
    wanted = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and isinstance(node.value.ctx, ast.Load)
            and first <= node.value.lineno <= last
        ):
            wanted.add(node.value.id)
    return sorted(
        n for n in wanted - bound if n in sys.stdlib_module_names and not n.startswith("_") and not hasattr(builtins, n)
    )


def _import_line(tree: ast.Module) -> int:
    """The line before which new imports go: after the last top-level import of the file's
    opening run of imports (after its docstring when it has none)."""
    at = 1
    for i, node in enumerate(tree.body):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            at = (node.end_lineno or node.lineno) + 1
        elif i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            at = (node.end_lineno or node.lineno) + 1  # the module docstring
        else:
            break
    return at


def with_imports(path: str, text: str, edit: LineEdit) -> list[LineEdit]:
    """`edit`, plus the insertion of `import name` for each standard-library module its new
    lines use but the file does not bind; `[edit]` when none is needed or the result would not
    parse."""
    if kind_of(path) != "python" or not edit.new:
        return [edit]
    try:
        tree = ast.parse(apply_edits(text, [edit]))
    except (EditError, SyntaxError, ValueError, RecursionError, MemoryError):
        return [edit]
    names = _needed(tree, edit.start, edit.start + len(edit.new) - 1)
    if not names:
        return [edit]
    try:
        at = _import_line(ast.parse(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return [edit]
    if at > edit.start:  # the rewritten lines are among the imports: leave them as they are
        return [edit]
    return [LineEdit(start=at, end=at - 1, old=[], new=[f"import {n}" for n in names]), edit]
