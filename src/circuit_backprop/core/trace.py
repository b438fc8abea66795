"""What a run computes, shared by both engines (engine.py, the reference; bulk.py, the fast ones).

A `Trace` holds every node's value, whether it depends on an input, its gradient ∂output/∂node
and each gate's local gradients. `reaches_output` is the rule for which nodes need a gradient at
all. Both engines import this module, and neither imports the other at import time.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from circuit_backprop.core.ops import downstream

if TYPE_CHECKING:
    from circuit_backprop.core.graph import Graph
    from circuit_backprop.errors import GateFailure


class LocalGradients(Sequence):
    """local[node]: a gate's local gradients, one per input wire (None on a wire that carries no
    gradient), or None where none were computed (inputs, constants, gates that depend on no
    input).

    Stored as one float64 array per input position, NaN marking "no gradient on this wire":
    8 bytes a wire, where a tuple per gate would cost ten times that on a million gates.
    """

    def __init__(self, graph: Graph, columns: list[array], computed: bytearray) -> None:
        self.graph = graph
        self.columns = columns  # columns[k][node] = ∂node/∂(its k-th input), or NaN
        self.computed = computed

    @classmethod
    def empty(cls, graph: Graph) -> LocalGradients:
        width = max((len(a) for a in graph.args), default=0)
        n = len(graph)
        return cls(graph, [array("d", [math.nan]) * n for _ in range(width)], bytearray(n))

    def __len__(self) -> int:
        return len(self.computed)

    def __getitem__(self, node: int) -> tuple[float | None, ...] | None:  # type: ignore[override]
        if isinstance(node, slice):
            return [self[i] for i in range(*node.indices(len(self)))]
        if not self.computed[node]:
            return None
        columns = self.columns
        return tuple(None if d != d else d  # NaN: no gradient on this wire
                     for d in (columns[k][node] for k in range(len(self.graph.args[node]))))


@dataclass
class Trace:
    """Everything one run computed, per node (arrays indexed by node id)."""

    graph: Graph
    values: Sequence[float]  # array("d")
    depends: Sequence[int]  # does the node depend on some input? Only such wires carry gradient.
    grads: Sequence[float] | None = None  # ∂output/∂node; None after a forward pass only
    local: Sequence[tuple[float | None, ...] | None] = field(default_factory=list)
    # local[node][k] = ∂node/∂(its k-th input); None where the wire carries no gradient

    @property
    def output_value(self) -> float:
        return self.values[self.graph.output]

    def upstream(self, node: int) -> float:
        """∂f/∂node: the gradient arriving at the node's output from the right."""
        assert self.grads is not None
        return self.grads[node]

    def downstream(self, node: int) -> tuple[float | None, ...]:
        """What the node sends down each input wire: upstream × local."""
        local = self.local[node] if self.local else None
        if local is None:
            return tuple(None for _ in self.graph.args[node])
        up = self.upstream(node)
        return tuple(None if d is None else downstream(up, d) for d in local)

    def kink(self, node: int) -> str | None:
        """A note when the gate sits at a point where it is not differentiable."""
        if not self.graph.is_gate(node):
            return None
        op = self.graph.op(node)
        if op.kink is None:
            return None
        return op.kink(*(self.values[i] for i in self.graph.args[node]))

    def contributions(self, nodes: set[int]) -> dict[int, list[tuple[int, float]]]:
        """For each node in `nodes`: (consumer gate, gradient it sent back), in gate order.

        Their sum is the node's gradient: this is where gradients add at a fork.
        """
        found: dict[int, list[tuple[int, float]]] = {n: [] for n in nodes}
        for gate, args in enumerate(self.graph.args):
            if not args or self.local[gate] is None:
                continue
            for i, d in zip(args, self.downstream(gate), strict=True):
                if i in found and d is not None:
                    found[i].append((gate, d))
        return found


def depends_on(graph: Graph, sources: Iterable[int] | None = None) -> bytearray:
    """Which nodes depend on one of `sources` (every input, by default): 1 or 0 a node. Only
    their wires carry a gradient. One loop in id (= topological) order over the flat wiring:
    the engines, the def bodies, `circuit grad` and `circuit torch` use it (the level engine
    applies the same rule a level at a time with numpy, as it computes the values)."""
    wires = graph.args
    arity, first, second, more = wires.arity, wires.first, wires.second, wires.more
    depends = bytearray(len(wires))
    for node in graph.inputs.values() if sources is None else sources:
        depends[node] = 1
    for node in range(len(wires)):
        k = arity[node]
        if k == 1:
            depends[node] = depends[first[node]]
        elif k == 2:
            depends[node] = depends[first[node]] | depends[second[node]]
        elif k:
            depends[node] = any(depends[i] for i in more[node])
    return depends


def reaches_output(graph: Graph) -> bytearray:
    """Which nodes are on some path to the output (the others need no gradient): 1 or 0 a node.

    One loop from the output down, over the graph's flat wiring: the reference engine, the tape
    and torchcheck use it. The level engine applies the same rule a level at a time with numpy
    (bulk._reaches_output_by_level): on a wide graph that is several times faster.
    """
    wires = graph.args
    arity, first, second, more = wires.arity, wires.first, wires.second, wires.more
    reaches = bytearray(len(wires))
    reaches[graph.output] = 1
    for node in range(graph.output, -1, -1):
        if reaches[node]:
            k = arity[node]
            if k == 1:
                reaches[first[node]] = 1
            elif k == 2:
                reaches[first[node]] = 1
                reaches[second[node]] = 1
            elif k:
                for i in more[node]:
                    reaches[i] = 1
    return reaches


def failure_of(graph: Graph, node: int, xs: Sequence[Any]) -> GateFailure:
    """A failing gate as an error names it: its label, source, line and column, and each input
    (by name, or its source) with its value: a number, or a small array as a nested list."""
    from circuit_backprop.errors import GateFailure

    line, column = graph.position(node)
    inputs = [(graph.label(i) if graph.names[i] else graph.source(i, 30), _shown(v))
              for i, v in zip(graph.args[node], xs, strict=True)]
    return GateFailure(node, graph.label(node), graph.source(node), line, column, inputs)


def _shown(value: Any) -> Any:
    if not getattr(value, "ndim", 0):
        return float(value)
    if value.size <= 12:
        return value.tolist()
    from circuit_backprop.core.arrays import show

    return f"array of shape {show(value.shape)}"
