"""The staged engine: a forward pass in topological order, a backward pass in reverse.

Forward (left to right in a circuit diagram): each gate's value from its inputs' values.
Backward (right to left): each gate receives its upstream gradient ∂f/∂gate, computes its local
gradient ∂gate/∂input for each input wire, and sends upstream × local down that wire (the op's
VJP on scalar wires; both come from the op's registry entry, ops.py). Where a wire forks (a node
feeds several gates), the gradients coming back add up.

Node ids are a topological order (see graph.py), so both passes are plain loops: nothing here
recurses. The engine prints nothing; it returns a `Trace` (trace.py, shared with the bulk
engines; importable from here too) that the tables and the JSON both read.
"""

from __future__ import annotations

import math
from array import array

from circuit_backprop.core.failures import (
    gradient_error,
    gradient_overflow,
    value_error,
    why_no_gradient,
)
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, INPUT, downstream
from circuit_backprop.core.rules import local_gradient, scalar_local_gradient
from circuit_backprop.core.trace import (  # importable from here too
    LocalGradients,
    Trace,
    depends_on,
    reaches_output,
)
from circuit_backprop.errors import EvalError  # noqa: F401 (the error it raises; importable here)

_MATH_ERRORS = (ValueError, ZeroDivisionError, OverflowError)


def forward(graph: Graph, inputs: dict[str, float]) -> Trace:
    """Compute every node's value, in id (= topological) order."""
    n = len(graph)
    values = array("d", bytes(8 * n))
    ops, args, consts = graph.ops, graph.args, graph.consts
    input_of = {node: name for name, node in graph.inputs.items()}
    for node in range(n):
        kind = ops[node]
        if kind == INPUT:
            values[node] = float(inputs[input_of[node]])
            continue
        if kind == CONST:
            values[node] = consts[node]
            continue
        node_args = args[node]
        xs = [values[i] for i in node_args]
        op = graph.op(node)
        try:
            value = op.value(*xs)
        except _MATH_ERRORS as exc:
            raise value_error(graph, node, xs, exc) from None
        if not math.isfinite(value):
            raise value_error(graph, node, xs, None, ())
        values[node] = value
    return Trace(graph, values, depends_on(graph))


def backward(trace: Trace) -> Trace:
    """Fill in ∂output/∂node for every node, and each gate's local gradients, in reverse order."""
    graph, values, depends = trace.graph, trace.values, trace.depends
    n = len(graph)
    grads = array("d", bytes(8 * n))
    local = LocalGradients.empty(graph)
    columns, computed = local.columns, local.computed
    reaches = reaches_output(graph)
    grads[graph.output] = 1.0
    args = graph.args
    for node in range(n - 1, -1, -1):
        node_args = args[node]
        if not node_args or not depends[node]:
            continue
        op = graph.op(node)
        xs = [values[i] for i in node_args]
        out = values[node]
        up = grads[node]
        computed[node] = 1
        # The op's rule (ops.py, run by rules.py): scalar wires, so upstream × local on each
        # wire that depends on an input (the others need no gradient, and may have none: x^3
        # at x < 0) and takes a gradient (not a comparison's)
        for k, i in enumerate(node_args):
            if not depends[i]:
                continue  # a constant wire: no gradient flows into it (its local stays NaN)
            try:
                d = (scalar_local_gradient(op, k, xs, out) if op.body is None
                     else local_gradient(op, k, xs, out))  # (a def: through its body)
                if d is None:
                    continue  # an input that takes no gradient
                if not math.isfinite(d):
                    raise ValueError(why_no_gradient(op, k, xs))
            except _MATH_ERRORS as exc:
                if reaches[node]:
                    raise gradient_error(graph, node, xs, _message(exc), k) from None
                continue  # a dead gate's gradient is never needed
            columns[k][node] = d
            grads[i] += downstream(up, d)
            if not math.isfinite(grads[i]):
                raise gradient_overflow(graph, node, k, xs)
    trace.grads = grads
    trace.local = local
    return trace


BULK_MIN_NODES = 20_000  # from here on, try the bulk engine (bulk.py): numpy, level by level


def run(graph: Graph, inputs: dict[str, float], gradients: bool = True) -> Trace:
    """Forward (and backward) pass. A circuit with arrays on its wires goes through the tensor
    engine (tensor.py); large scalar graphs through the bulk engine when it can."""
    if uses_arrays(graph, inputs):
        from circuit_backprop.core import tensor

        return tensor.run(graph, inputs, gradients)
    if len(graph) >= BULK_MIN_NODES:
        from circuit_backprop.core import bulk

        try:
            return bulk.run(graph, inputs, gradients)
        except bulk.Fallback:
            pass  # the reference engine below gives the exact answer or the exact error
    trace = forward(graph, inputs)
    return backward(trace) if gradients else trace


def uses_arrays(graph: Graph, inputs: dict[str, float]) -> bool:
    """Does this run carry arrays: the program's own (graph.has_arrays), or an input's value?"""
    return graph.has_arrays or any(hasattr(v, "__len__") or getattr(v, "ndim", 0)
                                   for v in inputs.values())


def _message(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ValueError) else ""


def output_with(trace: Trace, node: int, value: float) -> tuple[float | None, list[int]]:
    """f with `node`'s output set to `value`, re-running only the gates downstream of it.

    Returns (f or None where a gate is undefined, the downstream gates that were re-run)."""
    graph = trace.graph
    values = trace.values[:]
    values[node] = value
    changed = bytearray(len(graph))
    changed[node] = 1
    rerun: list[int] = []
    args = graph.args
    for i in range(node + 1, len(graph)):
        node_args = args[i]
        if not node_args or not any(changed[a] for a in node_args):
            continue
        try:
            v = graph.op(i).value(*(values[a] for a in node_args))
        except _MATH_ERRORS:
            return None, rerun
        if not math.isfinite(v):
            return None, rerun
        values[i] = v
        changed[i] = 1
        rerun.append(i)
    return values[graph.output], rerun
