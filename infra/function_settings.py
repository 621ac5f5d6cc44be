"""Which settings each Lambda function reads, found in the code (docs/configuration.md, "Read by").

A function reads a setting when a module it can load reads it (`settings.get().<field>`, found by
infra/configuration.py). What a function can load is the closure of its handler's module over the import
graph (grimp, as lint-imports builds it, with the `if TYPE_CHECKING:` imports that name every lazily loaded
module), where loading a module also loads its parent packages (so `functions/__init__.py`, the composition
root, and through it the platform table, are in every function's closure). That is complete because the code
imports nothing by name outside the lazy loader (tests/infra/test_code_shape.py) and reads settings only as
`settings.get().<field>` (tests/infra/test_configuration.py); it is module-grained, so it may name a setting
a function never reaches at run time, never the other way round. Settings a library reads itself
(`read_by`, Powertools) are read by every function.

A route's Lambda loads `app` (every blueprint) at cold start: a setting read at a module's top level in that
closure counts for every route; today none is.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grimp

    from infra.template import FunctionSpec


@cache
def import_graph() -> grimp.ImportGraph:
    """The import graph of app.py, functions/ and the layer (app.py is a module, not a package: added by hand)."""
    import grimp

    from infra.configuration import ROOT

    graph = grimp.build_graph("functions", "taskcenter")
    graph.add_module("app")
    for node in ast.walk(ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("functions",
                                                                                               "taskcenter"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                graph.add_import(importer="app", imported=name if name in graph.modules else node.module)
    return graph


def loaded_by(root: str) -> frozenset[str]:
    """Every module loading `root` can load: its imports, theirs, and the parent packages of each."""
    graph = import_graph()
    seen: set[str] = set()
    todo = [root]
    while todo:
        module = todo.pop()
        if module in seen or module not in graph.modules:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += graph.find_modules_directly_imported_by(module)
    return frozenset(seen)


@cache
def reads_by_module() -> dict[str, dict[str, set[str]]]:
    """{module: {setting: names of the functions in it that read it ("<module>": its top level)}}."""
    from infra.configuration import reads

    modules = {module for module, _ in _modules()}
    found, _ = reads()
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for setting, readers in found.items():
        for reader in readers:
            module = max((m for m in modules if reader.startswith(m + ".")), key=len)
            out[module][setting].add(reader[len(module) + 1:])
    return out


def _modules() -> list[tuple[str, object]]:
    from infra.configuration import _modules as modules

    return modules()


def library_settings() -> set[str]:
    from taskcenter import settings

    return {spec.name for spec in settings.SETTINGS if spec.metadata["read_by"]}


def settings_read(spec: FunctionSpec) -> set[str]:
    """The settings the function `spec` reads (see the module doc)."""
    by_module = reads_by_module()
    found = set(library_settings())
    for module in loaded_by(spec.module):
        found.update(by_module.get(module, {}))
    if spec.kind == "route":
        for module in loaded_by("app"):
            found.update(s for s, where in by_module.get(module, {}).items() if "<module>" in where)
    return found


def by_function(specs: list[FunctionSpec]) -> dict[str, set[str]]:
    """{logical id: the settings it reads} for the template's functions."""
    return {spec.logical_id: settings_read(spec) for spec in specs}
