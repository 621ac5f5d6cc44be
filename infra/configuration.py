"""docs/configuration.md, generated from taskcenter/settings.py and the code that reads it: `make configuration`.

    python -m infra.configuration            # writes docs/configuration.md
    python -m infra.configuration --stdout   # prints it

"Read in" is found, not declared: every read of a setting is written `settings.get().<field>`, and this
module finds those expressions in app.py, functions/ and layers/ (ast), with the function around each.
"Read by" names the Lambda functions whose code reads it (infra/function_settings.py: the import closure of
each handler). What template.yaml sets comes from `infra.template.SETTING_VALUES`, the one map of the
template's parameters onto settings, on the functions that read each (infra.template).
tests/infra/test_configuration.py checks that the file is up to date, that every setting is read somewhere,
that every read names a setting and that each function is given what it reads.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from dataclasses import MISSING
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "layers"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

DOC_PATH = ROOT / "docs" / "configuration.md"
SOURCES = ("app.py", "functions", "layers/taskcenter")


def _modules() -> list[tuple[str, Path]]:
    out = []
    for source in SOURCES:
        path = ROOT / source
        for file in sorted([path] if path.is_file() else path.rglob("*.py")):
            parts = file.relative_to(ROOT / "layers" if source.startswith("layers") else ROOT).with_suffix("").parts
            out.append((".".join(p for p in parts if p != "__init__"), file))
    return out


def _is_get_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "settings")


def reads() -> tuple[dict[str, list[str]], list[str]]:
    """({field: sorted `module.function` that read it}, [problems: reads not of the form settings.get().field])."""
    from taskcenter import settings

    names = {spec.name for spec in settings.SETTINGS}
    found: dict[str, set[str]] = defaultdict(set)
    problems: list[str] = []
    for module, file in _modules():
        if module == "taskcenter.settings":
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                parents[child] = parent
        for node in ast.walk(tree):
            if not _is_get_call(node):
                continue
            parent = parents.get(node)
            where = f"{file.relative_to(ROOT)}:{node.lineno}"
            if not isinstance(parent, ast.Attribute):
                problems.append(f"{where}: read one setting per expression, settings.get().<field>")
            elif parent.attr not in names:
                problems.append(f"{where}: settings.get().{parent.attr} is not a setting")
            else:
                found[parent.attr].add(f"{module}.{_enclosing(node, parents)}")
    return {name: sorted(found[name]) for name in sorted(found)}, problems


def _enclosing(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str:
    names = []
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
    return ".".join(reversed(names)) or "<module>"


def _default(spec: Any) -> Any:
    return spec.default_factory() if spec.default is MISSING else spec.default


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (frozenset, dict)) and not value:
        return "empty"
    return f"`{value}`" if value != "" else "empty"


def _type(spec: Any) -> str:
    names = {"frozenset[str]": "list of host:port", "dict[str, float]": "JSON object"}
    return names.get(str(spec.type), str(spec.type))


def _bounds(spec: Any) -> str:
    low, high = spec.metadata["min"], spec.metadata["max"]
    if low is not None and high is not None:
        return f"{low}..{high}"
    return f">= {low}" if low is not None else (f"<= {high}" if high is not None else "")


def _template_value(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return f"parameter `{value['Ref']}`"
    if isinstance(value, str):
        return f"`{value}`"
    return "this stack's resource"


def lambda_readers() -> tuple[dict[str, list[str]], int]:
    """({setting: the Lambda functions reading it, shortened}, how many functions there are)."""
    from infra import function_settings
    from infra.template import app_functions, load_app

    specs = app_functions(load_app())
    reading = function_settings.by_function(specs)
    by_module: dict[str, list[str]] = defaultdict(list)
    for spec in specs:
        by_module[spec.module].append(spec.logical_id)
    out: dict[str, list[str]] = {}
    for name in {n for names in reading.values() for n in names}:
        readers = {logical for logical, names in reading.items() if name in names}
        if len(readers) == len(specs):
            out[name] = ["every function"]
            continue
        shown = []
        for module, logicals in sorted(by_module.items()):
            if set(logicals) <= readers:
                shown.append(f"`{module}.*` ({len(logicals)})")
            else:
                shown += [f"`{logical}`" for logical in logicals if logical in readers]
        out[name] = shown
    return out, len(specs)


def render() -> str:
    from taskcenter import config, settings

    from infra.template import SETTING_VALUES

    found, _ = reads()
    by_lambda, count = lambda_readers()
    lines = [
        "# Configuration",
        "",
        "<!-- generated by make configuration (python -m infra.configuration) from layers/taskcenter/settings.py;"
        " do not edit -->",
        "",
        "Every setting of the service is one field of the frozen `Settings` dataclass in",
        "`layers/taskcenter/settings.py`, read from its environment variable once per process (on first use;",
        "`settings.get()`). An unset or empty variable gives the default; a value outside the bounds is clamped to",
        "them. Tests and the local stack, which change their environment between calls, make `get()` follow it",
        "(`settings.follow_environment(True)` in tests/conftest.py, tests/bench and infra/local/stack.py).",
        "",
        "\"Read by\" lists the Lambda functions (template.yaml logical ids; `functions.mj.*` is every function whose",
        f"handler is in functions/mj.py) that read the field, of the {count}: those whose handler's import closure",
        "reads it (infra/function_settings.py; module-grained, so it may name a function that never reaches the read,",
        "never miss one). \"Read in\" lists the code that reads it. Both are found in the code by `make configuration`",
        "and checked by tests/infra/test_configuration.py.",
        "",
        "template.yaml sets the variables in the last column, each on the functions that read it: in `Globals` when",
        "every function does, else in those functions' own `Environment` (infra/template.py, `SETTING_VALUES` maps",
        "its parameters onto settings). The other variables are unset on AWS, so the default applies; set one on a",
        "function to change it.",
        "",
        "| Variable | Type | Default | Bounds | Meaning | Read by | Read in | template.yaml |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec in settings.SETTINGS:
        meta = spec.metadata
        readers = [f"`{r}`" for r in found.get(spec.name, [])] + ([meta["read_by"]] if meta["read_by"] else [])
        template = _template_value(SETTING_VALUES[spec.name]) if spec.name in SETTING_VALUES else ""
        lines.append(f"| `{meta['env']}` (`{spec.name}`) | {_type(spec)} | {_shown(_default(spec))} | {_bounds(spec)} "
                     f"| {meta['doc']} | {', '.join(by_lambda.get(spec.name, []))} | {'<br>'.join(readers)} "
                     f"| {template} |")
    lines += [
        "",
        "## AWS wiring",
        "",
        "Where the resources are is not a setting: `layers/taskcenter/config.py` reads it at every use (tests create",
        "tables and queues after import), and template.yaml binds each variable to this stack's resource.",
        "",
        "| Variable | What |",
        "|---|---|",
    ]
    lines += [f"| `{var}` | physical name of the {name} table |" for name, var in config.TABLE_ENV.items()]
    lines += [f"| `{var}` | URL of the {name} queue |" for name, var in config.QUEUE_ENV.items()]
    lines += [f"| `{var}` | endpoint of {name} (else `AWS_ENDPOINT_URL`; the local stack only) |"
              for name, var in config.ENDPOINT_ENV.items()]
    lines += ["| `AWS_REGION` | region (else `AWS_DEFAULT_REGION`, else us-east-1); set by Lambda |", "",
              "The local stack's own variables (`LOCAL_*`, the simulators' `*_SIM_*`, and the Powertools switches it",
              "sets such as `POWERTOOLS_METRICS_DISABLED`) are described in docs/local-stack.md; they are not read by",
              "the deployed service.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.configuration", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stdout", action="store_true", help="print the document instead of writing it")
    args = parser.parse_args(argv)
    _, problems = reads()
    if problems:
        print("error: " + "\n".join(problems), file=sys.stderr)
        return 1
    text = render()
    if args.stdout:
        sys.stdout.write(text)
    else:
        DOC_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
