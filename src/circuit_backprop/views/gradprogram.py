"""`circuit grad`: the backward pass written as a program in the circuit language, in the style
of the seed notebook's "manual implementation" and of cs231n's staged backward code.

One `dNAME = ...` line per gradient a gate sends down a wire (core/derive.py: its op's rule with
the gate's own names written in), gates in backward order (the output first), `+=` where a wire
forks, each gate's first line commented with the gate. An unnamed gate is named from its source
text (graph.readable_names: `2*y` is `_2y`, its gradient `d_2y`).

The program is a valid answer file: `circuit grade FILE <(circuit grad FILE)` grades it all ✓.
"""

from __future__ import annotations

from circuit_backprop.core import notation
from circuit_backprop.core.derive import constant, constant_text, gradients_sent
from circuit_backprop.core.graph import Graph, readable_names
from circuit_backprop.core.ops import CONST
from circuit_backprop.core.trace import Trace

COMMENT_COLUMN = 20  # comments start after this many characters of code (or after the code)


def program(trace: Trace, origin: str | None = None) -> str:
    """The backward pass of a run as program text (see the module's docstring)."""
    graph = trace.graph
    names = readable_names(graph)
    shapes = getattr(trace, "shapes", None) or [()] * len(graph)
    out = graph.output
    where = f" of {origin}" if origin else ""
    lines = [f"# the backward pass{where}, output {names[out]}: dNAME is "
             f"∂{names[out]}/∂NAME", f"d{names[out]} = 1"]

    def value(node: int) -> notation.Written:
        if graph.ops[node] == CONST:
            return constant_text(constant(graph, node))
        return names[node], notation.ATOM

    assigned = {out}
    last_gate = None
    for gate, target, expression in gradients_sent(
            graph, shapes, trace.depends, value, lambda node: (f"d{names[node]}", notation.ATOM)):
        comment = None
        if gate != last_gate:
            comment, last_gate = _gate_comment(graph, gate, names), gate
        elif target not in assigned and graph.names[target] is None:
            comment = f"(unnamed gate {graph.source(target)})"
        code = f"d{names[target]} {'+=' if target in assigned else '='} {expression[0]}"
        assigned.add(target)
        lines.append(code if comment is None else f"{code:<{COMMENT_COLUMN}} # {comment}")
    return "\n".join(lines) + "\n"


def _gate_comment(graph: Graph, node: int, names: dict[int, str]) -> str:
    source = graph.source(node)
    return source if graph.names[node] is None else f"{names[node]} = {source}"
