"""`--expand`: composite gates broken into primitive gates, for the program's own defs and for
the built-in ops that are composites (those with `Op.expands_to` in the registry: `sigmoid`, whose
body is `1 / (1 + exp(-a))`, as in cs231n's 2-D neuron diagram)."""

from __future__ import annotations

from functools import cache

from circuit_backprop.core.composite import CompositeOp, Definition, inline, user_composites
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import OPS
from circuit_backprop.errors import UsageError
from circuit_backprop.lang.parse import parse


@cache
def builtin_definition(op_name: str) -> Definition:
    """The body of a built-in composite (`Op.expands_to`), parsed once."""
    op = OPS[op_name]
    assert op.expands_to is not None
    body = parse(op.expands_to)
    return Definition(op.call or op.name, op.inputs, body, op.expands_to,
                      builtin=True)


def builtin_composites() -> list[str]:
    """Built-in ops that `--expand` breaks into primitives."""
    return [name for name, op in OPS.items() if op.expands_to]


def expand(graph: Graph, names: list[str] | None = None) -> Graph:
    """Inline the bodies of the named composites (all of them when `names` is None)."""
    available = user_composites(graph) + builtin_composites()
    if names is None:
        want = set(available)
    else:
        unknown = [n for n in names if n not in available]
        if unknown:
            raise UsageError(
                "--expand: no composite gate named " + ", ".join(f"'{n}'" for n in unknown),
                [f"composite gates here: {', '.join(available)} "
                 f"(built-in: {', '.join(builtin_composites())})"],
            )
        want = set(names)
    return inline(graph, want, _definition)


def _definition(graph: Graph, kind: str) -> Definition:
    op = graph.custom_ops.get(kind)
    if isinstance(op, CompositeOp) and op.definition is not None:
        return op.definition
    return builtin_definition(kind)
