"""The tables and the JSON of a tensor circuit (arrays on the wires).

Like report.py's, with what arrays add: each gate's shape; values and gradients as arrays
(small ones in full, larger ones as shape and statistics: NumberFormat decides); and, for each
input wire, the rule that makes its gradient, written with the circuit's own names: for
D = W @ X, ∂f/∂W = ∂f/∂D @ transpose(X), the cs231n dimension analysis made visible, since the
gradient sent down a wire always has the shape of that wire. Where an input was broadcast, the
rule says over which axes the gradient was summed back.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.text import Text

from circuit_backprop.core.arrays import Shape, broadcast_axes, show
from circuit_backprop.core.derive import gate_constants, vjp_formula
from circuit_backprop.core.graph import summary_nodes
from circuit_backprop.core.ops import INPUT
from circuit_backprop.core.trace import Trace
from circuit_backprop.views.numberformat import NumberFormat
from circuit_backprop.views.report import (
    GRAD_STYLE,
    NUMBER,
    SCHEMA,
    VALUE_STYLE,
    Column,
    Extra,
    FittedTable,
    _extra_cells,
    _extra_columns,
    gate_json,
    local_formula,
    output_line,
    symbol,
    wire_label,
)


def is_tensor(trace: Trace) -> bool:
    """Did this run carry arrays (the tensor engine's trace)?"""
    return hasattr(trace, "shapes")


def _styled(text: str, style: str) -> Text:
    return Text(text, style=style)


def forward_table(trace: Trace, number_format: NumberFormat,
                  extra: Extra | None = None) -> FittedTable:
    graph = trace.graph
    table = FittedTable("Forward pass (left to right)", [
        Column("#", "right", NUMBER, 2), Column("gate"), Column("op", "center", drop=3),
        Column("source", drop=1), Column("shape", "right", NUMBER),
        Column("value", "right", NUMBER), *_extra_columns(extra, 4),
    ])
    for node in range(len(graph)):
        table.add_row(str(node), graph.label(node), symbol(graph, node), graph.source(node, 40),
                      show(trace.shapes[node]),
                      _styled(number_format.value(trace.values[node]), VALUE_STYLE),
                      *_extra_cells(extra, node),
                      style="bold" if node == graph.output else None)
    return table


def gradient_rule(trace: Trace, node: int, k: int) -> str:
    """How the gradient sent down wire k is made, in the circuit's names: the op's VJP (its
    formula), or for an elementwise op upstream × local, summed over any broadcast axes."""
    graph = trace.graph
    op = graph.op(node)
    fname = graph.label(graph.output)
    up = f"∂{fname}/∂{graph.label(node)}"
    labels = [wire_label(graph, i) for i in graph.args[node]]
    x_shape, out_shape = trace.shapes[graph.args[node][k]], trace.shapes[node]
    if op.elementwise and not _fits_in(x_shape, out_shape):
        # (a def that ignores this parameter: def g(a, b) = exp(a), b an array)
        return f"0: {graph.label(node)} does not depend on {labels[k]}"
    if op.elementwise:
        local = local_formula(graph, node, k)
        if " " in local and not (local.startswith("(") and local.endswith(")")):
            local = f"({local})"
        rule = up if local == "1" else f"-{up}" if local == "-1" else f"{up} * {local}"
        axes = broadcast_axes(x_shape, out_shape)
        if axes:
            which = "axis" if len(axes) == 1 else "axes"
            rule += (f", summed over {which} {', '.join(map(str, axes))}: broadcast from "
                     f"{show(x_shape)} to {show(out_shape)}")
        return rule
    shapes = [trace.shapes[i] for i in graph.args[node]]
    return vjp_formula(op, k, labels, graph.label(node), up, shapes, graph.params.get(node, ()),
                       gate_constants(graph, node))


def _fits_in(x_shape: Shape, out_shape: Shape) -> bool:
    """Does an input of x_shape broadcast to the gate's out_shape (as an elementwise gate's
    inputs do)?"""
    import numpy as np

    try:
        return np.broadcast_shapes(x_shape, out_shape) == tuple(out_shape)
    except ValueError:
        return False


def backward_table(trace: Trace, number_format: NumberFormat,
                   extra: Extra | None = None) -> FittedTable:
    """Gates output first. Each gate has a row with the upstream gradient it receives, then a
    row per input wire with the rule for that wire's gradient and the gradient it sends down
    (whose shape is the input's own). Arrays stand in one column, so that the table stays
    readable at 80 columns."""
    graph = trace.graph
    fname = graph.label(graph.output)
    table = FittedTable(f"Backward pass (right to left): ∂{fname}/∂gate in, a gradient down "
                        "each wire", [
        Column("#", "right", NUMBER, 2), Column("gate / → input"), Column("rule"),
        Column("gradient", "right", NUMBER), Column("shape", "right", NUMBER, 1),
        *_extra_columns(extra, 3),
    ])
    for node in range(len(graph) - 1, -1, -1):
        if not graph.is_gate(node):
            continue
        label = graph.label(node)
        up = trace.grads[node] if trace.depends[node] else None
        table.add_row(str(node), label,
                      f"{graph.source(node, 40)} ({symbol(graph, node)}): receives "
                      f"∂{fname}/∂{label}" if up is not None else "constant: no gradient",
                      _styled(number_format.value(up), GRAD_STYLE), show(trace.shapes[node]),
                      *_extra_cells(extra, node), style="bold" if node == graph.output else None)
        if up is None:
            continue
        for rule, sent, shape in _wires(trace, node, number_format):
            table.add_row("", f"→ {rule[0]}", rule[1], sent, shape,
                          *([""] * len(extra or {})))
    return table


def _wires(trace: Trace, node: int, number_format: NumberFormat
           ) -> list[tuple[tuple[str, str], Text | str, str]]:
    """((input, rule), what it sends down, its shape) for each input wire of a gate."""
    graph = trace.graph
    sent = trace.downstream(node)
    rows: list[tuple[tuple[str, str], Text | str, str]] = []
    fname = graph.label(graph.output)
    for k, (i, d) in enumerate(zip(graph.args[node], sent, strict=True)):
        label = wire_label(graph, i)
        shape = show(trace.shapes[i])
        if d is None:
            reason = ("constant wire" if not trace.depends[i]
                      else "labels get no gradient" if k in graph.op(node).labels
                      else "takes no gradient" if graph.op(node).grad[k] is None else "—")
            rows.append(((label, reason), "", shape))
            continue
        rule = f"∂{fname}/∂{label} = {gradient_rule(trace, node, k)}"
        rows.append(((label, rule), _styled(number_format.value(d), GRAD_STYLE), shape))
    return rows


def gradient_table(trace: Trace, number_format: NumberFormat,
                   extra: Extra | None = None) -> FittedTable:
    """∂out/∂ every input and named gate, with its shape; at a fork, which gates' gradients
    were added up."""
    graph = trace.graph
    fname = graph.label(graph.output)
    table = FittedTable(f"Gradients of {fname}", [
        Column("node"), Column("kind", drop=1), Column("shape", "right", NUMBER),
        Column(f"∂{fname}/∂node", "right", NUMBER), Column("how it adds up"),
        *_extra_columns(extra, 2),
    ])
    shown = summary_nodes(graph)
    parts = trace.contributions(set(shown))
    gates = [gate for gate in range(len(graph)) if graph.is_gate(gate)]
    labels = {graph.args[gate][k] for gate in gates for k in graph.op(gate).labels}
    gradless = {graph.args[gate][k] for gate in gates
                for k, rule in enumerate(graph.op(gate).grad) if rule is None}
    for node in shown:
        terms = parts[node]
        if node == graph.output:
            how = f"the output: ∂{fname}/∂{fname} = 1"
        elif not terms and node in labels:
            how = "labels: no gradient flows into them"
        elif not terms and node in gradless:
            how = "read only where no gradient flows (a mask, a condition)"
        elif not terms:
            how = "does not reach the output" if trace.depends[node] else "constant"
        elif len(terms) == 1:
            how = f"from {graph.label(terms[0][0])}"
        else:
            how = "the sum of what " + _senders(graph, [g for g, _ in terms]) + " sent"
        kind = "input" if graph.ops[node] == INPUT else "gate"
        table.add_row(graph.label(node), kind, show(trace.shapes[node]),
                      _styled(number_format.value(trace.grads[node]), GRAD_STYLE), how,
                      *_extra_cells(extra, node))
    return table


def _senders(graph: Any, gates: list[int]) -> str:
    """a, b and c (twice): the gates whose gradients add up at a fork."""
    counts = Counter(gates)
    names = [graph.label(g) + (" (twice)" if n == 2 else f" ({n} times)" if n > 2 else "")
             for g, n in counts.items()]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def eval_view(trace: Trace, number_format: NumberFormat,
              extra: tuple[Extra, ...] = ()) -> list[Any]:
    return [forward_table(trace, number_format, *extra[:1]), output_line(trace, number_format)]


def backward_view(trace: Trace, number_format: NumberFormat,
                  extra: tuple[Extra, ...] = ()) -> list[Any]:
    forward_x, backward_x, gradient_x = (*extra, None, None, None)[:3]
    return [
        forward_table(trace, number_format, forward_x), Text(""),
        backward_table(trace, number_format, backward_x), Text(""),
        gradient_table(trace, number_format, gradient_x), output_line(trace, number_format),
    ]


# --- JSON (schema 1) --------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A value for JSON: a number for a scalar, nested lists for an array, None for None."""
    if value is None:
        return None
    return value.tolist() if hasattr(value, "tolist") else float(value)


def to_json(trace: Trace, inputs: dict[str, Any]) -> dict[str, Any]:
    """The same document as a scalar circuit's (report.to_json), with arrays as nested lists.
    For a gate whose VJP is its own rule (matmul, sum, softmax, ...), `local` holds null on
    each wire (the Jacobian is never made) and `rule` the VJP as text; for an elementwise gate,
    `local` holds each wire's local gradient, an array of the gate's shape."""
    graph = trace.graph
    backward = trace.grads is not None
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "output": graph.label(graph.output),
        "value": plain(trace.output_value),
        "inputs": {name: plain(inputs[name]) for name in graph.inputs},
    }
    if backward:
        doc["gradients"] = {name: plain(trace.grads[node]) for name, node in graph.inputs.items()}
    doc["gates"] = [_tensor_gate_json(trace, node, backward) for node in range(len(graph))]
    return doc


def _tensor_gate_json(trace: Trace, node: int, backward: bool) -> dict[str, Any]:
    """report.py's gate record, its numbers as nested lists, with the gate's shape, its rule
    per wire and its integer arguments."""
    graph = trace.graph
    gate = gate_json(trace, node, backward)
    gate["shape"] = list(trace.shapes[node])
    gate["value"] = plain(trace.values[node])
    if backward:
        gate["grad"] = plain(trace.grads[node])
        gate["local"] = [plain(d) for d in gate["local"]]
        gate["downstream"] = [plain(d) for d in gate["downstream"]]
        if graph.is_gate(node):
            gate["rule"] = [gradient_rule(trace, node, k) for k in range(len(graph.args[node]))]
    if node in graph.params:
        gate["params"] = list(graph.params[node])
    return gate
