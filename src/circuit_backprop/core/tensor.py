"""The tensor engine: the staged engine (engine.py) with NumPy arrays on the wires.

The same two loops over node ids. Forward: each gate's value from its inputs' values (its op's
`forward`). Backward: each gate receives ∂f/∂gate, an array of the gate's own shape, and sends
down each input wire the op's vector-Jacobian product: for an elementwise op upstream × local,
summed over the axes that input was broadcast along; for any other op (a matrix product, a
reduction, softmax) its own rule, such as dW = dD @ transpose(X) for D = W @ X. Every gradient
has its input's shape (the dimension check of the cs231n notes), and gradients add at forks.

Shapes are checked before anything runs (shapes.py). A scalar circuit never comes here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from circuit_backprop.core.arrays import ShapeError, first_bad_element, show
from circuit_backprop.core.failures import NOT_FINITE, gradient_error, value_error
from circuit_backprop.core.graph import Graph
from circuit_backprop.core.ops import CONST, INPUT, Op, downstream, sum_to_input
from circuit_backprop.core.rules import local_gradient, vjp
from circuit_backprop.core.shapes import infer
from circuit_backprop.core.trace import Trace, depends_on, reaches_output
from circuit_backprop.errors import (
    SourceError,
    SourcePosition,
    UsageError,
)

_MATH_ERRORS = (ValueError, ZeroDivisionError, OverflowError, FloatingPointError)


@dataclass
class TensorTrace(Trace):
    """A run with arrays on the wires: `values` and `grads` hold float64 arrays (0-d for a
    scalar), `local[node]` an elementwise gate's local gradient per wire (None on the wires of
    an op with its own VJP), and `downstreams[node]` what the gate sent down each wire."""

    shapes: list[tuple[int, ...]] = field(default_factory=list)
    downstreams: list[tuple[Any, ...] | None] = field(default_factory=list)

    def downstream(self, node: int) -> tuple[Any, ...]:
        sent = self.downstreams[node] if self.downstreams else None
        return sent if sent is not None else tuple(None for _ in self.graph.args[node])

    def kink(self, node: int) -> str | None:
        return None  # (kinks of array gates are not located per element)


def run(graph: Graph, inputs: Mapping[str, Any], gradients: bool = True) -> TensorTrace:
    trace = forward(graph, inputs)
    return backward(trace) if gradients else trace


def check_shapes(graph: Graph, inputs: Mapping[str, Any]) -> list[tuple[int, ...]]:
    """Every node's shape for these inputs; a value whose shape disagrees with its input's
    declaration, or a gate whose inputs do not fit, is refused before anything runs."""
    given = {name: tuple(np.shape(inputs[name])) for name in graph.inputs}
    for name, declared in graph.declared_shapes.items():
        if given.get(name, declared) != declared:
            raise UsageError(f"input '{name}' is declared with shape {show(declared)}, but its "
                             f"value has shape {show(given[name])}")
    try:
        return infer(graph, given)  # type: ignore[return-value]
    except ShapeError as err:
        raise shape_error(graph, err.node, str(err)) from None  # type: ignore[attr-defined]


def shape_error(graph: Graph, node: int, message: str) -> SourceError:
    line, column = graph.position(node)
    lines = graph.text.split("\n")
    text = lines[line - 1] if line <= len(lines) else ""
    return SourceError(f"shape error: {message}", SourcePosition(line, column, text))


def forward(graph: Graph, inputs: Mapping[str, Any]) -> TensorTrace:
    """Every node's value, in id (= topological) order."""
    shapes = check_shapes(graph, inputs)
    n = len(graph)
    values: list[Any] = [None] * n
    input_of = {node: name for name, node in graph.inputs.items()}
    params = graph.params
    with np.errstate(all="ignore"):  # a bad element is found and named below, not warned about
        for node in range(n):
            kind = graph.ops[node]
            if kind == INPUT:
                values[node] = np.asarray(inputs[input_of[node]], dtype=np.float64)
                continue
            if kind == CONST:
                values[node] = np.asarray(graph.constant(node), dtype=np.float64)
                continue
            args = graph.args[node]
            xs = [values[i] for i in args]
            op = graph.op(node)
            try:
                value = np.asarray(op.forward(xs, params.get(node, ())), dtype=np.float64)
            except _MATH_ERRORS as exc:
                raise value_error(graph, node, xs, exc) from None
            bad = first_bad_element(value)
            if bad is not None:
                raise value_error(graph, node, xs, None, bad)
            values[node] = value
    return TensorTrace(graph, values, depends_on(graph), shapes=shapes)


def backward(trace: TensorTrace, seed: Any = None) -> TensorTrace:
    """∂f/∂node for every node (an array of the node's shape), in reverse id order.

    `seed` is the output's own gradient: 1 for a scalar output, or, for a composite gate's body
    (composite.py), the upstream gradient arriving at the gate."""
    graph, values, depends = trace.graph, trace.values, trace.depends
    out = graph.output
    if seed is None and trace.shapes[out]:
        name = graph.label(out)
        raise UsageError(
            f"backward needs a scalar output, but {name} has shape {show(trace.shapes[out])}",
            [f"reduce it to one number first, e.g. {name}_total = sum({name})"])
    n = len(graph)
    grads: list[Any] = [None] * n
    local: list[tuple[Any, ...] | None] = [None] * n
    sent: list[tuple[Any, ...] | None] = [None] * n
    reaches = reaches_output(graph)
    grads[out] = np.ones(()) if seed is None else np.asarray(seed, dtype=np.float64)
    params = graph.params
    with np.errstate(all="ignore"):
        for node in range(n - 1, -1, -1):
            args = graph.args[node]
            up = grads[node]
            if not args or not depends[node] or not reaches[node] or up is None:
                continue
            op = graph.op(node)
            xs = [values[i] for i in args]
            needs = [bool(depends[i]) for i in args]
            local[node], sent[node] = _vjp(graph, node, op, up, xs, values[node], needs,
                                           params.get(node, ()))
            for i, d in zip(args, sent[node], strict=True):
                if d is not None:
                    grads[i] = d if grads[i] is None else grads[i] + d  # gradients add at forks
    trace.grads = [np.zeros(v.shape) if g is None else np.asarray(g, dtype=np.float64)
                   for g, v in zip(grads, values, strict=True)]
    trace.local = local
    trace.downstreams = sent
    return trace


def _vjp(graph: Graph, node: int, op: Op, up: Any, xs: list[Any], out: Any, needs: list[bool],
         params: tuple[int, ...]) -> tuple[tuple[Any, ...] | None, tuple[Any, ...]]:
    """(local gradients or None, what goes down each wire) for one gate."""
    if op.elementwise and _spans_inputs(out, xs):
        kept = []
        for k in range(len(xs)):
            if not needs[k]:
                kept.append(None)  # a constant wire: no gradient (and maybe none exists)
                continue
            try:
                d = local_gradient(op, k, xs, out)
                if d is None:
                    kept.append(None)  # an input that takes no gradient (a comparison's)
                    continue
                d = np.asarray(d, dtype=np.float64)
            except _MATH_ERRORS as exc:
                raise gradient_error(graph, node, xs, str(exc), k) from None
            if first_bad_element(d) is not None:
                bad = first_bad_element(np.broadcast_to(d, out.shape))
                raise gradient_error(graph, node, xs, NOT_FINITE, k, bad)
            kept.append(d)  # (a local that is one number, such as +'s 1, stays one: it broadcasts)
        # (a local of exactly 1, as +'s, passes the upstream gradient on as it is: no copy)
        sent = tuple(None if d is None else
                     sum_to_input(up if d.ndim == 0 and d == 1.0 else downstream(up, d), x)
                     for d, x in zip(kept, xs, strict=True))
        # the tables show each wire's local gradient with the gate's shape (a view: no copy)
        local_out: tuple[Any, ...] | None = tuple(
            None if d is None else np.broadcast_to(d, out.shape) for d in kept)
    else:
        try:
            sent = vjp(op, up, xs, out, needs, params)
        except _MATH_ERRORS as exc:
            raise gradient_error(graph, node, xs, str(exc)) from None
        local_out = tuple(None for _ in xs)
    for k, d in enumerate(sent):
        if d is not None and first_bad_element(d) is not None:
            raise gradient_error(graph, node, xs, "the gradient overflows float64", k)
    return local_out, tuple(None if d is None else np.asarray(d, dtype=np.float64) for d in sent)


def _spans_inputs(out: Any, xs: list[Any]) -> bool:
    """Does the gate's output have the broadcast shape of all its inputs? Then each wire's
    gradient is upstream × local, summed back. A def that ignores a parameter is elementwise
    yet narrower than it (def g(a, b) = exp(a), called with an array b): its VJP comes from the
    backward pass through its body instead."""
    try:
        return np.broadcast_shapes(out.shape, *(x.shape for x in xs)) == out.shape
    except ValueError:
        return False


def output_with(trace: TensorTrace, node: int, value: Any) -> tuple[Any | None, list[int]]:
    """f with `node`'s value set to `value`, re-running only the gates downstream of it (as
    engine.output_with does on scalars). Returns (f or None where a gate fails, the gates run)."""
    graph = trace.graph
    values = list(trace.values)
    values[node] = np.array(value, dtype=np.float64)  # (a copy: the caller nudges its array)
    changed = bytearray(len(graph))
    changed[node] = 1
    rerun: list[int] = []
    params = graph.params
    with np.errstate(all="ignore"):
        for i in range(node + 1, len(graph)):
            args = graph.args[i]
            if not args or not any(changed[a] for a in args):
                continue
            try:
                v = np.asarray(graph.op(i).forward([values[a] for a in args], params.get(i, ())),
                               dtype=np.float64)
            except _MATH_ERRORS:
                return None, rerun
            if first_bad_element(v) is not None:
                return None, rerun
            values[i] = v
            changed[i] = 1
            rerun.append(i)
    return values[graph.output], rerun
