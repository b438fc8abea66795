"""The layout is the architecture: lang -> core -> checks -> views, no import cycles, a thin CLI.

Every import in the package is read from its source (function-level ones too), so a new module
that imports the wrong way fails here without anyone naming it.
"""

from __future__ import annotations

import ast

from tests.conftest import REPO

PACKAGE = REPO / "src" / "circuit_backprop"
# what each layer may import from the package (besides itself, errors and version)
ALLOWED = {
    "core": set(),
    "lang": {"core"},
    "checks": {"core"},
    "views": {"core", "checks"},
}
COMMON = {"circuit_backprop.errors", "circuit_backprop.version"}


def _module(path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def imports() -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    found: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    found[name].add(target if target in modules else node.module)
            elif isinstance(node, ast.Import):
                found[name].update(a.name for a in node.names)
        found[name] = {t for t in found[name] if t in modules and t != name}
    return found


def test_no_import_cycles():
    graph = imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in graph:
        if state.get(root):
            continue
        stack = [(root, iter(sorted(graph[root])))]
        state[root] = 1
        while stack:  # depth-first, without recursion
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                path = [n for n, _ in stack]
                cycle = path[path.index(child):] + [child]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(graph[child]))))


def test_each_layer_imports_only_the_layers_before_it():
    wrong = []
    for module, targets in imports().items():
        parts = module.split(".")
        layer = parts[1] if len(parts) > 2 else None
        if layer not in ALLOWED:
            continue
        for target in targets - COMMON:
            target_layer = target.split(".")[1] if target.count(".") >= 2 else target
            if target_layer != layer and target_layer not in ALLOWED[layer]:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_the_cli_is_a_thin_shell_over_the_api():
    cli = imports()["circuit_backprop.cli"]
    engines = {"circuit_backprop.core.engine", "circuit_backprop.core.bulk",
               "circuit_backprop.lang.parse", "circuit_backprop.checks.torchcheck",
               "circuit_backprop.checks.numeric"}
    assert "circuit_backprop.api" in cli
    assert cli & engines == set()  # it parses, runs and checks only through the API
