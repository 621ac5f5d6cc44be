"""The shape of the code (docs/architecture.md, "Rules"): no import cycle among app, functions and the
layer; no import by name outside the lazy loader; every lazily loaded module named by a TYPE_CHECKING
import beside it; no module over 400 lines and no function over 60. The import rules between packages
are lint-imports' (pyproject.toml [tool.importlinter], `make lint`)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# The one place a module is imported by its name: the lazy loader (cold start), functions/_http.py.
LAZY_LOADER = ("functions/_http.py", "_load")


def _sources() -> Iterator[Path]:
    yield ROOT / "app.py"
    for top in ("functions", "layers"):
        yield from sorted((ROOT / top).rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _graph() -> grimp.ImportGraph:
    graph = grimp.build_graph("functions", "taskcenter")  # the packages; app.py is a module: added by hand
    graph.add_module("app")
    for node in ast.walk(_tree(ROOT / "app.py")):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("functions",
                                                                                               "taskcenter"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                graph.add_import(importer="app", imported=name if name in graph.modules else node.module)
    for module in list(graph.modules):  # and what imports app (grimp leaves it out: not a package)
        path = _path_of(module)
        if path is None:
            continue
        for node in ast.walk(_tree(path)):
            if (isinstance(node, ast.ImportFrom) and node.module == "app") or \
                    (isinstance(node, ast.Import) and any(alias.name == "app" for alias in node.names)):
                graph.add_import(importer=module, imported="app")
    return graph


def _path_of(module: str) -> Path | None:
    if module == "app":
        return None
    parts = module.split(".")
    base = ROOT / "layers" if parts[0] == "taskcenter" else ROOT
    for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_graph_of_app_functions_and_the_layer_has_no_cycle() -> None:
    graph = _graph()
    assert "app" in graph.modules and "taskcenter.domain.states" in graph.modules
    assert graph.direct_import_exists(importer="app", imported="functions.v1")
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    assert _cycles(graph) == []
    graph.add_import(importer="c", imported="a")
    assert _cycles(graph) == [["a", "b", "c"]]


def _imports_by_name(path: Path) -> list[tuple[int, str]]:
    """(line, enclosing function) of every import_module(...) / __import__(...) call in the file."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                callee = child.func
                called = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
                if called in ("import_module", "__import__"):
                    found.append((child.lineno, function))
            visit(child, name)

    visit(_tree(path), "")
    return found


def test_no_module_is_imported_by_name_outside_the_lazy_loader() -> None:
    offenders = []
    for path in _sources():
        relative = path.relative_to(ROOT).as_posix()
        for line, function in _imports_by_name(path):
            if (relative, function) != LAZY_LOADER:
                offenders.append(f"{relative}:{line} ({function or 'module level'})")
    assert offenders == []
    assert [function for _, function in _imports_by_name(ROOT / LAZY_LOADER[0])] == [LAZY_LOADER[1]]


def test_every_lazily_loaded_module_is_named_by_a_type_checking_import_beside_it() -> None:
    missing = []
    for path in sorted((ROOT / "functions").rglob("*.py")):
        tree = _tree(path)
        lazy = {call.args[0].value for call in ast.walk(tree)
                if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "lazy_module"
                and call.args and isinstance(call.args[0], ast.Constant)}
        named: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom):
                        named |= {f"{inner.module}.{alias.name}" for alias in inner.names}
                    elif isinstance(inner, ast.Import):
                        named |= {alias.name for alias in inner.names}
        missing += [f"{path.relative_to(ROOT)}: {name}" for name in sorted(lazy - named)]
    assert missing == []


def test_no_module_over_400_lines_and_no_function_over_60() -> None:
    long_modules, long_functions = [], []
    for path in _sources():
        relative = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            long_modules.append(f"{relative}: {lines} lines")
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{relative}:{node.lineno} {node.name}: {length} lines")
    assert long_modules == []
    assert long_functions == []
