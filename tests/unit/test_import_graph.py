"""The modules of ``recbole_unisrec`` import one way: no module reaches itself through imports.

The graph is read from the source (``ast``), every ``import`` counted, the ones inside functions
too, and ``importlib.import_module("...")`` with a literal name. An edge goes to the module an import names: ``from pkg import sub`` to ``pkg.sub`` where
``sub`` is a submodule, else to ``pkg`` (its ``__init__``). The parent packages that Python runs
first are not edges, so a package ``__init__`` that re-exports its submodules is no circle, while a
submodule that imports names from its own package's ``__init__`` (which imports it back) is one.
Run as a script to print the cycles: ``python tests/unit/test_import_graph.py``.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "recbole_unisrec"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / PACKAGE


def module_names(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for ``__init__``)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _dynamic_import(node: ast.AST) -> str | None:
    """The module of ``importlib.import_module("name")`` (a literal name), else None."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return node.args[0].value if name == "import_module" and isinstance(node.args[0].value, str) else None


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The dotted names one import statement reaches (``from a import b`` -> ``a.b`` and ``a``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")
            if not is_package:
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        return [target, *(f"{target}.{alias.name}" for alias in node.names)]
    return []


def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    """Module -> the modules of the package it imports (anywhere in its source)."""
    modules = module_names(package_dir)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            dynamic = _dynamic_import(node)
            if dynamic in modules:
                graph[name].add(dynamic)
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            target, *members = _imported(node, name, is_package)
            submodules = [member for member in members if member in modules]
            if isinstance(node, ast.ImportFrom):
                # names that are submodules go to them; other names come from ``target`` itself
                graph[name].update(submodules)
                if len(submodules) < len(members) and target in modules:
                    graph[name].add(target)
            else:
                graph[name].update(t for t in [target, *members] if t in modules)
        graph[name].discard(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_graph_sees_function_level_imports():
    graph = import_graph()
    assert f"{PACKAGE}.quick_start" in graph
    assert f"{PACKAGE}.compat" in graph[PACKAGE]  # the package __init__ imports compat
    # __main__ imports the serving package inside a function
    assert f"{PACKAGE}.serving" in graph[f"{PACKAGE}.__main__"]


def test_graph_counts_importlib_relative_imports_and_parent_packages(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg import a\n")
    (package / "a.py").write_text("import importlib\n\ndef f():\n    return importlib.import_module('pkg.sub.b')\n")
    (package / "sub" / "__init__.py").write_text("from .b import thing\nfrom .d import *\n")
    (package / "sub" / "b.py").write_text("from .. import a\nthing = 1\n")
    (package / "sub" / "c.py").write_text("from pkg.sub import thing\n")
    (package / "sub" / "d.py").write_text("from . import thing\n")
    graph = import_graph(package)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub.b"}, "pkg.sub": {"pkg.sub.b", "pkg.sub.d"},
                     "pkg.sub.b": {"pkg.a"}, "pkg.sub.c": {"pkg.sub"}, "pkg.sub.d": {"pkg.sub"}}
    # a.py <-> sub/b.py; d.py imports its package's __init__, which imports d back. c.py imports
    # the __init__ too, but the __init__ does not import c (re-exporting submodules is no circle).
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"], ["pkg.sub", "pkg.sub.d"]]


def test_cycles_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


if __name__ == "__main__":
    for component in cycles(import_graph()):
        print(" <-> ".join(component))
