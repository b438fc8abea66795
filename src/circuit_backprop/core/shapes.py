"""Shapes: NumPy's broadcasting rule, and each gate's output shape from its inputs' shapes.

A shape is a tuple of dimensions, `()` for a scalar. Every op has a shape rule (its registry
entry's `shape`, or broadcasting for an elementwise op), so shapes are known before anything
runs: `[[1, 2], [3, 4]] @ [[1, 2, 3]]` is refused when the program is parsed, at its
line:column, naming both shapes. Inputs whose shape is not known yet (no declaration, no
default) leave the gates that read them unknown (None) until the inputs' values arrive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from circuit_backprop.core.arrays import Shape, ShapeError, broadcast
from circuit_backprop.core.ops import CONST, INPUT

if TYPE_CHECKING:
    from circuit_backprop.core.graph import Graph

def infer(graph: Graph, input_shapes: Mapping[str, Shape | None]) -> list[Shape | None]:
    """Every node's shape, in id (= topological) order; None where an input's is unknown.

    Raises ShapeError carrying the node (`err.node`) whose inputs do not fit."""
    shapes: list[Shape | None] = []
    input_of = {node: name for name, node in graph.inputs.items()}
    arrays, params = graph.arrays, graph.params
    for node, (kind, args) in enumerate(zip(graph.ops, graph.args, strict=True)):
        if kind == INPUT:
            shapes.append(input_shapes.get(input_of[node]))
        elif kind == CONST:
            array = arrays.get(node)
            shapes.append(() if array is None else tuple(array.shape))
        else:
            ins = [shapes[i] for i in args]
            if any(s is None for s in ins):
                shapes.append(None)
                continue
            try:
                shapes.append(output_shape(graph.op(node), ins, params.get(node, ())))
            except ShapeError as err:
                err.node = node  # type: ignore[attr-defined]
                raise
    return shapes


def output_shape(op: object, ins: Sequence[Shape], params: tuple[int, ...]) -> Shape:
    """The op's shape rule: its own, or broadcasting for an elementwise op."""
    rule = getattr(op, "shape", None)
    if rule is not None:
        return tuple(rule(*ins, params))
    return broadcast(*ins) if ins else ()
