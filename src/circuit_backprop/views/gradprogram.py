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
from circuit_backprop.core.derive import constant_text, gradients_sent
from circuit_backprop.core.graph import Graph, readable_names
from circuit_backprop.core.ops import CONST, OPS
from circuit_backprop.core.trace import Trace
from circuit_backprop.errors import UsageError

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

    assigned = {out}
    last_gate = None
    for gate, target, expression in gradients_sent(
            graph, shapes, trace.depends, lambda node: _value(graph, node, names),
            lambda node: (f"d{names[node]}", notation.ATOM)):
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


def backward_circuit(trace: Trace, wrt: str | None = None) -> str:
    """The backward pass as a circuit of its own (`Result.backward_circuit`): the inputs with
    this run's values as defaults, the forward gates (each named: an unnamed one by the name
    made for it), then one gate per gradient (a fork's contributions added in one statement,
    since a circuit assigns each name once), and `output dNAME` for the gradient `wrt` (the
    first input's by default). Evaluate it, draw it, or differentiate it again: its gradient
    of ∂f/∂x is the row of second derivatives ∂²f/∂x∂·."""
    graph = trace.graph
    names = readable_names(graph)
    shapes = getattr(trace, "shapes", None) or [()] * len(graph)
    lines = [f"# the backward pass of {names[graph.output]}, as a circuit: the forward gates, "
             "then the gradients"]
    lines += _def_lines(graph)
    for name, node in graph.inputs.items():
        value = trace.values[node]
        lines.append(f"input {name} = {constant_text(value)[0]}")
    for node in range(len(graph)):
        if graph.is_gate(node):
            operands = [_value(graph, i, names) for i in graph.args[node]]
            text = notation.write(graph.op(node), operands, graph.params.get(node, ()))[0]
            lines.append(f"{names[node]} = {text}")
    taken = set(names.values())
    gradient = {node: _fresh(f"d{name}", taken) for node, name in names.items()}
    out = graph.output
    lines.append(f"{gradient[out]} = 1")
    pending: dict[int, list[notation.Written]] = {}

    def read(node: int) -> notation.Written:
        """dNODE, its statement written first: all its contributions are in by now."""
        terms = pending.pop(node, None)
        if terms is not None:
            total = terms[0]
            for term in terms[1:]:
                total = notation.write(OPS["add"], [total, term])
            lines.append(f"{gradient[node]} = {total[0]}")
        return gradient[node], notation.ATOM

    for _, target, expression in gradients_sent(graph, shapes, trace.depends,
                                                lambda i: _value(graph, i, names), read):
        pending.setdefault(target, []).append(expression)
    for node in list(pending):  # the inputs (and gates no gate reads), last
        read(node)
    chosen = wrt if wrt is not None else next(iter(graph.inputs), names[out])
    node = next((n for n, name in names.items() if name == chosen), None)
    if node is None:
        raise UsageError(f"backward_circuit: '{chosen}' is not an input or gate of this circuit",
                         [f"inputs: {', '.join(graph.inputs)}"])
    if node != out and not any(line.startswith(f"{gradient[node]} = ") for line in lines):
        lines.append(f"{gradient[node]} = 0 * {names[node]}")  # no gradient reaches it
    lines.append(f"output {gradient[node]}")
    return "\n".join(lines) + "\n"


def _value(graph: Graph, node: int, names: dict[int, str]) -> notation.Written:
    if graph.ops[node] == CONST:
        return constant_text(graph.constant(node))
    return names[node], notation.ATOM


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _def_lines(graph: Graph) -> list[str]:
    """The program's own defs, in the order they were written."""
    found = [op.definition for op in graph.custom_ops.values()
             if getattr(op, "definition", None) is not None]
    return [f"def {d.name}({', '.join(d.params)}) = {d.text}"
            for d in sorted(found, key=lambda d: d.start)]
