"""The package layout's rules: the library never imports the CLI, packages import without MLX, and
no two packages import each other in a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "secai"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every secai module a file imports, at any depth (function-level imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("secai"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("secai"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def test_the_library_never_imports_the_cli():
    offenders = [
        f"{name} imports {imp}"
        for name, path in MODULES.items()
        if not (name.startswith("secai.commands") or name == "secai.cli")
        for imp in sorted(_imports(path))
        if imp.startswith("secai.commands") or imp == "secai.cli"
    ]
    assert not offenders, offenders


def test_package_init_files_are_empty_so_imports_stay_light():
    heavy = [
        str(p.relative_to(ROOT))
        for p in PKG.rglob("__init__.py")
        if p.parent != PKG
        and any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(ast.parse(p.read_text())))
    ]
    # The parser registry is the one package that exports its entry points.
    assert heavy == ["secai/ingest/parsers/__init__.py"], heavy


def _package(module: str) -> str:
    """The stage package a module belongs to (top-level modules are their own package)."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_import_cycles_between_packages():
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        src = _package(name)
        for imp in _imports(path):
            # `from secai.x import name` may name a module or an attribute: keep the longest known module.
            while imp and imp not in MODULES:
                imp = imp.rpartition(".")[0]
            if imp and _package(imp) != src:
                edges[src].add(_package(imp))
    # The CLI layer sits on top of everything and is allowed to import any package; cycles among the
    # rest are what this test forbids.
    library = {k: {v for v in vs if v not in ("secai.commands", "secai.cli")} for k, vs in edges.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(library.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(library):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_importing_a_module_does_not_import_mlx():
    """MLX is heavy and absent where only parsing is needed (the hosted collect job): every module
    imports it inside the functions that need it, except the Linux-CPU forward pass, which is MLX."""
    light = [n for n in MODULES if n != "secai.model.cpu.forward"]
    code = (
        "import importlib, sys\n"
        f"for name in {light!r}:\n"
        "    importlib.import_module(name)\n"
        "print(','.join(sorted(m for m in sys.modules if m == 'mlx' or m.startswith(('mlx.', 'mlx_lm')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"importing the library pulled in: {out.stdout.strip()}"
